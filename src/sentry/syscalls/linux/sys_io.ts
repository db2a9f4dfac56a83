// read/write and the vectored and positioned forms on open files (the VFS owns the files; this is
// the copy between them and application memory, zero-copy through views of it).

import { EBADF, EFAULT, EINVAL, EAGAIN, EPIPE, ESPIPE } from '../../abi/errno';
import { sendSigpipe } from '../../kernel/signals';
import { BLOCK, type Task } from '../../kernel/task';
import { O_NONBLOCK, O_PATH } from '../../vfs/constants';
import { FileDescription } from '../../vfs';
import { SOCK_STREAM } from '../../net/constants';
import { isSocket } from '../../net/socket';

const IOV_MAX = 1024;
const MAX_RW = 0x7ffff000;
/** x86-64's user address limit (access_ok). */
const TASK_SIZE_MAX = 0x7fff_ffff_f000;

/** Views of application memory for an iovec array; null on EFAULT. */
export function iovecViews(t: Task, iov: number, cnt: number, write: boolean): Uint8Array[] | null | number {
  if (cnt < 0 || cnt > IOV_MAX) return -EINVAL;
  const raw = t.mm.read(iov, cnt * 16);
  if (!raw) return null;
  const dv = new DataView(raw.buffer);
  const seg = (i: number) => [
    dv.getUint32(i * 16 + 4, true) * 0x1_0000_0000 + dv.getUint32(i * 16, true),
    dv.getUint32(i * 16 + 12, true) * 0x1_0000_0000 + dv.getUint32(i * 16 + 8, true),
  ];
  // Every segment is checked before anything moves (import_iovec): a length that is negative as
  // an ssize_t is EINVAL, one outside the user range (access_ok, even when empty) EFAULT.
  for (let i = 0; i < cnt; i++) {
    const [base, len] = seg(i);
    if (dv.getUint32(i * 16 + 12, true) >= 0x8000_0000) return -EINVAL;
    if (base > TASK_SIZE_MAX || len > TASK_SIZE_MAX - base) return null;
  }
  const out: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < cnt; i++) {
    const [base, len0] = seg(i);
    let len = len0;
    // Linux caps the total at MAX_RW_COUNT and transfers that much.
    len = Math.min(len, MAX_RW - total);
    total += len;
    // Up to the first fault: the transfer stops there (EFAULT only if nothing can be done).
    const vs = t.mm.prefixViews(base, len, write);
    if (!vs) return out.length > 0 ? out : len === 0 ? out : null;
    for (const v of vs) out.push(v);
    if (vs.reduce((n, v) => n + v.length, 0) < len) return out;
  }
  return out;
}

/** The bytes an iovec array asks for (capped at MAX_RW_COUNT), after iovecViews accepted it. */
export function iovecLength(t: Task, iov: number, cnt: number): number {
  const raw = cnt > 0 ? t.mm.read(iov, cnt * 16) : new Uint8Array(0);
  if (!raw) return 0;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  let total = 0;
  for (let i = 0; i < cnt; i++) total += dv.getUint32(i * 16 + 12, true) * 0x1_0000_0000 + dv.getUint32(i * 16 + 8, true);
  return Math.min(total, MAX_RW);
}

/**
 * A read or write parked on its file. It keeps the file open while it waits, as Linux's syscall
 * holds its own reference for its whole run: a close of the fd by another thread neither ends the
 * wait nor makes the pipe lose a reader or writer. A write also remembers how many of its bytes are
 * already written (see writeAll), which is what a signal makes it return.
 */
class IoWait {
  constructor(readonly file: FileDescription, public done: number) {}
  dispose(): void {
    this.file.decRef();
  }
}

/** The file of a read/write: the one a parked run kept, else the fd's (O_PATH fds have none). */
function ioFile(t: Task, fd: number): FileDescription | undefined {
  if (t.blockState instanceof IoWait) return t.blockState.file;
  const f = t.files.get(fd);
  return f && !(f.flags & O_PATH) ? f : undefined;
}

/** Block on the file if it would block and is not O_NONBLOCK (sockets park themselves: their EAGAIN is final). */
export function maybeBlock(t: Task, f: FileDescription, r: number, done = 0): number {
  if (r !== -EAGAIN || f.flags & O_NONBLOCK || isSocket(f)) return done > 0 && r < 0 ? done : r;
  const st = t.blockState instanceof IoWait ? t.blockState : new IoWait(f.incRef(), done);
  st.done = done;
  // A signal ends a write that has written some of its bytes with that count (pipe_write).
  if (done > 0) t.interruptResult = done;
  const host = f.hostWatchFd();
  const b = t.block([f.waitQueue], Infinity, st);
  if (host >= 0 && b === BLOCK) t.kernel.watchHostFd(t, host);
  return b;
}

/** A positioned read or write needs a seekable file (not a pipe, socket or stream). */
function positionable(f: FileDescription): boolean {
  return f.seek !== FileDescription.prototype.seek;
}

/**
 * A buffer that faults part way: a file's read or write does what fits before the fault (its page
 * cache copies page by page); a pipe's or stream's fails with EFAULT, as Linux's pipe_read does.
 */
function shortBuffer(f: FileDescription, views: Uint8Array[], want: number | undefined): boolean {
  return want !== undefined && !positionable(f) && views.reduce((n, v) => n + v.length, 0) < want;
}

/** views without their first n bytes. */
function skipBytes(views: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const v of views) {
    if (n >= v.length) n -= v.length;
    else {
      out.push(n > 0 ? v.subarray(n) : v);
      n = 0;
    }
  }
  return out;
}

/**
 * The checks of ksys_pread64/do_readv in Linux's order: a bad fd, then a position on a file that
 * has none (ESPIPE even on the wrong end of a pipe), then the access mode, then the buffer.
 */
function ioChecks(f: FileDescription | undefined, views: Uint8Array[] | null | number, pos: number, want: number | undefined, write: boolean): number {
  if (!f) return -EBADF;
  if (pos >= 0 && !positionable(f)) return -ESPIPE;
  if (!(write ? f.writable : f.readable)) return -EBADF;
  if (views === null) return -EFAULT;
  if (typeof views === 'number') return views;
  if (shortBuffer(f, views, want)) return -EFAULT;
  return 0;
}

function doRead(t: Task, fd: number, views: Uint8Array[] | null | number, pos: number, want?: number): number {
  const f = ioFile(t, fd);
  const bad = ioChecks(f, views, pos, want, false);
  if (bad < 0) return bad;
  const r = maybeBlock(t, f!, f!.read(t, views as Uint8Array[], pos));
  // Counted once per call that went to the file (not per retry after blocking), as vfs_read.
  if (r !== BLOCK) {
    t.io.syscr++;
    if (r > 0) t.io.rchar += r;
  }
  return r;
}

function doWrite(t: Task, fd: number, views: Uint8Array[] | null | number, pos: number, want?: number): number {
  const f = ioFile(t, fd);
  const bad = ioChecks(f, views, pos, want, true);
  if (bad < 0) return bad;
  const file = f!;
  const all = views as Uint8Array[];
  // A blocking write to a pipe waits for room for all its bytes (writeAll): the part written
  // before it parked is skipped when the sentry re-runs it.
  const done = t.blockState instanceof IoWait ? t.blockState.done : 0;
  const rest = done > 0 ? skipBytes(all, done) : all;
  const r = file.write(t, rest, pos);
  // Writing to a pipe with no reader (or a shut-down stream socket, not a datagram one): EPIPE and SIGPIPE, as pipe_write does.
  if (r === -EPIPE && !(isSocket(file) && file.type !== SOCK_STREAM)) sendSigpipe(t);
  let w: number;
  const left = r >= 0 && file.writeAll && !(file.flags & O_NONBLOCK) ? rest.reduce((n, v) => n + v.length, 0) - r : 0;
  if (left > 0) w = maybeBlock(t, file, -EAGAIN, done + r);
  else w = maybeBlock(t, file, r >= 0 ? done + r : r, done);
  // Counted once per call, when it returns (as vfs_write), not per retry after blocking.
  if (w !== BLOCK) {
    t.io.syscw++;
    if (w > 0) t.io.wchar += w;
  }
  return w;
}

/** preadv's offset (low and high halves); -1 (preadv2: the file position), or -2 if negative. */
function offset2(t: Task): number {
  const lo = t.argU32(3);
  const hi = t.argU32(4);
  if (hi === 0xffffffff && lo === 0xffffffff) return -1;
  return hi & 0x80000000 ? -2 : hi * 0x1_0000_0000 + lo;
}

function posArg(t: Task, i: number): number {
  return t.argS64(i);
}

export const sysIo = {
  read: (t: Task) => doRead(t, t.argInt(0), t.mm.prefixViews(t.arg(1), Math.min(t.arg(2), MAX_RW), true), -1, Math.min(t.arg(2), MAX_RW)),
  write: (t: Task) => doWrite(t, t.argInt(0), t.mm.prefixViews(t.arg(1), Math.min(t.arg(2), MAX_RW), false), -1, Math.min(t.arg(2), MAX_RW)),
  readv: (t: Task) => doRead(t, t.argInt(0), iovecViews(t, t.arg(1), t.argInt(2), true), -1),
  writev: (t: Task) => doWrite(t, t.argInt(0), iovecViews(t, t.arg(1), t.argInt(2), false), -1),
  pread64: (t: Task) => (posArg(t, 3) < 0 ? -EINVAL : doRead(t, t.argInt(0), t.mm.prefixViews(t.arg(1), Math.min(t.arg(2), MAX_RW), true), posArg(t, 3))),
  pwrite64: (t: Task) => (posArg(t, 3) < 0 ? -EINVAL : doWrite(t, t.argInt(0), t.mm.prefixViews(t.arg(1), Math.min(t.arg(2), MAX_RW), false), posArg(t, 3))),
  preadv: (t: Task) => (offset2(t) < 0 ? -EINVAL : doRead(t, t.argInt(0), iovecViews(t, t.arg(1), t.argInt(2), true), offset2(t))),
  pwritev: (t: Task) => (offset2(t) < 0 ? -EINVAL : doWrite(t, t.argInt(0), iovecViews(t, t.arg(1), t.argInt(2), false), offset2(t))),
  preadv2: (t: Task) => (offset2(t) < -1 ? -EINVAL : doRead(t, t.argInt(0), iovecViews(t, t.arg(1), t.argInt(2), true), offset2(t))),
  pwritev2: (t: Task) => (offset2(t) < -1 ? -EINVAL : doWrite(t, t.argInt(0), iovecViews(t, t.arg(1), t.argInt(2), false), offset2(t))),
  close: (t: Task) => t.files.close(t.argInt(0)),
};
