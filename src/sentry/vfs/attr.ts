// Attribute changes and checks on a resolved file (chmod, chown, utimes, truncate, access,
// statfs), with Linux's rules: the owner or root changes modes and explicit times; only root gives
// files away; a non-root owner may change the group only to one of its own; a change of owner
// drops the set-user-ID and set-group-ID bits.

import { EACCES, EINVAL, EISDIR, EPERM, EROFS } from '../abi/errno';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, S_ISGID, S_ISUID } from './constants';
import { now, type SetAttr, type StatFs, type Timespec } from './inode';
import type { Location } from './mount';
import { statOf } from './file';
import { fileKey, fileMappings, fileResized } from '../mm/shared';
import { CAP_FSETID, capable } from '../kernel/creds';
import { chmodMode, isOwner, MAY_EXEC, MAY_WRITE, mayChown, permission, type FsCreds } from './permission';

function writable(l: Location): number {
  return l.mount.flags.readonly ? -EROFS : 0;
}

function apply(l: Location, a: SetAttr): number {
  return l.dentry.inode.setattr(l.dentry, a);
}

export function chmodLoc(c: FsCreds, l: Location, mode: number): number {
  const ro = writable(l);
  if (ro < 0) return ro;
  const m = chmodMode(c, l.dentry.inode, mode);
  if (m < 0) return m;
  return apply(l, { mode: m });
}

/** uid/gid -1: unchanged. */
export function chownLoc(c: FsCreds, l: Location, uid: number, gid: number): number {
  const i = l.dentry.inode;
  const a = i.attr();
  const newUid = uid === -1 ? a.uid : uid >>> 0;
  const newGid = gid === -1 ? a.gid : gid >>> 0;
  const ro = writable(l);
  if (ro < 0) return ro;
  const perm = mayChown(c, a, uid === -1 ? -1 : newUid, gid === -1 ? -1 : newGid);
  if (perm < 0) return perm;
  const set: SetAttr = { uid: newUid, gid: newGid };
  // Giving a file away drops its set-ID bits (a set-group-ID file without group x keeps it: mandatory locking).
  if ((a.mode & S_IFMT) !== S_IFDIR && (a.mode & S_IFMT) !== S_IFLNK) {
    let m = a.mode & ~S_ISUID;
    if (a.mode & 0o010) m &= ~S_ISGID;
    if (m !== a.mode) set.mode = m;
  }
  return apply(l, set);
}

/**
 * utimensat: each time is a Timespec, 'now', or 'omit'. Setting both to now needs ownership or
 * write permission; any explicit time needs ownership.
 */
export function utimesLoc(c: FsCreds, l: Location, atime: Timespec | 'now' | 'omit', mtime: Timespec | 'now' | 'omit'): number {
  if (atime === 'omit' && mtime === 'omit') return 0;
  const i = l.dentry.inode;
  const explicit = (atime !== 'now' && atime !== 'omit') || (mtime !== 'now' && mtime !== 'omit');
  if (!isOwner(c, i)) {
    if (explicit) return -EPERM;
    if (permission(c, i.attr(), MAY_WRITE) < 0) return -EACCES;
  }
  const ro = writable(l);
  if (ro < 0) return ro;
  const t = now();
  const set: SetAttr = {};
  if (atime !== 'omit') set.atime = atime === 'now' ? t : atime;
  if (mtime !== 'omit') set.mtime = mtime === 'now' ? t : mtime;
  return apply(l, set);
}

/**
 * file_remove_privs: a write or truncate by someone without CAP_FSETID clears set-user-ID, and
 * set-group-ID when group x is set, so a modified program does not keep its privileges.
 */
export function removePrivs(c: FsCreds, l: Location): number {
  const mode = l.dentry.inode.attr().mode;
  if ((mode & S_IFMT) !== S_IFREG || capable(c, CAP_FSETID)) return 0;
  let m = mode & ~S_ISUID;
  if ((mode & (S_ISGID | 0o010)) === (S_ISGID | 0o010)) m &= ~S_ISGID;
  return m === mode ? 0 : apply(l, { mode: m & 0o7777 });
}

/** truncate(2) by path: a regular file the caller may write. */
export function truncateLoc(c: FsCreds, l: Location, size: number): number {
  if (size < 0) return -EINVAL;
  const i = l.dentry.inode;
  const type = i.attr().mode & S_IFMT;
  if (type === S_IFDIR) return -EISDIR;
  if (type !== S_IFREG) return -EINVAL;
  const p = permission(c, i.attr(), MAY_WRITE);
  if (p < 0) return p;
  const ro = writable(l);
  if (ro < 0) return ro;
  const k = removePrivs(c, l);
  if (k < 0) return k;
  const r = apply(l, { size });
  // Its shared mappings end where the file now does (past it: SIGBUS).
  if (r >= 0 && fileMappings.size > 0) {
    const st = statOf(l);
    fileResized(fileKey(st.dev, st.ino), i.attr().size);
  }
  return r;
}

export const F_OK = 0;
export const X_OK = 1;
export const W_OK = 2;
export const R_OK = 4;

/** access(2): mode is R_OK|W_OK|X_OK (their MAY_* values are the same bits). */
export function accessLoc(c: FsCreds, l: Location, mode: number): number {
  if (mode & ~7) return -EINVAL;
  if (mode === F_OK) return 0;
  const a = l.dentry.inode.attr();
  const want = mode & (MAY_EXEC | MAY_WRITE | 4);
  const p = l.dentry.inode.ownPermission?.(want, c.fsuid) ?? permission(c, a, want);
  if (p < 0) return p;
  const type = a.mode & S_IFMT;
  if (mode & W_OK && (type === S_IFREG || type === S_IFDIR || type === S_IFLNK)) return writable(l);
  return 0;
}

const ST_RDONLY = 1;
const ST_NOSUID = 2;
const ST_NODEV = 4;
const ST_NOEXEC = 8;
const ST_RELATIME = 4096;

export interface StatFsInfo extends StatFs {
  fsid: number;
  flags: number;
}

export function statfsLoc(l: Location): StatFsInfo {
  const f = l.mount.flags;
  const flags = (f.readonly ? ST_RDONLY : 0) | (f.nosuid ? ST_NOSUID : 0) | (f.nodev ? ST_NODEV : 0) | (f.noexec ? ST_NOEXEC : 0) | ST_RELATIME;
  return { ...l.mount.fs.statfs(), fsid: l.mount.fs.dev, flags };
}
