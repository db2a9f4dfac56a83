// Opening what a path resolved to (fs/namei.c may_open and do_open): access checks, then the
// right kind of open file for the inode's type.

import { EACCES, EISDIR, ELOOP, ENOTDIR, ENXIO, EPERM, EROFS } from '../abi/errno';
import {
  O_ACCMODE, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOATIME, O_NOCTTY, O_NOFOLLOW, O_PATH, O_RDONLY, O_TRUNC, O_WRONLY,
  S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG,
} from './constants';
import { openDevice } from './dev/devices';
import { openFifo, type Blocker } from './fifo';
import type { FileDescription } from './file';
import { now } from './inode';
import { isOwner, MAY_READ, MAY_WRITE, permission } from './permission';
import { DirectoryFile, PathFile, RegularFile } from './regular-file';
import type { PathCtx, Resolved } from './resolve';

export interface OpenCtx extends PathCtx, Blocker {
  /** The opener's process (a file may check it: /proc/pid/mem's ptrace-attach rule). */
  readonly tg?: { readonly tgid: number };
}

/** The MAY_* access an open with these flags needs. */
export function openAccess(flags: number): number {
  const acc = flags & O_ACCMODE;
  let want = acc === O_WRONLY ? 0 : MAY_READ;
  if (acc !== O_RDONLY || flags & O_TRUNC) want |= MAY_WRITE;
  return want;
}

/** Flags an open file does not keep (F_GETFL does not show them). */
const OPEN_ONLY = O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC;

/**
 * Open r (already resolved) with flags; console is the container's terminal for /dev/tty.
 * created: this open made the file (then its mode is not checked, as in Linux). A FIFO may park
 * the task (the result is then BLOCK).
 */
export function openResolved(c: OpenCtx, r: Resolved, flags: number, console: FileDescription | undefined, created = false): FileDescription | number {
  const kept = flags & ~OPEN_ONLY;
  if (r.file) {
    // A magic link to a pathless file (an eventfd, a pipe): O_DIRECTORY still wants a directory.
    if (flags & O_DIRECTORY && !(flags & O_PATH) && (r.file.stat().mode & S_IFMT) !== S_IFDIR) return -ENOTDIR;
    return r.file.reopen(kept);
  }
  const inode = r.dentry.inode;
  const a = inode.attr();
  const type = a.mode & S_IFMT;
  // O_DIRECTORY first: before O_PATH's early return, and before a symlink's ELOOP (do_open).
  if (flags & O_DIRECTORY && type !== S_IFDIR) return -ENOTDIR;
  if (flags & O_PATH) return new PathFile(r, flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW));
  if (type === S_IFLNK) return -ELOOP;
  const want = openAccess(flags);
  if (type === S_IFDIR && want & MAY_WRITE) return -EISDIR;
  const perm = created ? 0 : (inode.ownPermission?.(want, c.creds.fsuid) ?? permission(c.creds, a, want));
  if (perm < 0) return perm;
  // O_NOATIME: only for the owner (or CAP_FOWNER).
  if (flags & O_NOATIME && !isOwner(c.creds, inode)) return -EPERM;
  if (want & MAY_WRITE && r.mount.flags.readonly && (type === S_IFREG || type === S_IFDIR)) return -EROFS;
  switch (type) {
    case S_IFDIR:
      return new DirectoryFile(r, kept);
    case S_IFREG: {
      const own = inode.openFile(r, kept, c);
      if (own !== undefined) return own;
      return openRegular(r, created ? kept : flags, (want & MAY_WRITE) !== 0);
    }
    case S_IFCHR:
      return r.mount.flags.nodev ? -EACCES : openDevice(a.rdev, r, kept, console);
    case S_IFIFO:
      return openFifo(c, inode, r, kept);
    case S_IFBLK:
      return r.mount.flags.nodev ? -EACCES : -ENXIO;
    default:
      return -ENXIO; // sockets: no socket files in the sentry yet
  }
}

function openRegular(r: Resolved, flags: number, write: boolean): FileDescription | number {
  const inode = r.dentry.inode;
  // O_TRUNC changes mtime and ctime even when the file is already empty (ATTR_MTIME|ATTR_CTIME).
  if (flags & O_TRUNC && write) {
    const t = inode.setattr(r.dentry, { size: 0, mtime: now() });
    if (t < 0) return t;
  }
  const data = inode.openData(r.dentry, write);
  if (typeof data === 'number') return data;
  return new RegularFile(r, flags & ~OPEN_ONLY, data);
}
