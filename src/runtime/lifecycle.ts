// The container lifecycle, platform-independent: create → start → (kill) → delete, with state kept
// under --root. Platforms only build the container; everything after that is the same for all.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadPlatform, platformFor, selectPlatform, type ConsoleRequest, type CreatedInit, type CreateRequest, type Platform } from '../platform';
import type { Bundle } from '../spec/bundle';
import type { ContainerStateJson, Process, Spec } from '../spec/types';
import { isLive, openVerifiedPidfd, pidNamespaceOf, pidsInNamespace, readProcStat, signalVerified } from '../state/process';
import { LockBusy, StateStore, type ContainerHandle, type ContainerRecord } from '../state/store';
import { caller } from '../util/caller';
import { sys } from '../sys';
import { MoatError } from '../util/errors';
import { runContainerHooks } from './container-hooks';
import { runHooks } from './hooks';
import { killAndWait, signalInNamespace, writePidFile } from './processes';
import { startedState, stateJson, statusOf } from './status';
import { claimRange, releaseRange } from '../state/userns-ranges';
import { USERNS_ANNOTATION, wantsOwnUserns, withOwnUserns } from './userns';
import { mark } from '../util/profile';

export interface RuntimeOptions {
  root: string;
  isolation: string | undefined;
  /** The global --systemd-cgroup flag. */
  systemdCgroup?: boolean;
  /** The global --vm-accel flag (vm platform). */
  vmAccel?: string;
  /** The global --strace flag (sentry platform). */
  strace?: boolean;
}


/** How long `start` waits for the init to answer on the exec fifo. */
const START_ANSWER_MS = 60_000;

export interface CreateOptions {
  id: string;
  bundle: Bundle;
  pidFile?: string;
  noPivot: boolean;
  preserveFds: number;
  /** run: the executor stays and reports the exit status; create: the init is left to its reaper. */
  mode: 'create' | 'run';
  hostRootOverlay?: { scratch: string; lower?: string };
  console?: ConsoleRequest;
  noNewKeyring?: boolean;
  /** stdin, stdout, stderr of the container's process (the shim's FIFOs); default: moat's own. */
  stdio?: readonly [number, number, number];
  /** `moat do`: the sandbox dies with this moat process, even killed by SIGKILL (sweep.ts clears its state). */
  dieWithRunner?: boolean;
  /** vm: the container is a pod's sandbox (moat's shim): its VM runs the pod's later containers. */
  podSandbox?: boolean;
  /** Run mode: the exit status is kept in the state directory (CreateRequest.recordExit). */
  recordExit?: boolean;
}

export interface Created {
  handle: ContainerHandle;
  record: ContainerRecord;
  exited: Promise<number>;
}

export class Runtime {
  readonly store: StateStore;

  constructor(readonly opts: RuntimeOptions) {
    this.store = new StateStore(opts.root);
  }

  /** Create a container whose init waits for `start`. Returns with the state dir still locked. */
  async create(o: CreateOptions): Promise<Created> {
    const platformName = selectPlatform(this.opts.isolation, o.bundle.spec.annotations);
    refuseUnenforcedEgress(platformName, o.bundle.spec.annotations);
    const ownUserns = platformName === 'native' && wantsOwnUserns(o.bundle.spec.annotations);
    const handle = this.store.claim(o.id);
    let pid = 0;
    let startTime = '';
    let made: ContainerRecord | undefined;
    let hooksRan = false;
    try {
      const platform = await platformFor(platformName);
      mark('state claimed');
      // Before the spec is saved: exec joins the namespaces the saved spec names.
      if (ownUserns) checkReachable(o.hostRootOverlay?.scratch ?? o.bundle.rootfs);
      if (ownUserns) o = { ...o, bundle: { ...o.bundle, spec: withOwnUserns(o.bundle.spec, claimRange(handle.dir)) } };
      const record: ContainerRecord = (made = {
        ociVersion: o.bundle.spec.ociVersion,
        id: o.id,
        pid: 0,
        pidStartTime: '',
        bundle: o.bundle.dir,
        rootfs: o.bundle.rootfs,
        created: new Date().toISOString(),
        owner: ownerName(),
        annotations: o.bundle.spec.annotations,
        platform: platformName,
        phase: 'creating',
        creator: { pid: process.pid, startTime: readProcStat(process.pid)?.startTime ?? '' },
      });
      handle.write(record);
      // The spec as validated now: exec takes its defaults from it, whatever happens to the bundle.
      fs.writeFileSync(handle.specPath, JSON.stringify(o.bundle.spec), { mode: 0o600 });
      sys().mkfifo(handle.fifoPath, 0o622);
      if (o.hostRootOverlay) fs.mkdirSync(o.hostRootOverlay.scratch, { mode: 0o700 });
      const req: CreateRequest = {
        id: o.id,
        bundle: o.bundle,
        startFifo: handle.fifoPath,
        mode: o.mode,
        noPivot: o.noPivot,
        preserveFds: o.preserveFds,
        ...(o.hostRootOverlay ? { hostRootOverlay: o.hostRootOverlay } : {}),
        ...(ownUserns ? { idmapped: true } : {}),
        ...(o.console ? { console: o.console } : {}),
        ...(o.noNewKeyring ? { noNewKeyring: true } : {}),
        ...(o.stdio ? { stdio: o.stdio } : {}),
        systemdCgroup: this.opts.systemdCgroup ?? false,
        stateDir: handle.dir,
        ...(this.opts.vmAccel !== undefined ? { vmAccel: this.opts.vmAccel } : {}),
        ...(this.opts.strace ? { strace: true } : {}),
        ...(o.dieWithRunner ? { dieWithRunner: true } : {}),
        ...(o.podSandbox ? { podSandbox: true } : {}),
        ...(o.recordExit ? { recordExit: true } : {}),
        // vm: the hooks run before the boot, with a namespace holder as the state's pid (the record
        // says so meanwhile: a moat that dies here leaves it for delete to kill).
        runCreateHooks: async (holderPid, holderStart) => {
          hooksRan = true;
          record.pid = holderPid;
          record.pidStartTime = holderStart;
          handle.write(record);
          await runCreateHooks(record, o.bundle.spec, holderPid);
        },
        recordVm: (vm) => {
          record.vm = vm;
          handle.write(record);
        },
        recordSentry: (sentry) => {
          record.sentry = sentry;
          handle.write(record);
        },
        recordCgroups: (cgroups) => {
          record.cgroups = cgroups;
          handle.write(record);
        },
        recordLxcfs: (lxcfs) => {
          record.lxcfs = lxcfs;
          handle.write(record);
        },
      };
      const init = await platform.create(req);
      mark('init ready');
      pid = init.pid;
      const st = readProcStat(pid);
      if (!st) throw new MoatError('ESETUP', `container ${o.id}: init ${pid} exited during set-up`);
      startTime = st.startTime;
      record.pid = pid;
      record.pidStartTime = startTime;
      const ns = pidNamespaceOf(pid);
      if (ns && ns !== pidNamespaceOf(process.pid)) record.pidNamespace = ns;
      // The runtime environment exists (unless the platform ran them already, before it was done).
      if (!hooksRan) await runCreateHooks(record, o.bundle.spec, pid);
      record.phase = 'created';
      handle.write(record);
      if (o.pidFile) writePidFile(o.pidFile, pid);
      mark('created');
      return { handle, record, exited: init.exited };
    } catch (err) {
      if (pid > 0 && startTime) killAndWait(pid, startTime);
      if (made && made.pid > 0 && made.pid !== pid) killAndWait(made.pid, made.pidStartTime); // a vm's namespace holder
      if (made?.cgroups || made?.vm || made?.lxcfs) loadPlatform(platformName).destroy(made);
      if (ownUserns) releaseRange(handle.dir);
      handle.destroy();
      throw err;
    }
  }

  /** Let a created container's init exec its process. */
  async start(handle: ContainerHandle, rec: ContainerRecord): Promise<void> {
    const status = statusOf(rec);
    if (status !== 'created') throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} cannot be started: it is ${status}`);
    const spec = this.savedSpec(handle);
    await runContainerHooks('startContainer', rec, spec, stateJson(rec));
    const platform = loadPlatform(rec.platform);
    if (platform.start) {
      // The init waits inside the platform (a vm guest), not on a host fifo.
      await platform.start(rec);
      rec.phase = 'running';
      handle.write(rec);
      runHooks('poststart', spec.hooks, startedState(rec));
      return;
    }
    const fd = fs.openSync(handle.fifoPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    // The init's pidfd: between reads we wait on it (a short, bounded wait that ends at once if
    // the init exits) instead of sleeping and re-reading /proc.
    const pidfd = openVerifiedPidfd(rec.pid, rec.pidStartTime);
    try {
      const buf = Buffer.alloc(1);
      // Generous: on a loaded host an init (a sentry's Node, first of all) can take seconds to
      // reach the fifo, and a start that fails then is a flake, not a safety net.
      const deadline = Date.now() + START_ANSWER_MS;
      for (;;) {
        let n = 0;
        try {
          n = fs.readSync(fd, buf, 0, 1, null);
        } catch (err) {
          if ((err as { code?: string }).code !== 'EAGAIN') throw err;
        }
        if (n === 1) break;
        // The init may have answered, run and exited between the read and this check (a short
        // command on a busy host): its byte is in the fifo then, and the start did happen.
        // In a service the wait must not hold up its other commands: a poll, then a pause.
        const served = caller() !== undefined;
        const exited = pidfd === undefined || sys().pidfdWaitExit(pidfd, served ? 0 : 2);
        if (served && !exited) await new Promise((r) => setTimeout(r, 1));
        if (exited) {
          if (readOne(fd, buf) === 1) break;
          throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} cannot be started: its init has exited`);
        }
        if (Date.now() > deadline) throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)}: init did not answer start within ${START_ANSWER_MS / 1000} s`);
      }
    } finally {
      fs.closeSync(fd);
      if (pidfd !== undefined) fs.closeSync(pidfd);
    }
    fs.rmSync(handle.fifoPath, { force: true });
    rec.phase = 'running';
    handle.write(rec);
    mark('started');
    runHooks('poststart', spec.hooks, startedState(rec));
  }

  /** Open and lock an existing container and read its record. */
  open(id: string): { handle: ContainerHandle; rec: ContainerRecord } {
    const handle = this.store.open(id);
    const rec = handle.read();
    mark('state read');
    if (!rec) {
      // A claim whose create died before writing state: report it as stopped so delete can clean it.
      return {
        handle,
        rec: {
          ociVersion: '1.2.0', id, pid: 0, pidStartTime: '', bundle: '', rootfs: '', created: '', owner: '',
          annotations: {}, platform: 'native', phase: 'created',
        },
      };
    }
    return { handle, rec };
  }

  /** The spec saved at create. */
  savedSpec(handle: ContainerHandle): Spec {
    try {
      return JSON.parse(fs.readFileSync(handle.specPath, 'utf8')) as Spec;
    } catch (err) {
      throw new MoatError('EINTERNAL', `${handle.specPath}: cannot read the container's saved spec: ${(err as Error).message}`);
    }
  }

  /** Start another process in a created or running container. */
  async exec(handle: ContainerHandle, rec: ContainerRecord, process: Process, o: { mode: 'create' | 'run'; preserveFds: number; pidFile?: string; console?: ConsoleRequest; stdio?: readonly [number, number, number] }): Promise<CreatedInit> {
    const status = statusOf(rec);
    if (status !== 'running' && status !== 'created') {
      throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} is ${status}: cannot exec in it`);
    }
    const platform = await platformFor(rec.platform);
    const spec = this.savedSpec(handle);
    // Checked just before the executor opens /proc/<pid>/ns/*: the init is still the one we made.
    if (!isLive(rec.pid, rec.pidStartTime)) throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} is stopped: cannot exec in it`);
    const started = await platform.exec({ record: rec, spec, process, mode: o.mode, preserveFds: o.preserveFds, ...(o.console ? { console: o.console } : {}), ...(o.stdio ? { stdio: o.stdio } : {}) });
    if (o.pidFile) writePidFile(o.pidFile, started.pid);
    return started;
  }

  /**
   * Signal a created/running container: the platform's own way (a VM) or its processes. As runc
   * does: `--all` on a stopped container signals what is left in its cgroup (nothing left is no
   * error; containerd's runc shim and CRI send `kill --all KILL` after the init has exited), and a
   * signal for a stopped init fails with "container not running", the words the shim matches to
   * treat it as already gone.
   */
  async signal(rec: ContainerRecord, signal: number, all: boolean): Promise<void> {
    const status = statusOf(rec);
    if (status === 'stopped' && all) {
      loadPlatform(rec.platform).signalAll(rec, signal);
      return;
    }
    if (status === 'stopped' || status === 'creating') throw notRunning(rec, status);
    const platform = loadPlatform(rec.platform);
    if (platform.kill) await platform.kill(rec, signal, all);
    else this.signalProcesses(rec, signal, all);
  }

  private signalProcesses(rec: ContainerRecord, signal: number, all: boolean): void {
    if (all && rec.pidNamespace) {
      for (const pid of pidsInNamespace(rec.pidNamespace)) signalInNamespace(pid, rec.pidNamespace, signal);
      return;
    }
    // No pid namespace of its own: every process in the container's cgroup.
    if (all && loadPlatform(rec.platform).signalAll(rec, signal)) return;
    if (!signalVerified(rec.pid, rec.pidStartTime, signal)) throw notRunning(rec, 'stopped');
  }

  delete(handle: ContainerHandle, rec: ContainerRecord, force: boolean): void {
    const status = statusOf(rec);
    if ((status === 'running' || status === 'paused') && !force) {
      throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} is ${status}: stop it first or use delete --force`);
    }
    const platform = loadPlatform(rec.platform);
    if (status === 'paused') platform.setPaused(rec, false); // frozen processes cannot die
    else if (force && rec.cgroups && status !== 'stopped') thawQuietly(platform, rec); // a pause cut short may have left it frozen
    if (status !== 'stopped') {
      if (rec.pidNamespace) {
        for (const pid of pidsInNamespace(rec.pidNamespace)) signalInNamespace(pid, rec.pidNamespace, 9);
      }
      killAndWait(rec.pid, rec.pidStartTime);
    }
    // The processes are gone (what is left in the cgroup is killed there): remove its cgroups.
    platform.destroy(rec);
    mark('cgroups removed');
    if (rec.platform === 'native' && rec.annotations?.[USERNS_ANNOTATION] === 'auto') releaseRange(handle.dir);
    if (rec.pid !== 0 && fs.existsSync(handle.specPath)) {
      runHooks('poststop', this.savedSpec(handle).hooks, { ...stateJson(rec), status: 'stopped', pid: 0 });
    }
    handle.destroy();
    mark('deleted');
  }

  /** pause (true) / resume (false): freeze or thaw every process of the container. */
  setPaused(handle: ContainerHandle, rec: ContainerRecord, paused: boolean): void {
    const status = statusOf(rec);
    if (paused && status !== 'running' && status !== 'created') {
      throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} is ${status}: cannot pause it`);
    }
    if (!paused && status !== 'paused') throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} is not paused (${status})`);
    loadPlatform(rec.platform).setPaused(rec, paused);
    if (paused) rec.paused = true;
    else delete rec.paused;
    handle.write(rec);
  }

  /** Apply new resource limits (LinuxResources JSON; errors name `field`) to a live container. */
  update(handle: ContainerHandle, rec: ContainerRecord, resources: unknown, field: string): void {
    const status = statusOf(rec);
    if (status === 'stopped' || status === 'creating') {
      throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} is ${status}: cannot update it`);
    }
    loadPlatform(rec.platform).update(rec, this.savedSpec(handle), resources, field);
  }

  list(): ContainerStateJson[] {
    const out: ContainerStateJson[] = [];
    for (const id of this.store.ids()) {
      let handle: ContainerHandle | undefined;
      try {
        handle = this.store.open(id);
        const rec = handle.read();
        if (rec) out.push(stateJson(rec));
      } catch (err) {
        // deleted meanwhile; a lock held by another command of a service: the service runs list again
        if (err instanceof LockBusy) throw err;
      } finally {
        handle?.release();
      }
    }
    return out;
  }
}

/**
 * The create-time hooks: prestart (deprecated) and createRuntime in moat's namespaces,
 * createContainer in the container's; any failure aborts the create. `pid` is the state's.
 */
async function runCreateHooks(record: ContainerRecord, spec: Spec, pid: number): Promise<void> {
  const creating = { ...stateJson(record), status: 'creating' as const, pid };
  runHooks('prestart', spec.hooks, creating);
  runHooks('createRuntime', spec.hooks, creating);
  await runContainerHooks('createContainer', record, spec, creating);
}

/** One byte from a non-blocking fd: 1, or 0 when there is none (EOF or EAGAIN). */
function readOne(fd: number, buf: Buffer): number {
  try {
    return fs.readSync(fd, buf, 0, 1, null);
  } catch {
    return 0;
  }
}

/** runc's wording (libcontainer ErrNotRunning), which containerd's shim recognises. */
function notRunning(rec: ContainerRecord, status: string): MoatError {
  return new MoatError('ESTATE', `cannot signal container ${JSON.stringify(rec.id)}: container not running (${status})`);
}

/**
 * The init of a container in its own user namespace is an unprivileged host id: it must be able to
 * walk down to `target` (the bundle's rootfs, or `moat do`'s scratch dir under the state root) to
 * mount there. Said before anything starts, naming the directory, rather than as EACCES from a mount.
 */
function checkReachable(target: string): void {
  for (let dir = path.dirname(path.resolve(target)); ; dir = path.dirname(dir)) {
    const st = fs.statSync(dir);
    if ((st.mode & 0o001) === 0) {
      throw new MoatError('ESETUP', `${dir} (mode ${(st.mode & 0o7777).toString(8)}) is not searchable by others: a container in its own user namespace (dev.moat.userns=auto, moat do's default) cannot reach ${target}; chmod o+x it, or use moat do --userns=host`);
    }
    if (dir === '/') return;
  }
}

function ownerName(): string {
  const uid = process.getuid?.() ?? 0;
  return uid === 0 ? 'root' : `#${uid}`;
}

/**
 * dev.moat.network.egress is enforced by the sentry only: a restriction asked of another platform
 * is refused rather than silently not applied (code that must not phone home would).
 */
function refuseUnenforcedEgress(platform: string, annotations: Record<string, string> | undefined): void {
  const v = annotations?.['dev.moat.network.egress'];
  if (platform === 'sentry' || v === undefined || v.trim() === 'all') return;
  throw new MoatError('EUSAGE', `annotations.dev.moat.network.egress: enforced only by the sentry platform (--isolation=sentry), not ${platform}`);
}

function thawQuietly(platform: Platform, rec: ContainerRecord): void {
  try {
    platform.setPaused(rec, false);
  } catch {
    // no freezer, or nothing there any more: delete goes on
  }
}
