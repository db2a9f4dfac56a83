// splice, tee, vmsplice and sendfile: moving bytes between a pipe and another file (or two pipes)
// inside the sentry, without passing them through application memory (vmsplice: to or from it).
// The application's fds never reach the host: a host-backed socket is read or written by the
// sentry like any socket (splice_io.ts holds the data paths).
//
// Linux's rules, in Linux's order: len 0 is 0 at once; unknown flags EINVAL; bad fds EBADF; an
// offset on a pipe ESPIPE (read before the access modes are looked at); an offset that is
// negative or that len carries past 2^63-1 EINVAL; neither side a pipe, or one pipe on both
// sides, EINVAL. SPLICE_F_NONBLOCK (or the pipe's own O_NONBLOCK) makes waiting on the pipe EAGAIN;
// the other side waits unless it is O_NONBLOCK itself. A wait is a park on both the pipe's and
// the file's queues that a signal interrupts (EINTR, or a restart with SA_RESTART); nothing moves
// before a park, so a re-run starts afresh. SPLICE_F_MORE is MSG_MORE on a socket;
// SPLICE_F_MOVE and SPLICE_F_GIFT are accepted (the sentry always copies).

import { EAGAIN, EBADF, EFAULT, EINVAL, ESPIPE } from '../../abi/errno';
import { BLOCK, type Task } from '../../kernel/task';
import { O_APPEND, O_NONBLOCK, O_PATH, S_IFBLK, S_IFMT, S_IFREG } from '../../vfs/constants';
import { FileDescription } from '../../vfs/file';
import { PIPE_BUF, PipeFile, type Pipe } from '../../vfs/pipe';
import { iovecViews } from './sys_io';
import { fileToFile, fileToPipe, pipeToFile, pipeToPipe, raiseSigpipe, SPLICE_CHUNK, spliceable, Wait, type Moved } from './splice_io';

const SPLICE_F_NONBLOCK = 2;
const SPLICE_F_MORE = 4;
/** MOVE | NONBLOCK | MORE | GIFT. */
const SPLICE_F_ALL = 0xf;
const MAX_RW = 0x7ffff000;
const LOFF_MAX = 0x7fff_ffff_ffff_ffffn;
/** The most a call moves between two non-pipe files before returning its count (the caller loops). */
const MAX_PER_CALL = 16 << 20;

/** The files a parked call holds while it waits (as Linux's fdget holds them for the whole call). */
class SpliceWait {
  /** When a socket's SO_RCVTIMEO/SO_SNDTIMEO ends the wait (performance.now() ms; Infinity: never). */
  deadline = Infinity;
  constructor(readonly files: FileDescription[]) {}
  dispose(): void {
    for (const f of this.files) f.decRef();
  }
}

/** The call's files: the ones a parked run kept, else the fds' (O_PATH fds are EBADF, as fdget). */
function filesOf(t: Task, fds: number[]): FileDescription[] | number {
  if (t.blockState instanceof SpliceWait) return t.blockState.files;
  const out: FileDescription[] = [];
  for (const fd of fds) {
    const f = t.files.get(fd);
    if (!f || f.flags & O_PATH) return -EBADF;
    out.push(f);
  }
  return out;
}

function pipeOf(f: FileDescription): Pipe | null {
  return f instanceof PipeFile ? f.pipe : null;
}

function seekable(f: FileDescription): boolean {
  return f.seek !== FileDescription.prototype.seek;
}

/** A loff_t from application memory, exactly (JS numbers lose the low bits near 2^63). */
function readLoff(t: Task, addr: number): bigint | null {
  const b = t.mm.read(addr, 8);
  return b ? new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true) : null;
}

/** rw_verify_area: a negative position, or one that len carries past LLONG_MAX, is EINVAL. */
function verifyArea(pos: bigint, len: number): number {
  return pos < 0n || pos + BigInt(len) > LOFF_MAX ? -EINVAL : 0;
}

/**
 * A mover's answer as the syscall's: a Wait becomes EAGAIN (nonblocking pipe side, or a file that
 * is O_NONBLOCK: splice_io already said EAGAIN then) or a park on the queue.
 */
function settle(t: Task, m: Moved, files: FileDescription[], pipeNonblock: boolean): number {
  if (!(m instanceof Wait)) return m;
  if (m.pipe && pipeNonblock) return -EAGAIN;
  let st = t.blockState instanceof SpliceWait ? t.blockState : undefined;
  // A socket's timeout passed (sock_rcvtimeo/sndtimeo, as tcp_splice_read waits): EAGAIN.
  if (st && t.timedOut) return -EAGAIN;
  if (!st) {
    st = new SpliceWait(files.map((f) => f.incRef()));
    if (m.timeoutMs > 0) st.deadline = performance.now() + m.timeoutMs;
  }
  const r = t.block([m.queue], st.deadline, st);
  if (r === BLOCK && m.hostFd >= 0) t.kernel.watchHostFd(t, m.hostFd);
  return r;
}

/** Run a mover until len is moved, it waits, fails or reaches the end; a wait after progress returns the progress. */
function moveLoop(t: Task, len: number, files: FileDescription[], pipeNonblock: boolean, step: (left: number) => Moved): number {
  let done = 0;
  const cap = Math.min(len, MAX_PER_CALL);
  while (done < cap) {
    const m = step(cap - done);
    if (typeof m === 'number' && m > 0) {
      done += m;
      continue;
    }
    if (done > 0) break;
    return settle(t, m, files, pipeNonblock);
  }
  return done;
}

/** The position a non-pipe side is used at: *addr (checked), or its offset; -1n with no file position. */
function sidePos(t: Task, f: FileDescription, addr: number, len: number): bigint | number {
  if (!addr) {
    const r = seekable(f) ? verifyArea(BigInt(f.offset), len) : 0;
    return r < 0 ? r : -1n;
  }
  // An offset needs a file that has positions (FMODE_PREAD/PWRITE): a socket is EINVAL.
  if (!seekable(f)) return -EINVAL;
  const p = readLoff(t, addr);
  if (p === null) return -EFAULT;
  const r = verifyArea(p, len);
  return r < 0 ? r : p;
}

function splice(t: Task): number {
  const len = Math.min(t.arg(4), MAX_RW);
  const flags = t.argU32(5);
  if (t.arg(4) === 0) return 0;
  if (flags & ~SPLICE_F_ALL) return -EINVAL;
  const files = filesOf(t, [t.argInt(0), t.argInt(2)]);
  if (typeof files === 'number') return files;
  const [inp, out] = files;
  const ip = pipeOf(inp);
  const op = pipeOf(out);
  const inAddr = t.arg(1);
  const outAddr = t.arg(3);
  if ((ip && inAddr) || (op && outAddr)) return -ESPIPE;
  if (!inp.readable || !out.writable) return -EBADF;
  const nonblock = (flags & SPLICE_F_NONBLOCK) !== 0;
  if (ip && op) {
    if (ip === op) return -EINVAL;
    return settle(t, pipeToPipe(t, ip, op, len, false), files, nonblock || ((inp.flags | out.flags) & O_NONBLOCK) !== 0);
  }
  if (!ip && !op) return -EINVAL;
  const file = ip ? out : inp;
  if (!spliceable(file)) return -EINVAL;
  const addr = ip ? outAddr : inAddr;
  if (ip && out.flags & O_APPEND) return -EINVAL;
  const pos = sidePos(t, file, addr, len);
  if (typeof pos === 'number') return pos;
  const at = (done: number) => (pos < 0n ? -1 : Number(pos) + done);
  let moved = 0;
  const pipeNonblock = nonblock || ((ip ? inp : out).flags & O_NONBLOCK) !== 0;
  const r = moveLoop(t, len, files, pipeNonblock, (left) => {
    const m = ip ? pipeToFile(t, ip, out, at(moved), left, (flags & SPLICE_F_MORE) !== 0) : fileToPipe(t, inp, at(moved), op!, left, nonblock);
    if (typeof m === 'number' && m > 0) moved += m;
    return m;
  });
  if (r > 0 && addr) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, (pos as bigint) + BigInt(r), true);
    if (!t.mm.write(addr, b)) return -EFAULT;
  }
  return r;
}

function tee(t: Task): number {
  const flags = t.argU32(3);
  if (flags & ~SPLICE_F_ALL) return -EINVAL;
  if (t.arg(2) === 0) return 0;
  const files = filesOf(t, [t.argInt(0), t.argInt(1)]);
  if (typeof files === 'number') return files;
  const [inp, out] = files;
  if (!inp.readable || !out.writable) return -EBADF;
  const ip = pipeOf(inp);
  const op = pipeOf(out);
  if (!ip || !op || ip === op) return -EINVAL;
  const nonblock = (flags & SPLICE_F_NONBLOCK) !== 0 || ((inp.flags | out.flags) & O_NONBLOCK) !== 0;
  return settle(t, pipeToPipe(t, ip, op, Math.min(t.arg(2), MAX_RW), true), files, nonblock);
}

function vmsplice(t: Task): number {
  const flags = t.argU32(3);
  if (flags & ~SPLICE_F_ALL) return -EINVAL;
  const files = filesOf(t, [t.argInt(0)]);
  if (typeof files === 'number') return files;
  const f = files[0];
  // A writable fd takes the memory into the pipe; a read-only one gives the pipe's bytes to it.
  const toPipe = f.writable;
  if (!toPipe && !f.readable) return -EBADF;
  const views = iovecViews(t, t.arg(1), t.argInt(2), !toPipe);
  if (views === null) return -EFAULT;
  if (typeof views === 'number') return views;
  const total = views.reduce((n, v) => n + v.length, 0);
  if (total === 0) return 0;
  const p = pipeOf(f);
  if (!p) return -EBADF;
  const nonblock = (flags & SPLICE_F_NONBLOCK) !== 0 || (f.flags & O_NONBLOCK) !== 0;
  let m: Moved;
  if (toPipe) {
    if (p.readers === 0) return raiseSigpipe(t);
    m = p.free === 0 || p.free < Math.min(total, PIPE_BUF) ? new Wait(p.queue, true) : p.write(views);
  } else if (p.len === 0) m = p.writers === 0 ? 0 : new Wait(p.queue, true);
  else m = p.read(views);
  return settle(t, m, files, nonblock);
}

/**
 * sendfile(out, in, *offset, count): in is read at *offset (left alone) or at its offset
 * (advanced); out is a pipe (any readable in), or anything else with a regular file as in.
 */
function sendfile(t: Task): number {
  const files = filesOf(t, [t.argInt(1), t.argInt(0)]);
  if (typeof files === 'number') return files;
  const [inp, out] = files;
  if (!inp.readable) return -EBADF;
  const offAddr = t.arg(2);
  if (offAddr && !seekable(inp)) return -ESPIPE;
  const count = t.arg(3);
  // rw_verify_area: a count negative as a ssize_t is EINVAL, as is one carried past LLONG_MAX.
  if (count >= 2 ** 63) return -EINVAL;
  let pos: bigint;
  if (offAddr) {
    const p = readLoff(t, offAddr);
    if (p === null) return -EFAULT;
    pos = p;
  } else pos = BigInt(inp.offset);
  if (verifyArea(pos, Math.min(count, MAX_RW)) < 0) return -EINVAL;
  if (!out.writable) return -EBADF;
  const len = Math.min(count, MAX_RW);
  const op = pipeOf(out);
  if (!spliceable(inp)) return -EINVAL;
  if (!op) {
    if (!spliceable(out)) return -EINVAL;
    if (out.flags & O_APPEND) return -EINVAL;
    const mode = inp.stat().mode & S_IFMT;
    if (mode !== S_IFREG && mode !== S_IFBLK) return -EINVAL;
  }
  if (len === 0) return 0;
  const start = Number(pos);
  // A socket or stream in (into a pipe) is read where it is; a file at its positions.
  const at = seekable(inp) ? (done: number) => start + done : () => -1;
  const scratch = op ? null : new Uint8Array(Math.min(len, SPLICE_CHUNK));
  let moved = 0;
  const nonblock = op ? (out.flags & O_NONBLOCK) !== 0 : false;
  const r = moveLoop(t, len, files, nonblock, (left) => {
    const m = op ? fileToPipe(t, inp, at(moved), op, left, false) : fileToFile(t, inp, at(moved), out, left, scratch!);
    if (typeof m === 'number' && m > 0) moved += m;
    return m;
  });
  if (r <= 0) return r;
  if (!offAddr) {
    if (seekable(inp)) inp.offset = start + r;
  }
  else if (!t.mm.writeU64(offAddr, start + r)) return -EFAULT;
  return r;
}

export const sysSplice = { splice, tee, vmsplice, sendfile };
