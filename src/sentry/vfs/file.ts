// An open file description (struct file): what an fd points at, shared by dup and fork. Each
// kind of file (regular, directory, pipe, device, host stream, epoll, …) is a subclass; the
// defaults here are what Linux answers for a file that does not support the operation.

import { EINVAL, ENODEV, ENOTDIR, ENOTTY, ENXIO, ESPIPE } from '../abi/errno';
import type { Task } from '../kernel/task';
import { WaitQueue } from '../kernel/waitqueue';
import type { MapSource } from '../mm/mm';
import { O_ACCMODE, O_PATH, O_RDONLY, O_RDWR, O_WRONLY, POLLIN, POLLOUT } from './constants';
import { now, type Attr, type DirEntry } from './inode';
import { pathOf, type Location } from './mount';
import { dropFileLocks } from './lock';

export { O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR, O_NONBLOCK, O_APPEND, POLLIN, POLLOUT, POLLERR, POLLHUP } from './constants';

/** What fstat/statx report. */
export interface StatInfo extends Attr {
  dev: number;
  ino: number;
  blksize: number;
  /** The mount's id (statx STATX_MNT_ID, /proc/pid/fdinfo). */
  mntId: number;
}

/** stat of a path: the inode's attributes, its file system's device, its mount. */
export function statOf(l: Location): StatInfo {
  const i = l.dentry.inode;
  const a = i.attr();
  return {
    mode: a.mode, nlink: a.nlink, uid: a.uid, gid: a.gid, rdev: a.rdev, size: a.size, blocks: a.blocks,
    atime: a.atime, mtime: a.mtime, ctime: a.ctime, dev: i.fs.dev, ino: i.ino, blksize: 4096, mntId: l.mount.id,
  };
}

/** The path of l from the top of its mount tree (what /proc/pid/fd shows). */
export function absolutePath(l: Location): string {
  let m = l.mount;
  while (m.parent) m = m.parent;
  const p = pathOf(l, { mount: m, dentry: m.root }) ?? l.dentry.name;
  return l.dentry.deleted ? `${p} (deleted)` : p;
}

export abstract class FileDescription {
  refs = 1;
  offset = 0;
  /** Notified when readiness may have changed. */
  readonly waitQueue = new WaitQueue();
  /** Where it was opened (path-backed files); null for pipes, sockets and anonymous files. */
  location: Location | null = null;
  /** Holds (or held) an OFD or flock lock: released with the description (vfs/lock.ts). */
  lockHolder = false;
  constructor(public flags: number) {}

  /** Read into views (application memory); pos -1: at and advancing the file offset. -EAGAIN: would block. */
  read(_t: Task, _dst: Uint8Array[], _pos: number): number {
    return -EINVAL;
  }
  write(_t: Task, _src: Uint8Array[], _pos: number): number {
    return -EINVAL;
  }
  seek(_off: number, _whence: number): number {
    return -ESPIPE;
  }
  /** A blocking write waits until all its bytes are in (pipes): a short count from write() means "no room yet". */
  get writeAll(): boolean {
    return false;
  }
  /** POLLIN/POLLOUT/POLLHUP bits now. */
  readiness(): number {
    return POLLIN | POLLOUT;
  }
  /** Host fds whose readability would change readiness (the kernel watches them while tasks wait). */
  hostWatchFd(): number {
    return -1;
  }
  /** Its readiness comes from the host (hostWatchFd() >= 0), asked without a host call. */
  hostBacked(): boolean {
    return this.hostWatchFd() >= 0;
  }
  /**
   * The host fd whose poll(2) answers readiness() (host sockets), or -1: a wait over many files
   * polls those in one host call (vfs/host-poll.ts), its answer kept here for that wait.
   */
  hostPollFd(): number {
    return -1;
  }
  hostPollGen = 0;
  hostPollRev = 0;
  /**
   * For EPOLLET on a host-backed file: a count of the calls that may have consumed its readiness
   * (reads, writes, accepts). undefined: not counted, so every epoll_wait reports it afresh.
   */
  edgeActivity(): number | undefined {
    return undefined;
  }
  ioctl(_t: Task, _cmd: number, _arg: number): number {
    return -ENOTTY;
  }
  /** A directory's entries, "." and ".." included (getdents64 snapshots them); caller: who reads. */
  readdir(_caller?: Task): DirEntry[] | number {
    return -ENOTDIR;
  }
  truncate(_size: number): number {
    return -EINVAL;
  }
  allocate(_mode: number, _off: number, _len: number): number {
    return -ENODEV;
  }
  sync(): number {
    return 0;
  }
  /** Opening /proc/pid/fd/N of a file with no path (a pipe, a host stream): a new description of it. */
  reopen(_flags: number): FileDescription | number {
    return -ENXIO;
  }
  /** fstat: path-backed files report their inode; the rest override. */
  stat(): StatInfo {
    if (this.location) return statOf(this.location);
    return anonStat(0o600, 0);
  }
  /** What /proc/pid/fd/N links to: the absolute path, or 'pipe:[ino]' and the like. */
  get displayPath(): string {
    return this.location ? absolutePath(this.location) : 'anon_inode:[unknown]';
  }
  /** For /proc/pid/fdinfo. */
  get mntId(): number {
    return this.location?.mount.id ?? 0;
  }
  get ino(): number {
    return this.stat().ino;
  }
  /**
   * Opened for reading (O_RDONLY or O_RDWR, not O_PATH). The access mode 3 (O_WRONLY|O_RDWR) needs
   * both permissions at open but gives neither (Linux's OPEN_FMODE): read and write are EBADF.
   */
  get readable(): boolean {
    const acc = this.flags & O_ACCMODE;
    return (acc === O_RDONLY || acc === O_RDWR) && !(this.flags & O_PATH);
  }
  get writable(): boolean {
    const acc = this.flags & O_ACCMODE;
    return (acc === O_WRONLY || acc === O_RDWR) && !(this.flags & O_PATH);
  }
  /** The last reference went away. */
  release(): void {}

  incRef(): this {
    this.refs++;
    return this;
  }
  decRef(): void {
    if (--this.refs !== 0) return;
    if (this.lockHolder) dropFileLocks(this);
    this.release();
  }
}

/** A file that can back a mapping (regular files). */
export interface Mappable {
  mapSource(): MapSource | number;
}

const startTime = now();
const anonDev = 13; // 0:13, where Linux puts pipefs and anon_inodefs
let nextAnonIno = 1000;

export function allocAnonIno(): number {
  return nextAnonIno++;
}

/** stat of a file with no path (pipe, epoll, eventfd): mode with its type, owned by root. */
export function anonStat(mode: number, ino: number, uid = 0, gid = 0): StatInfo {
  const t = startTime;
  return { mode, nlink: 1, uid, gid, rdev: 0, size: 0, blocks: 0, atime: t, mtime: t, ctime: t, dev: anonDev, ino, blksize: 4096, mntId: 0 };
}

/** A watched host fd (hostWatchFd) with this bit also wakes waiters when it becomes writable (sentry.c WATCH_OUT). */
export const WATCH_OUT = 0x40000000;
/** With WATCH_OUT: only writability wakes (a task parked in send or connect). */
export const WATCH_ONLY_OUT = 0x20000000;
/** The host fd signals its readiness (a host socket of the sandbox, O_ASYNC to the tracer: sentry.c
 * moat_readiness_fd); without it the wait polls the fd (the host's stdin). */
export const WATCH_SIGNALLED = 0x10000000;

/**
 * What a waiter watches of a host fd h (hostWatchFd) for the events it waits for: input unless it
 * waits only for writability; writability only while the host fd cannot take more (WATCH_OUT in
 * h). A task waiting only to write is then not woken again and again by unread input.
 */
export function watchKey(h: number, wantIn: boolean, wantOut: boolean): number {
  const fd = h & ~(WATCH_OUT | WATCH_ONLY_OUT);
  if (!wantIn && wantOut) return fd | WATCH_OUT | WATCH_ONLY_OUT;
  return fd | (wantOut && h & WATCH_OUT ? WATCH_OUT : 0);
}
