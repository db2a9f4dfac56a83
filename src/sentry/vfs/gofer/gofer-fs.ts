// The read-only file system of a gofer tree (gVisor's gofer fs, minus writes: the overlay above
// keeps every change in memory). Each inode holds a gofer handle, walked one component at a time;
// regular files are read through host fds the gofer donates. No application path ever reaches a
// host path syscall: the only host calls here are pread/close on donated fds.
//
// Handles are bounded: the least recently used are closed when there are too many, and walked
// again from the parent (whose handle is itself re-walked if need be) when next needed.

import * as fs from 'node:fs';
import { EIO, ENFILE, ENOENT, EROFS, ESTALE } from '../../abi/errno';
import type { GoferClient, GoferEntry, GoferStat } from '../../gofer';
import { S_IFLNK, S_IFMT } from '../constants';
import { Dentry } from '../dentry';
import { FileSystem, Inode, Timespec, type Attr, type DirEntry, type FileData } from '../inode';

export const V9FS_MAGIC = 0x01021997;
/** Donated fds kept open after their last user, for the next open of the same file. */
const IDLE_FDS = 64;

/** An inode number as a JavaScript number (folded to 53 bits: overlayfs xino can go above). */
export function inoNumber(ino: bigint): number {
  return ino <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ino) : Number(BigInt.asUintN(52, ino));
}

function attrOf(s: GoferStat): Attr {
  return {
    mode: s.mode, nlink: s.nlink, uid: s.uid, gid: s.gid, rdev: s.rdev, size: s.size, blocks: s.blocks,
    atime: new Timespec(s.atimeSec, s.atimeNsec), mtime: new Timespec(s.mtimeSec, s.mtimeNsec), ctime: new Timespec(s.ctimeSec, s.ctimeNsec),
  };
}

export class GoferFs extends FileSystem {
  readonly type = '9p';
  readonly magic = V9FS_MAGIC;
  readonly root: Dentry;
  /** Inodes holding a handle, least recently used first. */
  private readonly handles = new Map<GoferInode, true>();
  private readonly idleFds = new Map<GoferInode, true>();
  private readonly maxHandles: number;

  constructor(readonly client: GoferClient, readonly tree: number) {
    super();
    const e = client.attach(tree);
    if (typeof e === 'number') throw new Error(`gofer: attach tree ${tree}: errno ${-e}`);
    // Most of the gofer's table: each eviction costs a CLOSE round trip. The rest is left for the
    // directories that open files pin in the gofer after their handle is closed.
    this.maxHandles = Math.max(16, client.maxHandles - Math.max(64, client.maxHandles >> 3));
    const root = new GoferInode(this, e.handle, e.stat, null, '');
    this.touch(root);
    this.root = new Dentry('/', null, root);
  }

  /** i was used: it is the most recently used; close the oldest handles beyond the bound. */
  touch(i: GoferInode): void {
    this.handles.delete(i);
    this.handles.set(i, true);
    if (this.handles.size > this.maxHandles) this.evict(this.maxHandles);
  }

  /** Close the least recently used handles until at most keep are held. */
  evict(keep: number): void {
    for (const old of this.handles.keys()) {
      if (this.handles.size <= keep) break;
      if (old.parent === null) continue; // the tree's root: attach would be needed again
      this.handles.delete(old);
      old.dropHandle();
    }
  }

  /** A walk, making room in the gofer's table if it is full (ENFILE) and trying once more. */
  walk(dir: number, name: string): GoferEntry | number {
    const e = this.client.walk(dir, name);
    if (e !== -ENFILE) return e;
    this.evict(this.handles.size >> 1);
    return this.client.walk(dir, name);
  }

  /** A donated fd has no user any more: keep it a while, closing the oldest idle one. */
  idle(i: GoferInode): void {
    this.idleFds.set(i, true);
    if (this.idleFds.size <= IDLE_FDS) return;
    const oldest = this.idleFds.keys().next().value as GoferInode;
    this.idleFds.delete(oldest);
    oldest.closeFd();
  }

  busy(i: GoferInode): void {
    this.idleFds.delete(i);
  }
}

export class GoferInode extends Inode {
  readonly ino: number;
  /** The host's inode number, exactly: a re-walk must find the same file. */
  private readonly inoBig: bigint;
  private readonly a: Attr;
  private target: string | undefined;
  private fd = -1;
  private fdUsers = 0;

  constructor(readonly fs: GoferFs, private h: number, st: GoferStat, readonly parent: GoferInode | null, readonly name: string) {
    super();
    this.ino = inoNumber(st.ino);
    this.inoBig = st.ino;
    this.a = attrOf(st);
  }

  attr(): Attr {
    return this.a;
  }

  /** The gofer handle, walked again from the parent if it was closed. */
  handle(): number {
    if (this.h !== 0) {
      this.fs.touch(this);
      return this.h;
    }
    const c = this.fs.client;
    if (!this.parent) return -EIO;
    const ph = this.parent.handle();
    if (ph < 0) return ph;
    const e = this.fs.walk(ph, this.name);
    if (typeof e === 'number') return e === -ENOENT ? -ESTALE : e;
    if (e.stat.ino !== this.inoBig) {
      c.close(e.handle);
      return -ESTALE; // replaced on the host since: this inode is gone
    }
    this.h = e.handle;
    this.fs.touch(this);
    return this.h;
  }

  dropHandle(): void {
    if (this.h === 0) return;
    this.fs.client.close(this.h);
    this.h = 0;
  }

  override lookup(name: string): Inode | number {
    const h = this.handle();
    if (h < 0) return h;
    const e = this.fs.walk(h, name);
    if (typeof e === 'number') return e;
    const i = new GoferInode(this.fs, e.handle, e.stat, this, name);
    this.fs.touch(i);
    return i;
  }

  override readdir(): DirEntry[] | number {
    const h = this.handle();
    if (h < 0) return h;
    const r = this.fs.client.readdir(h);
    if (typeof r === 'number') return r;
    return r.map((d) => ({ name: d.name, ino: inoNumber(d.ino), type: d.type }));
  }

  override readlink(): string | number {
    if ((this.a.mode & S_IFMT) !== S_IFLNK) return super.readlink();
    if (this.target !== undefined) return this.target;
    const h = this.handle();
    if (h < 0) return h;
    const r = this.fs.client.readlink(h);
    if (typeof r === 'string') this.target = r;
    return r;
  }

  override openData(_self: Dentry | null, write: boolean): FileData | number {
    if (write) return -EROFS;
    const fd = this.acquireFd();
    return fd < 0 ? fd : new GoferData(this, fd);
  }

  /** The donated fd, opened at the first user. */
  acquireFd(): number {
    if (this.fd < 0) {
      const h = this.handle();
      if (h < 0) return h;
      const fd = this.fs.client.open(h);
      if (fd < 0) return fd;
      this.fd = fd;
    }
    if (this.fdUsers++ === 0) this.fs.busy(this);
    return this.fd;
  }

  releaseFd(): void {
    if (--this.fdUsers === 0) this.fs.idle(this);
  }

  closeFd(): void {
    if (this.fd < 0 || this.fdUsers > 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** A lower file's bytes, read with pread on the donated fd. */
class GoferData implements FileData {
  private released = false;

  constructor(private readonly inode: GoferInode, private readonly fd: number) {}

  size(): number {
    return this.inode.attr().size;
  }

  read(dst: Uint8Array[], pos: number): number {
    let p = pos;
    let total = 0;
    for (const d of dst) {
      const n = this.pread(d, p);
      if (n < 0) return total > 0 ? total : n;
      p += n;
      total += n;
      if (n < d.length) break;
    }
    return total;
  }

  pread(dst: Uint8Array, pos: number): number {
    let total = 0;
    try {
      while (total < dst.length) {
        const n = fs.readSync(this.fd, dst, total, dst.length - total, pos + total);
        if (n <= 0) break;
        total += n;
      }
    } catch (e) {
      return total > 0 ? total : -(Math.abs((e as NodeJS.ErrnoException).errno ?? EIO));
    }
    return total;
  }

  write(): number {
    return -EROFS;
  }

  truncate(): number {
    return -EROFS;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.inode.releaseFd();
  }
}
