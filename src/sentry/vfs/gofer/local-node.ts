// Socket files bound inside a writable host tree. The gofer makes no socket files on the host, so
// bind(2) there makes a node of the sandbox's own in the directory: lookup, stat and readdir show
// it (S_IFSOCK, as Linux would), unlink removes it, and the AF_UNIX socket bound to it is found
// through it; the host never sees it. Kept per file system by the directory's host inode number,
// so it outlives the dentries and handles of its directory.

import { now, Inode, type Attr, type FileSystem, type SetAttr } from '../inode';

/** Above every host inode number a gofer inode shows (those are folded to 52 bits). */
let nextIno = 2 ** 52 + 1;

export class LocalNode extends Inode {
  readonly ino = nextIno++;
  private readonly a: Attr;

  constructor(readonly fs: FileSystem, mode: number, uid: number, gid: number) {
    super();
    const t = now();
    this.a = { mode, nlink: 1, uid, gid, rdev: 0, size: 0, blocks: 0, atime: t, mtime: t, ctime: t };
  }

  attr(): Attr {
    return this.a;
  }

  override setattr(_self: unknown, s: SetAttr): number {
    if (s.mode !== undefined) this.a.mode = (this.a.mode & ~0o7777) | (s.mode & 0o7777);
    if (s.uid !== undefined) this.a.uid = s.uid;
    if (s.gid !== undefined) this.a.gid = s.gid;
    if (s.atime) this.a.atime = s.atime;
    if (s.mtime) this.a.mtime = s.mtime;
    this.a.ctime = now();
    return 0;
  }
}

/** The local nodes of one file system, by directory. */
export class LocalNodes {
  private readonly byDir = new Map<bigint, Map<string, LocalNode>>();

  get(dir: bigint, name: string): LocalNode | undefined {
    return this.byDir.get(dir)?.get(name);
  }

  list(dir: bigint): Array<[string, LocalNode]> {
    const m = this.byDir.get(dir);
    return m ? [...m] : [];
  }

  add(dir: bigint, name: string, n: LocalNode): void {
    let m = this.byDir.get(dir);
    if (!m) this.byDir.set(dir, (m = new Map()));
    m.set(name, n);
  }

  remove(dir: bigint, name: string): boolean {
    const m = this.byDir.get(dir);
    if (!m || !m.delete(name)) return false;
    if (m.size === 0) this.byDir.delete(dir);
    return true;
  }
}
