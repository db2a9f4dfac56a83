// File locks from the application's side: fcntl's F_GETLK/F_SETLK/F_SETLKW and their OFD forms
// (struct flock), and flock(2). The lock tables are vfs/lock.ts.

import { EAGAIN, EBADF, EDEADLK, EFAULT, EINVAL } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import type { FileDescription } from '../../vfs';
import { O_PATH } from '../../vfs/constants';
import {
  conflicting, F_RDLCK, F_UNLCK, F_WRLCK, flockConflict, flockSet, lockQueue, noteWaiting, setRange, stopWaiting, wouldDeadlock,
} from '../../vfs/lock';
import { fileOf } from './vfs_args';

const F_GETLK = 5;
const F_SETLKW = 7;
const F_OFD_GETLK = 36;
const F_OFD_SETLKW = 38;
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

interface FlockArgs {
  type: number;
  start: number;
  end: number;
  pid: number;
}

/** struct flock { short l_type, l_whence; off_t l_start, l_len; pid_t l_pid } as a byte range. */
function readFlock(t: Task, f: FileDescription, addr: number): FlockArgs | number {
  const b = t.mm.read(addr, 32);
  if (!b) return -EFAULT;
  const dv = new DataView(b.buffer);
  const type = dv.getInt16(0, true);
  const whence = dv.getInt16(2, true);
  const start = Number(dv.getBigInt64(8, true));
  const len = Number(dv.getBigInt64(16, true));
  if (type !== F_RDLCK && type !== F_WRLCK && type !== F_UNLCK) return -EINVAL;
  let base: number;
  if (whence === 0) base = 0;
  else if (whence === 1) base = f.offset;
  else if (whence === 2) base = f.stat().size;
  else return -EINVAL;
  let s = base + start;
  let e: number;
  if (len > 0) e = s + len;
  else if (len === 0) e = Infinity;
  else {
    e = s;
    s += len;
  }
  if (s < 0) return -EINVAL;
  return { type, start: s, end: e, pid: dv.getInt32(24, true) };
}

function writeFlock(t: Task, addr: number, type: number, start: number, end: number, pid: number): boolean {
  const b = new Uint8Array(32);
  const dv = new DataView(b.buffer);
  dv.setInt16(0, type, true);
  dv.setInt16(2, 0, true);
  dv.setBigInt64(8, BigInt(start), true);
  dv.setBigInt64(16, BigInt(end === Infinity ? 0 : end - start), true);
  dv.setInt32(24, pid, true);
  return t.mm.write(addr, b);
}

/** fcntl's lock commands: POSIX locks are the fd table's (Linux's files_struct), OFD locks the file's. */
export function fcntlLock(t: Task, f: FileDescription, cmd: number, arg: number): number {
  if (f.flags & O_PATH) return -EBADF;
  const ofd = cmd >= F_OFD_GETLK;
  const a = readFlock(t, f, arg);
  if (typeof a === 'number') return a;
  if (ofd && a.pid !== 0) return -EINVAL;
  const owner: object = ofd ? f : t.files;
  if (cmd === F_GETLK || cmd === F_OFD_GETLK) {
    if (a.type === F_UNLCK) return -EINVAL;
    const c = conflicting(f, owner, a.start, a.end, a.type);
    const ok = c ? writeFlock(t, arg, c.type, c.start, c.end, c.pid) : writeFlock(t, arg, F_UNLCK, a.start, a.end, a.pid);
    return ok ? 0 : -EFAULT;
  }
  if ((a.type === F_RDLCK && !f.readable) || (a.type === F_WRLCK && !f.writable)) return -EBADF;
  const pid = ofd ? -1 : t.pid;
  const c = a.type === F_UNLCK ? undefined : conflicting(f, owner, a.start, a.end, a.type);
  if (!c) {
    stopWaiting(owner);
    setRange(f, owner, pid, a.start, a.end, a.type);
    return 0;
  }
  if (cmd !== F_SETLKW && cmd !== F_OFD_SETLKW) return -EAGAIN;
  if (!ofd && wouldDeadlock(owner, c.owner)) {
    stopWaiting(owner);
    return -EDEADLK;
  }
  noteWaiting(f, owner, a.start, a.end, a.type, t);
  return t.block([lockQueue(f)]);
}

function flock(t: Task): number {
  const f = fileOf(t, t.argInt(0));
  if (typeof f === 'number') return f;
  if (f.flags & O_PATH) return -EBADF;
  const op = t.argInt(1);
  const kind = op & ~LOCK_NB;
  const type = kind === LOCK_SH ? F_RDLCK : kind === LOCK_EX ? F_WRLCK : kind === LOCK_UN ? F_UNLCK : -1;
  if (type < 0) return -EINVAL;
  if (type !== F_UNLCK && flockConflict(f, type)) return op & LOCK_NB ? -EAGAIN : t.block([lockQueue(f)]);
  flockSet(f, type);
  return 0;
}

export const sysLock = { flock };
