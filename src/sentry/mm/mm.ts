// An application address space: the list of mappings (VMAs) the sentry keeps, the memory file
// behind them, and the platform's address space that mirrors them on the host. Every change goes
// to both: the VMA list first, then one map/unmap/protect of the platform's AddressSpace
// (platform/types.ts), which alone knows how the host does it (ptrace: a syscall injected in the
// stub).

import * as fs from 'node:fs';
import { EACCES, EBADF, EFAULT, EINVAL, ENOMEM, EEXIST } from '../abi/errno';
import type { AddressSpace } from '../platform/types';
import type { VdsoMapping } from '../platform/vdso';
import { APP_LIMIT, MIN_ADDR, MMAP_TOP, PAGE, pageDown, pageUp } from './layout';
import { MemoryFile, type MemoryOps } from './memory-file';
import { mmStats, nowNs } from './stats';
import { FileRef, type HostFile } from './file-ref';
import { FILE_OBJECT_MIN, fileKey, fileMappings, fileObjects, flushFileMappings, SharedObject, type FileMapping } from './shared';

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_GROWSDOWN = 0x100;
export const MAP_FIXED_NOREPLACE = 0x100000;
export const MAP_32BIT = 0x40;

/** Vma.off of a reservation (no pages yet). */
export const RESERVED = -1;
/** Vma.off of private file pages past the file's end. */
export const PAST_EOF = -2;
/** Vma.off of private file pages by reference: the file's host pages, read-only (Vma.ref). */
export const FILE_REF = -3;

/** What a file-backed mapping was made from (for /proc/pid/maps). */
export interface MappedFileInfo {
  name: string;
  dev: number;
  ino: number;
}

export interface Vma {
  start: number;
  end: number;
  prot: number;
  /**
   * Offset of `start` in the memory file; RESERVED while the range is only reserved (PROT_NONE, no
   * pages); PAST_EOF for the pages of a private file mapping past the file's end (an access is a
   * SIGBUS, as on Linux, until the file grows to cover them).
   */
  off: number;
  shared: boolean;
  /** '[heap]', '[stack]', a path, or '' (anonymous). */
  name: string;
  file?: MappedFileInfo;
  /** Offset in the file of `start`, for file-backed mappings. */
  pgoff: number;
  /** MAP_SHARED: the object behind it (off is then an offset in the object, not the memory file). */
  obj?: SharedObject;
  /** File-backed: the file, to re-read (MADV_DONTNEED of private pages) or write back (shared). */
  src?: MapSource;
  /** MADV_DONTFORK: a fork's child does not get this range. */
  dontFork?: boolean;
  /** Shared file mapping registered in fileMappings. */
  fmap?: FileMapping;
  /** Protections mprotect may not add (a shared mapping of a file opened read-only: PROT_WRITE). */
  denyProt?: number;
  /** off === FILE_REF: the file whose host pages (at pgoff) the stub maps read-only. */
  ref?: FileRef;
}

/** Reads a file's bytes into memory for a file-backed mapping (and writes them back, if shared). */
export interface MapSource {
  pread(dst: Uint8Array, pos: number): number;
  info: MappedFileInfo;
  /** Write back through a MAP_SHARED mapping; absent: the file cannot be written. */
  write?(src: Uint8Array, pos: number): number;
  fileSize?(): number;
  /** /dev/zero: a shared mapping of it is new anonymous shared memory, not the file's pages. */
  anonymous?: boolean;
  /** A host fd of the file's bytes, for private pages by reference (file-ref.ts); held until released. */
  hostFile?(): HostFile | undefined;
}

let mmIds = 0;

/**
 * The most bytes of by-reference pages one call copies out (they are read, not viewed in place): a
 * read or write(2) of more from such a mapping is short, as at a fault; views() of more is EFAULT.
 */
const REF_READ_MAX = 64 << 20;

/** The largest object of a whole file (from offset 0) a MAP_SHARED mapping makes. */
const FILE_OBJECT_MAX = 2 ** 32;

/**
 * An empty memfd, mapped where a private file mapping reaches past its file: the host faults every
 * access to it with SIGBUS, which the stub reports like any other fault. One for the sentry.
 */
let pastEof: SharedObject | undefined;
function pastEofObject(ops: MemoryOps): SharedObject {
  return (pastEof ??= new SharedObject(ops, 0));
}

export class MemoryManager {
  readonly file: MemoryFile;
  vmas: Vma[] = [];
  brkStart = 0;
  brkCur = 0;
  /** The platform's address space mirroring this one (undefined before exec made it). */
  as: AddressSpace | undefined;
  /** Number of tasks using this address space. */
  users = 0;
  /** CPU time of the stub already charged to tasks that left it (kernel/cputime.ts). */
  cpuChargedNs = 0n;
  /** What exec loaded, for /proc/pid/{exe,auxv,cmdline,environ}. */
  exePath = '';
  auxv: Array<[number, number]> = [];
  /**
   * The vDSO's mappings, outside the VMAs (platform/vdso.ts): /proc/pid/maps shows them, and reads
   * of application memory in [vdso] return its kept bytes (vdsoBytes).
   */
  vdso: readonly VdsoMapping[] = [];
  argStart = 0;
  argEnd = 0;
  envStart = 0;
  envEnd = 0;
  /** Identity for futex keys. */
  readonly id = ++mmIds;
  private last: Vma | undefined;

  constructor(readonly ops: MemoryOps) {
    this.file = new MemoryFile(ops);
  }

  /** The address space is gone (its last user exited or exec'd): /proc/pid/mem reads nothing. */
  destroyed = false;

  /** Free the memory file (the stub is gone). */
  destroy(): void {
    this.destroyed = true;
    for (const v of this.vmas) this.dropVma(v);
    try {
      fs.closeSync(this.file.fd);
    } catch {
      /* already closed */
    }
    this.vmas = [];
  }

  // ---- lookup ----

  find(addr: number): Vma | undefined {
    const l = this.last;
    if (l && addr >= l.start && addr < l.end) return l;
    let lo = 0;
    let hi = this.vmas.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.vmas[mid];
      if (addr < v.start) hi = mid - 1;
      else if (addr >= v.end) lo = mid + 1;
      else return (this.last = v);
    }
    return undefined;
  }

  private isFree(start: number, end: number): boolean {
    for (const v of this.vmas) if (v.start < end && v.end > start) return false;
    return true;
  }

  /**
   * A free range of len bytes, top-down from `from` (MMAP_TOP; MAP_32BIT: 2 GiB) down to `floor`
   * (or at hint if it is free).
   */
  findFree(len: number, hint = 0, from = MMAP_TOP, floor = MIN_ADDR): number {
    if (hint >= floor && hint + len <= Math.min(APP_LIMIT, from === MMAP_TOP ? APP_LIMIT : from) && this.isFree(hint, hint + len)) return hint;
    let top = from;
    for (let i = this.vmas.length - 1; i >= 0; i--) {
      const v = this.vmas[i];
      if (v.start >= top) continue;
      if (v.end <= top - len) return top - len;
      top = v.start;
    }
    return top - len >= floor ? top - len : -ENOMEM;
  }

  // ---- changes ----

  private insert(v: Vma): void {
    let i = 0;
    while (i < this.vmas.length && this.vmas[i].start < v.start) i++;
    this.vmas.splice(i, 0, v);
    this.last = undefined;
  }

  /** Split so that no VMA straddles addr. */
  private splitAt(addr: number): void {
    const v = this.find(addr);
    if (!v || v.start === addr) return;
    const tail: Vma = { ...v, start: addr, off: v.off < 0 ? v.off : v.off + (addr - v.start), pgoff: v.pgoff + (addr - v.start) };
    tail.obj?.ref();
    tail.ref?.ref();
    v.end = addr;
    this.insert(tail);
  }

  /** Remove [start, end) from the list and give its pages back; the host side is the caller's. */
  private removeRange(start: number, end: number): void {
    this.splitAt(start);
    this.splitAt(end);
    const keep: Vma[] = [];
    for (const v of this.vmas) {
      if (v.start >= start && v.end <= end) this.dropVma(v);
      else keep.push(v);
    }
    this.vmas = keep;
    this.last = undefined;
  }

  /** A VMA leaves: its pages go back (private), or its share of the object (shared, written back first). */
  private dropVma(v: Vma): void {
    if (v.obj) {
      this.writeBack(v, v.start, v.end);
      if (v.fmap && v.file) fileMappings.get(fileKey(v.file.dev, v.file.ino))?.delete(v.fmap);
      v.obj.unref();
    } else if (v.off >= 0) this.file.release(v.off, v.end - v.start);
    else v.ref?.unref();
  }

  /** MAP_SHARED file mapping: its bytes in [a, b) go to the file (msync, munmap, exit). */
  writeBack(v: Vma, a: number, b: number): void {
    if (!v.obj || !v.src?.write) return;
    const size = v.src.fileSize?.() ?? Infinity;
    const from = v.pgoff + (a - v.start);
    const to = Math.min(v.pgoff + (b - v.start), size, v.pgoff + (this.accessibleEnd(v, a) - v.start));
    if (to <= from) return;
    v.src.write(v.obj.bytes.subarray(v.off + (a - v.start), v.off + (a - v.start) + (to - from)), from);
  }

  /** msync(2): write shared file pages back. */
  msync(addr: number, length: number): number {
    const end = addr + pageUp(length);
    for (let a = addr; a < end; ) {
      const v = this.find(a);
      if (!v) return -ENOMEM;
      const segEnd = Math.min(end, v.end);
      this.writeBack(v, a, segEnd);
      a = segEnd;
    }
    return 0;
  }

  /** The bytes behind a VMA. */
  mem(v: Vma): Uint8Array {
    return v.obj ? v.obj.bytes : this.file.bytes;
  }

  /**
   * Where the pages the sentry may touch end in v, from a (inside v): v.end, or for a shared file
   * mapping the end of its object (the file's end: past it the host would SIGBUS the sentry).
   * A file that grew without the object hearing of it is caught up with here.
   */
  accessibleEnd(v: Vma, a: number): number {
    if (v.off < 0) return a;
    if (!v.obj) return v.end;
    let lim = v.start + (v.obj.limit - v.off);
    if (lim <= a && v.src?.fileSize) {
      v.obj.fitFile(v.src.fileSize());
      lim = v.start + (v.obj.limit - v.off);
    }
    return Math.max(a, Math.min(v.end, lim));
  }

  /** The host side; an address space without one (before its first exec) has no mappings to make. */
  private host(): AddressSpace {
    if (this.as === undefined) throw new Error('sentry: a mapping change in an address space with no host side yet');
    return this.as;
  }

  private hostMapShared(v: Vma): number {
    return this.host().mapObject(v.start, v.end - v.start, v.prot, v.obj!, v.off);
  }

  private hostMap(start: number, len: number, prot: number, off: number): number {
    // Past a file's end: an empty memfd, whose every access the host faults with SIGBUS.
    if (off === PAST_EOF) return this.host().mapObject(start, len, prot, pastEofObject(this.ops), 0);
    // Reserved only: no access, no pages behind it.
    if (off < 0) return this.host().reserve(start, len);
    return this.host().mapMemory(start, len, prot, off);
  }

  /**
   * mmap(2) for the application. Returns the address or -errno.
   */
  mmap(addr: number, length: number, prot: number, flags: number, src?: MapSource, pgoff = 0, name = ''): number {
    if (length <= 0 || (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) && addr % PAGE !== 0)) return -EINVAL;
    const len = pageUp(length);
    if (len > APP_LIMIT) return -ENOMEM;
    prot &= PROT_READ | PROT_WRITE | PROT_EXEC;
    let start: number;
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
      if (addr < MIN_ADDR || addr + len > APP_LIMIT) return flags & MAP_FIXED ? -EINVAL : -ENOMEM;
      if (flags & MAP_FIXED_NOREPLACE && !this.isFree(addr, addr + len)) return -EEXIST;
      start = addr;
      this.removeRange(start, start + len);
    } else {
      // A hint is only a hint: rounded up to a page, as Linux's arch_get_unmapped_area does.
      addr = pageUp(addr);
      // MAP_32BIT: in the second GiB, as Linux x86-64 places it (for code that needs 32-bit addresses).
      start = flags & MAP_32BIT ? this.findFree(len, addr, 0x8000_0000, 0x4000_0000) : this.findFree(len, addr);
      if (start < 0) return start;
    }
    if (flags & MAP_SHARED) {
      if (src?.anonymous) return this.mmapShared(start, len, length, prot, undefined, 0, `${src.info.name} (deleted)`);
      return this.mmapShared(start, len, length, prot, src, pgoff, name);
    }
    // The pages of a file mapping past the file's end are no memory: an access is a SIGBUS.
    const fileSize = src?.fileSize?.();
    const dataLen = fileSize === undefined ? len : Math.min(len, Math.max(0, pageUp(fileSize) - pgoff));
    if (dataLen < len) {
      const r = this.hostMap(start + dataLen, len - dataLen, prot, PAST_EOF);
      if (r !== start + dataLen) return r < 0 ? r : -ENOMEM;
      this.insert({ start: start + dataLen, end: start + len, prot, off: PAST_EOF, shared: false, name: src!.info.name, pgoff: pgoff + dataLen, file: src!.info, src });
      if (dataLen === 0) return start;
    }
    const r = this.mapByRef(start, dataLen, prot, src, pgoff) ?? this.mapPrivate(start, dataLen, Math.min(length, dataLen), prot, src, pgoff, name);
    if (r < 0 && dataLen < len) {
      this.removeRange(start + dataLen, start + len);
      this.host().unmap(start + dataLen, len - dataLen);
    }
    return r;
  }

  /**
   * A private file mapping the application cannot write (no PROT_WRITE) maps the file's host pages
   * (file-ref.ts): start, or undefined where it cannot (no host file: tmpfs, copied up; the stub
   * could not map it), and the caller copies instead.
   */
  private mapByRef(start: number, len: number, prot: number, src: MapSource | undefined, pgoff = 0): number | undefined {
    if (!src?.hostFile || prot & PROT_WRITE || len <= 0) return undefined;
    const host = src.hostFile();
    const ref = host && FileRef.of(host);
    if (!ref) return undefined;
    if (this.host().mapFile(start, len, prot, ref, pgoff) !== start) {
      ref.unref();
      return undefined;
    }
    this.insert({ start, end: start + len, prot, off: FILE_REF, shared: false, name: src.info.name, pgoff, file: src.info, src, ref });
    mmStats.mmapSharedBytes += len;
    mmStats.mmapShares++;
    return start;
  }

  /**
   * The pages of v (off FILE_REF) become the process's own: a copy of what the file shows now, in
   * the memory file, mapped with prot. Before anything could write them (mprotect adding
   * PROT_WRITE, a debugger's poke): the file's later changes no longer show there, as a written
   * page on Linux. Pages past the file's end (it shrank since the mmap) become zeroes, not SIGBUS.
   */
  private breakRef(v: Vma, prot: number): number {
    const len = v.end - v.start;
    const off = this.file.alloc(len);
    if (off < 0) return -ENOMEM;
    v.ref!.read(this.file.bytes.subarray(off, off + len), v.pgoff);
    const r = this.hostMap(v.start, len, prot, off);
    if (r !== v.start) {
      this.file.release(off, len);
      return r < 0 ? r : -ENOMEM;
    }
    v.ref!.unref();
    v.ref = undefined;
    v.off = off;
    v.prot = prot;
    mmStats.cowBreaks++;
    mmStats.cowBreakBytes += len;
    return 0;
  }

  /** Make the by-reference pages of [addr, end) the process's own (a forced write there): false if it cannot. */
  private ownPages(addr: number, end: number): boolean {
    if (this.as === undefined) return false;
    const a = pageDown(addr);
    const b = Math.min(pageUp(end), APP_LIMIT);
    this.splitAt(a);
    this.splitAt(b);
    for (let p = a; p < b; ) {
      const v = this.find(p);
      if (!v) return false;
      if (v.off === FILE_REF && this.breakRef(v, v.prot) < 0) return false;
      p = v.end;
    }
    return true;
  }

  /** Private memory at [start, start+len): zero, or the file's bytes from pgoff (fill of them). */
  private mapPrivate(start: number, len: number, fill: number, prot: number, src: MapSource | undefined, pgoff: number, name: string): number {
    // A private anonymous reservation without access needs no pages (glibc's malloc arenas, guards).
    const reserveOnly = prot === 0 && !src;
    let off = RESERVED;
    if (!reserveOnly) {
      off = this.file.alloc(len);
      if (off < 0) return -ENOMEM;
      if (src) {
        const t0 = nowNs();
        const n = src.pread(this.file.bytes.subarray(off, off + fill), pgoff);
        mmStats.mmapCopyNs += nowNs() - t0;
        mmStats.mmapCopiedBytes += fill;
        mmStats.mmapCopies++;
        if (n < 0) {
          this.file.release(off, len);
          return n;
        }
      }
    }
    const r = this.hostMap(start, len, prot, off);
    if (r !== start) {
      if (off >= 0) this.file.release(off, len);
      return r < 0 ? r : -ENOMEM;
    }
    const v: Vma = { start, end: start + len, prot, off, shared: false, name, pgoff, ...(src ? { file: src.info, src } : {}) };
    if (src) v.name = src.info.name;
    this.insert(v);
    return start;
  }

  /**
   * A host SIGBUS at addr: if the file behind it has grown over the page since (a private page
   * past the old end, or a shared object that missed the growth), the page is there now and the
   * access is retried (true); else the fault is the application's (false).
   */
  resolveBusFault(addr: number): boolean {
    const v = this.find(addr);
    if (!v?.src?.fileSize) return false;
    const size = v.src.fileSize();
    if (v.obj) {
      const before = v.obj.limit;
      v.obj.fitFile(size);
      return v.obj.limit > before && v.off + (addr - v.start) < v.obj.limit;
    }
    if (v.off !== PAST_EOF) return false;
    const end = Math.min(v.end, v.start + Math.max(0, pageUp(size) - v.pgoff));
    if (addr >= end) return false;
    const { start, prot, src, pgoff, name } = v;
    this.removeRange(start, end);
    return this.mapPrivate(start, end - start, end - start, prot, src, pgoff, name) === start;
  }

  private mmapShared(start: number, len: number, length: number, prot: number, src: MapSource | undefined, pgoff: number, name: string): number {
    const got = src ? this.fileObject(src, pgoff, len) : this.newObject(len);
    if (typeof got === 'number') return got;
    const { obj, off } = got;
    if (src) {
      // The file's bytes of the range (after every other mapping's stores went to the file); the
      // object ends where the file does.
      flushFileMappings(fileKey(src.info.dev, src.info.ino));
      if (src.fileSize) obj.fitFile(src.fileSize());
      const n = src.pread(obj.bytes.subarray(off, Math.max(off, Math.min(off + length, off + len, obj.limit))), pgoff);
      if (n < 0) {
        obj.unref();
        return n;
      }
    }
    const v: Vma = { start, end: start + len, prot, off, shared: true, name: src ? src.info.name : name || '/dev/zero (deleted)', pgoff, obj };
    if (src) {
      v.file = src.info;
      v.src = src;
      if (!src.write) v.denyProt = PROT_WRITE;
      v.fmap = { obj, objOff: off, pgoff, len, ...(src.write ? { write: src.write, fileSize: src.fileSize } : {}) };
      const key = fileKey(src.info.dev, src.info.ino);
      let set = fileMappings.get(key);
      if (!set) fileMappings.set(key, (set = new Set()));
      set.add(v.fmap);
    }
    const r = this.hostMapShared(v);
    if (r !== start) {
      this.dropVma(v);
      return r < 0 ? r : -ENOMEM;
    }
    this.insert(v);
    return start;
  }

  /**
   * shmat(2): a shared mapping of obj (a System V segment) from its byte 0, at addr (fixed: there,
   * replacing what was mapped) or where there is room (addr a hint); denyProt: what mprotect may not
   * add (PROT_WRITE for a read-only attach). Returns the address or -errno.
   */
  mapObject(addr: number, length: number, prot: number, fixed: boolean, obj: SharedObject, name: string, denyProt = 0): number {
    if (length <= 0) return -EINVAL;
    const len = pageUp(length);
    if (len > APP_LIMIT) return -ENOMEM;
    let start: number;
    if (fixed) {
      if (addr % PAGE !== 0 || addr < MIN_ADDR || addr + len > APP_LIMIT) return -EINVAL;
      start = addr;
      this.removeRange(start, start + len);
    } else {
      start = this.findFree(len, pageUp(addr));
      if (start < 0) return start;
    }
    const v: Vma = { start, end: start + len, prot: prot & (PROT_READ | PROT_WRITE | PROT_EXEC), off: 0, shared: true, name, pgoff: 0, obj: obj.ref() };
    if (denyProt) v.denyProt = denyProt;
    const r = this.hostMapShared(v);
    if (r !== start) {
      this.dropVma(v);
      return r < 0 ? r : -ENOMEM;
    }
    this.insert(v);
    return start;
  }

  private newObject(len: number): { obj: SharedObject; off: number } | number {
    try {
      return { obj: new SharedObject(this.ops, len), off: 0 };
    } catch {
      return -ENOMEM;
    }
  }

  /** The file's shared object (offset = file offset), made on its first MAP_SHARED mapping. */
  private fileObject(src: MapSource, pgoff: number, len: number): { obj: SharedObject; off: number } | number {
    const key = fileKey(src.info.dev, src.info.ino);
    const have = fileObjects.get(key);
    if (have && have.size >= pgoff + len) return { obj: have.ref(), off: pgoff };
    // Past the file's object, or far into a file (an object spanning from offset 0 would not fit
    // in the sentry's address space): one of its own, byte 0 at pgoff.
    if (have || pgoff + len > FILE_OBJECT_MAX) {
      // Past the file's object: one of its own, byte 0 at pgoff.
      const own = this.newObject(len);
      if (typeof own !== 'number') own.obj.fileBase = pgoff;
      return own;
    }
    const size = Math.max(FILE_OBJECT_MIN, pageUp(pgoff + len));
    const got = this.newObject(size);
    if (typeof got === 'number') return got;
    fileObjects.set(key, got.obj);
    got.obj.onFree = () => {
      if (fileObjects.get(key) === got.obj) fileObjects.delete(key);
    };
    return { obj: got.obj, off: pgoff };
  }

  munmap(addr: number, length: number): number {
    if (addr % PAGE !== 0 || length <= 0 || addr < MIN_ADDR) return -EINVAL;
    const end = addr + pageUp(length);
    if (end > APP_LIMIT) return -EINVAL;
    this.removeRange(addr, end);
    const r = this.host().unmap(addr, end - addr);
    return r < 0 ? r : 0;
  }

  mprotect(addr: number, length: number, prot: number): number {
    if (addr % PAGE !== 0) return -EINVAL;
    if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | 0x01000000 | 0x02000000)) return -EINVAL;
    prot &= PROT_READ | PROT_WRITE | PROT_EXEC;
    const end = addr + pageUp(length);
    if (end > APP_LIMIT || end < addr) return -ENOMEM;
    if (length === 0) return 0;
    if (!this.splitRange(addr, end)) return -ENOMEM;
    for (const v of this.vmas) if (v.start >= addr && v.end <= end && prot & (v.denyProt ?? 0)) return -EACCES;
    for (const v of this.vmas) {
      if (v.start < addr || v.end > end) continue;
      if (v.off === FILE_REF && prot & PROT_WRITE) {
        const r = this.breakRef(v, prot);
        if (r < 0) return r;
        continue;
      }
      v.prot = prot;
      if (v.off === RESERVED) {
        if (prot === 0) continue;
        // A reservation becomes real memory: back it now.
        const off = this.file.alloc(v.end - v.start);
        if (off < 0) return -ENOMEM;
        v.off = off;
        const r = this.hostMap(v.start, v.end - v.start, prot, off);
        if (r < 0) return r;
      } else {
        const r = this.host().protect(v.start, v.end - v.start, prot);
        if (r < 0) return r;
      }
    }
    return 0;
  }

  /** madvise(MADV_DONTNEED) and friends: private anonymous pages read back as zero. */
  dontNeed(addr: number, length: number): number {
    const end = addr + pageUp(length);
    for (let a = addr; a < end; ) {
      const v = this.find(a);
      if (!v) return -ENOMEM;
      const segEnd = Math.min(end, v.end);
      if (v.off >= 0 && !v.obj) {
        this.file.zero(v.off + (a - v.start), segEnd - a);
        // A private file page comes back from the file.
        if (v.src) v.src.pread(this.file.bytes.subarray(v.off + (a - v.start), v.off + (segEnd - v.start)), v.pgoff + (a - v.start));
      }
      a = segEnd;
    }
    return 0;
  }

  mremap(oldAddr: number, oldLen: number, newLen: number, mayMove: boolean, fixedAddr?: number): number {
    if (oldAddr % PAGE !== 0 || newLen <= 0) return -EINVAL;
    oldLen = pageUp(oldLen);
    newLen = pageUp(newLen);
    // Above APP_LIMIT are the stub's page and the vDSO, the sentry's fixed layout: EINVAL, as
    // munmap answers there (Linux would move the vDSO; every stub has it at VDSO_BASE).
    if (oldAddr + oldLen > APP_LIMIT) return -EINVAL;
    const v = this.find(oldAddr);
    if (!v) return -EFAULT;
    // The old range must be mapped throughout (it may span VMAs the sentry did not merge).
    for (let a = oldAddr; a < oldAddr + oldLen; ) {
      const seg = this.find(a);
      if (!seg) return -EFAULT;
      a = seg.end;
    }
    const last = this.find(oldAddr + oldLen - 1) ?? v;
    if (fixedAddr === undefined) {
      if (newLen === oldLen) return oldAddr;
      if (newLen < oldLen) {
        const r = this.munmap(oldAddr + newLen, oldLen - newLen);
        return r < 0 ? r : oldAddr;
      }
      // Grow in place when the range after it is free.
      if (oldAddr + oldLen === last.end && oldAddr + newLen <= APP_LIMIT && this.isFree(last.end, oldAddr + newLen)) {
        const r = this.mmap(last.end, newLen - oldLen, last.prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, undefined, 0, last.name);
        return r < 0 ? r : oldAddr;
      }
      if (!mayMove) return -ENOMEM;
    }
    const dest = fixedAddr ?? this.findFree(newLen);
    if (dest < 0) return dest;
    const prot = v.prot;
    const name = v.name;
    const r = this.mmap(dest, newLen, prot === 0 ? PROT_READ : prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, undefined, 0, name);
    if (r < 0) return r;
    const nv = this.find(dest);
    if (!nv) return -ENOMEM;
    // Copy the old contents page range by page range (the old range may span several VMAs).
    for (let a = oldAddr; a < oldAddr + Math.min(oldLen, newLen); ) {
      const ov = this.find(a);
      if (!ov) break;
      const segEnd = Math.min(ov.end, oldAddr + Math.min(oldLen, newLen));
      if (ov.off === FILE_REF) {
        ov.ref!.read(this.mem(nv).subarray(nv.off + (a - oldAddr), nv.off + (segEnd - oldAddr)), ov.pgoff + (a - ov.start));
        a = segEnd;
        continue;
      }
      const copyEnd = Math.min(segEnd, this.accessibleEnd(ov, a));
      if (copyEnd > a) this.mem(nv).set(this.mem(ov).subarray(ov.off + (a - ov.start), ov.off + (copyEnd - ov.start)), nv.off + (a - oldAddr));
      a = segEnd;
    }
    if (prot === 0) this.mprotect(dest, newLen, 0);
    this.munmap(oldAddr, oldLen);
    return dest;
  }

  /** brk(2): returns the (possibly unchanged) break. */
  brk(addr: number): number {
    if (addr < this.brkStart) return this.brkCur;
    const oldTop = pageUp(this.brkCur);
    const newTop = pageUp(addr);
    if (newTop > oldTop) {
      if (!this.isFree(oldTop, newTop)) return this.brkCur;
      const r = this.mmap(oldTop, newTop - oldTop, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, undefined, 0, '[heap]');
      if (r < 0) return this.brkCur;
    } else if (newTop < oldTop) {
      this.munmap(newTop, oldTop - newTop);
    }
    this.brkCur = addr;
    return addr;
  }

  /** Map every VMA of this address space into a fresh stub (after fork). */
  mirrorInto(): number {
    for (const v of this.vmas) {
      const r = v.obj
        ? this.hostMapShared(v)
        : v.ref
          ? this.host().mapFile(v.start, v.end - v.start, v.prot, v.ref, v.pgoff)
          : this.hostMap(v.start, v.end - v.start, v.prot, v.off);
      if (r !== v.start) return r < 0 ? r : -ENOMEM;
    }
    return 0;
  }

  /**
   * prctl(PR_SET_VMA_ANON_NAME): anonymous memory in [addr, addr+len) shows as [anon:name] in
   * /proc/pid/maps ([anon_shmem:name] if shared); name undefined removes it. The heap and the stack
   * keep their names, as Linux shows them first. ENOMEM if part of the range is not mapped, EBADF
   * if part of it maps a file (nothing is changed then).
   */
  setAnonName(addr: number, len: number, name: string | undefined): number {
    const end = addr + pageUp(len);
    if (end < addr || end > APP_LIMIT) return -EINVAL;
    if (end === addr) return 0;
    if (!this.splitRange(addr, end)) return -ENOMEM;
    const inRange = this.vmas.filter((v) => v.start >= addr && v.end <= end);
    if (inRange.some((v) => v.src)) return -EBADF;
    for (const v of inRange) {
      if (v.name === '[heap]' || v.name === '[stack]') continue;
      if (v.shared) v.name = name === undefined ? '/dev/zero (deleted)' : `[anon_shmem:${name}]`;
      else v.name = name === undefined ? '' : `[anon:${name}]`;
    }
    return 0;
  }

  /** MADV_DONTFORK/MADV_DOFORK over [addr, addr+len): ENOMEM if part of it is not mapped. */
  setDontFork(addr: number, len: number, on: boolean): number {
    const end = addr + pageUp(len);
    if (!this.splitRange(addr, end)) return -ENOMEM;
    for (const v of this.vmas) if (v.start >= addr && v.end <= end) v.dontFork = on;
    return 0;
  }

  /** If every page of [addr, end) is mapped, split the VMAs at both ends (so whole VMAs cover it); false if a page is not. */
  private splitRange(addr: number, end: number): boolean {
    for (let a = addr; a < end; ) {
      const v = this.find(a);
      if (!v) return false;
      a = v.end;
    }
    this.splitAt(addr);
    this.splitAt(end);
    return true;
  }

  /** A copy of this address space (fork): same layout, its own pages. The stub is the caller's. */
  fork(): MemoryManager {
    const child = new MemoryManager(this.ops);
    for (const v of this.vmas) {
      if (v.dontFork) continue;
      const nv: Vma = { ...v };
      if (v.obj) {
        // Shared: the same object, not a copy.
        v.obj.ref();
        nv.src = v.src;
        // The child's mapping follows the file too (writes, truncation) and writes back to it.
        if (v.fmap && v.file) {
          nv.fmap = { ...v.fmap };
          fileMappings.get(fileKey(v.file.dev, v.file.ino))?.add(nv.fmap);
        }
      } else if (v.ref) {
        // By reference: the file's pages, not a copy (each side copies what it comes to write).
        v.ref.ref();
      } else if (v.off >= 0) {
        const len = v.end - v.start;
        nv.off = child.file.alloc(len);
        if (nv.off < 0) throw new Error('memory file full');
        const t0 = nowNs();
        child.file.copyFrom(this.file, v.off, nv.off, len);
        mmStats.forkCopyNs += nowNs() - t0;
        mmStats.forkCopiedBytes += len;
      }
      child.vmas.push(nv);
    }
    mmStats.forks++;
    child.brkStart = this.brkStart;
    child.brkCur = this.brkCur;
    return child;
  }

  // ---- application memory access (copyin / copyout) ----

  /**
   * Every read of application memory at or above APP_LIMIT comes here: the bytes of [vdso] from a
   * up to end (or its end), a copy of the image the stubs have (platform/vdso.ts; nothing done
   * with the copy reaches it), or null. The rest up there reads as unmapped: [vvar] and
   * [vvar_vclock] (the host's time data, of which the sentry keeps no copy), the stub's page. No
   * write goes there: the callers that write stop at APP_LIMIT (Linux would copy the page on write).
   */
  private vdsoBytes(a: number, end: number): Uint8Array | null {
    for (const m of this.vdso) {
      const b = m.bytes;
      if (b && a >= m.start && a < m.start + b.length && end > a) return b.slice(a - m.start, Math.min(b.length, end - m.start));
    }
    return null;
  }

  /** The bytes of [a, end) of a by-reference VMA, as its pages show them (short where they would fault). */
  private refBytes(v: Vma, a: number, end: number): Uint8Array {
    const b = new Uint8Array(end - a);
    return b.subarray(0, v.ref!.read(b, v.pgoff + (a - v.start)));
  }

  /** Memory-file offset of addr if [addr, addr+len) lies in one backed private VMA with the access wanted. */
  private offsetOf(addr: number, len: number, write: boolean): number {
    const v = this.find(addr);
    if (!v || v.off < 0 || v.obj || addr + len > v.end) return -1;
    if (write ? !(v.prot & PROT_WRITE) : v.prot === 0) return -1;
    return v.off + (addr - v.start);
  }

  /**
   * Views of application memory for [addr, addr+len): one subarray per VMA crossed, no copy.
   * null if any part is unmapped or lacks the access.
   */
  views(addr: number, len: number, write: boolean): Uint8Array[] | null {
    const out: Uint8Array[] = [];
    let a = addr;
    const end = addr + len;
    if (len === 0) return out;
    if (addr < 0) return null;
    if (addr >= APP_LIMIT) {
      const b = write ? null : this.vdsoBytes(addr, end);
      return b && b.length === len ? [b] : null;
    }
    if (end > APP_LIMIT) return null;
    let budget = REF_READ_MAX;
    while (a < end) {
      const v = this.find(a);
      if (v?.off === FILE_REF && !write && v.prot !== 0) {
        const segEnd = Math.min(end, v.end);
        if ((budget -= segEnd - a) < 0) return null;
        const b = this.refBytes(v, a, segEnd);
        if (b.length < segEnd - a) return null;
        out.push(b);
        a = segEnd;
        continue;
      }
      if (!v || v.off < 0 || (write ? !(v.prot & PROT_WRITE) : v.prot === 0)) return null;
      const segEnd = Math.min(end, this.accessibleEnd(v, a));
      if (segEnd <= a) return null;
      const off = v.off + (a - v.start);
      out.push(this.mem(v).subarray(off, off + (segEnd - a)));
      a = segEnd;
    }
    return out;
  }

  /**
   * Views of the accessible start of [addr, addr+len) (read/write copy up to a fault and return
   * what they did, as Linux's copy_to/from_user); null if not even its first byte is accessible.
   */
  prefixViews(addr: number, len: number, write: boolean): Uint8Array[] | null {
    const out: Uint8Array[] = [];
    if (len === 0) return out;
    if (addr < 0) return null;
    if (addr >= APP_LIMIT) {
      const b = write ? null : this.vdsoBytes(addr, addr + len);
      return b ? [b] : null;
    }
    const end = Math.min(addr + len, APP_LIMIT);
    let budget = REF_READ_MAX;
    for (let a = addr; a < end; ) {
      const v = this.find(a);
      if (v?.off === FILE_REF && !write && v.prot !== 0) {
        const segEnd = Math.min(end, v.end, a + budget);
        if (segEnd <= a) break;
        budget -= segEnd - a;
        const b = this.refBytes(v, a, segEnd);
        if (b.length > 0) out.push(b);
        if (b.length < segEnd - a) break;
        a = segEnd;
        continue;
      }
      if (!v || v.off < 0 || (write ? !(v.prot & PROT_WRITE) : v.prot === 0)) break;
      const segEnd = Math.min(end, this.accessibleEnd(v, a));
      if (segEnd <= a) break;
      const off = v.off + (a - v.start);
      out.push(this.mem(v).subarray(off, off + (segEnd - a)));
      a = segEnd;
    }
    return out.length > 0 ? out : null;
  }

  /** Copy application memory out; null on EFAULT. */
  read(addr: number, len: number): Uint8Array | null {
    const off = this.offsetOf(addr, len, false);
    if (off >= 0) return this.file.bytes.slice(off, off + len);
    const vs = this.views(addr, len, false);
    if (!vs) return null;
    const out = new Uint8Array(len);
    let p = 0;
    for (const v of vs) {
      out.set(v, p);
      p += v.length;
    }
    return out;
  }

  /** Copy into application memory; false on EFAULT. `force` writes read-only pages (the loader). */
  write(addr: number, src: Uint8Array, force = false): boolean {
    if (src.length === 0) return true;
    const off = force ? -1 : this.offsetOf(addr, src.length, true);
    if (off >= 0) {
      this.file.bytes.set(src, off);
      return true;
    }
    let a = addr;
    let p = 0;
    while (p < src.length) {
      const v = this.find(a);
      if (force && v?.off === FILE_REF) {
        if (!this.ownPages(a, a + (src.length - p))) return false;
        continue;
      }
      if (!v || v.off < 0 || (!force && !(v.prot & PROT_WRITE))) return false;
      const n = Math.min(src.length - p, this.accessibleEnd(v, a) - a);
      if (n <= 0) return false;
      this.mem(v).set(src.subarray(p, p + n), v.off + (a - v.start));
      p += n;
      a += n;
    }
    return true;
  }

  /**
   * Another process's access, as /proc/pid/mem makes it (ptrace's FOLL_FORCE): copies between buf
   * and [addr, addr+buf.length) whatever the pages' protection, except that a shared mapping is
   * written only where it is writable, and [vdso] is read (its kept bytes) but never written, where
   * Linux would give the process a copy of the page to write; stops at the first page that is not
   * there (unmapped, a reservation, past a file's end, [vvar]). Returns the bytes copied.
   */
  forceAccess(addr: number, buf: Uint8Array, write: boolean): number {
    let done = 0;
    while (done < buf.length && !this.destroyed) {
      const a = addr + done;
      if (a < 0) break;
      if (a >= APP_LIMIT) {
        const b = write ? null : this.vdsoBytes(a, addr + buf.length);
        if (!b) break;
        buf.set(b, done);
        done += b.length;
        continue;
      }
      const v = this.find(a);
      if (v?.off === FILE_REF) {
        const end = Math.min(v.end, a + (buf.length - done));
        if (write) {
          // A write there makes those pages the process's own first (with a stopped thread to remap them).
          if (!this.ownPages(a, end)) break;
          continue;
        }
        const n = v.ref!.read(buf.subarray(done, done + (end - a)), v.pgoff + (a - v.start));
        done += n;
        if (n < end - a) break;
        continue;
      }
      if (!v || v.off < 0 || (write && v.obj && !(v.prot & PROT_WRITE))) break;
      const end = Math.min(this.accessibleEnd(v, a), a + (buf.length - done));
      if (end <= a) break;
      const off = v.off + (a - v.start);
      if (write) this.mem(v).set(buf.subarray(done, done + (end - a)), off);
      else buf.set(this.mem(v).subarray(off, off + (end - a)), done);
      done += end - a;
    }
    return done;
  }

  /** One byte of application memory (any access but none), -1 if unmapped: for instruction checks. */
  byteAt(addr: number): number {
    if (addr >= APP_LIMIT) return this.vdsoBytes(addr, addr + 1)?.[0] ?? -1;
    const v = this.find(addr);
    if (v?.off === FILE_REF && v.prot !== 0) {
      const b = this.refBytes(v, addr, addr + 1);
      return b.length === 1 ? b[0] : -1;
    }
    if (!v || v.off < 0 || v.prot === 0 || this.accessibleEnd(v, addr) <= addr) return -1;
    return this.mem(v)[v.off + (addr - v.start)];
  }

  readU32(addr: number): number | null {
    const off = this.offsetOf(addr, 4, false);
    if (off >= 0) return this.file.view.getUint32(off, true);
    const b = this.read(addr, 4);
    return b ? new DataView(b.buffer).getUint32(0, true) : null;
  }

  readI32(addr: number): number | null {
    const v = this.readU32(addr);
    return v === null ? null : v | 0;
  }

  /** Unsigned 64-bit as a number (exact below 2^53). */
  readU64(addr: number): number | null {
    const off = this.offsetOf(addr, 8, false);
    if (off >= 0) return this.file.view.getUint32(off + 4, true) * 0x1_0000_0000 + this.file.view.getUint32(off, true);
    const b = this.read(addr, 8);
    if (!b) return null;
    const dv = new DataView(b.buffer);
    return dv.getUint32(4, true) * 0x1_0000_0000 + dv.getUint32(0, true);
  }

  /** Signed 64-bit as a number. */
  readI64(addr: number): number | null {
    const off = this.offsetOf(addr, 8, false);
    if (off >= 0) return this.file.view.getInt32(off + 4, true) * 0x1_0000_0000 + this.file.view.getUint32(off, true);
    const b = this.read(addr, 8);
    if (!b) return null;
    const dv = new DataView(b.buffer);
    return dv.getInt32(4, true) * 0x1_0000_0000 + dv.getUint32(0, true);
  }

  writeU32(addr: number, v: number): boolean {
    const off = this.offsetOf(addr, 4, true);
    if (off >= 0) {
      this.file.view.setUint32(off, v >>> 0, true);
      return true;
    }
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    return this.write(addr, b);
  }

  /**
   * Atomic compare-and-exchange of the aligned u32 at addr (a lock cmpxchg on the shared memory:
   * the application's other threads change futex words concurrently). The value found (the
   * exchange happened if it equals expected), or null if addr is unaligned, unmapped or read-only.
   */
  cmpxchgU32(addr: number, expected: number, value: number): number | null {
    if (addr % 4 !== 0) return null;
    const v = this.find(addr);
    if (!v || v.off < 0 || !(v.prot & PROT_WRITE) || addr + 4 > v.end) return null;
    const mem = this.mem(v);
    const word = new Int32Array(mem.buffer, mem.byteOffset + v.off + (addr - v.start), 1);
    return Atomics.compareExchange(word, 0, expected | 0, value | 0) >>> 0;
  }

  writeU64(addr: number, v: number): boolean {
    const b = new Uint8Array(8);
    const dv = new DataView(b.buffer);
    if (v < 0) dv.setBigInt64(0, BigInt(Math.trunc(v)), true);
    else {
      dv.setUint32(0, v % 0x1_0000_0000, true);
      dv.setUint32(4, Math.floor(v / 0x1_0000_0000), true);
    }
    return this.write(addr, b);
  }

  /** A NUL-terminated string of at most max bytes (NUL excluded); null on EFAULT, undefined if too long. */
  readCString(addr: number, max = 4096): string | null | undefined {
    const bytes = this.readCBytes(addr, max);
    if (bytes === null || bytes === undefined) return bytes;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  }

  /** As readCString, the raw bytes. */
  readCBytes(addr: number, max = 4096): Uint8Array | null | undefined {
    let a = addr;
    const chunks: Uint8Array[] = [];
    let total = 0;
    while (total <= max) {
      let seg: Uint8Array;
      if (a >= APP_LIMIT) {
        const b = this.vdsoBytes(a, a + (max + 1 - total));
        if (!b) return null;
        seg = b;
      } else {
        const v = this.find(a);
        if (v?.off === FILE_REF && v.prot !== 0) {
          // A page at a time: a string is short, the mapping may be large.
          seg = this.refBytes(v, a, Math.min(v.end, pageDown(a) + PAGE, a + (max + 1 - total)));
          if (seg.length === 0) return null;
        } else {
          if (!v || v.off < 0 || v.prot === 0 || this.accessibleEnd(v, a) <= a) return null;
          const off = v.off + (a - v.start);
          const avail = Math.min(this.accessibleEnd(v, a) - a, max + 1 - total);
          seg = this.mem(v).subarray(off, off + avail);
        }
      }
      const nul = seg.indexOf(0);
      if (nul >= 0) {
        chunks.push(seg.subarray(0, nul));
        total += nul;
        break;
      }
      chunks.push(seg);
      total += seg.length;
      a += seg.length;
      if (total > max) return undefined;
    }
    if (total > max) return undefined;
    if (chunks.length === 1) return chunks[0].slice();
    const out = new Uint8Array(total);
    let p = 0;
    for (const c of chunks) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  }

  /** Total mapped and resident-ish sizes, for /proc. */
  sizes(): { vsize: number; rss: number } {
    let vsize = 0;
    for (const v of this.vmas) vsize += v.end - v.start;
    return { vsize, rss: this.file.allocated };
  }
}

export { pageDown, pageUp };
