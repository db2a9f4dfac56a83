// The inode model every file system of the sentry implements (gVisor's vfs.FilesystemImpl and
// inode operations, reduced to what the sentry's file systems need). An Inode is one file; its
// directory operations receive the Dentry they act on, because the overlay copies up along the
// dentry chain. The VFS (resolve.ts, namei.ts) does the permission checks and keeps the dentry
// cache; an Inode only does what it is asked.

import { EINVAL, ENOTDIR, EPERM } from '../abi/errno';
import { makedev, S_IFDIR, S_IFMT } from './constants';
import type { Dentry } from './dentry';
import type { FileDescription } from './file';
import type { Location } from './mount';
import type { FsCreds } from './permission';

/** Who opens a file, for a file with checks of its own (/proc/pid/mem). */
export interface ProcOpener {
  readonly creds: FsCreds;
  readonly tg?: { readonly tgid: number };
}
import type { Pipe } from './pipe';
import type { HostFile } from '../mm/file-ref';
import type { Task } from '../kernel/task';

/** A point in time, as stat reports it. */
export class Timespec {
  constructor(public sec: number, public nsec: number) {}
}

const epochMs = Date.now() - performance.now();

/** The current wall-clock time (µs resolution: what performance.now() gives). */
export function now(): Timespec {
  const ms = epochMs + performance.now();
  const sec = Math.floor(ms / 1000);
  return new Timespec(sec, Math.floor((ms - sec * 1000) * 1e6));
}

const DAY_SEC = 24 * 60 * 60;
const before = (a: Timespec, b: Timespec) => a.sec < b.sec || (a.sec === b.sec && a.nsec <= b.nsec);

/**
 * Linux's relatime rule (relatime_need_update), the sentry's mounts' only atime mode: an access
 * updates atime when atime is not after mtime or ctime, or is a day old.
 */
export function relatimeDue(a: Pick<Attr, 'atime' | 'mtime' | 'ctime'>, t: Timespec): boolean {
  return before(a.atime, a.mtime) || before(a.atime, a.ctime) || t.sec - a.atime.sec >= DAY_SEC;
}

/** What stat shows of an inode (st_dev and st_ino come from the file system and the inode). */
export interface Attr {
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  /** 512-byte blocks. */
  blocks: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/** A copy of a's fields into out (explicitly: an object spread costs microseconds in V8 here). */
export function copyAttr(a: Attr, out: Attr): Attr {
  out.mode = a.mode;
  out.nlink = a.nlink;
  out.uid = a.uid;
  out.gid = a.gid;
  out.rdev = a.rdev;
  out.size = a.size;
  out.blocks = a.blocks;
  out.atime = a.atime;
  out.mtime = a.mtime;
  out.ctime = a.ctime;
  return out;
}

export function cloneAttr(a: Attr): Attr {
  return { mode: a.mode, nlink: a.nlink, uid: a.uid, gid: a.gid, rdev: a.rdev, size: a.size, blocks: a.blocks, atime: a.atime, mtime: a.mtime, ctime: a.ctime };
}

/** An attribute change, already checked by the VFS. */
export interface SetAttr {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: Timespec;
  mtime?: Timespec;
}

/** A new directory entry: mode carries the file type; target is a symlink's. */
export interface CreateReq {
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  target: string;
}

export interface DirEntry {
  name: string;
  ino: number;
  /** DT_* */
  type: number;
}

export interface RenameReq {
  oldDir: Dentry;
  oldName: string;
  child: Dentry;
  newDir: Dentry;
  newName: string;
  /** What newName names now (null: nothing). */
  target: Dentry | null;
  flags: number;
}

/** The bytes of a regular file, as an open file reads and writes them. */
export interface FileData {
  size(): number;
  /** Read into the views from pos; bytes read or -errno. */
  read(dst: Uint8Array[], pos: number): number;
  write(src: Uint8Array[], pos: number): number;
  truncate(size: number): number;
  /** One buffer, for mmap and exec. */
  pread(dst: Uint8Array, pos: number): number;
  /** The open that asked for this data is closed (host fds go back). */
  release(): void;
  /**
   * A host fd of these bytes that private mappings may map by reference (mm/file-ref.ts), held
   * until its release; absent where the bytes are the sentry's own (tmpfs, copied up).
   */
  hostFile?(): HostFile | undefined;
}

export interface StatFs {
  type: number;
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  namelen: number;
}

let nextAnonDev = 16;

/** A file system instance: its device number, its dentry tree's root, its statfs. */
export abstract class FileSystem {
  /** st_dev of its files: an anonymous device 0:N, as Linux gives tmpfs, proc and overlay. */
  readonly dev = makedev(0, nextAnonDev++);
  /** Whether looked-up dentries may be cached (procfs changes under the VFS's feet: no). */
  readonly cacheDentries: boolean = true;
  abstract readonly type: string;
  abstract readonly magic: number;
  abstract readonly root: Dentry;
  private nextIno = 1;

  /**
   * How lseek treats its directories and files, as Linux's file systems differ: kernfs and proc
   * directories take SEEK_END (generic_file_llseek on a size of 0), tmpfs's (dcache_dir_lseek) do
   * not; proc's files are seq_files, which seek only from the start or the current offset.
   */
  get dirSeekEnd(): boolean {
    return this.type === 'proc' || this.type === 'sysfs';
  }
  get seqFiles(): boolean {
    return this.type === 'proc';
  }

  allocIno(): number {
    return this.nextIno++;
  }

  statfs(): StatFs {
    return { type: this.magic, bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, namelen: 255 };
  }
}

/**
 * What a path resolution will ask for after this lookup, for a file system that can answer several
 * components in one go (the gofer's WALKPATH): the path being resolved and where its components
 * after the looked-up name start (path.length: none). open: the resolution ends in a read-only
 * open of what the path names. Only a hint: lookup still answers for its one name.
 */
export interface LookupHint {
  readonly path: string;
  readonly at: number;
  readonly open: boolean;
  /** Who resolves (what /proc/self names); undefined for the sentry's own walks. */
  readonly caller: Task | undefined;
}

/** One file. The defaults refuse: each file system overrides what it supports. */
export abstract class Inode {
  abstract readonly fs: FileSystem;
  abstract readonly ino: number;
  /** The current attributes (not to be changed by the caller). */
  abstract attr(): Attr;
  /** A FIFO's pipe, made at its first open and shared by every open of the FIFO. */
  fifo: Pipe | undefined;

  get mode(): number {
    return this.attr().mode;
  }

  get isDir(): boolean {
    return (this.attr().mode & S_IFMT) === S_IFDIR;
  }

  lookup(_name: string, _hint?: LookupHint): Inode | number {
    return -ENOTDIR;
  }
  /**
   * Whether a cached dentry of this inode still names it (its attributes refreshed on the way):
   * false when the file was removed or replaced behind the VFS's back (a bind volume changed on
   * the host). Everything the sentry alone changes is always valid.
   */
  revalidate(): boolean {
    return true;
  }
  /** Every entry but "." and ".." (the VFS adds those); caller: who reads (/proc lists its PID namespace). */
  readdir(_caller?: Task): DirEntry[] | number {
    return -ENOTDIR;
  }
  create(_dir: Dentry, _name: string, _req: CreateReq): Inode | number {
    return this.isDir ? -EPERM : -ENOTDIR;
  }
  unlink(_dir: Dentry, _name: string, _child: Dentry): number {
    return -EPERM;
  }
  rmdir(_dir: Dentry, _name: string, _child: Dentry): number {
    return -EPERM;
  }
  link(_dir: Dentry, _name: string, _target: Dentry): number {
    return -EPERM;
  }
  rename(_r: RenameReq): number {
    return -EPERM;
  }
  /** caller: who reads the link (/proc/self's target is the caller's pid). */
  readlink(_caller?: Task): string | number {
    return -EINVAL;
  }
  /**
   * The inode was read through (a symlink followed or read): its atime moves to `t` where the file
   * system keeps atimes of its own; the caller has applied the mount's rule (touchAtime).
   */
  accessed(_t: Timespec): void {}
  /**
   * A file system's own access rule (0 or -errno) in place of generic_permission's, or undefined
   * for the generic one (proc's sysctl files: the mode bits alone, no capability overrides them).
   */
  ownPermission(_want: number, _fsuid: number): number | undefined {
    return undefined;
  }
  /** A magic link (/proc/pid/fd/N): the open file it stands for (or -errno); undefined otherwise. */
  magicLink(_caller?: Task): FileDescription | number | undefined {
    return undefined;
  }
  setattr(_self: Dentry | null, _a: SetAttr): number {
    return -EPERM;
  }
  /**
   * A regular file that opens as a description of its own (/proc/pid/mem), after the open's access
   * checks; undefined: an ordinary file (openData).
   */
  openFile(_r: Location, _flags: number, _opener: ProcOpener): FileDescription | number | undefined {
    return undefined;
  }
  /** A regular file's bytes for an open (write: the open may write; the overlay copies up). */
  openData(_self: Dentry | null, _write: boolean): FileData | number {
    return -EINVAL;
  }
}

/** The file type bits of a mode (S_IFREG, S_IFDIR, …). */
export function fileType(mode: number): number {
  return mode & S_IFMT;
}
