// Open files that have a path: regular files (their bytes through FileData), directories
// (getdents64 reads a snapshot of the entries taken at offset 0, so a directory changing while it
// is listed neither repeats nor skips names), and O_PATH descriptions (a location, nothing else).

import { fileKey, fileMappings, fileResized, flushFileMappings, syncFileWrite } from '../mm/shared';
import { EBADF, EFAULT, EFBIG, EINVAL, EISDIR, ENXIO, EOPNOTSUPP } from '../abi/errno';
import { SIGXFSZ } from '../abi/signals';
import { sendSignalToTask } from '../kernel/signals';
import type { Task } from '../kernel/task';
import type { MapSource } from '../mm/mm';
import { O_APPEND, S_IFDIR, SEEK_CUR, SEEK_DATA, SEEK_END, SEEK_HOLE, SEEK_SET, dtype } from './constants';
import { FileDescription, type Mappable } from './file';
import { now, type DirEntry, type FileData } from './inode';
import { parentOf, type Location } from './mount';
import { removePrivs } from './attr';

const FIONREAD = 0x541b;
const RLIMIT_FSIZE = 1;
const SI_USER = 0;
const FALLOC_FL_KEEP_SIZE = 1;
/** Offsets are signed 64-bit; past 2^53 a JavaScript number is no longer exact. */
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

export class RegularFile extends FileDescription implements Mappable {
  constructor(loc: Location, flags: number, readonly data: FileData) {
    super(flags);
    this.location = loc;
  }

  override read(_t: Task, dst: Uint8Array[], pos: number): number {
    const p = pos < 0 ? this.offset : pos;
    if (fileMappings.size > 0) {
      const st = this.stat();
      flushFileMappings(fileKey(st.dev, st.ino));
    }
    const n = this.data.read(dst, p);
    if (n > 0 && pos < 0) this.offset = p + n;
    return n;
  }

  override write(t: Task, src: Uint8Array[], pos: number): number {
    if (this.location) removePrivs(t.creds, this.location);
    // O_APPEND appends even for pwrite, as Linux does.
    // The size before, when mappings may need to hear that the write grew the file.
    const size = this.flags & O_APPEND || fileMappings.size > 0 ? this.data.size() : 0;
    const p = this.flags & O_APPEND ? size : pos < 0 ? this.offset : pos;
    // RLIMIT_FSIZE (generic_write_check_limits): nothing at or past it (EFBIG and SIGXFSZ), a
    // write that would cross it is cut there.
    const limit = t.tg.rlimits.get(RLIMIT_FSIZE)?.cur ?? Infinity;
    if (limit < 2 ** 63 && src.some((v) => v.length > 0)) {
      if (p >= limit) {
        sendSignalToTask(t, { signo: SIGXFSZ, code: SI_USER, pid: t.pid, uid: t.creds.uid });
        return -EFBIG;
      }
      src = clip(src, limit - p);
    }
    const n = this.data.write(src, p);
    if (n >= 0 && pos < 0) this.offset = p + n;
    // MAP_SHARED mappings of this file see the write (they hold their own copy of its pages).
    if (n > 0 && fileMappings.size > 0) {
      const st = this.stat();
      const key = fileKey(st.dev, st.ino);
      if (p + n > size) fileResized(key, this.data.size());
      syncFileWrite(key, clip(src, n), p);
    }
    return n;
  }

  /** The file's size changed: its shared mappings end where it does now. */
  private resized(r: number): number {
    if (r >= 0 && fileMappings.size > 0) {
      const st = this.stat();
      fileResized(fileKey(st.dev, st.ino), this.data.size());
    }
    return r;
  }

  override seek(off: number, whence: number): number {
    if (whence !== SEEK_SET && whence !== SEEK_CUR && this.location?.dentry.inode.fs.seqFiles) return -EINVAL;
    const size = this.data.size();
    let base: number;
    switch (whence) {
      case SEEK_SET:
        base = 0;
        break;
      case SEEK_CUR:
        base = this.offset;
        break;
      case SEEK_END:
        base = size;
        break;
      case SEEK_DATA:
        if (off >= size) return -ENXIO;
        return (this.offset = off);
      case SEEK_HOLE:
        if (off >= size) return -ENXIO;
        return (this.offset = size);
      default:
        return -EINVAL;
    }
    const n = base + off;
    if (n < 0 || n > MAX_OFFSET) return -EINVAL;
    return (this.offset = n);
  }

  override ioctl(t: Task, cmd: number, arg: number): number {
    if (cmd !== FIONREAD) return super.ioctl(t, cmd, arg);
    return t.mm.writeU32(arg, Math.max(0, Math.min(0x7fffffff, this.data.size() - this.offset))) ? 0 : -EFAULT;
  }

  /** ftruncate: mtime and ctime change even if the size does not (do_truncate's ATTR_MTIME|ATTR_CTIME). */
  override truncate(size: number): number {
    const r = this.resized(this.data.truncate(size));
    if (r < 0 || !this.location) return r;
    this.location.dentry.inode.setattr(this.location.dentry, { mtime: now() });
    return r;
  }

  /** fallocate: reserve (grow the file unless KEEP_SIZE); holes and ranges are not modelled. */
  override allocate(mode: number, off: number, len: number): number {
    if (mode & ~FALLOC_FL_KEEP_SIZE) return -EOPNOTSUPP;
    if (mode & FALLOC_FL_KEEP_SIZE || off + len <= this.data.size()) return 0;
    return this.resized(this.data.truncate(off + len));
  }

  mapSource(): MapSource {
    const s = this.stat();
    const writable = (this.flags & 3) === 2; // O_RDWR: a shared mapping may write back
    return {
      pread: (dst, pos) => this.data.pread(dst, pos),
      ...(this.data.hostFile ? { hostFile: () => this.data.hostFile?.() } : {}),
      info: { name: this.displayPath, dev: s.dev, ino: s.ino },
      fileSize: () => this.data.size(),
      ...(writable ? { write: (src: Uint8Array, pos: number) => this.data.write([src], pos) } : {}),
    };
  }

  override release(): void {
    this.data.release();
  }
}

export class DirectoryFile extends FileDescription {
  /** The entries getdents64 is reading, taken when it starts at offset 0. */
  snapshot: DirEntry[] | null = null;

  constructor(loc: Location, flags: number) {
    super(flags);
    this.location = loc;
  }

  override read(): number {
    return -EISDIR;
  }

  override write(): number {
    return -EBADF;
  }

  override readdir(caller?: Task): DirEntry[] | number {
    const l = this.location!;
    const r = l.dentry.inode.readdir(caller);
    if (typeof r === 'number') return r;
    let top = l.mount;
    while (top.parent) top = top.parent;
    const up = parentOf(l, { mount: top, dentry: top.root });
    const dt = dtype(S_IFDIR);
    return [{ name: '.', ino: l.dentry.inode.ino, type: dt }, { name: '..', ino: up.dentry.inode.ino, type: dt }, ...r];
  }

  override seek(off: number, whence: number): number {
    let n: number;
    if (whence === SEEK_SET) n = off;
    else if (whence === SEEK_CUR) n = this.offset + off;
    // proc's and sysfs's directories seek as generic_file_llseek does (tmpfs's refuse).
    else if (whence === SEEK_END && this.location!.dentry.inode.fs.dirSeekEnd) n = this.location!.dentry.inode.attr().size + off;
    else return -EINVAL;
    if (n < 0) return -EINVAL;
    if (n === 0) this.snapshot = null;
    return (this.offset = n);
  }
}

/** O_PATH: a location to use as a dirfd, to fstat, or to reopen through /proc; no I/O. */
export class PathFile extends FileDescription {
  constructor(loc: Location, flags: number) {
    super(flags);
    this.location = loc;
  }

  override read(): number {
    return -EBADF;
  }

  override write(): number {
    return -EBADF;
  }

  override ioctl(): number {
    return -EBADF;
  }
}

/** The first n bytes of a list of buffers. */
function clip(src: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of src) {
    if (n <= 0) break;
    out.push(b.length <= n ? b : b.subarray(0, n));
    n -= b.length;
  }
  return out;
}
