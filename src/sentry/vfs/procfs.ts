// /proc as a file system: the VFS side of the ProcNode tree that src/sentry/vfs/proc builds. Proc
// names come and go with processes, so nothing here is cached: every lookup asks the tree again.
// A file's contents are generated once per open (a consistent snapshot, like seq_file); fd/N links
// are magic links to the open file itself.

import { EACCES, EIO, ENOENT } from '../abi/errno';
import { S_IFDIR, S_IFLNK, S_IFREG, dtype } from './constants';
import { Dentry } from './dentry';
import type { FileDescription } from './file';
import { FileSystem, Inode, now, type Attr, type DirEntry, type FileData } from './inode';
import { isFdLink, type ProcNode } from './proc';

export const PROC_SUPER_MAGIC = 0x9fa0;

export class ProcFs extends FileSystem {
  readonly type = 'proc';
  readonly magic = PROC_SUPER_MAGIC;
  override readonly cacheDentries = false;
  readonly root: Dentry;
  readonly created = now();
  /** Inode numbers by path, so that a name keeps its number across lookups. */
  private readonly inos = new Map<string, number>();

  /** makeRoot: called at the first lookup (the kernel does not exist yet when /proc is mounted). */
  constructor(makeRoot: () => ProcNode) {
    super();
    let root: ProcNode | undefined;
    this.root = new Dentry('/', null, new ProcInode(this, () => (root ??= makeRoot()), ''));
  }

  inoOf(key: string): number {
    let n = this.inos.get(key);
    if (n === undefined) this.inos.set(key, (n = this.allocIno()));
    return n;
  }
}

function typeBits(n: ProcNode): number {
  return n.kind === 'dir' ? S_IFDIR : n.kind === 'file' ? S_IFREG : S_IFLNK;
}

class ProcInode extends Inode {
  readonly ino: number;

  constructor(readonly fs: ProcFs, private readonly node: () => ProcNode, private readonly key: string) {
    super();
    this.ino = fs.inoOf(key);
  }

  attr(): Attr {
    const n = this.node();
    const perm = n.kind === 'symlink' ? 0o777 : n.mode & 0o7777;
    const t = this.fs.created;
    const o = n.owner?.() ?? { uid: 0, gid: 0 };
    return { mode: typeBits(n) | perm, nlink: n.kind === 'dir' ? 2 : 1, uid: o.uid, gid: o.gid, rdev: 0, size: 0, blocks: 0, atime: t, mtime: t, ctime: t };
  }

  /** sysctl's test_perm: root gets the owner's bits, everyone else the others'; no capability adds any. */
  override ownPermission(want: number, fsuid: number): number | undefined {
    const n = this.node();
    if (n.kind !== 'file' || !n.sysctl) return undefined;
    const bits = fsuid === 0 ? (n.mode >> 6) & 7 : n.mode & 7;
    return (bits & want) === want ? 0 : -EACCES;
  }

  override lookup(name: string): Inode | number {
    const n = this.node();
    if (n.kind !== 'dir') return super.lookup(name);
    const c = n.lookup(name);
    return c ? new ProcInode(this.fs, () => c, `${this.key}/${name}`) : -ENOENT;
  }

  override readdir(): DirEntry[] | number {
    const n = this.node();
    if (n.kind !== 'dir') return super.readdir();
    const out: DirEntry[] = [];
    for (const name of n.list()) {
      const c = n.lookup(name);
      if (c) out.push({ name, ino: this.fs.inoOf(`${this.key}/${name}`), type: dtype(typeBits(c)) });
    }
    return out;
  }

  override readlink(): string | number {
    const n = this.node();
    return n.kind === 'symlink' ? n.target() : super.readlink();
  }

  override magicLink(): FileDescription | number | undefined {
    const n = this.node();
    if (!isFdLink(n)) return undefined;
    return n.fdFile() ?? -ENOENT;
  }

  override openData(): FileData | number {
    const n = this.node();
    return n.kind === 'file' ? new Snapshot(n.read()) : super.openData(null, false);
  }
}

/** A proc file's contents as generated at open. */
class Snapshot implements FileData {
  constructor(private readonly bytes: Uint8Array) {}
  size(): number {
    return this.bytes.length;
  }
  read(dst: Uint8Array[], pos: number): number {
    let p = pos;
    let total = 0;
    for (const d of dst) {
      if (p >= this.bytes.length) break;
      const n = Math.min(d.length, this.bytes.length - p);
      d.set(this.bytes.subarray(p, p + n));
      p += n;
      total += n;
    }
    return total;
  }
  pread(dst: Uint8Array, pos: number): number {
    return this.read([dst], pos);
  }
  write(): number {
    return -EIO;
  }
  truncate(): number {
    return -EIO;
  }
  release(): void {}
}
