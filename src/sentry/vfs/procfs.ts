// /proc as a file system: the VFS side of the ProcNode tree that src/sentry/vfs/proc builds. Proc
// names come and go with processes, so nothing here is cached: every lookup asks the tree again.
// A file's contents are generated once per open (a consistent snapshot, like seq_file); fd/N links
// are magic links to the open file itself.

import { EACCES, EIO, ENOENT } from '../abi/errno';
import { S_IFDIR, S_IFLNK, S_IFREG, dtype } from './constants';
import { Dentry } from './dentry';
import type { FileDescription } from './file';
import { RegularFile } from './regular-file';
import { FileSystem, Inode, now, type Attr, type DirEntry, type FileData, type LookupHint, type ProcOpener } from './inode';
import type { Task } from '../kernel/task';
import { isFdLink, type ProcNode } from './proc';
import type { Location } from './mount';

export const PROC_SUPER_MAGIC = 0x9fa0;

export class ProcFs extends FileSystem {
  readonly type = 'proc';
  readonly magic = PROC_SUPER_MAGIC;
  override readonly cacheDentries = false;
  readonly root: Dentry;
  readonly created = now();
  /** Inode numbers by path, so that a name keeps its number across lookups. */
  private readonly inos = new Map<string, number>();

  /**
   * makeRoot: called with the first caller (the kernel does not exist yet when /proc is mounted,
   * and comes with the first task that looks in). Before that, /proc is an empty directory.
   */
  constructor(private readonly makeRoot: (caller: Task) => ProcNode) {
    super();
    this.root = new Dentry('/', null, new ProcInode(this, () => this.tree ?? EMPTY_ROOT, ''));
  }

  private tree: ProcNode | undefined;

  /** A call by caller reaches /proc: the tree exists from now on. */
  meet(caller: Task | undefined): void {
    if (this.tree === undefined && caller !== undefined) this.tree = this.makeRoot(caller);
  }

  inoOf(key: string): number {
    let n = this.inos.get(key);
    if (n === undefined) this.inos.set(key, (n = this.allocIno()));
    return n;
  }
}

const EMPTY_ROOT: ProcNode = { kind: 'dir', mode: 0o555, list: () => [], lookup: () => undefined };

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
    return { mode: typeBits(n) | perm, nlink: n.kind === 'dir' ? (n.nlink?.() ?? 2) : 1, uid: o.uid, gid: o.gid, rdev: 0, size: 0, blocks: 0, atime: t, mtime: t, ctime: t };
  }

  /** sysctl's test_perm: root gets the owner's bits, everyone else the others'; no capability adds any. */
  override ownPermission(want: number, fsuid: number): number | undefined {
    const n = this.node();
    if (n.kind !== 'file' || !n.sysctl) return undefined;
    const bits = fsuid === 0 ? (n.mode >> 6) & 7 : n.mode & 7;
    return (bits & want) === want ? 0 : -EACCES;
  }

  override lookup(name: string, hint?: LookupHint): Inode | number {
    const caller = hint?.caller;
    this.fs.meet(caller);
    const n = this.node();
    if (n.kind !== 'dir') return super.lookup(name);
    const c = n.lookup(name, caller);
    return c ? new ProcInode(this.fs, () => c, `${this.key}/${name}`) : -ENOENT;
  }

  override readdir(caller?: Task): DirEntry[] | number {
    this.fs.meet(caller);
    const n = this.node();
    if (n.kind !== 'dir') return super.readdir();
    if (n.gone?.()) return -ENOENT;
    const out: DirEntry[] = [];
    for (const name of n.list(caller)) {
      const c = n.lookup(name, caller);
      if (c) out.push({ name, ino: this.fs.inoOf(`${this.key}/${name}`), type: dtype(typeBits(c)) });
    }
    return out;
  }

  override readlink(caller?: Task): string | number {
    const n = this.node();
    return n.kind === 'symlink' ? n.target(caller) : super.readlink();
  }

  override magicLink(caller?: Task): FileDescription | number | undefined {
    const n = this.node();
    if (!isFdLink(n)) return undefined;
    return n.fdFile(caller) ?? -ENOENT;
  }

  override openFile(r: Location, flags: number, opener: ProcOpener): FileDescription | number | undefined {
    const n = this.node();
    if (n.kind !== 'file') return undefined;
    const may = n.mayOpen?.(opener) ?? 0;
    if (may < 0) return may;
    if (n.open) return n.open(opener, flags, r);
    const write = n.write;
    if (write) return new RegularFile(r, flags, new Snapshot(() => n.read(), (data) => write(opener, data)));
    return undefined;
  }

  override openData(): FileData | number {
    const n = this.node();
    return n.kind === 'file' ? new Snapshot(() => n.read()) : super.openData(null, false);
  }
}

/** A proc file's contents as generated at the first read (or size) after open. */
class Snapshot implements FileData {
  private made: Uint8Array | number | undefined;

  constructor(private readonly gen: () => Uint8Array | number, private readonly writer?: (data: Uint8Array) => number) {}

  private contents(): Uint8Array | number {
    return (this.made ??= this.gen());
  }
  size(): number {
    const b = this.contents();
    return typeof b === 'number' ? 0 : b.length;
  }
  read(dst: Uint8Array[], pos: number): number {
    const bytes = this.contents();
    if (typeof bytes === 'number') return bytes;
    let p = pos;
    let total = 0;
    for (const d of dst) {
      if (p >= bytes.length) break;
      const n = Math.min(d.length, bytes.length - p);
      d.set(bytes.subarray(p, p + n));
      p += n;
      total += n;
    }
    return total;
  }
  pread(dst: Uint8Array, pos: number): number {
    return this.read([dst], pos);
  }
  /** Each write(2) is one whole write of the file (as proc's write handlers take them), its offset ignored. */
  write(src: Uint8Array[]): number {
    if (!this.writer) return -EIO;
    return this.writer(src.length === 1 ? src[0] : Buffer.concat(src));
  }
  truncate(): number {
    return -EIO;
  }
  release(): void {}
}
