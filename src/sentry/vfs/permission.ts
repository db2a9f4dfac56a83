// Discretionary access control: the one place every path of the VFS asks "may this task do
// that to this inode". The rules are fs/namei.c's generic_permission, inode_owner_or_capable,
// check_sticky and may_linkat, and fs/attr.c's chown/chgrp rules, against the task's
// file-system credentials (fsuid, fsgid, supplementary groups) and its effective capabilities:
//   CAP_DAC_OVERRIDE     read/write anything; execute what has some x bit; search any directory
//   CAP_DAC_READ_SEARCH  read any file, read and search any directory
//   CAP_FOWNER           act as the owner (chmod, utimes, sticky directories, hard links)
//   CAP_FSETID           keep set-group-ID on chmod outside the file's group
//   CAP_CHOWN            give files away, change their group freely
//   CAP_MKNOD            make device nodes
// The sentry has one user namespace, so every inode's owner is "mapped" and a capability counts
// wherever it is held.

import { EACCES, EPERM } from '../abi/errno';
import {
  CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_MKNOD, capable,
  type Credentials,
} from '../kernel/creds';
import { S_IFDIR, S_IFMT, S_IFREG, S_ISGID, S_ISUID, S_ISVTX } from './constants';
import type { Attr, Inode } from './inode';

export const MAY_EXEC = 1;
export const MAY_WRITE = 2;
export const MAY_READ = 4;

/** The part of a task's credentials the VFS looks at. */
export type FsCreds = Pick<Credentials, 'fsuid' | 'fsgid' | 'groups' | 'capEffective'>;

type Owned = Pick<Attr, 'mode' | 'uid' | 'gid'>;

export function inGroup(c: FsCreds, gid: number): boolean {
  return c.fsgid === gid || c.groups.includes(gid);
}

/** 0 if c may access a file with attributes a as `want` (MAY_* bits), else -EACCES. */
export function permission(c: FsCreds, a: Owned, want: number): number {
  const mode = a.mode;
  let bits: number;
  if (c.fsuid === a.uid) bits = (mode >> 6) & 7;
  else if (inGroup(c, a.gid)) bits = (mode >> 3) & 7;
  else bits = mode & 7;
  if ((bits & want) === want) return 0;
  return capabilityOverride(c, mode, want) ? 0 : -EACCES;
}

/** generic_permission's capability part, once the mode bits said no. */
function capabilityOverride(c: FsCreds, mode: number, want: number): boolean {
  if ((mode & S_IFMT) === S_IFDIR) {
    if (!(want & MAY_WRITE) && capable(c, CAP_DAC_READ_SEARCH)) return true;
    return capable(c, CAP_DAC_OVERRIDE);
  }
  if ((!(want & MAY_EXEC) || mode & 0o111) && capable(c, CAP_DAC_OVERRIDE)) return true;
  return want === MAY_READ && capable(c, CAP_DAC_READ_SEARCH);
}

export function inodePermission(c: FsCreds, i: Inode, want: number): number {
  return i.ownPermission?.(want, c.fsuid) ?? permission(c, i.attr(), want);
}

/** inode_owner_or_capable: chmod, explicit utimes, xattrs of others' files: the owner or CAP_FOWNER. */
export function isOwner(c: FsCreds, i: Inode): boolean {
  return c.fsuid === i.attr().uid || capable(c, CAP_FOWNER);
}

export function ownerOrEperm(c: FsCreds, i: Inode): number {
  return isOwner(c, i) ? 0 : -EPERM;
}

/**
 * May c remove (or rename away) child from dir: write and search on dir, and in a sticky
 * directory (/tmp) only the owner of the file or of the directory, or CAP_FOWNER.
 */
export function mayDelete(c: FsCreds, dir: Inode, child: Inode): number {
  const r = inodePermission(c, dir, MAY_WRITE | MAY_EXEC);
  if (r < 0) return r;
  const da = dir.attr();
  if (!(da.mode & S_ISVTX) || c.fsuid === da.uid || c.fsuid === child.attr().uid) return 0;
  return capable(c, CAP_FOWNER) ? 0 : -EPERM;
}

/** A new name in dir (create, mkdir, mknod, symlink, link, bind): write and search on it. */
export function mayCreate(c: FsCreds, dir: Inode): number {
  return inodePermission(c, dir, MAY_WRITE | MAY_EXEC);
}

/** mknod of a character or block device: CAP_MKNOD. */
export function mayMknodDevice(c: FsCreds): number {
  return capable(c, CAP_MKNOD) ? 0 : -EPERM;
}

/**
 * chmod's mode as Linux stores it: the owner or CAP_FOWNER (else -EPERM); set-group-ID is
 * silently dropped for a caller outside the file's group without CAP_FSETID.
 */
export function chmodMode(c: FsCreds, i: Inode, mode: number): number {
  if (!isOwner(c, i)) return -EPERM;
  let m = mode & 0o7777;
  if (!inGroup(c, i.attr().gid) && !capable(c, CAP_FSETID)) m &= ~S_ISGID;
  return m;
}

/**
 * chown's permission (chown_ok/chgrp_ok); uid/gid -1 are not being changed. The owner may
 * "change" the owner to itself and the group to one of its groups; anything else needs CAP_CHOWN.
 */
export function mayChown(c: FsCreds, a: Owned, uid: number, gid: number): number {
  if (capable(c, CAP_CHOWN)) return 0;
  const owner = c.fsuid === a.uid;
  if (uid !== -1 && !(owner && uid === a.uid)) return -EPERM;
  if (gid !== -1 && !(owner && (gid === a.gid || inGroup(c, gid)))) return -EPERM;
  return 0;
}

/**
 * may_linkat with fs.protected_hardlinks = 1 (the setting of every mainstream distribution): a
 * hard link to a file one does not own needs it to be a regular file that is not set-user-ID,
 * not executable set-group-ID, and readable and writable by the caller; or CAP_FOWNER.
 */
export function mayHardlink(c: FsCreds, a: Owned): number {
  if (c.fsuid === a.uid || capable(c, CAP_FOWNER)) return 0;
  const safe = (a.mode & S_IFMT) === S_IFREG && !(a.mode & S_ISUID) && (a.mode & (S_ISGID | 0o010)) !== (S_ISGID | 0o010);
  return safe && permission(c, a, MAY_READ | MAY_WRITE) === 0 ? 0 : -EPERM;
}

/**
 * fs.protected_symlinks = 1: a symlink in a sticky world-writable directory is followed only by
 * its owner, or when the directory's owner owns it too (may_follow_link).
 */
export function mayFollowLink(c: FsCreds, dir: Owned, link: Owned): number {
  const stickyWorld = (dir.mode & (S_ISVTX | 0o002)) === (S_ISVTX | 0o002);
  if (!stickyWorld || c.fsuid === link.uid || dir.uid === link.uid) return 0;
  return -EACCES;
}

/**
 * The credentials access(2) checks with (do_faccessat's override): real uid and gid as fsuid and
 * fsgid, and capabilities as an exec by the real uid would leave them: all permitted ones for
 * uid 0, none for others (unless SECBIT_NO_SETUID_FIXUP).
 */
export function accessCreds(c: Credentials, fixup: boolean): FsCreds {
  let caps = c.capEffective;
  if (fixup) caps = c.uid === 0 ? c.capPermitted : 0n;
  return { fsuid: c.uid, fsgid: c.gid, groups: c.groups, capEffective: caps };
}
