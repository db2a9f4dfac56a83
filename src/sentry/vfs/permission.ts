// Permission checks against a task's file-system credentials (fsuid/fsgid and groups), as
// generic_permission does. fsuid 0 stands for CAP_DAC_OVERRIDE and CAP_FOWNER: it reads and
// writes anything, but executes only what has some x bit (directories are always searchable).

import { EACCES, EPERM } from '../abi/errno';
import { S_IFDIR, S_IFMT, S_ISVTX } from './constants';
import type { Attr, Inode } from './inode';

export const MAY_EXEC = 1;
export const MAY_WRITE = 2;
export const MAY_READ = 4;

/** The part of a task's credentials the VFS looks at. */
export interface FsCreds {
  fsuid: number;
  fsgid: number;
  groups: number[];
}

export function inGroup(c: FsCreds, gid: number): boolean {
  return c.fsgid === gid || c.groups.includes(gid);
}

/** 0 if c may access a file with attributes a as `want` (MAY_* bits), else -EACCES. */
export function permission(c: FsCreds, a: Pick<Attr, 'mode' | 'uid' | 'gid'>, want: number): number {
  const mode = a.mode;
  if (c.fsuid === 0) {
    if (!(want & MAY_EXEC) || (mode & S_IFMT) === S_IFDIR || mode & 0o111) return 0;
    return -EACCES;
  }
  let bits: number;
  if (c.fsuid === a.uid) bits = (mode >> 6) & 7;
  else if (inGroup(c, a.gid)) bits = (mode >> 3) & 7;
  else bits = mode & 7;
  return (bits & want) === want ? 0 : -EACCES;
}

export function inodePermission(c: FsCreds, i: Inode, want: number): number {
  return permission(c, i.attr(), want);
}

/** chmod, utimes with explicit times, and friends: the owner or root (CAP_FOWNER). */
export function isOwner(c: FsCreds, i: Inode): boolean {
  return c.fsuid === 0 || c.fsuid === i.attr().uid;
}

export function ownerOrEperm(c: FsCreds, i: Inode): number {
  return isOwner(c, i) ? 0 : -EPERM;
}

/**
 * May c remove (or rename away) child from dir: write and search on dir, and in a sticky
 * directory (/tmp) only the owner of the file or of the directory, or root.
 */
export function mayDelete(c: FsCreds, dir: Inode, child: Inode): number {
  const r = inodePermission(c, dir, MAY_WRITE | MAY_EXEC);
  if (r < 0) return r;
  const da = dir.attr();
  if (da.mode & S_ISVTX && c.fsuid !== 0 && c.fsuid !== da.uid && c.fsuid !== child.attr().uid) return -EPERM;
  return 0;
}
