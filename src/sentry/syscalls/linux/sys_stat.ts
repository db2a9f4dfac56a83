// stat and friends: stat/lstat/fstat/newfstatat (struct stat), statx, statfs/fstatfs, access and
// faccessat/faccessat2, readlink/readlinkat. The structs are filled in one scratch buffer and
// copied out once.

import { EFAULT, EINVAL, ENOENT } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import { accessLoc, statfsLoc, type StatFsInfo } from '../../vfs/attr';
import {
  AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_NO_AUTOMOUNT, AT_STATX_SYNC_TYPE, AT_SYMLINK_NOFOLLOW, devMajor, devMinor, S_IFLNK, S_IFMT,
} from '../../vfs/constants';
import type { StatInfo } from '../../vfs/file';
import { accessCreds, type FsCreds } from '../../vfs/permission';
import { isSecure, SECBIT_NO_SETUID_FIXUP } from '../../kernel/creds';
import { fileOf, isFile, readPath, startOf, statTarget, targetAt, type Target } from './vfs_args';
import { lookupAt } from '../../vfs/namei';
import { touchAtime } from '../../vfs/mount';

const STAT_SIZE = 144;
const STATX_SIZE = 256;
const STATFS_SIZE = 120;
const STATX_BASIC_STATS = 0x7ff;
const STATX_MNT_ID = 0x1000;
const STATX_RESERVED = 0x80000000;
const PIPEFS_MAGIC = 0x50495045;

const scratch = new Uint8Array(STATX_SIZE);
const dv = new DataView(scratch.buffer);

function u64(off: number, v: number): void {
  dv.setUint32(off, v >>> 0, true);
  dv.setUint32(off + 4, Math.floor(v / 0x1_0000_0000) >>> 0, true);
}

function i64(off: number, v: number): void {
  if (v >= 0) u64(off, v);
  else dv.setBigInt64(off, BigInt(Math.trunc(v)), true);
}

/** struct stat (x86_64). */
function encodeStat(s: StatInfo): Uint8Array {
  scratch.fill(0, 0, STAT_SIZE);
  u64(0, s.dev);
  u64(8, s.ino);
  u64(16, s.nlink);
  dv.setUint32(24, s.mode, true);
  dv.setUint32(28, s.uid, true);
  dv.setUint32(32, s.gid, true);
  u64(40, s.rdev);
  i64(48, s.size);
  i64(56, s.blksize);
  i64(64, s.blocks);
  i64(72, s.atime.sec);
  u64(80, s.atime.nsec);
  i64(88, s.mtime.sec);
  u64(96, s.mtime.nsec);
  i64(104, s.ctime.sec);
  u64(112, s.ctime.nsec);
  return scratch.subarray(0, STAT_SIZE);
}

function putStat(t: Task, addr: number, x: Target | number): number {
  if (typeof x === 'number') return x;
  return t.mm.write(addr, encodeStat(statTarget(x))) ? 0 : -EFAULT;
}

function fstat(t: Task): number {
  const f = fileOf(t, t.argInt(0));
  if (typeof f === 'number') return f;
  return t.mm.write(t.arg(1), encodeStat(f.stat())) ? 0 : -EFAULT;
}

function newfstatat(t: Task): number {
  const flags = t.argInt(3);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT)) return -EINVAL;
  return putStat(t, t.arg(2), targetAt(t, t.argInt(0), t.arg(1), flags, !(flags & AT_SYMLINK_NOFOLLOW)));
}

/** struct statx: every basic field, and the mount id. */
function encodeStatx(s: StatInfo): Uint8Array {
  scratch.fill(0);
  dv.setUint32(0, STATX_BASIC_STATS | STATX_MNT_ID, true);
  dv.setUint32(4, s.blksize, true);
  dv.setUint32(16, s.nlink, true);
  dv.setUint32(20, s.uid, true);
  dv.setUint32(24, s.gid, true);
  dv.setUint16(28, s.mode, true);
  u64(32, s.ino);
  u64(40, s.size);
  u64(48, s.blocks);
  const ts = (off: number, sec: number, nsec: number) => {
    i64(off, sec);
    dv.setUint32(off + 8, nsec, true);
  };
  ts(64, s.atime.sec, s.atime.nsec);
  ts(96, s.ctime.sec, s.ctime.nsec);
  ts(112, s.mtime.sec, s.mtime.nsec);
  dv.setUint32(128, devMajor(s.rdev), true);
  dv.setUint32(132, devMinor(s.rdev), true);
  dv.setUint32(136, devMajor(s.dev), true);
  dv.setUint32(140, devMinor(s.dev), true);
  u64(144, s.mntId);
  return scratch;
}

function statx(t: Task): number {
  const flags = t.argInt(2);
  const mask = t.argU32(3);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE)) return -EINVAL;
  if ((flags & AT_STATX_SYNC_TYPE) === AT_STATX_SYNC_TYPE || mask & STATX_RESERVED) return -EINVAL;
  const x = targetAt(t, t.argInt(0), t.arg(1), flags, !(flags & AT_SYMLINK_NOFOLLOW));
  if (typeof x === 'number') return x;
  return t.mm.write(t.arg(4), encodeStatx(statTarget(x))) ? 0 : -EFAULT;
}

/** struct statfs (x86_64). */
function putStatfs(t: Task, addr: number, s: StatFsInfo): number {
  scratch.fill(0, 0, STATFS_SIZE);
  u64(0, s.type);
  u64(8, s.bsize);
  u64(16, s.blocks);
  u64(24, s.bfree);
  u64(32, s.bavail);
  u64(40, s.files);
  u64(48, s.ffree);
  dv.setUint32(56, s.fsid, true);
  u64(64, s.namelen);
  u64(72, s.bsize);
  u64(80, s.flags);
  return t.mm.write(addr, scratch.subarray(0, STATFS_SIZE)) ? 0 : -EFAULT;
}

function statfsOf(x: Target): StatFsInfo {
  const loc = isFile(x) ? x.location : x.file ? x.file.location : x;
  if (loc) return statfsLoc(loc);
  return { type: PIPEFS_MAGIC, bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, namelen: 255, fsid: 0, flags: 0 };
}

function statfs(t: Task): number {
  const x = targetAt(t, AT_FDCWD, t.arg(0), 0, true);
  return typeof x === 'number' ? x : putStatfs(t, t.arg(1), statfsOf(x));
}

function fstatfs(t: Task): number {
  const f = fileOf(t, t.argInt(0));
  return typeof f === 'number' ? f : putStatfs(t, t.arg(1), statfsOf(f));
}

/** faccessat2: with the real ids unless AT_EACCESS (the whole lookup runs with them, as in Linux). */
function faccessat2(t: Task, dirfd: number, pathAddr: number, mode: number, flags: number): number {
  if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  if (mode & ~7) return -EINVAL;
  const c = t.creds;
  const creds: FsCreds = flags & AT_EACCESS ? c : accessCreds(c, !isSecure(c, SECBIT_NO_SETUID_FIXUP));
  const path = readPath(t, pathAddr);
  if (typeof path === 'number') return path;
  let x: Target | number;
  if (path === '' && flags & AT_EMPTY_PATH) x = targetAt(t, dirfd, pathAddr, flags, true);
  else {
    const start = startOf(t, dirfd, path);
    if (typeof start === 'number') return start;
    x = lookupAt({ creds, fs: t.fs, caller: t }, start, path, !(flags & AT_SYMLINK_NOFOLLOW));
  }
  if (typeof x === 'number') return x;
  const loc = isFile(x) ? x.location : x.file ? x.file.location : x;
  return loc ? accessLoc(creds, loc, mode) : 0;
}

function readlinkat(t: Task, dirfd: number, pathAddr: number, buf: number, size: number): number {
  if (size <= 0) return -EINVAL;
  const path = readPath(t, pathAddr);
  if (typeof path === 'number') return path;
  // An empty path reads the link dirfd is (an O_PATH|O_NOFOLLOW fd); anything else there: ENOENT.
  const x = targetAt(t, dirfd, pathAddr, AT_EMPTY_PATH, false);
  if (typeof x === 'number') return x;
  const loc = isFile(x) ? x.location : x.file ? null : x;
  const notLink = path === '' ? -ENOENT : -EINVAL;
  if (!loc || (loc.dentry.inode.attr().mode & S_IFMT) !== S_IFLNK) return notLink;
  const target = loc.dentry.inode.readlink(t);
  if (typeof target === 'number') return target;
  touchAtime(loc);
  const bytes = Buffer.from(target, 'latin1');
  const n = Math.min(bytes.length, size);
  return t.mm.write(buf, bytes.subarray(0, n)) ? n : -EFAULT;
}

export const sysStat = {
  stat: (t: Task) => putStat(t, t.arg(1), targetAt(t, AT_FDCWD, t.arg(0), 0, true)),
  lstat: (t: Task) => putStat(t, t.arg(1), targetAt(t, AT_FDCWD, t.arg(0), 0, false)),
  fstat,
  newfstatat,
  statx,
  statfs,
  fstatfs,
  access: (t: Task) => faccessat2(t, AT_FDCWD, t.arg(0), t.argInt(1), 0),
  faccessat: (t: Task) => faccessat2(t, t.argInt(0), t.arg(1), t.argInt(2), 0),
  faccessat2: (t: Task) => faccessat2(t, t.argInt(0), t.arg(1), t.argInt(2), t.argInt(3)),
  readlink: (t: Task) => readlinkat(t, AT_FDCWD, t.arg(0), t.arg(1), t.argInt(2)),
  readlinkat: (t: Task) => readlinkat(t, t.argInt(0), t.arg(1), t.arg(2), t.argInt(3)),
};
