// The file system of a gofer tree (gVisor's gofer fs). Read-only trees sit under an overlay that
// keeps every change in memory; a tree the gofer serves read-write (a writable bind mount) takes
// changes itself, through the gofer's CREATE/MKDIR/SYMLINK/UNLINK/RENAME/SETATTR and fds it donates
// open for writing. Each inode holds a gofer handle, walked one component at a time; regular files
// are read (and written) through donated host fds. No application path ever reaches a host path
// syscall: the only host calls here are pread/pwrite/fstat/close on donated fds.
//
// Handles are bounded: the least recently used are closed when there are too many, and walked
// again from the parent (whose handle is itself re-walked if need be) when next needed.
//
// An *exclusive* tree (the rootfs: read-only, under the overlay, changed by nothing but this sandbox,
// as runsc's default --file-access=exclusive assumes) also keeps what it learnt: each directory's
// children by name, the names it lacks (negative entries, bounded), and its full listing once read
// (a name not in it is ENOENT without asking). A lookup that misses walks the rest of the path
// being resolved in the same round trip (WALKPATH), and a read-only open takes the file's fd with
// it. The sandbox's own changes live in the overlay's upper layer, which is consulted first, so
// none of this can go stale by them. Other trees (bind mounts, which the host may change) keep
// only the VFS's positive dentries, and those are walked again at each use (revalidate).

import * as fs from 'node:fs';
import { EACCES, EEXIST, EIO, ENFILE, ENOENT, ENOTDIR, EPERM, EROFS, ESTALE, EXDEV } from '../../abi/errno';
import { WALK_MAX } from '../../gofer/protocol';
import {
  AT_REMOVEDIR, O_RDWR, O_WRONLY, SETATTR_ATIME, SETATTR_GID, SETATTR_MODE, SETATTR_MTIME, SETATTR_SIZE, SETATTR_UID,
  type GoferClient, type GoferEntry, type GoferSetAttr, type GoferStat,
} from '../../gofer';
import type { GoferWalk } from '../../gofer/protocol';
import { dtype, NAME_MAX, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from '../constants';
import { Dentry } from '../dentry';
import { LocalNode, LocalNodes } from './local-node';
import { FileSystem, Inode, Timespec, type Attr, type CreateReq, type DirEntry, type FileData, type LookupHint, type RenameReq, type SetAttr } from '../inode';
import type { HostFile } from '../../mm/file-ref';

export const V9FS_MAGIC = 0x01021997;
/** Donated fds kept open after their last user, for the next open of the same file. */
const IDLE_FDS = 64;
/** Negative entries an exclusive tree keeps (all are dropped when there would be more). */
const MAX_MISSING = 16384;
/** Directory entries an exclusive tree keeps in listings (beyond, listings are read each time). */
const MAX_LISTED = 262144;
/**
 * Lookups of unknown names in one directory of an exclusive tree after which it is listed (a
 * READDIR or two), so that later misses there are answered without a round trip: a search path
 * (python's sys.path, a compiler's include directories) asks a directory for many absent names.
 */
const LIST_AFTER = 4;

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
  /**
   * Socket files bound in this (writable) tree: the sandbox's own, never on the host. Shared by
   * the pod's containers that bind the same host directory (each through its own gofer), so a
   * socket one binds in a shared volume is found by the others, as on Linux.
   */
  readonly local: LocalNodes;

  /** Names known to be missing, by directory (exclusive trees only), and how many. */
  private readonly missing = new Map<GoferInode, Set<string>>();
  private missingCount = 0;
  /** Entries held in directory listings (exclusive trees only). */
  listed = 0;

  /**
   * writable: the gofer serves the tree read-write (otherwise changes are EROFS here). exclusive:
   * nothing but this sandbox changes the tree, so lookups, misses and listings are kept (a
   * read-only tree only: the sandbox's changes go to an overlay above it).
   */
  constructor(readonly client: GoferClient, readonly tree: number, readonly writable = false, readonly exclusive = false, local?: LocalNodes) {
    super();
    this.local = local ?? new LocalNodes();
    if (writable && exclusive) throw new Error(`gofer: tree ${tree}: a writable tree cannot be cached as exclusive`);
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

  /** A WALKPATH, making room in the gofer's table if it is full, as walk does. */
  walkPath(dir: number, names: string[], open: boolean): GoferWalk | number {
    const r = this.client.walkPath(dir, names, open);
    if (r !== -ENFILE) return r;
    this.evict(this.handles.size >> 1);
    return this.client.walkPath(dir, names, open);
  }

  isMissing(dir: GoferInode, name: string): boolean {
    return this.missing.get(dir)?.has(name) === true;
  }

  noteMissing(dir: GoferInode, name: string): void {
    if (++this.missingCount > MAX_MISSING) {
      this.missing.clear();
      this.missingCount = 1;
    }
    let s = this.missing.get(dir);
    if (!s) this.missing.set(dir, (s = new Set()));
    s.add(name);
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
  private a: Attr;
  private target: string | undefined;
  private fd = -1;
  private fdUsers = 0;
  /** Exclusive trees: children looked up so far, and the full listing once read (with its names). */
  private kids: Map<string, GoferInode> | undefined;
  private listing: DirEntry[] | undefined;
  private listed: Set<string> | undefined;
  /** Exclusive trees: lookups of names not known yet, until the directory is listed. */
  private unknown = 0;

  /** parent and name change with a rename (the handle is then walked again from there). */
  constructor(readonly fs: GoferFs, private h: number, st: GoferStat, public parent: GoferInode | null, public name: string) {
    super();
    this.ino = inoNumber(st.ino);
    this.inoBig = st.ino;
    this.a = attrOf(st);
  }

  attr(): Attr {
    return this.a;
  }

  /** What the gofer (or the host, for a donated fd) says now. */
  update(st: GoferStat | fs.BigIntStats): void {
    if ('ctimeNs' in st) {
      const ts = (ns: bigint) => new Timespec(Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n));
      this.a.size = Number(st.size);
      this.a.blocks = Number(st.blocks);
      this.a.mtime = ts(st.mtimeNs);
      this.a.ctime = ts(st.ctimeNs);
      return;
    }
    this.a = attrOf(st);
  }

  /** Stat again through the gofer after a change (a failure keeps what was known). */
  restat(): void {
    const h = this.handle();
    if (h < 0) return;
    const st = this.fs.client.stat(h);
    if (typeof st !== 'number') this.update(st);
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

  /**
   * A tree the host may change (not exclusive: a bind volume, as runsc's shared file access
   * revalidates): the name walked again, the same inode (then its attributes as they are now), or
   * false. One WALK (and a CLOSE of the handle it replaces) per cached component.
   */
  override revalidate(): boolean {
    if (this.fs.exclusive || !this.parent) return true;
    const ph = this.parent.handle();
    if (ph < 0) return ph !== -ESTALE;
    const e = this.fs.walk(ph, this.name);
    if (typeof e === 'number') return e !== -ENOENT && e !== -ENOTDIR;
    if (e.stat.ino !== this.inoBig || (e.stat.mode & S_IFMT) !== (this.a.mode & S_IFMT)) {
      this.fs.client.close(e.handle);
      return false;
    }
    this.dropHandle();
    this.h = e.handle;
    this.fs.touch(this);
    this.update(e.stat);
    return true;
  }

  dropHandle(): void {
    if (this.h === 0) return;
    this.fs.client.close(this.h);
    this.h = 0;
  }

  override lookup(name: string, hint?: LookupHint): Inode | number {
    if (this.fs.exclusive) return this.lookupKept(name, hint);
    const l = this.fs.local.get(this.inoBig, name);
    if (l) return l;
    const h = this.handle();
    if (h < 0) return h;
    const e = this.fs.walk(h, name);
    if (typeof e === 'number') return e;
    const i = new GoferInode(this.fs, e.handle, e.stat, this, name);
    this.fs.touch(i);
    return i;
  }

  /**
   * lookup in an exclusive tree: what is known, else one WALKPATH of name and the components the
   * hint says come next (up to the first "." or ".." and WALK_MAX in all), each kept as a child
   * of the one before; a read-only open of the path's end takes the file's fd along.
   */
  private lookupKept(name: string, hint: LookupHint | undefined): Inode | number {
    const k = this.kids?.get(name);
    if (k) return k;
    if (this.fs.isMissing(this, name) || (this.listed && !this.listed.has(name))) return -ENOENT;
    if (!this.listed && ++this.unknown === LIST_AFTER) {
      this.readdir();
      const listed = this.listed as Set<string> | undefined; // set by readdir
      if (listed && !listed.has(name)) return -ENOENT;
    }
    const h = this.handle();
    if (h < 0) return h;
    const names = [name];
    const toEnd = hint ? ahead(hint, names) : true;
    let r = this.fs.walkPath(h, names, toEnd && hint?.open === true);
    // A name ahead the protocol cannot carry is that step's to report, not this one's.
    if (typeof r === 'number' && r !== -ENOENT && names.length > 1) {
      names.length = 1;
      r = this.fs.walkPath(h, names, false);
    }
    if (typeof r === 'number') {
      if (r === -ENOENT) this.fs.noteMissing(this, name);
      return r;
    }
    let dir: GoferInode = this;
    for (let i = 0; i < r.entries.length; i++) {
      const e = r.entries[i]!;
      const kid = dir.kids?.get(names[i]!);
      if (kid) {
        // Known already (walked by another way since): keep the one the VFS may hold.
        this.fs.client.close(e.handle);
        dir = kid;
        continue;
      }
      const node = new GoferInode(this.fs, e.handle, e.stat, dir, names[i]!);
      this.fs.touch(node);
      (dir.kids ??= new Map()).set(names[i]!, node);
      dir = node;
    }
    if (r.err === ENOENT && r.entries.length < names.length) this.fs.noteMissing(dir, names[r.entries.length]!);
    if (r.fd >= 0) dir.adoptFd(r.fd);
    return this.kids!.get(name)!;
  }

  /** An fd of this file that came with a walk: kept as an idle one, for the open that asked. */
  private adoptFd(fd: number): void {
    if (this.fd >= 0) {
      fs.closeSync(fd);
      return;
    }
    this.fd = fd;
    if (this.fdUsers === 0) this.fs.idle(this);
  }

  override readdir(): DirEntry[] | number {
    if (this.listing) return this.listing.slice();
    const h = this.handle();
    if (h < 0) return h;
    const r = this.fs.client.readdir(h);
    if (typeof r === 'number') return r;
    const out = r.map((d) => ({ name: d.name, ino: inoNumber(d.ino), type: d.type }));
    if (this.fs.exclusive && this.fs.listed + out.length <= MAX_LISTED) {
      this.fs.listed += out.length;
      this.listing = out.slice();
      this.listed = new Set(out.map((d) => d.name));
    }
    for (const [name, n] of this.fs.local.list(this.inoBig)) out.push({ name, ino: n.ino, type: dtype(n.attr().mode) });
    return out;
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
    if (write) {
      if (!this.fs.writable) return -EROFS;
      const h = this.handle();
      if (h < 0) return h;
      // Read-write where the host allows it (a write-only file: an unprivileged gofer may not read it).
      let fd = this.fs.client.open(h, O_RDWR);
      if (fd === -EACCES) fd = this.fs.client.open(h, O_WRONLY);
      return fd < 0 ? fd : new GoferData(this, fd, true);
    }
    const fd = this.acquireFd();
    return fd < 0 ? fd : new GoferData(this, fd, false);
  }

  // ---- changes (writable trees) ----

  override create(_d: Dentry, name: string, req: CreateReq): Inode | number {
    if (!this.fs.writable) return -EROFS;
    const h = this.handle();
    if (h < 0) return h;
    const c = this.fs.client;
    const perm = req.mode & 0o7777;
    let e: GoferEntry | number;
    switch (req.mode & S_IFMT) {
      case S_IFREG:
        e = c.create(h, name, perm, req.uid, req.gid);
        break;
      case S_IFDIR:
        e = c.mkdir(h, name, perm, req.uid, req.gid);
        break;
      case S_IFLNK:
        e = c.symlink(h, name, req.target, req.uid, req.gid);
        break;
      case S_IFSOCK:
        return this.createLocal(h, name, req);
      default:
        return -EPERM; // device nodes, FIFOs: not made on the host
    }
    if (typeof e === 'number') return e;
    const i = new GoferInode(this.fs, e.handle, e.stat, this, name);
    this.fs.touch(i);
    this.restat();
    return i;
  }

  /** A socket file of the sandbox's own (bind(2) here): EEXIST if the host has the name. */
  private createLocal(h: number, name: string, req: CreateReq): Inode | number {
    if (this.fs.local.get(this.inoBig, name)) return -EEXIST;
    const e = this.fs.walk(h, name);
    if (typeof e !== 'number') {
      this.fs.client.close(e.handle);
      return -EEXIST;
    }
    if (e !== -ENOENT) return e;
    const n = new LocalNode(this.fs, req.mode, req.uid, req.gid);
    this.fs.local.add(this.inoBig, name, n);
    return n;
  }

  override unlink(_d: Dentry, name: string, child: Dentry): number {
    if (this.fs.writable && this.fs.local.remove(this.inoBig, name)) return 0;
    return this.remove(name, child, 0);
  }

  override rmdir(_d: Dentry, name: string, child: Dentry): number {
    return this.remove(name, child, AT_REMOVEDIR);
  }

  private remove(name: string, child: Dentry, flags: number): number {
    if (!this.fs.writable) return -EROFS;
    const h = this.handle();
    if (h < 0) return h;
    const r = this.fs.client.unlink(h, name, flags);
    if (r < 0) return r;
    this.restat();
    if (child.inode instanceof GoferInode) child.inode.restat();
    return 0;
  }

  override rename(r: RenameReq): number {
    if (!this.fs.writable) return -EROFS;
    const from = r.oldDir.inode;
    const to = r.newDir.inode;
    const src = r.child.inode;
    if (src instanceof LocalNode || r.target?.inode instanceof LocalNode) return -EXDEV;
    if (!(from instanceof GoferInode) || !(to instanceof GoferInode) || !(src instanceof GoferInode)) return -EIO;
    const fh = from.handle();
    if (fh < 0) return fh;
    const th = to.handle();
    if (th < 0) return th;
    const e = this.fs.client.rename(fh, r.oldName, th, r.newName, r.flags);
    if (e < 0) return e;
    // The moved inodes are walked again under their new names when next needed.
    src.moved(to, r.newName);
    const dst = r.target?.inode;
    if (dst instanceof GoferInode) {
      if (r.flags & RENAME_EXCHANGE_FLAG) dst.moved(from, r.oldName);
      else dst.restat();
    }
    from.restat();
    if (to !== from) to.restat();
    return 0;
  }

  private moved(parent: GoferInode, name: string): void {
    this.parent = parent;
    this.name = name;
    this.dropHandle();
  }

  override setattr(_self: Dentry | null, a: SetAttr): number {
    if (!this.fs.writable) return -EROFS;
    const h = this.handle();
    if (h < 0) return h;
    const req: GoferSetAttr = { mask: 0 };
    if (a.mode !== undefined) {
      req.mask |= SETATTR_MODE;
      req.mode = a.mode & 0o7777;
    }
    if (a.uid !== undefined) {
      req.mask |= SETATTR_UID;
      req.uid = a.uid;
    }
    if (a.gid !== undefined) {
      req.mask |= SETATTR_GID;
      req.gid = a.gid;
    }
    if (a.size !== undefined) {
      req.mask |= SETATTR_SIZE;
      req.size = a.size;
    }
    if (a.atime !== undefined) {
      req.mask |= SETATTR_ATIME;
      req.atimeSec = a.atime.sec;
      req.atimeNsec = a.atime.nsec;
    }
    if (a.mtime !== undefined) {
      req.mask |= SETATTR_MTIME;
      req.mtimeSec = a.mtime.sec;
      req.mtimeNsec = a.mtime.nsec;
    }
    const st = this.fs.client.setattr(h, req);
    if (typeof st === 'number') return st;
    this.update(st);
    return 0;
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

/**
 * The plain components of hint.path from hint.at, appended to names (up to WALK_MAX in all; a
 * ".", "..", or a name too long ends them); whether they reach the path's end.
 */
function ahead(hint: LookupHint, names: string[]): boolean {
  const p = hint.path;
  const n = p.length;
  let i = hint.at;
  for (;;) {
    while (i < n && p.charCodeAt(i) === 0x2f) i++;
    if (i >= n) return true;
    if (names.length >= WALK_MAX) return false;
    let j = p.indexOf('/', i);
    if (j < 0) j = n;
    const c = p.slice(i, j);
    if (c === '.' || c === '..' || c.length > NAME_MAX) return false;
    names.push(c);
    i = j;
  }
}

/** RENAME_EXCHANGE (renameat2). */
const RENAME_EXCHANGE_FLAG = 2;

/**
 * A file's bytes, read with pread on the donated fd (shared by the inode's reads), or for an open
 * that may write, read and written on an fd of its own (owned: closed at release).
 */
class GoferData implements FileData {
  private released = false;

  constructor(private readonly inode: GoferInode, private readonly fd: number, private readonly owned: boolean) {}

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

  write(src: Uint8Array[], pos: number): number {
    if (!this.owned) return -EROFS;
    let p = pos;
    let total = 0;
    try {
      for (const s of src) {
        let off = 0;
        while (off < s.length) {
          const n = fs.writeSync(this.fd, s, off, s.length - off, p);
          if (n <= 0) break;
          off += n;
          p += n;
          total += n;
        }
        if (off < s.length) break;
      }
    } catch (e) {
      if (total === 0) return -(Math.abs((e as NodeJS.ErrnoException).errno ?? EIO));
    }
    this.refresh();
    return total;
  }

  truncate(size: number): number {
    if (!this.owned) return -EROFS;
    try {
      fs.ftruncateSync(this.fd, size);
    } catch (e) {
      return -(Math.abs((e as NodeJS.ErrnoException).errno ?? EIO));
    }
    this.refresh();
    return 0;
  }

  /** The inode's size and times after a change, from the host. */
  private refresh(): void {
    try {
      this.inode.update(fs.fstatSync(this.fd, { bigint: true }));
    } catch {
      // the size stays what it was known to be
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (!this.owned) this.inode.releaseFd();
    else if (this.mapHolds === 0) fs.closeSync(this.fd);
  }

  /** Mappings holding an owned fd (closed when the open and they all are done). */
  private mapHolds = 0;

  /**
   * A host fd of the file for a mapping to hold: the host's pages of the file, which show its
   * later writes (the sandbox's through the gofer's fds, or the host's) as Linux's do. An open
   * that writes has its own fd (also right for a file already unlinked), held past the open's
   * close; a read-only one shares the inode's donated fd, held as a user of it.
   */
  hostFile(): HostFile | undefined {
    if (this.released) return undefined;
    let held = true;
    if (this.owned) {
      this.mapHolds++;
      return {
        fd: this.fd,
        release: () => {
          if (!held) return;
          held = false;
          if (--this.mapHolds === 0 && this.released) fs.closeSync(this.fd);
        },
      };
    }
    const fd = this.inode.acquireFd();
    if (fd < 0) return undefined;
    return {
      fd,
      release: () => {
        if (held) this.inode.releaseFd();
        held = false;
      },
    };
  }
}
