// What the file syscalls share: reading path arguments, finding where a *at call starts (the
// cwd, or a dirfd's directory), and the AT_EMPTY_PATH / AT_SYMLINK_NOFOLLOW forms.

import { EBADF, EFAULT, ENAMETOOLONG, ENOENT, ENOTDIR } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import { FileDescription } from '../../vfs';
import { AT_EMPTY_PATH, AT_FDCWD, PATH_MAX } from '../../vfs/constants';
import { statOf, type StatInfo } from '../../vfs/file';
import type { Location } from '../../vfs/mount';
import { lookupAt } from '../../vfs/namei';
import type { Resolved } from '../../vfs/resolve';

/** A path argument: the string (bytes as latin1), or -EFAULT / -ENAMETOOLONG. */
export function readPath(t: Task, addr: number): string | number {
  const s = t.mm.readCString(addr, PATH_MAX - 1);
  if (s === null) return -EFAULT;
  if (s === undefined) return -ENAMETOOLONG;
  return s;
}

/** The open file fd, or -EBADF. */
export function fileOf(t: Task, fd: number): FileDescription | number {
  return t.files.get(fd) ?? -EBADF;
}

/**
 * Where a path relative to dirfd starts: the cwd for AT_FDCWD, dirfd's directory otherwise
 * (unused for absolute paths, as Linux ignores dirfd then).
 */
export function startOf(t: Task, dirfd: number, path: string): Location | number {
  if (dirfd === AT_FDCWD || path.charCodeAt(0) === 0x2f) return t.fs.cwdLoc;
  const f = t.files.get(dirfd);
  if (!f) return -EBADF;
  if (!f.location || !f.location.dentry.inode.isDir) return -ENOTDIR;
  return f.location;
}

/** What a *at call with AT_EMPTY_PATH may name: a location, or a file with no path (a pipe). */
export type Target = Resolved | FileDescription;

/**
 * The file a *at call names: path from dirfd (following a final symlink if follow), or with an
 * empty path and AT_EMPTY_PATH, dirfd's file itself.
 */
export function targetAt(t: Task, dirfd: number, pathAddr: number, atFlags: number, follow: boolean): Target | number {
  const path = readPath(t, pathAddr);
  if (typeof path === 'number') return path;
  if (path === '') {
    if (!(atFlags & AT_EMPTY_PATH)) return -ENOENT;
    if (dirfd === AT_FDCWD) return t.fs.cwdLoc;
    const f = t.files.get(dirfd);
    if (!f) return -EBADF;
    return f.location ?? f;
  }
  const start = startOf(t, dirfd, path);
  if (typeof start === 'number') return start;
  return lookupAt(t, start, path, follow);
}

export function isFile(x: Target): x is FileDescription {
  return x instanceof FileDescription;
}

/** stat of what a Target names. */
export function statTarget(x: Target): StatInfo {
  if (isFile(x)) return x.stat();
  return x.file ? x.file.stat() : statOf(x);
}
