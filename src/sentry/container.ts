// The sentry platform (moat's gVisor): the container's processes run on moat's user-space kernel.
// create starts two host processes: the gofer (serves the rootfs read-only and bind sources, fd-relative) and the
// sentry (node build/sentry.js: the kernel, tracer of the application's stubs). The state's pid is
// the sentry's; its exit status is the application init's. See docs/sentry.md.

import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CreatedInit, CreateRequest, ExecRequest, Platform } from '../platform/types';
import type { Process, Spec } from '../spec/types';
import type { ExecRequestWire } from './control';
import { readProcStat, signalVerified } from '../state/process';
import { killAndWait } from '../runtime/processes';
import type { CgroupRecord, ContainerRecord } from '../state/store';
import { cgroupPids, collectStats, hostCgroupFiles, removeCgroups, setFrozen, updateCgroups } from '../policy/cgroups';
import { realHostFacts } from '../policy/host-facts';
import { cgroupProcsFiles, createSentryCgroups, joinCgroups, machineFilePath, writeMachineFile } from './resources';
import { sys } from '../sys';
import { sentrySys } from './native';
import { MoatError } from '../util/errors';
import { capabilitySets } from '../policy/capabilities';
import { capsToWire, type SentryConfig } from './config';
import { logTarget } from '../util/log';
import { exitRecordPath } from '../runtime/exit-record';
import { sentryEventsPath } from './report';
import { spawnGofer, type GoferTree } from './gofer';
import { EGRESS_ANNOTATION, parseEgress } from './net/egress';
import { tmpfsMount } from './tmpfs-mount';
import { forwardSignals, relayMain, startRelay } from '../runtime/exec-relay';
import { allocateSandboxUid } from '../state/sandbox-uid';
import { SENTRY_NODE_FLAGS } from '../boot/code-cache';

const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5, RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10, RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};
const GOFER_FD = 3;

/**
 * build/sentry.js (the loader of build/moat-sentry.js and its code cache, src/boot/sentry-loader.ts),
 * next to the main bundle (or under build/ when running from build/ts).
 */
function sentryScript(): string {
  for (let dir = __dirname, i = 0; i < 6; i++, dir = path.dirname(dir)) {
    for (const c of [path.join(dir, 'sentry.js'), path.join(dir, 'build', 'sentry.js')]) {
      if (c !== __filename && fs.existsSync(c) && path.basename(path.dirname(c)) === 'build') return c;
    }
  }
  throw new MoatError('ENATIVE', 'build/sentry.js is missing: run `npm run build`');
}

function isBind(m: { type?: string; options?: string[] }): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

/** /dev, /dev/pts, /dev/mqueue, /proc and /sys with all below: the sentry's own, a bundle mount there is not used. */
function servedBySentry(dest: string): boolean {
  const d = '/' + dest.split('/').filter((c) => c !== '' && c !== '.').join('/');
  return /^\/dev$|^\/dev\/(pts|mqueue)(\/|$)|^\/(proc|sys)(\/|$)/.test(d);
}

/** The sentry's configuration for this container (pure: from the spec and the request). */
export function sentryConfig(req: Pick<CreateRequest, 'bundle' | 'console' | 'startFifo'>, spec: Spec, rootfs: string, strace: boolean): { cfg: SentryConfig; trees: GoferTree[] } {
  const p = spec.process;
  if (!p) throw new MoatError('EUSAGE', 'process: required by the sentry platform');
  if (p.terminal && !req.console) throw new MoatError('EUSAGE', 'process.terminal is set: a --console-socket is required');
  const trees: GoferTree[] = [{ dir: rootfs }];
  const mounts: SentryConfig['mounts'] = [];
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    if (m.type === 'tmpfs' && !isBind(m)) {
      if (!servedBySentry(m.destination)) mounts.push(tmpfsMount(m, i));
      continue;
    }
    if (!isBind(m) || !m.source) continue;
    const src = path.resolve(req.bundle.dir, m.source);
    let st: fs.Stats;
    try {
      st = fs.statSync(src);
    } catch {
      throw new MoatError('EUSAGE', `mounts: ${m.source}: no such file or directory`);
    }
    // No `ro`: the gofer serves the tree read-write and writes reach the host (runsc's default for
    // binds); with `ro`, read-only under an in-memory overlay.
    const readonly = (m.options ?? []).includes('ro');
    if (st.isDirectory()) {
      trees.push({ dir: src, writable: !readonly });
    } else if (st.isFile()) {
      // A single-file bind (hosts, resolv.conf, termination-log): the gofer serves that one file
      // of its directory. The source's own symlinks are followed here, as mount(2) follows them.
      const real = fs.realpathSync(src);
      trees.push({ dir: path.dirname(real), file: path.basename(real), writable: !readonly });
    } else {
      continue; // devices, sockets, FIFOs: the sentry serves its own
    }
    mounts.push({ destination: m.destination, tree: trees.length - 1, readonly, writable: !readonly });
  }
  const cfg: SentryConfig = {
    rootfs,
    goferFd: GOFER_FD,
    readonlyRootfs: spec.root?.readonly === true,
    mounts,
    ...processWire(p),
    hostname: spec.hostname ?? '',
    ...utsOf(spec),
    rlimits: (p.rlimits ?? []).flatMap((r) => (RLIMITS[r.type] !== undefined ? [{ resource: RLIMITS[r.type], soft: r.soft, hard: r.hard }] : [])),
    ...(req.startFifo ? { startFifo: req.startFifo } : {}),
    strace,
    ...(p.terminal ? { terminal: true } : {}),
    network: networkOf(spec),
    ...egressOf(spec),
  };
  if (cfg.args.length === 0) throw new MoatError('EUSAGE', 'process.args: empty');
  return { cfg, trees };
}

/**
 * The sandbox's network namespace: the spec's `network` namespace joined by path or new; none in
 * the spec means the host's (OCI), which the sentry then serves sockets in, as runsc's
 * network=host does.
 */
function networkOf(spec: Spec): SentryConfig['network'] {
  const all = spec.linux?.namespaces ?? [];
  const i = all.findIndex((n) => n.type === 'network');
  if (i < 0) return { mode: 'host' };
  const p = all[i].path;
  if (!p) return { mode: 'new' };
  // Checked here so that create fails with the field's name, not the sentry later.
  if (!path.isAbsolute(p) || !fs.existsSync(p)) throw new MoatError('EUSAGE', `linux.namespaces[${i}].path: ${p}: no such network namespace`);
  return { mode: 'join', path: p };
}

/** The spec's `uts` namespace path, if it names one (checked here so that create names the field). */
function utsOf(spec: Spec): { utsPath?: string } {
  const all = spec.linux?.namespaces ?? [];
  const i = all.findIndex((n) => n.type === 'uts');
  const p = i < 0 ? undefined : all[i].path;
  if (!p) return {};
  if (!path.isAbsolute(p) || !fs.existsSync(p)) throw new MoatError('EUSAGE', `linux.namespaces[${i}].path: ${p}: no such uts namespace`);
  return { utsPath: p };
}

/** The egress annotation, refused here (naming it) if the sentry could not parse it. */
function egressOf(spec: Spec): { egress?: string } {
  const v = spec.annotations?.[EGRESS_ANNOTATION];
  if (v === undefined) return {};
  try {
    parseEgress(v);
  } catch (e) {
    throw new MoatError('EUSAGE', `annotations.${EGRESS_ANNOTATION}: ${(e as Error).message}`);
  }
  return { egress: v };
}

export class SentryPlatform implements Platform {
  readonly name = 'sentry' as const;

  async create(req: CreateRequest): Promise<CreatedInit> {
    if (!req.stateDir) throw new MoatError('EINTERNAL', 'sentry platform: no state directory given');
    const spec = req.bundle.spec;
    // `moat do`: the host's root, read-only through the gofer, with the sentry's in-memory layer on top.
    const rootfs = req.hostRootOverlay ? '/' : req.bundle.rootfs;
    const { cfg, trees } = sentryConfig(req, spec, rootfs, req.strace === true);
    const cfgPath = path.join(req.stateDir, 'sentry.json');
    cfg.logFile = sentryEventsPath(req.stateDir);
    const log = logTarget();
    if (log) cfg.moatLog = { file: path.resolve(log.file), format: log.format };
    const sock = controlSocketPath(req.stateDir);
    cfg.controlSocket = sock;
    if (req.dieWithRunner) cfg.dieWithParent = process.pid;
    if (req.recordExit && req.mode === 'run' && req.stateDir) cfg.statusFile = exitRecordPath(req.stateDir);
    req.recordSentry?.({ stateDir: req.stateDir });
    // Root: the sandbox's own unprivileged host uid, which the sentry and its stubs switch to
    // (confine/); the lock is the sentry's fd 5 for its life. Rootless: the caller's uid is it.
    const hostUid = process.geteuid?.() === 0 && yamaPtraceScope() < 2 ? allocateSandboxUid(req.stateDir) : undefined;
    if (hostUid) cfg.hostUid = hostUid.uid;
    try {
      return await this.launch(req, cfg, cfgPath, trees, hostUid?.lockFd);
    } finally {
      if (hostUid) fs.closeSync(hostUid.lockFd);
    }
  }

  /**
   * What the sentry's configuration still lacks, made while its Node starts (launch): the sandbox's
   * cgroups (linux.resources; removed by destroy, which lifecycle calls on failure too), the gofer
   * moved into them, the machine file; then the configuration file itself.
   */
  private finishConfig(req: CreateRequest, cfg: SentryConfig, cfgPath: string, goferPid: number): void {
    const spec = req.bundle.spec;
    const cgroups = createSentryCgroups(req.id, spec, req.systemdCgroup ?? false, (c) => req.recordCgroups?.(c));
    if (cgroups) {
      joinCgroups(cgroups, goferPid);
      cfg.cgroupProcs = cgroupProcsFiles(cgroups);
      cfg.stubOomScoreAdj = spec.process?.oomScoreAdj ?? 0;
    }
    writeMachineFile(req.stateDir!, cgroups, spec);
    cfg.machineFile = machineFilePath(req.stateDir!);
    fs.writeFileSync(cfgPath, JSON.stringify(cfg), { mode: 0o600 });
  }

  /**
   * Start the gofer and the sentry, then finish the configuration while the sentry's Node starts
   * (~90 ms of CPU before it reads it): it waits for one byte on its fd 6 (MOAT_SENTRY_CONFIG_FD)
   * before it reads the file. Made first and then started, the two were one after the other
   * (docs/sentry.md "Start-up and memory").
   */
  private async launch(req: CreateRequest, cfg: SentryConfig, cfgPath: string, trees: GoferTree[], uidLockFd: number | undefined): Promise<CreatedInit> {
    const gofer = spawnGofer(trees);
    // A terminal: a pty whose slave is the sentry's stdio (its controlling terminal) and whose
    // master goes where runc would send it (--console-socket, or moat's own foreground relay).
    const pty = cfg.terminal && req.console ? sys().openPty(req.console.rows, req.console.cols) : undefined;
    let child;
    try {
      const env: Record<string, string> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
      if (process.env.MOAT_NATIVE_DIR) env.MOAT_NATIVE_DIR = process.env.MOAT_NATIVE_DIR;
      env.MOAT_GOFER_PID = String(gofer.pid);
      // MOAT_PROFILE: the sentry's own marks, on its stderr (confined, it opens no MOAT_PROFILE_FILE).
      for (const k of ['MOAT_SENTRY_PIN', 'MOAT_SENTRY_VDSO', 'MOAT_SENTRY_SECCOMP', 'MOAT_SENTRY_SECCOMP_LOG', 'MOAT_SENTRY_TEST_FORBIDDEN', 'MOAT_SENTRY_CPU_PROF', 'MOAT_PROFILE']) {
        if (process.env[k] !== undefined) env[k] = process.env[k]!;
      }
      env.MOAT_SENTRY_READY_FD = '4';
      env.MOAT_SENTRY_CONFIG_FD = '6';
      const rest = [gofer.fd, 'pipe', uidLockFd ?? 'ignore', 'pipe'] as const;
      child = spawn(process.execPath, [...SENTRY_NODE_FLAGS, sentryScript(), cfgPath], {
        stdio: pty ? [pty.slave, pty.slave, pty.slave, ...rest] : [...(req.stdio ?? ['inherit', 'inherit', 'inherit'] as const), ...rest],
        detached: true,
        env,
      });
      if (pty && req.console) sys().sendFd(handoffFd(req.console.handoff), pty.master, pty.name);
    } finally {
      fs.closeSync(gofer.fd);
      if (pty) {
        fs.closeSync(pty.slave);
        fs.closeSync(pty.master);
      }
    }
    const spawned = child;
    const exited = new Promise<number>((resolve) => {
      spawned.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? signalNumber(signal) : 0)));
    });
    const pid = await new Promise<number>((resolve, reject) => {
      spawned.once('spawn', () => resolve(spawned.pid!));
      spawned.once('error', (e) => reject(new MoatError('ESETUP', `cannot start the sentry: ${e.message}`)));
    });
    const go = (spawned.stdio as unknown as Array<NodeJS.WritableStream & { destroy(): void }>)[6]!;
    try {
      this.finishConfig(req, cfg, cfgPath, gofer.pid);
    } catch (err) {
      // It never read a configuration: nothing of the sandbox's is in it yet (its stubs come later).
      spawned.kill('SIGKILL');
      go.destroy();
      throw err;
    }
    go.end('g');
    // Wait until the sentry is in the sandbox's namespaces (its byte on fd 4, or fd 4 closed if it
    // failed first): the pid is handed to prestart hooks — Docker's moves the container's veth into
    // /proc/<pid>/ns/net — and must not name the host's namespace yet.
    const ready = spawned.stdio[4] as NodeJS.ReadableStream | undefined;
    if (ready) {
      await new Promise<void>((resolve) => {
        ready.once('data', () => resolve());
        ready.once('end', () => resolve());
        ready.once('close', () => resolve());
        ready.once('error', () => resolve());
      });
      (ready as unknown as { destroy(): void }).destroy();
    }
    if (req.mode === 'create') spawned.unref();
    return { pid, exited };
  }

  /**
   * Another process in the sandbox, started by the sentry (src/sentry/control.ts) with this moat's
   * stdin/stdout/stderr. This moat process stands for it on the host (pid file, exit code), as runsc's
   * exec does.
   */
  async exec(req: ExecRequest): Promise<CreatedInit> {
    if (req.process.terminal) throw new MoatError('EUSAGE', 'exec: terminals are not supported by the sentry platform yet');
    if (req.executable !== undefined || req.stdin !== undefined) throw new MoatError('EUSAGE', 'hooks that run in the container are not supported by the sentry platform yet');
    const sock = controlSocketPath(stateDirOf(req.record));
    const wire = execWire(req.process);
    if (req.mode === 'create') return startExecRelay(sock, req.record.id, wire, req.stdio);
    // The given stdio (the SDK's pipes) or this moat's own; the sentry holds them from here on.
    const { first, exited, signal } = await execThroughSocket(sock, req.record.id, wire, req.stdio ?? [0, 1, 2]);
    void first;
    return { pid: process.pid, exited, signal };
  }

  /** The cgroup freezer stops the sentry, its stubs and the gofer together (a ptrace stop thaws as one). */
  setPaused(rec: ContainerRecord, paused: boolean): void {
    setFrozen(cgroupsOf(rec, paused ? 'pause' : 'resume'), paused);
  }

  /** The cgroups' limits change, and the sentry's machine file with them (what the application is shown). */
  update(rec: ContainerRecord, spec: Spec, resources: unknown, field: string): void {
    const cgroups = cgroupsOf(rec, 'update');
    updateCgroups(cgroups, spec, resources, realHostFacts(), field);
    if (rec.sentry) writeMachineFile(rec.sentry.stateDir, cgroups, spec);
  }

  /** Host pids of the sandbox: the sentry, its stubs (one per application thread group) and the gofer. */
  pids(rec: ContainerRecord): number[] | undefined {
    if (rec.cgroups) return cgroupPids(rec.cgroups);
    return rec.pid && readProcStat(rec.pid)?.startTime === rec.pidStartTime ? [rec.pid] : [];
  }

  signalAll(rec: ContainerRecord, signal: number): boolean {
    // The sentry forwards what it gets to the application's init; SIGKILL ends the sandbox.
    return rec.pid !== 0 && signalVerified(rec.pid, rec.pidStartTime, signal);
  }

  /** The sandbox's cgroups: the application's memory and CPU with the sentry's and the gofer's own. */
  stats(rec: ContainerRecord): unknown {
    return collectStats(cgroupsOf(rec, 'events'), hostCgroupFiles);
  }

  /**
   * The sentry (verified by start time, through a pidfd) dies; its stubs die with it
   * (PTRACE_O_EXITKILL) and the gofer on EOF. A zombie counts as gone: when this process is the
   * sentry's parent, it cannot reap it while it waits here.
   */
  destroy(rec: ContainerRecord): void {
    if (rec.pid) killAndWait(rec.pid, rec.pidStartTime);
    // What is left in the cgroups (the gofer, a stub not yet gone) is killed there.
    if (rec.cgroups) removeCgroups(rec.cgroups);
  }
}

/** An OCI process as the sentry takes it: its argv, environment, cwd, creds and capabilities. */
function processWire(p: Process): Omit<ExecRequestWire, 'type' | 'container'> {
  return {
    args: p.args ?? [],
    env: p.env ?? [],
    cwd: p.cwd || '/',
    uid: p.user?.uid ?? 0,
    gid: p.user?.gid ?? 0,
    groups: p.user?.additionalGids ?? [],
    caps: capsToWire(capabilitySets(p.capabilities)),
    ...(p.noNewPrivileges ? { noNewPrivs: true } : {}),
  };
}

/** An OCI process as the control socket's exec request (src/sentry/control.ts). */
export function execWire(p: Process): ExecRequestWire {
  return { type: 'exec', ...processWire(p) };
}

/**
 * Connect, hand over this process's stdio with the request, and follow the process to its exit.
 * gone: the wait status when the sentry goes away without telling (default: as an exit 127).
 */
export async function execThroughSocket(sock: string, id: string, wire: unknown, stdio: readonly number[] = [0, 1, 2], gone = 0x7f00): Promise<{
  first: number; exited: Promise<number>; signal(sig: number): void; signalLine(v: { signal: number; all?: boolean }): void; close(): void;
}> {
  const conn = await connect(sock, id);
  const fd = socketFd(conn);
  sentrySys().sendMsg(fd, Buffer.from(JSON.stringify(wire)), [...stdio]);
  const lines = lineReader(conn);
  const first = await lines.next();
  if (!first || typeof first.pid !== 'number') {
    conn.destroy();
    throw new MoatError('EEXEC', `exec in ${id}: ${typeof first?.error === 'string' ? first.error : 'the sentry gave no answer'}`);
  }
  const exited = (async () => {
    const last = await lines.next();
    conn.destroy();
    const status = typeof last?.exit === 'number' ? last.exit : gone;
    return status & 0x7f ? 128 + (status & 0x7f) : (status >> 8) & 0xff;
  })();
  const signalLine = (v: { signal: number; all?: boolean }) => {
    if (!conn.destroyed) conn.write(`${JSON.stringify(v)}\n`);
  };
  const signal = (sig: number) => signalLine({ signal: sig });
  return { first: first.pid, exited, signal, signalLine, close: () => conn.destroy() };
}

/**
 * One request and its one answer line (control-member.ts: stats, pause, resume), no fds. The
 * answer is read up to max bytes: a longer one is refused, as is none within timeoutMs.
 */
export async function controlRequest(sock: string, id: string, wire: unknown, max: number, timeoutMs = 10_000): Promise<unknown> {
  const conn = await connect(sock, id);
  try {
    sentrySys().sendMsg(socketFd(conn), Buffer.from(JSON.stringify(wire)), []);
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new MoatError('ESTATE', `container ${JSON.stringify(id)}: its sentry did not answer within ${timeoutMs} ms`)), timeoutMs);
      const done = (f: () => void) => {
        clearTimeout(timer);
        f();
      };
      conn.setEncoding('utf8');
      conn.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0 && nl <= max) done(() => resolve(buf.slice(0, nl)));
        else if (buf.length > max) done(() => reject(new MoatError('ESTATE', `container ${JSON.stringify(id)}: its sentry's answer is longer than ${max} bytes`)));
      });
      const end = () => done(() => reject(new MoatError('ESTATE', `container ${JSON.stringify(id)}: its sentry closed the connection without an answer`)));
      conn.on('end', end);
      conn.on('error', end);
    });
    try {
      return JSON.parse(line) as unknown;
    } catch {
      throw new MoatError('ESTATE', `container ${JSON.stringify(id)}: its sentry's answer is not JSON`);
    }
  } finally {
    conn.destroy();
  }
}

/** What a sentry exec relay is told (as JSON on its fd 3). */
interface SentryRelayRequest {
  sock: string;
  id: string;
  wire: unknown;
}

/** `exec --detach`: a relay process (src/runtime/exec-relay.ts) starts the process and stands for it. */
export function startExecRelay(sock: string, id: string, wire: unknown, stdio?: readonly [number, number, number]): Promise<CreatedInit> {
  const request: SentryRelayRequest = { sock, id, wire };
  return startRelay({
    command: 'sentry-exec-relay',
    request,
    // The relay hands these to the sentry with the request, then lets go of them.
    stdio: stdio ?? ['inherit', 'inherit', 'inherit'],
    detach: true,
    failure: (message) => new MoatError('EEXEC', message || `exec in ${id}: the relay failed`),
  });
}

/** `moat sentry-exec-relay` (started by startExecRelay only): returns the process's exit code. */
export function execRelayMain(): Promise<number> {
  return relayMain<SentryRelayRequest>('sentry-exec-relay', async ({ sock, id, wire }, started) => {
    const run = await execThroughSocket(sock, id, wire);
    // The sentry holds the process's stdio now: let go of ours, so the caller's pipes end with it.
    const devnull = fs.openSync('/dev/null', 'r+');
    for (const fd of [0, 1, 2]) sentrySys().dup2(devnull, fd);
    fs.closeSync(devnull);
    // Signals for the relay (the shim's kill of the exec'd pid) go to the process in the sandbox.
    forwardSignals(RELAYED_SIGNALS, (signal) => run.signal(signal));
    started();
    return run.exited;
  });
}

const RELAYED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGALRM'];

/** The raw fd of a console handoff (a connected unix socket: an fd of ours, or a net.Socket). */
export function handoffFd(handoff: number | net.Socket): number {
  return typeof handoff === 'number' ? handoff : socketFd(handoff);
}

/**
 * Yama's kernel.yama.ptrace_scope (0 without Yama). At 2 a ptrace-mode attach check needs
 * CAP_SYS_PTRACE, which a stub of an unprivileged sentry lacks when it fetches its memory file
 * (pidfd_getfd): there the sentry keeps root's uid, without capabilities (docs/sentry.md).
 */
function yamaPtraceScope(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

/** moat exec's socket: in the state directory (a per-container dir under --root). */
export function controlSocketPath(stateDir: string): string {
  return path.join(stateDir, 'sentry.sock');
}

function cgroupsOf(rec: ContainerRecord, what: string): CgroupRecord {
  if (!rec.cgroups) {
    throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} has no cgroups (none on this host, or not delegated to a rootless caller): cannot ${what}`);
  }
  return rec.cgroups;
}

function stateDirOf(rec: ContainerRecord): string {
  const dir = rec.sentry?.stateDir;
  if (!dir) throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)}: no sentry control socket recorded`);
  return dir;
}

function connect(sock: string, id: string): Promise<net.Socket> {
  // The directory fd behind a long path must stay open until the connection is made.
  const dirFd = Buffer.byteLength(sock) > 107 ? fs.openSync(path.dirname(sock), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY) : -1;
  const target = dirFd >= 0 ? `/proc/self/fd/${dirFd}/${path.basename(sock)}` : sock;
  return new Promise<net.Socket>((resolve, reject) => {
    const c = net.createConnection(target);
    c.once('connect', () => resolve(c));
    c.once('error', (e) => reject(new MoatError('ESTATE', `container ${JSON.stringify(id)}: cannot reach its sentry (${e.message})`)));
  }).finally(() => {
    if (dirFd >= 0) fs.closeSync(dirFd);
  });
}

function socketFd(s: net.Socket): number {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new MoatError('EINTERNAL', 'exec: no fd for the control connection');
  return fd;
}

/** JSON lines from a socket, one at a time; undefined at EOF. */
function lineReader(s: net.Socket): { next(): Promise<Record<string, unknown> | undefined> } {
  let buf = '';
  let ended = false;
  const waiters: Array<() => void> = [];
  s.setEncoding('utf8');
  s.on('data', (d: string) => {
    buf += d;
    waiters.splice(0).forEach((w) => w());
  });
  const end = () => {
    ended = true;
    waiters.splice(0).forEach((w) => w());
  };
  s.on('end', end);
  s.on('close', end);
  s.on('error', end);
  return {
    async next() {
      for (;;) {
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            const v: unknown = JSON.parse(line);
            return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
          } catch {
            return undefined;
          }
        }
        if (ended) return undefined;
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

function signalNumber(name: string): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { constants } = require('node:os') as typeof import('node:os');
  return (constants.signals as Record<string, number>)[name] ?? 0;
}
