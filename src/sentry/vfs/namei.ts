// The operations on names (fs/namei.c): open with O_CREAT, mkdir, mknod, symlink, link, unlink,
// rmdir, rename. Each resolves its path(s), checks what Linux checks in Linux's order (existence,
// then a read-only mount, then permission), asks the file system, and keeps the dentry cache in
// step.

import {
  EADDRINUSE, EBUSY, EEXIST, EINVAL, EISDIR, ELOOP, ENOENT, ENOTDIR, ENOTEMPTY, EPERM, EROFS, EXDEV,
} from '../abi/errno';
import {
  MAX_SYMLINKS, O_ACCMODE, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_PATH, O_TRUNC, RENAME_EXCHANGE, RENAME_NOREPLACE,
  S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, S_ISGID,
} from './constants';
import { forget, isAncestor, move, remember, swap, type Dentry } from './dentry';
import type { FileDescription } from './file';
import type { Inode } from './inode';
import { touchAtime, type Location } from './mount';
import { openResolved, type OpenCtx } from './open';
import { inodePermission, MAY_WRITE, mayCreate, mayDelete, mayFollowLink, mayHardlink, mayMknodDevice } from './permission';
import { followLink, isSymlink, resolveIn, step, walkParent, Walk, type Parent, type PathCtx, type Resolved } from './resolve';

export interface UmaskCtx extends PathCtx {
  fs: PathCtx['fs'] & { umask: number };
}

export function walker(c: PathCtx, start: Location, rflags = 0): Walk {
  return new Walk(c.creds, c.fs.root, start, rflags, c.caller);
}

/** stat, chdir, …: path resolved from start (a dirfd or the cwd); open: its file will be read (execve). */
export function lookupAt(c: PathCtx, start: Location, path: string, follow: boolean, rflags = 0, open = false): Resolved | number {
  const w = walker(c, start, rflags);
  w.open = open;
  return resolveIn(w, start, path, follow);
}

/** open(2) and openat2(2). */
export function openAt(c: OpenCtx & UmaskCtx, start: Location, path: string, flags: number, mode: number, rflags: number, console?: FileDescription): FileDescription | number {
  const w = walker(c, start, rflags);
  if (!(flags & O_CREAT)) {
    // A file opened for reading only: the gofer may hand its fd over with the walk.
    w.open = (flags & (O_ACCMODE | O_PATH | O_DIRECTORY | O_TRUNC)) === 0;
    const r = resolveIn(w, start, path, !(flags & O_NOFOLLOW));
    return typeof r === 'number' ? r : openResolved(c, r, flags, console);
  }
  let p = walkParent(w, start, path);
  for (;;) {
    if (typeof p === 'number') return p;
    if (p.name === '' || p.trailing || p.name === '.' || p.name === '..') return -EISDIR;
    const cur = step(w, p.dir, p.name, false);
    if (typeof cur === 'number') {
      if (cur !== -ENOENT) return cur;
      const n = createIn(c, p.dir, p.name, S_IFREG | (mode & ~c.fs.umask & 0o7777), 0, '');
      if (typeof n === 'number') return n;
      return openResolved(c, n, flags, console, true);
    }
    if (flags & O_EXCL) return -EEXIST;
    // O_CREAT of an existing directory is EISDIR, whatever the access mode (do_open).
    if (cur.dentry.inode.isDir) return -EISDIR;
    if (!isSymlink(cur)) return openResolved(c, cur, flags, console);
    if (flags & O_NOFOLLOW) return -ELOOP;
    // A symlink: create (or open) what it points to, even if that does not exist yet.
    const magic = cur.dentry.inode.magicLink(w.caller);
    if (magic !== undefined) {
      const r = followLink(w, p.dir, cur);
      return typeof r === 'number' ? r : openResolved(c, r, flags, console);
    }
    if (++w.links > MAX_SYMLINKS) return -ELOOP;
    const may = mayFollowLink(c.creds, p.dir.dentry.inode.attr(), cur.dentry.inode.attr());
    if (may < 0) return may;
    const target = cur.dentry.inode.readlink(w.caller);
    if (typeof target === 'number') return target;
    touchAtime(cur);
    if (target === '') return -ENOENT;
    p = walkParent(w, p.dir, target);
  }
}

/** The group of a new file: the directory's if it is set-group-ID, else the creator's. */
function newOwner(c: PathCtx, dir: Inode, mode: number): { uid: number; gid: number; mode: number } {
  const da = dir.attr();
  if (!(da.mode & S_ISGID)) return { uid: c.creds.fsuid, gid: c.creds.fsgid, mode };
  return { uid: c.creds.fsuid, gid: da.gid, mode: (mode & S_IFMT) === S_IFDIR ? mode | S_ISGID : mode };
}

/**
 * Make name in dir (checked: it does not exist, the mount is writable, dir is writable; then, for
 * a device node, CAP_MKNOD), in vfs_mknod's order.
 */
function createIn(c: PathCtx, dir: Location, name: string, mode: number, rdev: number, target: string, device = false): Resolved | number {
  const di = dir.dentry.inode;
  if (dir.dentry.deleted) return -ENOENT;
  if (dir.mount.flags.readonly) return -EROFS;
  const perm = mayCreate(c.creds, di);
  if (perm < 0) return perm;
  if (device) {
    const dev = mayMknodDevice(c.creds);
    if (dev < 0) return dev;
  }
  const o = newOwner(c, di, mode);
  const n = di.create(dir.dentry, name, { mode: o.mode, uid: o.uid, gid: o.gid, rdev, target });
  if (typeof n === 'number') return n;
  return { mount: dir.mount, dentry: remember(dir.dentry, name, n) };
}

/** The parent of path and its last component, which must not exist yet. */
function parentForCreate(w: Walk, start: Location, path: string): Parent | number {
  const p = walkParent(w, start, path);
  if (typeof p === 'number') return p;
  if (p.name === '' || p.name === '.' || p.name === '..') return -EEXIST;
  const cur = step(w, p.dir, p.name, false);
  if (typeof cur !== 'number') return -EEXIST;
  return cur === -ENOENT ? p : cur;
}

export function mkdirAt(c: UmaskCtx, start: Location, path: string, mode: number): number {
  const p = parentForCreate(walker(c, start), start, path);
  if (typeof p === 'number') return p;
  const r = createIn(c, p.dir, p.name, S_IFDIR | (mode & ~c.fs.umask & 0o1777), 0, '');
  return typeof r === 'number' ? r : 0;
}

/** mknod: regular files, FIFOs and sockets for anyone; device nodes for root (CAP_MKNOD) only. */
export function mknodAt(c: UmaskCtx, start: Location, path: string, mode: number, rdev: number): number {
  let type = mode & S_IFMT;
  if (type === 0) type = S_IFREG;
  if (type === S_IFDIR || type === S_IFLNK || ![S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK].includes(type)) return -EINVAL;
  const device = type === S_IFCHR || type === S_IFBLK;
  const p = parentForCreate(walker(c, start), start, path);
  if (typeof p === 'number') return p;
  if (p.trailing) return -ENOENT;
  const r = createIn(c, p.dir, p.name, type | (mode & ~c.fs.umask & 0o7777), device ? rdev : 0, '', device);
  return typeof r === 'number' ? r : 0;
}

/**
 * bind(2) of an AF_UNIX socket to a path: a new socket inode there (mode 0777 less the umask),
 * EADDRINUSE if the name exists (even as a dangling symlink, as Linux says). Returns where it is.
 */
export function mksockAt(c: UmaskCtx, start: Location, path: string): Resolved | number {
  const p = parentForCreate(walker(c, start), start, path);
  if (typeof p === 'number') return p === -EEXIST ? -EADDRINUSE : p;
  if (p.trailing) return -ENOENT;
  const r = createIn(c, p.dir, p.name, S_IFSOCK | (0o777 & ~c.fs.umask), 0, '');
  return r === -EEXIST ? -EADDRINUSE : r;
}

export function symlinkAt(c: PathCtx, target: string, start: Location, path: string): number {
  if (target.length === 0) return -ENOENT;
  const p = parentForCreate(walker(c, start), start, path);
  if (typeof p === 'number') return p;
  if (p.trailing) return -ENOENT;
  const r = createIn(c, p.dir, p.name, S_IFLNK | 0o777, 0, target);
  return typeof r === 'number' ? r : 0;
}

/** link(2): a new name for old (resolved by the caller: linkat's flags decide how). */
export function linkAt(c: PathCtx, old: Resolved, newStart: Location, newPath: string): number {
  if (old.file) return -EXDEV;
  const p = parentForCreate(walker(c, newStart), newStart, newPath);
  if (typeof p === 'number') return p;
  if (p.trailing) return -ENOENT;
  if (p.dir.mount !== old.mount) return -EXDEV;
  const hard = mayHardlink(c.creds, old.dentry.inode.attr());
  if (hard < 0) return hard;
  if (old.dentry.inode.isDir) return -EPERM;
  if (p.dir.dentry.deleted) return -ENOENT;
  if (p.dir.mount.flags.readonly) return -EROFS;
  const perm = mayCreate(c.creds, p.dir.dentry.inode);
  if (perm < 0) return perm;
  if (old.dentry.inode.attr().nlink === 0) return -ENOENT;
  const r = p.dir.dentry.inode.link(p.dir.dentry, p.name, old.dentry);
  if (r < 0) return r;
  remember(p.dir.dentry, p.name, old.dentry.inode);
  return 0;
}

/** unlink(2) (dir false) and rmdir(2) (dir true). */
export function unlinkAt(c: PathCtx, start: Location, path: string, dir: boolean): number {
  const w = walker(c, start);
  const p = walkParent(w, start, path);
  if (typeof p === 'number') return p;
  if (p.name === '' || p.name === '..') return dir ? (p.name === '' ? -EBUSY : -ENOTEMPTY) : -EISDIR;
  if (p.name === '.') return dir ? -EINVAL : -EISDIR;
  const child = step(w, p.dir, p.name, false);
  if (typeof child === 'number') return child;
  if (child.mount !== p.dir.mount || child.dentry.mounts > 0) return -EBUSY;
  const ci = child.dentry.inode;
  if (dir && !ci.isDir) return -ENOTDIR;
  if (!dir && ci.isDir) return -EISDIR;
  if (!dir && p.trailing) return -ENOTDIR;
  if (p.dir.mount.flags.readonly) return -EROFS;
  const perm = mayDelete(c.creds, p.dir.dentry.inode, ci);
  if (perm < 0) return perm;
  if (dir) {
    const ents = ci.readdir();
    if (typeof ents === 'number') return ents;
    if (ents.length > 0) return -ENOTEMPTY;
  }
  const di = p.dir.dentry.inode;
  const r = dir ? di.rmdir(p.dir.dentry, p.name, child.dentry) : di.unlink(p.dir.dentry, p.name, child.dentry);
  if (r < 0) return r;
  forget(p.dir.dentry, p.name);
  return 0;
}

interface RenameSide {
  p: Parent;
  node: Location | null;
}

/** One side of a rename: the parent, and what the name holds (null: nothing). */
function renameSide(w: Walk, start: Location, path: string): RenameSide | number {
  const p = walkParent(w, start, path);
  if (typeof p === 'number') return p;
  if (p.name === '' || p.name === '.' || p.name === '..') return -EBUSY;
  const n = step(w, p.dir, p.name, false);
  if (typeof n === 'number') return n === -ENOENT ? { p, node: null } : n;
  if (n.mount !== p.dir.mount || n.dentry.mounts > 0) return -EBUSY;
  return { p, node: n };
}

/** Whether moving `moved` out of from.p into to.p is allowed (types, emptiness, loops). */
function renameTypes(src: Dentry, dst: Dentry | null, toDir: Dentry, exchange: boolean): number {
  const srcDir = src.inode.isDir;
  if (srcDir && isAncestor(src, toDir)) return -EINVAL;
  if (!dst) return 0;
  const dstDir = dst.inode.isDir;
  if (exchange) return dstDir && isAncestor(dst, src.parent!) ? -EINVAL : 0;
  if (srcDir && !dstDir) return -ENOTDIR;
  if (!srcDir && dstDir) return -EISDIR;
  if (dstDir) {
    const ents = dst.inode.readdir();
    if (typeof ents === 'number') return ents;
    if (ents.length > 0) return -ENOTEMPTY;
  }
  return 0;
}

/** Permission to take src out of its directory and put it (over dst) into the other. */
function renamePerms(c: PathCtx, from: Parent, src: Dentry, to: Parent, dst: Dentry | null): number {
  let r = mayDelete(c.creds, from.dir.dentry.inode, src.inode);
  if (r < 0) return r;
  r = dst ? mayDelete(c.creds, to.dir.dentry.inode, dst.inode) : mayCreate(c.creds, to.dir.dentry.inode);
  if (r < 0) return r;
  // A directory changing parents has its ".." rewritten: it must be writable too.
  if (src.inode.isDir && from.dir.dentry !== to.dir.dentry) r = inodePermission(c.creds, src.inode, MAY_WRITE);
  return r;
}

/** rename(2), renameat2(2) with RENAME_NOREPLACE and RENAME_EXCHANGE. */
export function renameAt(c: PathCtx, oldStart: Location, oldPath: string, newStart: Location, newPath: string, flags: number): number {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) || (flags & RENAME_EXCHANGE && flags & RENAME_NOREPLACE)) return -EINVAL;
  const from = renameSide(walker(c, oldStart), oldStart, oldPath);
  if (typeof from === 'number') return from;
  const to = renameSide(walker(c, newStart), newStart, newPath);
  if (typeof to === 'number') return to;
  if (!from.node) return -ENOENT;
  const exchange = (flags & RENAME_EXCHANGE) !== 0;
  if (exchange && !to.node) return -ENOENT;
  if (flags & RENAME_NOREPLACE && to.node) return -EEXIST;
  if (from.p.dir.mount !== to.p.dir.mount) return -EXDEV;
  const src = from.node.dentry;
  const dst = to.node?.dentry ?? null;
  if ((from.p.trailing || to.p.trailing) && !src.inode.isDir) return -ENOTDIR;
  if (dst && (dst === src || dst.inode === src.inode)) return 0;
  let r = renameTypes(src, dst, to.p.dir.dentry, exchange);
  if (r < 0) return r;
  if (from.p.dir.mount.flags.readonly) return -EROFS;
  r = renamePerms(c, from.p, src, to.p, dst);
  if (r < 0) return r;
  if (exchange) {
    r = renamePerms(c, to.p, dst!, from.p, src);
    if (r < 0) return r;
  }
  r = from.p.dir.dentry.inode.rename({ oldDir: from.p.dir.dentry, oldName: from.p.name, child: src, newDir: to.p.dir.dentry, newName: to.p.name, target: dst, flags });
  if (r < 0) return r;
  if (exchange) swap(src, dst!);
  else move(src, to.p.dir.dentry, to.p.name);
  return 0;
}
