// Pipes and FIFOs: a ring buffer (64 KiB by default, F_SETPIPE_SZ changes it) in the sentry, and
// the file descriptions of its ends. Both ends share one wait queue: any change wakes readers,
// writers and pollers, who then look again (the kernel re-runs their syscall).
//
// A write of at most PIPE_BUF bytes is atomic: it waits until it fits. A longer one writes what
// fits; a blocking one then waits for room for the rest (writeAll: the write syscall keeps its
// count across re-runs, sys_io.ts), and returns the count so far if the last reader goes (with
// SIGPIPE) or a signal interrupts it, as Linux's pipe_write.

import { EAGAIN, EBADF, EBUSY, EFAULT, EINVAL, EPERM, EPIPE } from '../abi/errno';
import type { Task } from '../kernel/task';
import { WaitQueue } from '../kernel/waitqueue';
import { O_ACCMODE, O_RDONLY, O_WRONLY, POLLERR, POLLHUP, POLLIN, POLLOUT, S_IFIFO } from './constants';
import { absolutePath, allocAnonIno, anonStat, FileDescription, type StatInfo } from './file';

export const PIPE_BUF = 4096;
export const DEFAULT_PIPE_SIZE = 65536;
/** /proc/sys/fs/pipe-max-size: the most F_SETPIPE_SZ gives without CAP_SYS_RESOURCE. */
export const PIPE_MAX_SIZE = 1 << 20;
const FIONREAD = 0x541b;

export class Pipe {
  private buf = new Uint8Array(DEFAULT_PIPE_SIZE);
  /** Where the oldest unread byte is. */
  private head = 0;
  /** Bytes unread. */
  len = 0;
  readers = 0;
  writers = 0;
  /** Opens of each end so far: opening a FIFO waits for the other end to have been opened. */
  readerOpens = 0;
  writerOpens = 0;
  readonly queue = new WaitQueue();
  readonly ino = allocAnonIno();
  /** FIFO opens parked until the other end opens (fifo.ts); counted in readers/writers already. */
  readonly pending = new Set<{ stale(): boolean; file: FileDescription }>();

  get capacity(): number {
    return this.buf.length;
  }

  /** Drop the parked FIFO opens whose task gave up (a signal interrupted the open). */
  prune(): void {
    for (const p of this.pending) {
      if (!p.stale()) continue;
      this.pending.delete(p);
      p.file.decRef();
    }
  }

  /** Bytes into dst; 0 at end of file (no writer left); -EAGAIN if it would wait. */
  read(dst: Uint8Array[]): number {
    if (this.pending.size > 0) this.prune();
    // Asking for nothing gets nothing at once, even from an empty pipe (pipe_read).
    if (dst.every((d) => d.length === 0)) return 0;
    if (this.len === 0) return this.writers === 0 ? 0 : -EAGAIN;
    let total = 0;
    for (const d of dst) {
      let off = 0;
      while (off < d.length && this.len > 0) {
        const n = Math.min(d.length - off, this.len, this.buf.length - this.head);
        d.set(this.buf.subarray(this.head, this.head + n), off);
        this.head = (this.head + n) % this.buf.length;
        this.len -= n;
        off += n;
      }
      total += off;
      if (this.len === 0) break;
    }
    if (this.len === 0) this.head = 0;
    this.queue.notify();
    return total;
  }

  /** Bytes from src; -EPIPE with no reader; -EAGAIN if it would wait. */
  write(src: Uint8Array[]): number {
    if (this.pending.size > 0) this.prune();
    let want = 0;
    for (const s of src) want += s.length;
    // Writing nothing succeeds before anything is looked at, even with no reader (pipe_write).
    if (want === 0) return 0;
    if (this.readers === 0) return -EPIPE;
    const free = this.buf.length - this.len;
    if (free === 0 || (want <= PIPE_BUF && free < want)) return -EAGAIN;
    let total = 0;
    for (const s of src) {
      let off = 0;
      while (off < s.length && this.len < this.buf.length) {
        const tail = (this.head + this.len) % this.buf.length;
        const n = Math.min(s.length - off, this.buf.length - this.len, this.buf.length - tail);
        this.buf.set(s.subarray(off, off + n), tail);
        this.len += n;
        off += n;
      }
      total += off;
      if (this.len === this.buf.length) break;
    }
    this.queue.notify();
    return total;
  }

  /** Room left (bytes). */
  get free(): number {
    return this.buf.length - this.len;
  }

  /**
   * Views of the first n unread bytes, in place (two when the ring wraps): splice and tee copy
   * them out, then consume() what the other side took (nothing, for tee). Valid until the pipe
   * changes.
   */
  peekViews(n: number): Uint8Array[] {
    n = Math.min(n, this.len);
    const first = Math.min(n, this.buf.length - this.head);
    const out = [this.buf.subarray(this.head, this.head + first)];
    if (n > first) out.push(this.buf.subarray(0, n - first));
    return out;
  }

  /** Drop the first n unread bytes (n at most len), as a read would. */
  consume(n: number): void {
    if (n <= 0) return;
    this.head = (this.head + n) % this.buf.length;
    this.len -= n;
    if (this.len === 0) this.head = 0;
    this.queue.notify();
  }

  /** Views of up to n bytes of the free space after the unread ones: splice reads into them, then commit()s. */
  spaceViews(n: number): Uint8Array[] {
    n = Math.min(n, this.free);
    const tail = (this.head + this.len) % this.buf.length;
    const first = Math.min(n, this.buf.length - tail);
    const out = [this.buf.subarray(tail, tail + first)];
    if (n > first) out.push(this.buf.subarray(0, n - first));
    return out;
  }

  /** The first n bytes of spaceViews() now hold data. */
  commit(n: number): void {
    if (n <= 0) return;
    this.len += n;
    this.queue.notify();
  }

  /** F_SETPIPE_SZ: a power of two of at least a page (0 asks for one page); never below what is buffered. */
  resize(size: number, privileged: boolean): number {
    if (size < 0 || size > 0x80000000) return -EINVAL;
    let n = PIPE_BUF;
    while (n < size) n *= 2;
    if (n > PIPE_MAX_SIZE && !privileged) return -EPERM;
    if (n < this.len) return -EBUSY;
    const nb = new Uint8Array(n);
    const first = Math.min(this.len, this.buf.length - this.head);
    nb.set(this.buf.subarray(this.head, this.head + first), 0);
    nb.set(this.buf.subarray(0, this.len - first), first);
    this.buf = nb;
    this.head = 0;
    return n;
  }

  /** One more open end (pipe(2), a FIFO's open, a reopen through /proc). */
  attach(flags: number): void {
    const acc = flags & O_ACCMODE;
    if (acc !== O_WRONLY) {
      this.readers++;
      this.readerOpens++;
    }
    if (acc !== O_RDONLY) {
      this.writers++;
      this.writerOpens++;
    }
    this.queue.notify();
  }

  detach(flags: number): void {
    const acc = flags & O_ACCMODE;
    if (acc !== O_WRONLY) this.readers--;
    if (acc !== O_RDONLY) this.writers--;
    this.queue.notify();
  }
}

/** One end of a pipe (or both, for a FIFO opened O_RDWR). */
export class PipeFile extends FileDescription {
  override readonly waitQueue: WaitQueue;

  constructor(readonly pipe: Pipe, flags: number) {
    super(flags);
    this.waitQueue = pipe.queue;
    pipe.attach(flags);
  }

  override read(_t: Task, dst: Uint8Array[], _pos: number): number {
    return this.readable ? this.pipe.read(dst) : -EBADF;
  }

  override write(_t: Task, src: Uint8Array[], _pos: number): number {
    return this.writable ? this.pipe.write(src) : -EBADF;
  }

  override get writeAll(): boolean {
    return true;
  }

  override readiness(): number {
    const p = this.pipe;
    let r = 0;
    if (this.readable) {
      if (p.len > 0) r |= POLLIN;
      // A reader sees POLLHUP once every writer is gone (never before the first one, for FIFOs).
      if (p.writers === 0 && p.writerOpens > 0) r |= POLLHUP;
    }
    if (this.writable) {
      // Linux's pipe_poll: room is POLLOUT whether or not a reader is left; no reader adds POLLERR.
      if (p.capacity - p.len >= PIPE_BUF) r |= POLLOUT;
      if (p.readers === 0) r |= POLLERR;
    }
    return r;
  }

  override ioctl(t: Task, cmd: number, arg: number): number {
    if (cmd !== FIONREAD) return super.ioctl(t, cmd, arg);
    return t.mm.writeU32(arg, this.pipe.len) ? 0 : -EFAULT;
  }

  override stat(): StatInfo {
    if (this.location) return super.stat();
    return anonStat(S_IFIFO | 0o600, this.pipe.ino);
  }

  override get displayPath(): string {
    return this.location ? absolutePath(this.location) : `pipe:[${this.pipe.ino}]`;
  }

  override reopen(flags: number): FileDescription {
    const f = new PipeFile(this.pipe, flags);
    f.location = this.location;
    return f;
  }

  override release(): void {
    this.pipe.detach(this.flags);
  }
}

/** pipe2(2): the read end and the write end. */
export function newPipe(flags: number): [PipeFile, PipeFile] {
  const p = new Pipe();
  return [new PipeFile(p, O_RDONLY | flags), new PipeFile(p, O_WRONLY | flags)];
}
