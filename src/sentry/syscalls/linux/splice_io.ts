// The data paths of splice, tee, vmsplice and sendfile: bytes move between a pipe's ring buffer
// (vfs/pipe.ts: peekViews/consume, spaceViews/commit) and the other side in place, with no
// application memory involved. The side that is not a pipe is a file read or written at a
// position (-1: at and advancing its offset), or a socket, always asked without waiting
// (MSG_DONTWAIT): whether to wait is decided here, so a partial move is never lost.
//
// Every mover returns bytes moved, 0 at end of input, -errno, or a Wait naming what to wait for;
// the syscall (sys_splice.ts) turns a Wait into EAGAIN or a park, as Linux's splice does.

import { EAGAIN, EPIPE } from '../../abi/errno';
import { sendSigpipe } from '../../kernel/signals';
import type { Task } from '../../kernel/task';
import type { WaitQueue } from '../../kernel/waitqueue';
import { AF_UNIX, MSG_DONTWAIT, MSG_MORE, SOCK_STREAM } from '../../net/constants';
import { isSocket } from '../../net/socket';
import { O_NONBLOCK, S_IFBLK, S_IFCHR, S_IFMT, S_IFREG, S_IFSOCK } from '../../vfs/constants';
import { WATCH_ONLY_OUT, WATCH_OUT, type FileDescription } from '../../vfs/file';
import { HostStreamFile } from '../../vfs/host-stream';
import { PIPE_BUF, type Pipe } from '../../vfs/pipe';

/** The most one call moves through a non-pipe side (a pipe resized by root may hold 2 GiB). */
export const SPLICE_CHUNK = 1 << 20;

/**
 * Nothing can move yet. pipe: the wait is on a pipe (SPLICE_F_NONBLOCK or the pipe's O_NONBLOCK
 * make it EAGAIN); otherwise on the other file, which waits unless it is O_NONBLOCK itself.
 */
export class Wait {
  /** timeoutMs: a socket's SO_RCVTIMEO/SO_SNDTIMEO (0: none), after which the wait is EAGAIN. */
  constructor(readonly queue: WaitQueue, readonly pipe: boolean, readonly hostFd = -1, readonly timeoutMs = 0) {}
}

/**
 * Whether f can be the non-pipe side of a splice (Linux: it has splice_read/splice_write):
 * regular files, devices, sockets and the host's streams; a directory, an eventfd, epoll,
 * timerfd or signalfd is EINVAL.
 */
export function spliceable(f: FileDescription): boolean {
  if (f instanceof HostStreamFile) return true;
  const type = f.stat().mode & S_IFMT;
  return type === S_IFREG || type === S_IFCHR || type === S_IFBLK || type === S_IFSOCK;
}

export type Moved = number | Wait;


/** A write to a pipe or stream with no reader: EPIPE, and SIGPIPE to the caller. */
export function raiseSigpipe(t: Task): number {
  sendSigpipe(t);
  return -EPIPE;
}

/** The other side would block: wait on it, or EAGAIN when its own O_NONBLOCK (or the flag) says so. */
function fileWait(f: FileDescription, nonblock: boolean, out: boolean): Moved {
  if (nonblock || f.flags & O_NONBLOCK) return -EAGAIN;
  const h = f.hostWatchFd();
  const ms = isSocket(f) ? (out ? f.sndTimeoMs : f.rcvTimeoMs) : 0;
  return new Wait(f.waitQueue, false, h < 0 ? -1 : out ? h | WATCH_OUT | WATCH_ONLY_OUT : h, ms);
}

function readSide(t: Task, f: FileDescription, dst: Uint8Array[], pos: number): number {
  if (!isSocket(f)) return f.read(t, dst, pos);
  const r = f.recvmsg(t, { data: dst, flags: MSG_DONTWAIT, controlLen: 0 });
  return typeof r === 'number' ? r : r.n;
}

function writeSide(t: Task, f: FileDescription, src: Uint8Array[], pos: number, more: boolean): number {
  if (!isSocket(f)) return f.write(t, src, pos);
  return f.sendmsg(t, { data: src, addr: null, control: [], flags: MSG_DONTWAIT | (more ? MSG_MORE : 0) });
}

/** Room for a move of len bytes into p: as a write, at least min(len, PIPE_BUF) bytes free (no spinning on a sliver). */
function roomFor(p: Pipe, len: number): boolean {
  return p.free > 0 && p.free >= Math.min(len, PIPE_BUF);
}

/** splice from one pipe into another (or tee, keep: the input keeps its bytes). */
export function pipeToPipe(t: Task, ip: Pipe, op: Pipe, len: number, keep: boolean): Moved {
  if (ip.len === 0) return ip.writers === 0 ? 0 : new Wait(ip.queue, true);
  if (op.readers === 0) return raiseSigpipe(t);
  if (op.free === 0) return new Wait(op.queue, true);
  const n = Math.min(len, ip.len, op.free);
  const w = op.write(ip.peekViews(n));
  if (w > 0 && !keep) ip.consume(w);
  return w;
}

/**
 * splice from a file or socket into a pipe (also sendfile into a pipe). pos: where to read the
 * file (-1: its offset). sockNonblock: SPLICE_F_NONBLOCK reaches an AF_UNIX socket's read, as
 * Linux's unix_stream_splice_read; any other file waits unless O_NONBLOCK.
 */
export function fileToPipe(t: Task, f: FileDescription, pos: number, op: Pipe, len: number, nonblock: boolean): Moved {
  if (op.readers === 0) return raiseSigpipe(t);
  if (!roomFor(op, len)) return new Wait(op.queue, true);
  const n = Math.min(len, op.free, SPLICE_CHUNK);
  const r = readSide(t, f, op.spaceViews(n), pos);
  if (r === -EAGAIN) return fileWait(f, nonblock && isSocket(f) && f.family === AF_UNIX, false);
  if (r > 0) op.commit(r);
  return r;
}

/** splice from a pipe to a file or socket; pos: where to write the file (-1: its offset). */
export function pipeToFile(t: Task, ip: Pipe, f: FileDescription, pos: number, len: number, more: boolean): Moved {
  if (ip.len === 0) return ip.writers === 0 ? 0 : new Wait(ip.queue, true);
  const n = Math.min(len, ip.len, SPLICE_CHUNK);
  const w = writeSide(t, f, ip.peekViews(n), pos, more);
  if (w === -EAGAIN) return fileWait(f, false, true);
  // A reset or shut-down stream socket raises SIGPIPE, as a write to it does (not a datagram one).
  if (w === -EPIPE && !(isSocket(f) && f.type !== SOCK_STREAM)) return raiseSigpipe(t);
  if (w > 0) ip.consume(w);
  return w;
}

/**
 * sendfile between two files that are not pipes: read at pos of a regular file, write to out (a
 * file at its offset or a socket); only what out took counts, so nothing read is lost.
 */
export function fileToFile(t: Task, f: FileDescription, pos: number, out: FileDescription, len: number, scratch: Uint8Array): Moved {
  const n = Math.min(len, scratch.length);
  const r = f.read(t, [scratch.subarray(0, n)], pos);
  if (r <= 0) return r;
  const w = writeSide(t, out, [scratch.subarray(0, r)], -1, false);
  if (w === -EAGAIN) return fileWait(out, false, true);
  if (w === -EPIPE && !(isSocket(out) && out.type !== SOCK_STREAM)) return raiseSigpipe(t);
  return w;
}
