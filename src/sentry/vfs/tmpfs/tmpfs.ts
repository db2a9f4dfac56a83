// tmpfs: a file system in the sentry's memory (/tmp, /dev/shm, /dev, the overlay's upper layer).
// Space is accounted per instance so that a runaway writer gets ENOSPC, not an out-of-memory
// sentry.

import { hostTotalMem } from '../../host-facts';
import { EINVAL, ENOSPC } from '../../abi/errno';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from '../constants';
import { Dentry } from '../dentry';
import { FileSystem, type CreateReq, type StatFs } from '../inode';
import { MemDir, MemFile, MemSpecial, MemSymlink, type MemInode } from './inode';

export const TMPFS_MAGIC = 0x01021994;

export interface TmpFsOptions {
  /** Permission bits of the root directory. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Bytes of file data it may hold (default: half the host's memory, as Linux's tmpfs). */
  limit?: number;
  /** Inodes it may hold, its root included (default: unlimited). */
  inodes?: number;
  /** The type /proc/mounts shows ('tmpfs', 'devtmpfs', 'sysfs'). */
  type?: string;
  magic?: number;
}

export class TmpFs extends FileSystem {
  readonly type: string;
  readonly magic: number;
  readonly root: Dentry;
  readonly limit: number;
  readonly inodeLimit: number;
  private used = 0;
  private inodes = 1;

  constructor(opts: TmpFsOptions = {}) {
    super();
    this.type = opts.type ?? 'tmpfs';
    this.magic = opts.magic ?? TMPFS_MAGIC;
    this.limit = opts.limit ?? Math.floor(hostTotalMem() / 2);
    this.inodeLimit = opts.inodes ?? Infinity;
    this.root = new Dentry('/', null, new MemDir(this, opts.mode ?? 0o1777, opts.uid ?? 0, opts.gid ?? 0));
  }

  get rootDir(): MemDir {
    return this.root.inode as MemDir;
  }

  /** A new, unlinked inode of the type req.mode says. */
  newInode(req: CreateReq): MemInode | number {
    if (this.inodes >= this.inodeLimit) return -ENOSPC;
    this.inodes++;
    switch (req.mode & S_IFMT) {
      case S_IFREG:
        return new MemFile(this, req.mode, req.uid, req.gid);
      case S_IFDIR:
        return new MemDir(this, req.mode, req.uid, req.gid);
      case S_IFLNK:
        return new MemSymlink(this, req.target, req.uid, req.gid);
      case S_IFCHR:
      case S_IFBLK:
      case S_IFIFO:
      case S_IFSOCK:
        return new MemSpecial(this, req.mode, req.uid, req.gid, req.rdev);
      default:
        this.inodes--;
        return -EINVAL;
    }
  }

  /** Space for delta more bytes (negative: freed); false if over the limit. */
  reserve(delta: number): boolean {
    if (delta > 0 && this.used + delta > this.limit) return false;
    this.used += delta;
    return true;
  }

  /** The last link of n is gone: its space goes back (open files keep reading it regardless). */
  dropped(n: MemInode): void {
    this.inodes--;
    if (n instanceof MemFile) this.reserve(-n.data.size());
  }

  override statfs(): StatFs {
    const blocks = Math.floor(this.limit / 4096);
    const free = Math.max(0, blocks - Math.ceil(this.used / 4096));
    const files = Number.isFinite(this.inodeLimit) ? this.inodeLimit : blocks;
    return { type: this.magic, bsize: 4096, blocks, bfree: free, bavail: free, files, ffree: Math.max(0, files - this.inodes), namelen: 255 };
  }
}
