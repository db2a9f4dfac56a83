// Path resolution (fs/namei.c): component by component from the task's root or working
// directory (or a dirfd), with search permission checked on every directory, mounts crossed,
// ".." never above the task's root, and symlinks followed up to 40 times per resolution. The
// errors are Linux's: ENOENT for a missing name, ENOTDIR for a non-directory used as one, ELOOP,
// ENAMETOOLONG for a component over 255 bytes; openat2's RESOLVE_* restrictions give EXDEV/ELOOP.
//
// Magic links (/proc/pid/fd/N and kin) jump to the open file they stand for instead of resolving
// their text; a file with no path (a pipe) can only be the last component.

import { ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR, EXDEV } from '../abi/errno';
import {
  MAX_SYMLINKS, NAME_MAX, RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV, S_IFLNK, S_IFMT,
} from './constants';
import { lookupChild } from './dentry';
import type { FileDescription } from './file';
import { enterMounts, parentOf, sameLocation, touchAtime, type Location } from './mount';
import type { LookupHint } from './inode';
import { MAY_EXEC, mayFollowLink, permission, type FsCreds } from './permission';
import type { Task } from '../kernel/task';

/** What a path resolution needs of the task: its credentials, root and working directory. */
export interface PathCtx {
  creds: FsCreds;
  fs: { root: Location; cwdLoc: Location };
  /** The task resolving, given to the file systems (what /proc/self names); absent: the sentry's own walk. */
  readonly caller?: Task;
}

/** A resolved path: a location, or (a magic link to a pathless file) that file. */
export interface Resolved extends Location {
  readonly file?: FileDescription;
}

/** One resolution's state: the root it may not leave and the links it has followed. */
export class Walk implements LookupHint {
  links = 0;
  /** The lookup hint (inode.ts LookupHint) for the step under way; at -1: none. */
  path = '';
  at = -1;
  /** The resolution ends in a read-only open (openAt sets it). */
  open = false;
  readonly root: Location;
  /** RESOLVE_BENEATH: the location ".." may not climb above. */
  readonly beneath: Location | null;

  constructor(readonly creds: FsCreds, root: Location, start: Location, readonly flags = 0, readonly caller: Task | undefined = undefined) {
    this.root = flags & RESOLVE_IN_ROOT ? start : root;
    this.beneath = flags & RESOLVE_BENEATH ? start : null;
  }
}

export interface Parent {
  dir: Location;
  /** The last component ('' when the path names the root itself, as "/" does). */
  name: string;
  /** The path ended in '/': the last component must be a directory. */
  trailing: boolean;
}

export function isSymlink(l: Location): boolean {
  return (l.dentry.inode.mode & S_IFMT) === S_IFLNK;
}

/** Walk every component of path but the last, following symlinks on the way. */
function isDirLoc(l: Location): boolean {
  return !(l as { file?: unknown }).file && l.dentry.inode.isDir;
}

export function walkParent(w: Walk, start: Location, path: string): Parent | number {
  if (path.length === 0) return -ENOENT;
  let cur = start;
  let i = 0;
  const n = path.length;
  if (path.charCodeAt(0) === 0x2f) {
    if (w.beneath) return -EXDEV;
    cur = w.root;
  }
  for (;;) {
    while (i < n && path.charCodeAt(i) === 0x2f) i++;
    // What the last name is looked up in must be a directory ("file/." is ENOTDIR, not the file).
    if (i >= n) return isDirLoc(cur) ? { dir: cur, name: '', trailing: true } : -ENOTDIR;
    let j = path.indexOf('/', i);
    if (j < 0) j = n;
    let k = j;
    while (k < n && path.charCodeAt(k) === 0x2f) k++;
    const name = path.slice(i, j);
    if (k >= n) return isDirLoc(cur) ? { dir: cur, name, trailing: j < n } : -ENOTDIR;
    const next = stepAhead(w, cur, name, true, path, k);
    if (typeof next === 'number') return next;
    if (next.file) return -ENOTDIR;
    cur = next;
    i = k;
  }
}

/** The whole path resolved; follow: follow a final symlink (a trailing '/' always does). */
export function resolveIn(w: Walk, start: Location, path: string, follow: boolean): Resolved | number {
  const p = walkParent(w, start, path);
  if (typeof p === 'number') return p;
  if (p.name === '') return p.dir;
  const r = stepAhead(w, p.dir, p.name, follow || p.trailing, path, path.length);
  if (typeof r === 'number') return r;
  if (p.trailing && (r.file || !r.dentry.inode.isDir)) return -ENOTDIR;
  return r;
}

/** step, with the rest of path (from at) as the lookup's hint (only for this step's own lookup). */
function stepAhead(w: Walk, dir: Location, name: string, follow: boolean, path: string, at: number): Resolved | number {
  w.path = path;
  w.at = at;
  const r = step(w, dir, name, follow);
  w.at = -1;
  return r;
}

/** One component of dir: ".", "..", or a name (crossing into mounts, following symlinks if asked). */
export function step(w: Walk, dir: Location, name: string, follow: boolean): Resolved | number {
  const di = dir.dentry.inode;
  if (!di.isDir) return -ENOTDIR;
  const perm = permission(w.creds, di.attr(), MAY_EXEC);
  if (perm < 0) return perm;
  if (name === '.') return dir;
  if (name === '..') return dotdot(w, dir);
  if (name.length > NAME_MAX) return -ENAMETOOLONG;
  const c = lookupChild(dir.dentry, name, w.at >= 0 ? w : undefined);
  if (typeof c === 'number') return c;
  let l: Location = { mount: dir.mount, dentry: c };
  if (c.mounts > 0) {
    l = enterMounts(l);
    if (w.flags & RESOLVE_NO_XDEV && l.mount !== dir.mount) return -EXDEV;
  }
  if (follow && isSymlink(l)) return followLink(w, dir, l);
  return l;
}

function dotdot(w: Walk, dir: Location): Location | number {
  if (sameLocation(dir, w.root)) return dir;
  if (w.beneath && sameLocation(dir, w.beneath)) return -EXDEV;
  const p = parentOf(dir, w.root);
  if (w.flags & RESOLVE_NO_XDEV && p.mount !== dir.mount) return -EXDEV;
  return p;
}

/** The symlink at link (in dir), followed: its target resolved from dir (or the root). */
export function followLink(w: Walk, dir: Location, link: Location): Resolved | number {
  if (w.flags & RESOLVE_NO_SYMLINKS) return -ELOOP;
  if (++w.links > MAX_SYMLINKS) return -ELOOP;
  const inode = link.dentry.inode;
  const may = mayFollowLink(w.creds, dir.dentry.inode.attr(), inode.attr());
  if (may < 0) return may;
  const magic = inode.magicLink(w.caller);
  if (magic !== undefined) {
    if (w.flags & RESOLVE_NO_MAGICLINKS) return -ELOOP;
    if (w.flags & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) return -EXDEV;
    if (typeof magic === 'number') return magic;
    return magic.location ?? { mount: link.mount, dentry: link.dentry, file: magic };
  }
  const target = inode.readlink(w.caller);
  if (typeof target === 'number') return target;
  touchAtime(link);
  if (target.length === 0) return -ENOENT;
  return resolveIn(w, dir, target, true);
}
