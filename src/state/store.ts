// One directory per container under --root. state.json is replaced atomically (write to a temp file,
// rename); a flock on the directory serialises commands on one id. No fsync, as runc: the state of
// a container outlives neither its processes nor the host's uptime (a crash ends both), readers
// see the rename whole, and each fsync cost a journal commit on a disk-backed /run (5 per `run`,
// serialised across concurrent commands; docs/cli-speed.md).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { sys } from '../sys';
import { MoatError, errnoCode } from '../util/errors';
import { caller } from '../util/caller';
import { sleepMs } from '../util/sleep';

/**
 * In `moat service` a blocking flock would stall every command it serves, and two of its commands
 * on one id (one holding the lock across an await, as create and run do) would deadlock: there the
 * lock is only tried, and a held one throws LockBusy; the service runs the whole command again a
 * little later (src/service/serve.ts). Every command takes its container's lock before it changes
 * anything, so running it again is running it once. A fresh claim (the directory this command has
 * just made) can only be held for a moment by another process's open: waited out here.
 */
export class LockBusy extends Error {
  constructor(readonly dir: string) {
    super(`${dir}: locked by another command`);
  }
}

function lockInService(fd: number, dir: string, fresh: boolean): void {
  if (sys().flock(fd, 'ex', true)) return;
  if (!fresh) throw new LockBusy(dir);
  for (let i = 0; i < 5000; i++) {
    sleepMs(1);
    if (sys().flock(fd, 'ex', true)) return;
  }
  throw new MoatError('EINTERNAL', `${dir}: still locked by another process after 5 s`);
}

export type PlatformName = 'native' | 'sentry' | 'vm';

/** What moat keeps about a container (state.json). Status is derived at read time, not stored. */
export interface ContainerRecord {
  ociVersion: string;
  id: string;
  /** Init pid in moat's pid namespace; 0 while creating. */
  pid: number;
  /** /proc/PID/stat start time of the init, to recognise it later. */
  pidStartTime: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations: Record<string, string>;
  platform: PlatformName;
  /** 'creating' until the init is ready, then 'created'; 'running' once `start` succeeded. */
  phase: 'creating' | 'created' | 'running';
  /** While creating: the moat process doing it; if it died (SIGKILL), the container is stopped. */
  creator?: { pid: number; startTime: string };
  /** Pid namespace of the init (`pid:[…]`) when the container has its own, for `kill --all`. */
  pidNamespace?: string;
  /** The container's cgroups (native platform), recorded as soon as they exist so delete removes them. */
  cgroups?: CgroupRecord;
  /** Set by `pause`, cleared by `resume`: the container's processes are frozen. */
  paused?: boolean;
  /** vm platform: where its VMM's files are (pid is the VMM's). */
  vm?: VmRecord;
  /** sentry platform: where its control socket is (pid is the sentry's). */
  sentry?: SentryRecord;
  /** native platform, annotation dev.moat.lxcfs=true: the container's lxcfs daemon (delete stops it). */
  lxcfs?: LxcfsRecord;
}

export interface LxcfsRecord {
  pid: number;
  startTime: string;
  /** Its FUSE mount point (in the state directory). */
  dir: string;
}

export interface SentryRecord {
  /** The container's state directory, holding sentry.json and sentry.sock. */
  stateDir: string;
}

export interface VmRecord {
  /** Directory of the VM's disk image, sockets and exit status (inside the state directory). */
  dir: string;
  /** The agent's channel (a unix socket the VMM listens on). */
  socket: string;
  /** The VMM process, recorded as soon as it exists (pid + /proc start time). */
  vmmPid: number;
  vmmStartTime: string;
  /** The container's init as the guest numbers it (the agent's answer; exec joins its namespaces). */
  guestPid?: number;
  /** Exec channels (`<dir>/exec-N.sock`, N < execSlots). */
  execSlots?: number;
  /** Whether the init has a terminal (RESIZE goes to it). */
  terminal?: boolean;
  /** The file servers of its host volumes (virtiofsd, one per bind mount), stopped by delete. */
  volumeServers?: { pid: number; startTime: string }[];
  /** The network namespace the VMM joined and the interfaces whose traffic tc redirects to its taps. */
  network?: { netns: string; interfaces: string[] };
  /** A pod's VM (src/vm/pod.ts): the host directory shared with the guest, and where the guest mounts it. */
  pod?: { shared: string; guest: string };
  /** The template the VM was restored from (docs/vm.md#templates); absent: it booted. */
  template?: string;
}

export interface CgroupRecord {
  version: 1 | 2;
  /** The container's directory in each hierarchy, keyed by mount name (`memory`, `unified`; `` on v2). */
  dirs: Record<string, string>;
  /** Directories moat created (deepest first): exactly what delete removes. */
  created: string[];
}

const ID_RE = /^[A-Za-z0-9_+\-.]+$/;

export function validateId(id: string): string {
  if (id === '' || id === '.' || id === '..' || id.length > 1024 || !ID_RE.test(id)) {
    throw new MoatError('EUSAGE', `invalid container id ${JSON.stringify(id)}: use letters, digits, _ + - . (not . or ..)`);
  }
  return id;
}

export class StateStore {
  constructor(readonly root: string) {}

  dir(id: string): string {
    return path.join(this.root, validateId(id));
  }

  ensureRoot(): void {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o711 });
  }

  /** Claim an id: mkdir is atomic, so two creates of one id cannot both succeed. */
  claim(id: string): ContainerHandle {
    this.ensureRoot();
    const dir = this.dir(id);
    try {
      fs.mkdirSync(dir, { mode: 0o711 });
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') throw new MoatError('EEXIST', `container ${JSON.stringify(id)} already exists`);
      throw err;
    }
    return ContainerHandle.lock(id, dir, true);
  }

  /** Open and lock an existing container. */
  open(id: string): ContainerHandle {
    const dir = this.dir(id);
    let handle: ContainerHandle;
    try {
      handle = ContainerHandle.lock(id, dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw notFound(id);
      throw err;
    }
    // The directory may have been deleted while we waited for the lock.
    if (!fs.existsSync(path.join(dir, 'state.json'))) {
      const creating = fs.existsSync(dir);
      if (!creating) {
        handle.release();
        throw notFound(id);
      }
    }
    return handle;
  }

  ids(): string[] {
    try {
      return fs
        .readdirSync(this.root, { withFileTypes: true })
        .filter((d) => d.isDirectory() && ID_RE.test(d.name))
        .map((d) => d.name)
        .sort();
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
  }
}

function notFound(id: string): MoatError {
  return new MoatError('ENOTFOUND', `container ${JSON.stringify(id)} does not exist`);
}

export class ContainerHandle {
  private constructor(
    readonly id: string,
    readonly dir: string,
    private fd: number | undefined,
  ) {}

  /** fresh: a directory this process has just made (only another process can hold its lock). */
  static lock(id: string, dir: string, fresh = false): ContainerHandle {
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      if (!caller()) sys().flock(fd, 'ex', false);
      else lockInService(fd, dir, fresh);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return new ContainerHandle(id, dir, fd);
  }

  get statePath(): string {
    return path.join(this.dir, 'state.json');
  }

  get specPath(): string {
    return path.join(this.dir, 'config.json');
  }

  get fifoPath(): string {
    return path.join(this.dir, 'exec.fifo');
  }

  read(): ContainerRecord | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.statePath, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as ContainerRecord;
    } catch {
      throw new MoatError('EINTERNAL', `${this.statePath}: corrupt state file`);
    }
  }

  write(record: ContainerRecord): void {
    const tmp = path.join(this.dir, `.state.json.${process.pid}`);
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(record));
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.statePath);
  }

  /** Remove the whole state directory (the lock goes with it). */
  destroy(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.release();
  }

  release(): void {
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }
}
