// The overlay (Linux's overlayfs, as runsc puts one over the rootfs): a writable in-memory upper
// layer (tmpfs inodes) over a read-only lower layer (the gofer tree). A file is read from the lower
// layer until something changes it; then it is copied up (copy-up.ts) and lives in the upper layer.
// Removing a lower name leaves a whiteout (a 0:0 character device in the upper directory); a
// directory made where a whiteout was is opaque (the lower one no longer shows through). A merged
// directory lists the upper entries, then the lower ones not hidden.
//
// Renaming a directory that has a lower layer is EXDEV, as in overlayfs without redirect_dir:
// `mv` then copies. Inode numbers are the lower file's, before and after copy-up; files made in the
// upper layer get numbers above 2^52, away from the host's.

import { EEXIST, EINVAL, ENOENT, EXDEV } from '../../abi/errno';
import { RENAME_EXCHANGE, S_IFCHR, S_IFMT } from '../constants';
import { Dentry } from '../dentry';
import { cloneAttr, copyAttr, FileSystem, Inode, type LookupHint, type Attr, type CreateReq, type DirEntry, type FileData, type RenameReq, type SetAttr, type StatFs } from '../inode';
import { MemDir, MemFile, MemSpecial, type MemInode } from '../tmpfs/inode';
import { TmpFs } from '../tmpfs/tmpfs';
import { copyUp } from './copy-up';
import type { HostFile } from '../../mm/file-ref';

export const OVERLAYFS_SUPER_MAGIC = 0x794c7630;
const UPPER_INO_BASE = 2 ** 52;
const WHITEOUT: CreateReq = { mode: S_IFCHR, uid: 0, gid: 0, rdev: 0, target: '' };

export class OverlayFs extends FileSystem {
  readonly type = 'overlay';
  readonly magic = OVERLAYFS_SUPER_MAGIC;
  readonly root: Dentry;
  readonly upper: TmpFs;

  constructor(lowerRoot: Inode, limit?: number) {
    super();
    this.upper = new TmpFs({ limit });
    this.root = new Dentry('/', null, new OverlayInode(this, null, lowerRoot));
  }

  override statfs(): StatFs {
    return { ...this.upper.statfs(), type: this.magic };
  }
}

function isWhiteout(n: MemInode | undefined): boolean {
  return n instanceof MemSpecial && n.isWhiteout;
}

/** Hide name in the upper directory dir. */
function whiteout(dir: MemDir, name: string): number {
  const w = dir.create(null, name, WHITEOUT);
  if (typeof w === 'number') return w;
  (w as MemSpecial).isWhiteout = true;
  return 0;
}

/** The inode number the overlay shows for an upper inode. */
export function upperIno(u: MemInode): number {
  return u.origIno ?? UPPER_INO_BASE + u.ino;
}

export class OverlayInode extends Inode {
  constructor(readonly fs: OverlayFs, public upper: MemInode | null, readonly lower: Inode | null) {
    super();
  }

  get ino(): number {
    return this.upper ? upperIno(this.upper) : this.lower!.ino;
  }

  attr(): Attr {
    const u = this.upper;
    if (!u) return this.lower!.attr();
    if (!(u instanceof MemDir) || !this.lowerDir()) return u.attr();
    // A merged directory: nlink 1 as overlayfs says ("unknown": find must not count on it), and
    // the lower size rather than tmpfs's entry count.
    const l = this.lower!.attr();
    const m = copyAttr(u.attr(), (this.merged ??= cloneAttr(l)));
    m.nlink = 1;
    m.size = l.size;
    m.blocks = l.blocks;
    return m;
  }

  /** The attributes a merged directory shows, rebuilt at each attr() in this one object. */
  private merged: Attr | undefined;

  /** The lower directory that shows through (none once the upper one is opaque). */
  private lowerDir(): Inode | null {
    const l = this.lower;
    if (!l || !l.isDir) return null;
    const u = this.upper;
    return u instanceof MemDir && u.opaque ? null : l;
  }

  /** Whether the lower layer has name here (then removing it needs a whiteout). */
  lowerHas(name: string): boolean {
    const ld = this.lowerDir();
    return ld !== null && typeof ld.lookup(name) !== 'number';
  }

  override lookup(name: string, hint?: LookupHint): Inode | number {
    const up = this.upper;
    let u: MemInode | undefined;
    if (up) {
      if (!(up instanceof MemDir)) return super.lookup(name);
      u = up.entries.get(name);
      if (isWhiteout(u)) return -ENOENT;
    }
    let l: Inode | null = null;
    const ld = this.lowerDir();
    if (ld && (!u || (u instanceof MemDir && !u.opaque))) {
      // The rest of the path is worth walking ahead only where the upper layer has no say.
      const r = ld.lookup(name, u ? undefined : hint);
      if (typeof r !== 'number') l = r;
      else if (!u && r !== -ENOENT) return r;
    }
    if (u) return new OverlayInode(this.fs, u, l && l.isDir && u instanceof MemDir ? l : null);
    if (l) return new OverlayInode(this.fs, null, l);
    return this.upper || this.lower?.isDir ? -ENOENT : super.lookup(name);
  }

  /** Only what still comes from the lower layer can change behind the overlay's back. */
  override revalidate(): boolean {
    return this.upper !== null || this.lower === null || this.lower.revalidate();
  }

  override readdir(): DirEntry[] | number {
    if (!this.isDir) return super.readdir();
    const out = new Map<string, DirEntry>();
    const hidden = new Set<string>();
    const up = this.upper;
    if (up instanceof MemDir) {
      for (const [name, n] of up.entries) {
        if (isWhiteout(n)) hidden.add(name);
        else out.set(name, { name, ino: upperIno(n), type: (n.attr().mode & S_IFMT) >>> 12 });
      }
    }
    const ld = this.lowerDir();
    if (ld) {
      const r = ld.readdir();
      if (typeof r === 'number') return r;
      for (const e of r) if (!out.has(e.name) && !hidden.has(e.name)) out.set(e.name, e);
    }
    return [...out.values()];
  }

  override readlink(): string | number {
    return (this.upper ?? this.lower!).readlink();
  }

  /** The upper directory of d (copied up first); d's inode is this. */
  private upperDir(d: Dentry): MemDir | number {
    const r = copyUp(d);
    if (r < 0) return r;
    return this.upper instanceof MemDir ? this.upper : -EINVAL;
  }

  override create(d: Dentry, name: string, req: CreateReq): Inode | number {
    const up = this.upperDir(d);
    if (typeof up === 'number') return up;
    const old = up.entries.get(name);
    if (old && !isWhiteout(old)) return -EEXIST;
    if (old) up.detach(name);
    const n = up.create(null, name, req);
    if (typeof n === 'number') return n;
    // Where a whiteout was, the lower directory of that name must not show through.
    if (old && n instanceof MemDir) n.opaque = true;
    return new OverlayInode(this.fs, n, null);
  }

  override unlink(d: Dentry, name: string): number {
    return this.remove(d, name);
  }

  override rmdir(d: Dentry, name: string): number {
    return this.remove(d, name);
  }

  private remove(d: Dentry, name: string): number {
    const up = this.upperDir(d);
    if (typeof up === 'number') return up;
    const hide = this.lowerHas(name);
    up.detach(name);
    return hide ? whiteout(up, name) : 0;
  }

  override link(d: Dentry, name: string, target: Dentry): number {
    const r = copyUp(target);
    if (r < 0) return r;
    const up = this.upperDir(d);
    if (typeof up === 'number') return up;
    const old = up.entries.get(name);
    if (old && !isWhiteout(old)) return -EEXIST;
    if (old) up.detach(name);
    up.attach(name, (target.inode as OverlayInode).upper!);
    return 0;
  }

  override rename(r: RenameReq): number {
    const src = r.child.inode as OverlayInode;
    const dst = r.target ? (r.target.inode as OverlayInode) : null;
    const exchange = (r.flags & RENAME_EXCHANGE) !== 0;
    if (src.isDir && src.lower) return -EXDEV;
    if (exchange && dst && dst.isDir && dst.lower) return -EXDEV;
    const from = r.oldDir.inode as OverlayInode;
    const to = r.newDir.inode as OverlayInode;
    const srcLower = from.lowerHas(r.oldName);
    const dstLower = to.lowerHas(r.newName);
    for (const d of exchange && r.target ? [r.child, r.newDir, r.target] : [r.child, r.newDir]) {
      const e = copyUp(d);
      if (e < 0) return e;
    }
    const fromUp = from.upper as MemDir;
    const toUp = to.upper as MemDir;
    const e = fromUp.move(r.oldName, toUp, r.newName, exchange);
    if (e < 0) return e;
    if (exchange) {
      if (dst && dst.upper instanceof MemDir && srcLower) dst.upper.opaque = true;
    } else if (srcLower) {
      const w = whiteout(fromUp, r.oldName);
      if (w < 0) return w;
    }
    if (src.upper instanceof MemDir && dstLower) src.upper.opaque = true;
    return 0;
  }

  override setattr(self: Dentry | null, a: SetAttr): number {
    if (!self) return -EINVAL;
    const r = copyUp(self, a.size === 0);
    if (r < 0) return r;
    return this.upper!.setattr(null, a);
  }

  override openData(self: Dentry | null, write: boolean): FileData | number {
    if (write) {
      if (!self) return -EINVAL;
      const r = copyUp(self);
      if (r < 0) return r;
    }
    if (this.upper) return this.upper instanceof MemFile ? this.upper.data : -EINVAL;
    const ld = this.lower!.openData(null, false);
    return typeof ld === 'number' ? ld : new OverlayData(this, ld);
  }
}

/**
 * A file opened while only in the lower layer: reads follow it into the upper layer once another
 * open copies it up (so every fd sees writes, unlike old overlayfs).
 */
class OverlayData implements FileData {
  constructor(private readonly node: OverlayInode, private readonly lower: FileData) {}

  private cur(): FileData {
    const u = this.node.upper;
    return u instanceof MemFile ? u.data : this.lower;
  }

  size(): number {
    return this.cur().size();
  }
  read(dst: Uint8Array[], pos: number): number {
    return this.cur().read(dst, pos);
  }
  write(src: Uint8Array[], pos: number): number {
    return this.cur().write(src, pos);
  }
  truncate(size: number): number {
    return this.cur().truncate(size);
  }
  pread(dst: Uint8Array, pos: number): number {
    return this.cur().pread(dst, pos);
  }
  release(): void {
    this.lower.release();
  }
  /** The lower file's, until a copy-up (a mapping made before it keeps the lower file, as overlayfs's do). */
  hostFile(): HostFile | undefined {
    return this.cur().hostFile?.();
  }
}
