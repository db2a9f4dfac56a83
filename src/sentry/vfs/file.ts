// An open file description (struct file): what an fd points at, shared by dup and fork.

import * as fs from 'node:fs';
import { EAGAIN, EBADF, EINVAL, ESPIPE } from '../abi/errno';
import type { Task } from '../kernel/task';
import { WaitQueue } from '../kernel/waitqueue';

export const O_ACCMODE = 3;
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_APPEND = 0o2000;
export const POLLIN = 1;
export const POLLOUT = 4;
export const POLLERR = 8;
export const POLLHUP = 16;

export abstract class FileDescription {
  refs = 1;
  offset = 0;
  /** Notified when readiness may have changed. */
  readonly waitQueue = new WaitQueue();
  constructor(public flags: number) {}

  /** Read into views (application memory); pos -1: at and advancing the file offset. -EAGAIN: would block. */
  read(_t: Task, _dst: Uint8Array[], _pos: number): number {
    return -EBADF;
  }
  write(_t: Task, _src: Uint8Array[], _pos: number): number {
    return -EBADF;
  }
  seek(_off: number, _whence: number): number {
    return -ESPIPE;
  }
  /** POLLIN/POLLOUT/POLLHUP bits now. */
  readiness(): number {
    return POLLIN | POLLOUT;
  }
  /** Host fds whose readability would change readiness (the kernel watches them while tasks wait). */
  hostWatchFd(): number {
    return -1;
  }
  ioctl(_t: Task, _cmd: number, _arg: number): number {
    return -EINVAL;
  }
  /** The last reference went away. */
  release(): void {}

  incRef(): this {
    this.refs++;
    return this;
  }
  decRef(): void {
    if (--this.refs === 0) this.release();
  }
}

/** A host stream (the container's stdin/stdout/stderr: a pipe, a pty, /dev/null). */
export class HostStreamFile extends FileDescription {
  constructor(readonly hostFd: number, flags: number, readonly name: string) {
    super(flags);
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

  override release(): void {
    // The host fds belong to the sentry process; closed when it exits.
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
      if (err.code === 'EPIPE') return -32;
      return -(typeof err.errno === 'number' ? Math.abs(err.errno) : 5);
    }
  }
}

let pollAddon: ((fd: number) => boolean) | undefined;

/** Whether a read of the host fd would not block. */
export function hostReadable(fd: number): boolean {
  if (!pollAddon) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const n = require('../platform/ptrace/native') as typeof import('../platform/ptrace/native');
    const sys = n.ptraceSys() as unknown as { pollIn?: (fd: number) => boolean };
    pollAddon = sys.pollIn ?? (() => true);
  }
  return pollAddon(fd);
}

export { EINVAL };
