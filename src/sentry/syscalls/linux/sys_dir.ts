// Directories and names: getdents64, getcwd/chdir/fchdir/umask, mkdir, mknod, rmdir, unlink,
// rename, symlink, link, and the attribute calls (chmod, chown, utimes families).

import { EBADF, EFAULT, EINVAL, ENOENT, ENOTDIR, EPERM, ERANGE } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import { CAP_DAC_READ_SEARCH, CAP_SYS_CHROOT, capable } from '../../kernel/creds';
import { chmodLoc, chownLoc, utimesLoc } from '../../vfs/attr';
import { AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, O_PATH } from '../../vfs/constants';
import { Timespec } from '../../vfs/inode';
import type { Location } from '../../vfs/mount';
import { linkAt, mkdirAt, mknodAt, renameAt, symlinkAt, unlinkAt } from '../../vfs/namei';
import { inodePermission, MAY_EXEC } from '../../vfs/permission';
import { DirectoryFile } from '../../vfs/regular-file';
import { fileOf, isFile, readPath, startOf, targetAt, type Target } from './vfs_args';

const UTIME_NOW = (1 << 30) - 1;
const UTIME_OMIT = (1 << 30) - 2;

let dents = Buffer.alloc(32 << 10);

/** getdents64 (old: getdents, whose d_type sits after the name). */
function getdents(t: Task, old: boolean): number {
  const f = fileOf(t, t.argInt(0));
  if (typeof f === 'number') return f;
  if (f.flags & O_PATH) return -EBADF;
  if (!(f instanceof DirectoryFile)) return -ENOTDIR;
  const addr = t.arg(1);
  // Linux keeps the count in an int: one of 2 GiB or more is negative, too small for any entry.
  const count = Math.max(0, Math.min(t.argInt(2), 1 << 20));
  if (f.offset === 0 || !f.snapshot) {
    const r = f.readdir(t);
    if (typeof r === 'number') return r;
    f.snapshot = r;
  }
  if (dents.length < count) dents = Buffer.alloc(count);
  const ents = f.snapshot;
  let i = f.offset;
  let n = 0;
  const ends: number[] = [];
  for (; i < ents.length; i++) {
    const e = ents[i];
    const nameLen = Buffer.byteLength(e.name, 'latin1');
    const reclen = old ? (18 + nameLen + 2 + 7) & ~7 : (19 + nameLen + 1 + 7) & ~7;
    if (n + reclen > count) break;
    dents.fill(0, n, n + reclen);
    dents.writeBigUInt64LE(BigInt(e.ino), n);
    dents.writeBigInt64LE(BigInt(i + 1), n + 8);
    dents.writeUInt16LE(reclen, n + 16);
    if (old) {
      dents.write(e.name, n + 18, 'latin1');
      dents[n + reclen - 1] = e.type;
    } else {
      dents[n + 18] = e.type;
      dents.write(e.name, n + 19, 'latin1');
    }
    n += reclen;
    ends.push(n);
  }
  if (n === 0 && i < ents.length) return -EINVAL;
  if (n > 0) {
    // Entries are copied one by one (filldir64): those before a fault in the buffer are returned.
    const vs = t.mm.prefixViews(addr, n, true);
    const room = vs ? vs.reduce((a, v) => a + v.length, 0) : 0;
    if (room < n) {
      let k = 0;
      while (k < ends.length && ends[k] <= room) k++;
      if (k === 0) return -EFAULT;
      n = ends[k - 1];
      i = f.offset + k;
    }
    if (!t.mm.write(addr, dents.subarray(0, n))) return -EFAULT;
  }
  f.offset = i;
  return n;
}

function getcwd(t: Task): number {
  if (t.fs.cwdLoc.dentry.deleted) return -ENOENT;
  const p = Buffer.from(t.fs.cwd + '\0', 'latin1');
  if (p.length > t.arg(1)) return -ERANGE;
  return t.mm.write(t.arg(0), p) ? p.length : -EFAULT;
}

function chdirTo(t: Task, l: Location): number {
  const i = l.dentry.inode;
  if (!i.isDir) return -ENOTDIR;
  const p = inodePermission(t.creds, i, MAY_EXEC);
  if (p < 0) return p;
  t.fs.cwdLoc = l;
  return 0;
}

/** A Target's location; a file with no path (a pipe) has none. */
function locOf(x: Target): Location | null {
  return isFile(x) ? x.location : x.file ? x.file.location : x;
}

/** Apply op to the file a *at call names; files with no path accept it and change nothing. */
function onTarget(x: Target | number, op: (l: Location) => number): number {
  if (typeof x === 'number') return x;
  const l = locOf(x);
  return l ? op(l) : 0;
}

/** Path arguments of the *at name calls: the string and where it starts. */
function pathAt(t: Task, dirfd: number, addr: number): { path: string; start: Location } | number {
  const path = readPath(t, addr);
  if (typeof path === 'number') return path;
  // An empty name is ENOENT before the dirfd is looked at (getname, without AT_EMPTY_PATH).
  if (path === '') return -ENOENT;
  const start = startOf(t, dirfd, path);
  return typeof start === 'number' ? start : { path, start };
}

function mkdirat(t: Task, dirfd: number, addr: number, mode: number): number {
  const p = pathAt(t, dirfd, addr);
  return typeof p === 'number' ? p : mkdirAt(t, p.start, p.path, mode);
}

function mknodat(t: Task, dirfd: number, addr: number, mode: number, dev: number): number {
  const p = pathAt(t, dirfd, addr);
  return typeof p === 'number' ? p : mknodAt(t, p.start, p.path, mode, dev);
}

function unlinkat(t: Task, dirfd: number, addr: number, flags: number): number {
  if (flags & ~AT_REMOVEDIR) return -EINVAL;
  const p = pathAt(t, dirfd, addr);
  return typeof p === 'number' ? p : unlinkAt(t, p.start, p.path, (flags & AT_REMOVEDIR) !== 0);
}

function renameat2(t: Task, olddir: number, oldAddr: number, newdir: number, newAddr: number, flags: number): number {
  const a = pathAt(t, olddir, oldAddr);
  if (typeof a === 'number') return a;
  const b = pathAt(t, newdir, newAddr);
  if (typeof b === 'number') return b;
  return renameAt(t, a.start, a.path, b.start, b.path, flags);
}

function symlinkat(t: Task, targetAddr: number, dirfd: number, addr: number): number {
  const target = readPath(t, targetAddr);
  if (typeof target === 'number') return target;
  const p = pathAt(t, dirfd, addr);
  return typeof p === 'number' ? p : symlinkAt(t, target, p.start, p.path);
}

function linkat(t: Task, olddir: number, oldAddr: number, newdir: number, newAddr: number, flags: number): number {
  if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  // linkat(fd, "", …, AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH.
  if (flags & AT_EMPTY_PATH && !capable(t.creds, CAP_DAC_READ_SEARCH)) flags &= ~AT_EMPTY_PATH;
  const old = targetAt(t, olddir, oldAddr, flags, (flags & AT_SYMLINK_FOLLOW) !== 0);
  if (typeof old === 'number') return old;
  const loc = locOf(old);
  if (!loc) return -ENOENT;
  const p = pathAt(t, newdir, newAddr);
  return typeof p === 'number' ? p : linkAt(t, loc, p.start, p.path);
}

function fchmodat(t: Task, dirfd: number, addr: number, mode: number, flags: number): number {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  return onTarget(targetAt(t, dirfd, addr, flags, !(flags & AT_SYMLINK_NOFOLLOW)), (l) => chmodLoc(t.creds, l, mode));
}

function fchownat(t: Task, dirfd: number, addr: number, uid: number, gid: number, flags: number): number {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  return onTarget(targetAt(t, dirfd, addr, flags, !(flags & AT_SYMLINK_NOFOLLOW)), (l) => chownLoc(t.creds, l, uid, gid));
}

function fdTarget(t: Task, fd: number): Target | number {
  const f = fileOf(t, fd);
  if (typeof f === 'number') return f;
  return f.flags & O_PATH ? -EBADF : f;
}

type Time = Timespec | 'now' | 'omit';

/** Two struct timespec (utimensat), with UTIME_NOW and UTIME_OMIT; 'bad' for an nsec out of range. */
function readTimespecs(t: Task, addr: number): [Time | 'bad', Time | 'bad'] | number {
  if (addr === 0) return ['now', 'now'];
  const out: Array<Time | 'bad'> = [];
  for (let i = 0; i < 2; i++) {
    const sec = t.mm.readI64(addr + i * 16);
    const nsec = t.mm.readI64(addr + i * 16 + 8);
    if (sec === null || nsec === null) return -EFAULT;
    if (nsec === UTIME_NOW) out.push('now');
    else if (nsec === UTIME_OMIT) out.push('omit');
    else if (nsec < 0 || nsec >= 1e9) out.push('bad');
    else out.push(new Timespec(sec, nsec));
  }
  return [out[0], out[1]];
}

/** Two struct timeval (utimes, futimesat). */
function readTimevals(t: Task, addr: number): [Time, Time] | number {
  if (addr === 0) return ['now', 'now'];
  const out: Time[] = [];
  for (let i = 0; i < 2; i++) {
    const sec = t.mm.readI64(addr + i * 16);
    const usec = t.mm.readI64(addr + i * 16 + 8);
    if (sec === null || usec === null) return -EFAULT;
    if (usec < 0 || usec >= 1e6) return -EINVAL;
    out.push(new Timespec(sec, usec * 1000));
  }
  return [out[0], out[1]];
}

/** struct utimbuf (utime). */
function readUtimbuf(t: Task, addr: number): [Time, Time] | number {
  if (addr === 0) return ['now', 'now'];
  const a = t.mm.readI64(addr);
  const m = t.mm.readI64(addr + 8);
  if (a === null || m === null) return -EFAULT;
  return [new Timespec(a, 0), new Timespec(m, 0)];
}

/** Set the times of what x names; an invalid time is EINVAL, found only once x is (as Linux). */
function setTimes(t: Task, x: Target | number, times: [Time | 'bad', Time | 'bad'] | number): number {
  if (typeof times === 'number') return times;
  if (typeof x === 'number') return x;
  const [a, m] = times;
  if (a === 'bad' || m === 'bad') return -EINVAL;
  return onTarget(x, (l) => utimesLoc(t.creds, l, a, m));
}

function utimensat(t: Task): number {
  const dirfd = t.argInt(0);
  const flags = t.argInt(3);
  const times = readTimespecs(t, t.arg(2));
  if (typeof times === 'number') return times;
  // Both UTIME_OMIT: "nothing to do, we must not even check the path" (fs/utimes.c).
  if (times[0] === 'omit' && times[1] === 'omit') return 0;
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  // A NULL path is futimens(dirfd).
  if (t.arg(1) === 0) return dirfd === AT_FDCWD ? -EFAULT : setTimes(t, fdTarget(t, dirfd), times);
  return setTimes(t, targetAt(t, dirfd, t.arg(1), flags, !(flags & AT_SYMLINK_NOFOLLOW)), times);
}

function futimesat(t: Task, dirfd: number, addr: number, times: [Time, Time] | number): number {
  if (addr === 0) return setTimes(t, fdTarget(t, dirfd), times);
  return setTimes(t, targetAt(t, dirfd, addr, 0, true), times);
}

export const sysDir = {
  getdents64: (t: Task) => getdents(t, false),
  getdents: (t: Task) => getdents(t, true),
  getcwd,
  chdir: (t: Task) => {
    const x = targetAt(t, AT_FDCWD, t.arg(0), 0, true);
    if (typeof x === 'number') return x;
    const l = locOf(x);
    return l ? chdirTo(t, l) : -ENOTDIR;
  },
  fchdir: (t: Task) => {
    const f = fileOf(t, t.argInt(0));
    if (typeof f === 'number') return f;
    return f.location ? chdirTo(t, f.location) : -ENOTDIR;
  },
  chroot: (t: Task) => {
    const x = targetAt(t, AT_FDCWD, t.arg(0), 0, true);
    if (typeof x === 'number') return x;
    const l = locOf(x);
    if (!l || !l.dentry.inode.isDir) return -ENOTDIR;
    const p = inodePermission(t.creds, l.dentry.inode, MAY_EXEC);
    if (p < 0) return p;
    if (!capable(t.creds, CAP_SYS_CHROOT)) return -EPERM;
    t.fs.root = l;
    return 0;
  },
  umask: (t: Task) => {
    const old = t.fs.umask;
    t.fs.umask = t.argU32(0) & 0o777;
    return old;
  },
  mkdir: (t: Task) => mkdirat(t, AT_FDCWD, t.arg(0), t.argU32(1)),
  mkdirat: (t: Task) => mkdirat(t, t.argInt(0), t.arg(1), t.argU32(2)),
  mknod: (t: Task) => mknodat(t, AT_FDCWD, t.arg(0), t.argU32(1), t.argU32(2)),
  mknodat: (t: Task) => mknodat(t, t.argInt(0), t.arg(1), t.argU32(2), t.argU32(3)),
  rmdir: (t: Task) => unlinkat(t, AT_FDCWD, t.arg(0), AT_REMOVEDIR),
  unlink: (t: Task) => unlinkat(t, AT_FDCWD, t.arg(0), 0),
  unlinkat: (t: Task) => unlinkat(t, t.argInt(0), t.arg(1), t.argInt(2)),
  rename: (t: Task) => renameat2(t, AT_FDCWD, t.arg(0), AT_FDCWD, t.arg(1), 0),
  renameat: (t: Task) => renameat2(t, t.argInt(0), t.arg(1), t.argInt(2), t.arg(3), 0),
  renameat2: (t: Task) => renameat2(t, t.argInt(0), t.arg(1), t.argInt(2), t.arg(3), t.argU32(4)),
  symlink: (t: Task) => symlinkat(t, t.arg(0), AT_FDCWD, t.arg(1)),
  symlinkat: (t: Task) => symlinkat(t, t.arg(0), t.argInt(1), t.arg(2)),
  link: (t: Task) => linkat(t, AT_FDCWD, t.arg(0), AT_FDCWD, t.arg(1), 0),
  linkat: (t: Task) => linkat(t, t.argInt(0), t.arg(1), t.argInt(2), t.arg(3), t.argInt(4)),
  chmod: (t: Task) => fchmodat(t, AT_FDCWD, t.arg(0), t.argU32(1), 0),
  fchmod: (t: Task) => onTarget(fdTarget(t, t.argInt(0)), (l) => chmodLoc(t.creds, l, t.argU32(1))),
  fchmodat: (t: Task) => fchmodat(t, t.argInt(0), t.arg(1), t.argU32(2), 0),
  chown: (t: Task) => fchownat(t, AT_FDCWD, t.arg(0), t.argInt(1), t.argInt(2), 0),
  lchown: (t: Task) => fchownat(t, AT_FDCWD, t.arg(0), t.argInt(1), t.argInt(2), AT_SYMLINK_NOFOLLOW),
  fchown: (t: Task) => onTarget(fdTarget(t, t.argInt(0)), (l) => chownLoc(t.creds, l, t.argInt(1), t.argInt(2))),
  fchownat: (t: Task) => fchownat(t, t.argInt(0), t.arg(1), t.argInt(2), t.argInt(3), t.argInt(4)),
  utimensat,
  utimes: (t: Task) => setTimes(t, targetAt(t, AT_FDCWD, t.arg(0), 0, true), readTimevals(t, t.arg(1))),
  futimesat: (t: Task) => futimesat(t, t.argInt(0), t.arg(1), readTimevals(t, t.arg(2))),
  utime: (t: Task) => setTimes(t, targetAt(t, AT_FDCWD, t.arg(0), 0, true), readUtimbuf(t, t.arg(1))),
};

