// A host stream: the container's stdin/stdout/stderr, which are the sentry process's own fds 0-2
// (a pipe, a pty, /dev/null). The application's reads and writes on them are the only host I/O
// done on its behalf, on fds the sentry was given, never opened by an application path.
//
// When the stream is a terminal, the terminal ioctls go to it (ttyIoctl in the addon), except the
// foreground process group, which is the sentry's own (its pids are not the host's).

import * as fs from 'node:fs';
import { EAGAIN, EFAULT, EINVAL, EIO, ENOTTY, EPIPE } from '../abi/errno';
import type { Task } from '../kernel/task';
import { sentrySys } from '../native';
import { allocAnonIno, anonStat, FileDescription, type StatInfo } from './file';
import { POLLIN, POLLOUT, S_IFCHR, S_IFIFO, S_IFMT, S_IFSOCK, makedev } from './constants';
import { Timespec } from './inode';

const TCGETS = 0x5401;
const TCSETSF = 0x5404;
const TIOCSCTTY = 0x540e;
const TIOCGPGRP = 0x540f;
const TIOCSPGRP = 0x5410;
const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;
const FIONREAD = 0x541b;
const TIOCNOTTY = 0x5422;
const TIOCGSID = 0x5429;

const sys = sentrySys;

/** Whether a read of the host fd would not block. */
export function hostReadable(fd: number): boolean {
  return sys().pollIn(fd);
}

/** The console's foreground process group (TIOCSPGRP), in the sentry's pid space; 0: the init's. */
let foreground = 0;

/** The sandbox's foreground process group on the console (0: the init's). */
export function consoleForeground(): number {
  return foreground;
}

export class HostStreamFile extends FileDescription {
  private tty: boolean | undefined;
  private readonly scratch = new Uint8Array(36);
  private readonly fallbackIno = allocAnonIno();
  /** The stream this one reopens (through /proc/pid/fd), kept alive while this one is. */
  private origin: HostStreamFile | undefined;

  constructor(readonly hostFd: number, flags: number, readonly name: string) {
    super(flags);
  }

  get isTty(): boolean {
    // isatty(3) is this TCGETS; node:tty's isatty would load node:tty, net and the stream machinery
    // into every sentry (~4 ms of its start).
    return (this.tty ??= sys().ttyIoctl(this.hostFd, TCGETS, this.scratch) === 0);
  }

  /** A socket given as stdio (getsockname/getpeername are answered for it: sys_socket.ts). */
  get isHostSocket(): boolean {
    return !this.location && (this.stat().mode & S_IFMT) === S_IFSOCK;
  }

  override read(_t: Task, dst: Uint8Array[], _pos: number): number {
    if (!hostReadable(this.hostFd)) return -EAGAIN;
    let total = 0;
    for (const d of dst) {
      if (d.length === 0) continue;
      const n = retry(() => fs.readSync(this.hostFd, d, 0, d.length, null));
      if (n < 0) return total > 0 ? total : n;
      total += n;
      if (n < d.length || !hostReadable(this.hostFd)) break;
    }
    return total;
  }

  override write(_t: Task, src: Uint8Array[], _pos: number): number {
    let total = 0;
    for (const s of src) {
      let p = 0;
      while (p < s.length) {
        const n = retry(() => fs.writeSync(this.hostFd, s, p, s.length - p));
        if (n < 0) return total > 0 ? total : n;
        p += n;
        total += n;
      }
    }
    return total;
  }

  override readiness(): number {
    return (hostReadable(this.hostFd) ? POLLIN : 0) | POLLOUT;
  }

  override hostWatchFd(): number {
    return this.hostFd;
  }

  override ioctl(t: Task, cmd: number, arg: number): number {
    if (cmd === FIONREAD) return this.hostIoctl(t, cmd, arg, 4, true);
    if (!this.isTty) return -ENOTTY;
    switch (cmd) {
      case TIOCGWINSZ:
      case TIOCSWINSZ:
        return this.hostIoctl(t, cmd, arg, 8, cmd === TIOCGWINSZ);
      case TIOCGPGRP:
        return t.mm.writeU32(arg, foreground || (t.kernel.init?.pgid ?? 1)) ? 0 : -EFAULT;
      case TIOCSPGRP: {
        const pg = t.mm.readI32(arg);
        if (pg === null) return -EFAULT;
        if (pg < 0) return -EINVAL;
        foreground = pg;
        return 0;
      }
      case TIOCGSID:
        return t.mm.writeU32(arg, t.kernel.init?.sid ?? 1) ? 0 : -EFAULT;
      case TIOCSCTTY:
      case TIOCNOTTY:
        return 0;
      default:
        if (cmd >= TCGETS && cmd <= TCSETSF) return this.hostIoctl(t, cmd, arg, 36, cmd === TCGETS);
        return -ENOTTY;
    }
  }

  /** Copy the argument struct between the application and the host ioctl. */
  private hostIoctl(t: Task, cmd: number, arg: number, size: number, out: boolean): number {
    const buf = this.scratch.subarray(0, size);
    if (!out) {
      const src = t.mm.read(arg, size);
      if (!src) return -EFAULT;
      buf.set(src);
    }
    const r = sys().ttyIoctl(this.hostFd, cmd, buf);
    if (r < 0) return r;
    return !out || t.mm.write(arg, buf) ? 0 : -EFAULT;
  }

  override stat(): StatInfo {
    // The console is /dev/console in the container (the host's pty stays out of sight).
    if (this.location) return super.stat();
    try {
      const s = fs.fstatSync(this.hostFd, { bigint: true });
      const ts = (ns: bigint) => new Timespec(Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n));
      return {
        mode: Number(s.mode), nlink: Number(s.nlink), uid: Number(s.uid), gid: Number(s.gid), rdev: Number(s.rdev),
        size: Number(s.size), blocks: Number(s.blocks), atime: ts(s.atimeNs), mtime: ts(s.mtimeNs), ctime: ts(s.ctimeNs),
        dev: Number(s.dev), ino: Number(s.ino), blksize: Number(s.blksize), mntId: 0,
      };
    } catch {
      return anonStat(S_IFIFO | 0o600, this.fallbackIno);
    }
  }


  /** Linux's names: pipe:[ino], socket:[ino], the terminal, /dev/null. */
  override get displayPath(): string {
    if (this.location) return super.displayPath;
    const s = this.stat();
    switch (s.mode & S_IFMT) {
      case S_IFIFO:
        return `pipe:[${s.ino}]`;
      case S_IFSOCK:
        return `socket:[${s.ino}]`;
      case S_IFCHR:
        return s.rdev === makedev(1, 3) ? '/dev/null' : '/dev/console';
      default:
        return `/dev/${this.name}`;
    }
  }

  /**
   * /dev/stdout and friends: the same host stream, opened anew. It holds a reference to this one,
   * whose release owns the host fd (a donated fd is closed with its last user).
   */
  override reopen(flags: number): FileDescription {
    const f = new HostStreamFile(this.hostFd, flags, this.name);
    f.origin = this.incRef();
    f.location = this.location;
    return f;
  }

  override release(): void {
    // The sentry's own fds 0-2 stay open until it exits; a reopened stream lets go of its origin.
    this.origin?.decRef();
  }
}

function retry(f: () => number): number {
  for (;;) {
    try {
      return f();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EINTR') continue;
      if (err.code === 'EAGAIN') return -EAGAIN;
      if (err.code === 'EPIPE') return -EPIPE;
      return -(typeof err.errno === 'number' ? Math.abs(err.errno) : EIO);
    }
  }
}
