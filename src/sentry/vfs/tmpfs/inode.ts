// tmpfs inodes: directories (a map of names), regular files (bytes in memory), symlinks and
// special files (devices, FIFOs, sockets; and the overlay's whiteouts, character devices 0:0 as in
// Linux's overlayfs, flagged so that an application's own 0:0 node is not taken for one). The overlay's upper layer is made of these too.

import { EINVAL, ENOENT, EPERM } from '../../abi/errno';
import { RENAME_EXCHANGE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../constants';
import type { Dentry } from '../dentry';
import { Inode, now, relatimeDue, type Timespec, type Attr, type CreateReq, type DirEntry, type FileData, type RenameReq, type SetAttr } from '../inode';
import { MemData } from './data';
import type { TmpFs } from './tmpfs';

/** What tmpfs says a directory entry costs (BOGO_DIRENT_SIZE), for st_size of directories. */
const DIRENT_SIZE = 20;

export abstract class MemInode extends Inode {
  readonly ino: number;
  protected readonly a: Attr;
  /** The inode number of the lower file this was copied up from (the overlay keeps it). */
  origIno: number | undefined;

  constructor(readonly fs: TmpFs, mode: number, uid: number, gid: number, rdev = 0) {
    super();
    this.ino = fs.allocIno();
    const t = now();
    // Not linked anywhere yet: MemDir.attach counts the links (a directory starts at 2).
    this.a = { mode, nlink: 0, uid, gid, rdev, size: 0, blocks: 0, atime: t, mtime: t, ctime: t };
  }

  attr(): Attr {
    return this.a;
  }

  /** Contents changed: mtime and ctime. */
  modified(): void {
    const t = now();
    this.a.mtime = t;
    this.a.ctime = t;
  }

  /** Metadata changed: ctime. */
  changed(): void {
    this.a.ctime = now();
  }

  get nlink(): number {
    return this.a.nlink;
  }
  set nlink(n: number) {
    this.a.nlink = n;
  }

  /** An access moves atime (relatime) and nothing else: not ctime, unlike setattr. */
  override accessed(t: Timespec): void {
    if (relatimeDue(this.a, t)) this.a.atime = t;
  }

  override setattr(_self: Dentry | null, s: SetAttr): number {
    if (s.size !== undefined) {
      if (!(this instanceof MemFile)) return -EINVAL;
      const r = this.data.truncate(s.size);
      if (r < 0) return r;
    }
    const a = this.a;
    if (s.mode !== undefined) a.mode = (a.mode & S_IFMT) | (s.mode & 0o7777);
    if (s.uid !== undefined) a.uid = s.uid;
    if (s.gid !== undefined) a.gid = s.gid;
    if (s.atime) a.atime = s.atime;
    if (s.mtime) a.mtime = s.mtime;
    this.changed();
    return 0;
  }
}

export class MemFile extends MemInode {
  readonly data: MemData;

  constructor(fs: TmpFs, mode: number, uid: number, gid: number) {
    super(fs, S_IFREG | (mode & 0o7777), uid, gid);
    this.data = new MemData({ modified: () => this.modified(), reserve: (d) => fs.reserve(d) });
  }

  override attr(): Attr {
    const a = this.a;
    a.size = this.data.size();
    a.blocks = Math.ceil(a.size / 4096) * 8;
    return a;
  }

  override openData(_self: Dentry | null, _write: boolean): FileData {
    return this.data;
  }
}

export class MemSymlink extends MemInode {
  constructor(fs: TmpFs, readonly target: string, uid: number, gid: number) {
    super(fs, S_IFLNK | 0o777, uid, gid);
    this.a.size = target.length;
  }

  override readlink(): string {
    return this.target;
  }
}

/** Devices, FIFOs, sockets: nothing but attributes (the VFS opens them by type and rdev). */
export class MemSpecial extends MemInode {
  /** An overlay whiteout (a character device 0:0 made by the overlay, not by the application). */
  isWhiteout = false;
}

export class MemDir extends MemInode {
  readonly entries = new Map<string, MemInode>();
  /** An overlay directory that hides the lower one (made where a whiteout was). */
  opaque = false;

  constructor(fs: TmpFs, mode: number, uid: number, gid: number) {
    super(fs, S_IFDIR | (mode & 0o7777), uid, gid);
    this.a.nlink = 2;
  }

  override attr(): Attr {
    this.a.size = (this.entries.size + 2) * DIRENT_SIZE;
    return this.a;
  }

  override lookup(name: string): Inode | number {
    return this.entries.get(name) ?? -ENOENT;
  }

  override readdir(): DirEntry[] {
    const out: DirEntry[] = [];
    for (const [name, n] of this.entries) out.push({ name, ino: n.ino, type: (n.attr().mode & S_IFMT) >>> 12 });
    return out;
  }

  override create(_dir: Dentry | null, name: string, req: CreateReq): MemInode | number {
    const n = this.fs.newInode(req);
    if (typeof n === 'number') return n;
    this.attach(name, n);
    return n;
  }

  override unlink(_dir: Dentry | null, name: string): number {
    return this.detach(name) ? 0 : -ENOENT;
  }

  override rmdir(_dir: Dentry | null, name: string): number {
    return this.detach(name) ? 0 : -ENOENT;
  }

  override link(_dir: Dentry | null, name: string, target: Dentry): number {
    const n = target.inode;
    if (!(n instanceof MemInode) || n.fs !== this.fs || n instanceof MemDir) return -EPERM;
    this.attach(name, n);
    return 0;
  }

  override rename(r: RenameReq): number {
    const to = r.newDir.inode;
    if (!(to instanceof MemDir)) return -EINVAL;
    return this.move(r.oldName, to, r.newName, (r.flags & RENAME_EXCHANGE) !== 0);
  }

  /** Move name to `to` as newName, replacing what is there (or swapping with it). */
  move(name: string, to: MemDir, newName: string, exchange: boolean): number {
    const src = this.entries.get(name);
    if (!src) return -ENOENT;
    if (exchange) {
      const dst = to.entries.get(newName);
      if (!dst) return -ENOENT;
      this.entries.set(name, dst);
      to.entries.set(newName, src);
      if (this !== to && src instanceof MemDir !== dst instanceof MemDir) {
        const d = src instanceof MemDir ? 1 : -1;
        this.nlink -= d;
        to.nlink += d;
      }
    } else {
      if (to.entries.has(newName)) to.detach(newName);
      this.entries.delete(name);
      to.entries.set(newName, src);
      if (src instanceof MemDir) {
        this.nlink--;
        to.nlink++;
      }
    }
    src.changed();
    this.modified();
    if (to !== this) to.modified();
    return 0;
  }

  /** Add an entry (a new inode or another link to one). */
  attach(name: string, n: MemInode): void {
    if (this.entries.has(name)) this.detach(name);
    this.entries.set(name, n);
    if (n instanceof MemDir) this.nlink++;
    else n.nlink++;
    this.modified();
  }

  /** Remove an entry; its inode lives on while open. */
  detach(name: string): MemInode | undefined {
    const n = this.entries.get(name);
    if (!n) return undefined;
    this.entries.delete(name);
    if (n instanceof MemDir) {
      this.nlink--;
      n.nlink = 0;
      this.fs.dropped(n);
    } else {
      n.nlink--;
      if (n.nlink === 0) this.fs.dropped(n);
    }
    n.changed();
    this.modified();
    return n;
  }
}
