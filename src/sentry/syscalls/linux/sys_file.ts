// Open files: open/openat/openat2/creat, the fd table (dup*, close_range, fcntl), pipes, ioctl,
// lseek, truncation, sync, fallocate and the in-kernel copy of copy_file_range (sendfile is sys_splice.ts).

import { E2BIG, EAGAIN, EBADF, EFAULT, EINVAL, EISDIR, EOPNOTSUPP, EPERM, ESPIPE, ESRCH } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import { CAP_SYS_RESOURCE, capable } from '../../kernel/creds';
import { isOwner } from '../../vfs/permission';
import { FileDescription } from '../../vfs';
import { truncateLoc } from '../../vfs/attr';
import {
  AT_FDCWD, O_ACCMODE, O_APPEND, O_ASYNC, O_CLOEXEC, O_CREAT, O_DIRECT, O_DIRECTORY, O_DSYNC, O_EXCL, O_LARGEFILE, O_NOATIME,
  O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_PATH, O_SYNC, O_TMPFILE, O_TRUNC, O_WRONLY, RESOLVE_BENEATH, RESOLVE_CACHED, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS,
  RESOLVE_NO_XDEV, S_IFDIR, S_IFMT, S_IFREG, SETFL_MASK,
} from '../../vfs/constants';
import { newMemfd } from '../../vfs/memfd';
import { openAt } from '../../vfs/namei';
import { newPipe, PipeFile } from '../../vfs/pipe';
import { asyncOwner, F_OWNER_PGRP, F_OWNER_PID, F_OWNER_TID, idInUse, notifyQuietly, setAsyncFd, setAsyncOwner } from '../../vfs/async-io';
import { fcntlLock } from './sys_lock';
import { fileOf, readPath, startOf, targetAt, isFile } from './vfs_args';

const F_DUPFD = 0;
const F_GETFD = 1;
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const F_GETLK = 5;
const F_SETLK = 6;
const F_SETLKW = 7;
const F_SETOWN = 8;
const F_GETOWN = 9;
const F_SETSIG = 10;
const F_GETSIG = 11;
const F_SETOWN_EX = 15;
const F_GETOWN_EX = 16;
const F_OFD_GETLK = 36;
const F_OFD_SETLK = 37;
const F_OFD_SETLKW = 38;
const F_SETLEASE = 1024;
const F_GETLEASE = 1025;
const F_DUPFD_CLOEXEC = 1030;
const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;
const F_UNLCK = 2;
const FD_CLOEXEC = 1;

const FIONCLEX = 0x5450;
const FIOCLEX = 0x5451;
const FIONBIO = 0x5421;
const FIOASYNC = 0x5452;

const CLOSE_RANGE_UNSHARE = 2;
const CLOSE_RANGE_CLOEXEC = 4;
const OPEN_HOW_SIZE = 24;
/** Every flag open(2) knows (VALID_OPEN_FLAGS; openat2 refuses the rest). */
const VALID_OPEN =
  O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC | O_ASYNC | O_DIRECT | O_LARGEFILE |
  O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_SYNC | O_PATH | O_TMPFILE;
const MFD_CLOEXEC = 1;
const MFD_ALLOW_SEALING = 2;

function install(t: Task, f: FileDescription | number, cloexec: boolean): number {
  if (typeof f === 'number') return f;
  return t.files.install(f, cloexec);
}

/** open(2) with everything decoded: a new fd, -errno, or BLOCK (a FIFO waiting for its peer). */
function doOpen(t: Task, dirfd: number, pathAddr: number, flags: number, mode: number, rflags: number): number {
  const path = readPath(t, pathAddr);
  if (typeof path === 'number') return path;
  if ((flags & O_TMPFILE) === O_TMPFILE) return -EOPNOTSUPP;
  const start = startOf(t, dirfd, path);
  if (typeof start === 'number') return start;
  if (!(flags & O_PATH)) flags |= O_LARGEFILE;
  const f = openAt(t, start, path, flags, mode, rflags, t.vfs.console);
  return install(t, f, (flags & O_CLOEXEC) !== 0);
}

/** openat2: struct open_how { u64 flags, mode, resolve }, checked as strictly as Linux does. */
function openat2(t: Task): number {
  const size = t.arg(3);
  if (size < OPEN_HOW_SIZE) return -EINVAL;
  if (size > 4096) return -E2BIG;
  const how = t.mm.read(t.arg(2), size);
  if (!how) return -EFAULT;
  for (let i = OPEN_HOW_SIZE; i < size; i++) if (how[i] !== 0) return -E2BIG;
  const dv = new DataView(how.buffer, how.byteOffset, size);
  const flags = dv.getBigUint64(0, true);
  const mode = dv.getBigUint64(8, true);
  const resolve = dv.getBigUint64(16, true);
  const known = BigInt(RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED);
  if (flags & ~BigInt(VALID_OPEN) || resolve & ~known) return -EINVAL;
  const f = Number(flags);
  const r = Number(resolve);
  if (mode & ~0o7777n || (mode !== 0n && !(f & O_CREAT) && (f & O_TMPFILE) !== O_TMPFILE)) return -EINVAL;
  if (r & RESOLVE_BENEATH && r & RESOLVE_IN_ROOT) return -EINVAL;
  if (r & RESOLVE_CACHED && f & (O_CREAT | O_TRUNC | O_TMPFILE)) return -EAGAIN;
  return doOpen(t, t.argInt(0), t.arg(1), f, Number(mode), r);
}

// ---- the fd table ----

function dup2(t: Task, oldfd: number, newfd: number, cloexec: boolean): number {
  const f = t.files.get(oldfd);
  if (!f) return -EBADF;
  if (newfd < 0 || newfd >= t.files.limit) return -EBADF;
  return t.files.installAt(newfd, f.incRef(), cloexec);
}

function closeRange(t: Task): number {
  const first = t.argU32(0);
  const last = t.argU32(1);
  const flags = t.argU32(2);
  if (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) || first > last) return -EINVAL;
  if (flags & CLOSE_RANGE_UNSHARE && t.files.refs > 1) {
    const own = t.files.fork();
    t.files.release();
    t.files = own;
  }
  for (const [fd, e] of [...t.files.fds]) {
    if (fd < first || fd > last) continue;
    if (flags & CLOSE_RANGE_CLOEXEC) e.cloexec = true;
    else t.files.close(fd);
  }
  return 0;
}

function fcntl(t: Task): number {
  const fd = t.argInt(0);
  const cmd = t.argInt(1);
  const e = t.files.fds.get(fd);
  if (!e) return -EBADF;
  const f = e.file;
  const arg = t.arg(2);
  // An O_PATH fd only dups and has its fd and file flags read or set (check_fcntl_cmd).
  if (f.flags & O_PATH && cmd !== F_DUPFD && cmd !== F_DUPFD_CLOEXEC && cmd !== F_GETFD && cmd !== F_SETFD && cmd !== F_GETFL) return -EBADF;
  switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      const min = t.argInt(2);
      if (min < 0 || min >= t.files.limit) return -EINVAL;
      return t.files.install(f.incRef(), cmd === F_DUPFD_CLOEXEC, min);
    }
    case F_GETFD:
      return e.cloexec ? FD_CLOEXEC : 0;
    case F_SETFD:
      e.cloexec = (arg & FD_CLOEXEC) !== 0;
      return 0;
    case F_GETFL:
      return f.flags;
    case F_SETFL:
      if (f.flags & O_PATH) return -EBADF;
      if (t.argInt(2) & O_NOATIME && !(f.flags & O_NOATIME) && f.location && !isOwner(t.creds, f.location.dentry.inode)) return -EPERM;
      if ((f.flags ^ t.argInt(2)) & O_ASYNC) setAsyncFd(t.kernel, f, t.argInt(2) & O_ASYNC ? fd : undefined);
      f.flags = (f.flags & ~SETFL_MASK) | (t.argInt(2) & SETFL_MASK);
      notifyQuietly(f);
      return 0;
    default:
      return fcntlMore(t, f, cmd, arg);
  }
}

/** Locks (sys_lock.ts), owners, leases, pipe sizes. */
function fcntlMore(t: Task, f: FileDescription, cmd: number, arg: number): number {
  switch (cmd) {
    case F_GETLK:
    case F_OFD_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_SETLK:
    case F_OFD_SETLKW:
      return fcntlLock(t, f, cmd, arg);
    case F_SETOWN: {
      // f_setown: a negative id is a process group; its sign flip must not overflow; the id must exist.
      const id = t.argInt(2);
      if (id === -0x8000_0000) return -EINVAL;
      if (id !== 0 && !idInUse(t.pidns, Math.abs(id))) return -ESRCH;
      setAsyncOwner(t.kernel, f, id < 0 ? { type: F_OWNER_PGRP, id: -id } : { type: F_OWNER_PID, id }, t.pidns);
      return 0;
    }
    case F_GETOWN: {
      const o = asyncOwner(f);
      return o.type === F_OWNER_PGRP ? -o.id : o.id;
    }
    case F_SETOWN_EX: {
      const b = t.mm.read(arg, 8);
      if (!b) return -EFAULT;
      const dv = new DataView(b.buffer);
      const type = dv.getInt32(0, true);
      const id = dv.getInt32(4, true);
      if (type !== F_OWNER_TID && type !== F_OWNER_PID && type !== F_OWNER_PGRP) return -EINVAL;
      if (id !== 0 && !idInUse(t.pidns, id)) return -ESRCH;
      setAsyncOwner(t.kernel, f, { type, id }, t.pidns);
      return 0;
    }
    case F_GETOWN_EX: {
      const o = asyncOwner(f);
      const b = new Uint8Array(8);
      const dv = new DataView(b.buffer);
      dv.setInt32(0, o.type, true);
      dv.setInt32(4, o.id, true);
      return t.mm.write(arg, b) ? 0 : -EFAULT;
    }
    case F_SETSIG: {
      const sig = t.argInt(2);
      if (sig < 0 || sig > 64) return -EINVAL;
      setAsyncOwner(t.kernel, f, { signal: sig });
      return 0;
    }
    case F_GETSIG:
      return asyncOwner(f).signal;
    case F_GETLEASE:
      return F_UNLCK;
    case F_SETLEASE:
      return -EINVAL;
    case F_SETPIPE_SZ:
      return f instanceof PipeFile ? f.pipe.resize(t.argU32(2), capable(t.creds, CAP_SYS_RESOURCE)) : -EBADF;
    case F_GETPIPE_SZ:
      return f instanceof PipeFile ? f.pipe.capacity : -EBADF;
    default:
      return -EINVAL;
  }
}

function pipe2(t: Task, addr: number, flags: number): number {
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) return -EINVAL;
  const [r, w] = newPipe(flags & (O_NONBLOCK | O_DIRECT));
  const cloexec = (flags & O_CLOEXEC) !== 0;
  const rfd = t.files.install(r, cloexec);
  if (rfd < 0) {
    w.decRef();
    return rfd;
  }
  const wfd = t.files.install(w, cloexec);
  if (wfd < 0) {
    t.files.close(rfd);
    return wfd;
  }
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, rfd, true);
  dv.setInt32(4, wfd, true);
  if (t.mm.write(addr, b)) return 0;
  t.files.close(rfd);
  t.files.close(wfd);
  return -EFAULT;
}

function ioctl(t: Task): number {
  const fd = t.argInt(0);
  const cmd = t.argU32(1);
  const e = t.files.fds.get(fd);
  if (!e) return -EBADF;
  const f = e.file;
  if (f.flags & O_PATH) return -EBADF;
  switch (cmd) {
    case FIOCLEX:
      e.cloexec = true;
      return 0;
    case FIONCLEX:
      e.cloexec = false;
      return 0;
    case FIONBIO:
    case FIOASYNC: {
      const on = t.mm.readI32(t.arg(2));
      if (on === null) return -EFAULT;
      const bit = cmd === FIONBIO ? O_NONBLOCK : O_ASYNC;
      if (bit === O_ASYNC && (on !== 0) !== ((f.flags & O_ASYNC) !== 0)) setAsyncFd(t.kernel, f, on ? fd : undefined);
      f.flags = on ? f.flags | bit : f.flags & ~bit;
      return 0;
    }
    default:
      return f.ioctl(t, cmd, t.arg(2));
  }
}

function lseek(t: Task): number {
  const f = fileOf(t, t.argInt(0));
  if (typeof f === 'number') return f;
  if (f.flags & O_PATH) return -EBADF;
  return f.seek(t.argS64(1), t.argInt(2));
}

function truncate(t: Task): number {
  const len = t.argS64(1);
  const target = targetAt(t, AT_FDCWD, t.arg(0), 0, true);
  if (typeof target === 'number') return target;
  if (isFile(target) || target.file) return -EINVAL;
  return truncateLoc(t.creds, target, len);
}

function ftruncate(t: Task): number {
  const f = fileOf(t, t.argInt(0));
  if (typeof f === 'number') return f;
  const len = t.argS64(1);
  if (f.flags & O_PATH) return -EBADF;
  if (len < 0 || !f.writable || !f.location || (f.stat().mode & S_IFMT) !== S_IFREG) return -EINVAL;
  if (f.location.mount.flags.readonly) return -EINVAL;
  return f.truncate(len);
}

function fallocate(t: Task): number {
  const f = fileOf(t, t.argInt(0));
  if (typeof f === 'number') return f;
  const off = t.argS64(2);
  const len = t.argS64(3);
  if (off < 0 || len <= 0) return -EINVAL;
  if (!f.writable) return -EBADF;
  if (f instanceof PipeFile) return -ESPIPE;
  if ((f.stat().mode & S_IFMT) === S_IFDIR) return -EISDIR;
  return f.allocate(t.argInt(1), off, len);
}

/** Files a descriptor can be synced through (everything but O_PATH). */
function syncFd(t: Task): number {
  const f = fileOf(t, t.argInt(0));
  if (typeof f === 'number') return f;
  return f.flags & O_PATH ? -EBADF : f.sync();
}

/**
 * The in-kernel copy behind copy_file_range: up to len bytes from src at srcPos
 * (src is seekable), in 64 KiB steps; dstPos -1 writes at dst's offset. Bytes copied or -errno.
 */
function copyBetween(t: Task, src: FileDescription, srcPos: number, dst: FileDescription, dstPos: number, len: number): number {
  const buf = new Uint8Array(Math.min(len, 1 << 16));
  let done = 0;
  while (done < len) {
    const r = src.read(t, [buf.subarray(0, Math.min(buf.length, len - done))], srcPos + done);
    if (r <= 0) return done > 0 ? done : r;
    const w = dst.write(t, [buf.subarray(0, r)], dstPos < 0 ? -1 : dstPos + done);
    if (w < 0) return done > 0 ? done : w;
    done += w;
    if (w < r) break;
  }
  return done;
}

function copyFileRange(t: Task): number {
  const inp = fileOf(t, t.argInt(0));
  const out = fileOf(t, t.argInt(2));
  if (typeof inp === 'number') return inp;
  if (typeof out === 'number') return out;
  if (t.argU32(5) !== 0) return -EINVAL;
  if (!inp.readable || !out.writable || out.flags & O_APPEND) return -EBADF;
  if ((inp.stat().mode & S_IFMT) !== S_IFREG || (out.stat().mode & S_IFMT) !== S_IFREG) return -EINVAL;
  const inAddr = t.arg(1);
  const outAddr = t.arg(3);
  const inOff = inAddr ? t.mm.readI64(inAddr) : inp.offset;
  const outOff = outAddr ? t.mm.readI64(outAddr) : out.offset;
  if (inOff === null || outOff === null) return -EFAULT;
  if (inOff < 0 || outOff < 0) return -EINVAL;
  const n = copyBetween(t, inp, inOff, out, outOff, t.arg(4));
  if (n <= 0) return n;
  if (inAddr) t.mm.writeU64(inAddr, inOff + n);
  else inp.offset += n;
  if (outAddr) t.mm.writeU64(outAddr, outOff + n);
  else out.offset += n;
  return n;
}

function memfdCreate(t: Task): number {
  const name = t.mm.readCString(t.arg(0), 249);
  if (name === null) return -EFAULT;
  if (name === undefined) return -EINVAL;
  const flags = t.argU32(1);
  if (flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING)) return -EINVAL;
  return t.files.install(newMemfd(name, t.creds, 2 | O_LARGEFILE), (flags & MFD_CLOEXEC) !== 0);
}

/** An fd that must exist (and not be O_PATH) for a no-op such as fadvise or flock. */
function fdNoop(t: Task): number {
  const f = fileOf(t, t.argInt(0));
  if (typeof f === 'number') return f;
  return f.flags & O_PATH ? -EBADF : 0;
}

export const sysFile = {
  open: (t: Task) => doOpen(t, AT_FDCWD, t.arg(0), t.argInt(1), t.argU32(2), 0),
  openat: (t: Task) => doOpen(t, t.argInt(0), t.arg(1), t.argInt(2), t.argU32(3), 0),
  openat2,
  creat: (t: Task) => doOpen(t, AT_FDCWD, t.arg(0), O_CREAT | O_WRONLY | O_TRUNC, t.argU32(1), 0),
  close_range: closeRange,
  dup: (t: Task) => {
    const f = t.files.get(t.argInt(0));
    return f ? t.files.install(f.incRef(), false) : -EBADF;
  },
  dup2: (t: Task) => {
    const oldfd = t.argInt(0);
    const newfd = t.argInt(1);
    if (oldfd === newfd) return t.files.get(oldfd) ? newfd : -EBADF;
    return dup2(t, oldfd, newfd, false);
  },
  dup3: (t: Task) => {
    const flags = t.argInt(2);
    if (flags & ~O_CLOEXEC || t.argInt(0) === t.argInt(1)) return -EINVAL;
    return dup2(t, t.argInt(0), t.argInt(1), (flags & O_CLOEXEC) !== 0);
  },
  fcntl,
  pipe: (t: Task) => pipe2(t, t.arg(0), 0),
  pipe2: (t: Task) => pipe2(t, t.arg(0), t.argInt(1)),
  ioctl,
  lseek,
  truncate,
  ftruncate,
  fallocate,
  fsync: syncFd,
  fdatasync: syncFd,
  syncfs: syncFd,
  sync: () => 0,
  sync_file_range: fdNoop,
  fadvise64: (t: Task) => {
    const f = fileOf(t, t.argInt(0));
    if (typeof f === 'number') return f;
    return f instanceof PipeFile ? -ESPIPE : 0;
  },
  readahead: fdNoop,
  copy_file_range: copyFileRange,
  memfd_create: memfdCreate,
};
