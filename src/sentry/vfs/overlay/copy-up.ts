// Copy-up: before an overlay file is changed, it gets an upper copy (its parent directories
// first, up to the root), with the lower file's mode, owner, times and, for a regular file, its
// bytes. Directories are copied empty: their lower entries keep showing through (merged).

import { EINVAL } from '../../abi/errno';
import { S_IFLNK, S_IFMT, S_IFREG } from '../constants';
import type { Dentry } from '../dentry';
import type { Inode } from '../inode';
import { MemDir, MemFile, type MemInode } from '../tmpfs/inode';
import type { OverlayInode } from './overlay';

/** Give d an upper inode; skipData: the caller is about to truncate it to nothing. */
export function copyUp(d: Dentry, skipData = false): number {
  const n = d.inode as OverlayInode;
  if (n.upper) return 0;
  const lower = n.lower;
  if (!lower) return -EINVAL;
  const la = lower.attr();
  let u: MemInode;
  if (!d.parent && lower.isDir) {
    // The root: the upper root directory exists already; it takes the lower root's attributes.
    u = n.fs.upper.rootDir;
  } else if (!d.parent) {
    // A file as the root (a single-file bind): its copy lives in the upper root directory, under
    // a name nothing can look up (the overlay's root is the file, not that directory).
    const made = makeUpper(n.fs.upper.rootDir, 'root', lower, skipData);
    if (typeof made === 'number') return made;
    u = made;
  } else {
    const r = copyUp(d.parent);
    if (r < 0) return r;
    const dir = (d.parent.inode as OverlayInode).upper as MemDir;
    // A copy-up is no change the application made: the parent keeps its times (as overlayfs does).
    const pa = dir.attr();
    const [mtime, ctime] = [pa.mtime, pa.ctime];
    const made = makeUpper(dir, d.name, lower, skipData);
    pa.mtime = mtime;
    pa.ctime = ctime;
    if (typeof made === 'number') return made;
    u = made;
  }
  u.setattr(null, { mode: la.mode, uid: la.uid, gid: la.gid, atime: la.atime, mtime: la.mtime });
  u.origIno = lower.ino;
  n.upper = u;
  return 0;
}

/** The upper copy of lower, as name in dir. */
function makeUpper(dir: MemDir, name: string, lower: Inode, skipData: boolean): MemInode | number {
  const la = lower.attr();
  let target = '';
  if ((la.mode & S_IFMT) === S_IFLNK) {
    const t = lower.readlink();
    if (typeof t === 'number') return t;
    target = t;
  }
  const u = dir.create(null, name, { mode: la.mode, uid: la.uid, gid: la.gid, rdev: la.rdev, target });
  if (typeof u === 'number') return u;
  if ((la.mode & S_IFMT) === S_IFREG && !skipData) {
    const r = copyData(lower, u as MemFile);
    if (r < 0) {
      dir.detach(name);
      return r;
    }
  }
  return u;
}

function copyData(lower: Inode, u: MemFile): number {
  const src = lower.openData(null, false);
  if (typeof src === 'number') return src;
  try {
    const buf = new Uint8Array(src.size());
    const n = src.pread(buf, 0);
    if (n < 0) return n;
    return u.data.fill(buf.subarray(0, n));
  } finally {
    src.release();
  }
}

