// Shared memory objects: the pages behind MAP_SHARED mappings, which several address spaces
// (after fork) and the file they map must see alike. Each object is a memfd of its own, mapped
// into the sentry and, by fd, into every stub that maps it.

import * as fs from 'node:fs';
import { PAGE } from './layout';
import type { MemoryOps } from './memory-file';

let objectIds = 0;

function pageUpTo(n: number): number {
  return Math.ceil(n / PAGE) * PAGE;
}

export class SharedObject {
  /** Identity for shared futex keys. */
  readonly id = ++objectIds;
  readonly fd: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  refs = 1;
  /**
   * Bytes of the object that have pages: the memfd's length rounded up to a page. A file's object
   * is cut to the file's size (truncate), so that the stubs' accesses past it fault with SIGBUS on
   * the host, as Linux's do; the sentry's own mapping of it must not reach past this either (a
   * SIGBUS in the sentry is fatal), so every access through `bytes` is bounded by it.
   */
  limit: number;
  /** File offset of the object's byte 0 (a file-backed object); 0 for anonymous memory. */
  fileBase = 0;

  constructor(ops: MemoryOps, readonly size: number) {
    this.fd = ops.memfdCreate('moat-sentry-shared', size);
    const ab = ops.mapShared(this.fd, Math.max(size, PAGE));
    this.bytes = new Uint8Array(ab, 0, size);
    this.view = new DataView(ab, 0, size);
    this.limit = size;
  }

  /**
   * The file it mirrors is now fileSize bytes long: the object ends there too (the tail of the
   * last page zeroed, later pages gone; growing again brings zero pages), as truncate does to the
   * page cache.
   */
  fitFile(fileSize: number): void {
    const len = Math.max(0, Math.min(this.size, fileSize - this.fileBase));
    const limit = Math.min(this.size, pageUpTo(len));
    if (len === this.limit && limit === this.limit) return;
    try {
      fs.ftruncateSync(this.fd, len);
      this.limit = limit;
    } catch {
      /* the object stays as it was: accesses past the file keep working rather than fault */
    }
  }

  /** Called when the last reference goes (the per-file registry forgets it). */
  onFree: (() => void) | undefined;

  ref(): this {
    this.refs++;
    return this;
  }

  unref(): void {
    if (--this.refs > 0) return;
    this.onFree?.();
    try {
      fs.closeSync(this.fd);
    } catch {
      /* closed */
    }
  }
}

/** A MAP_SHARED mapping of a file: its bytes at pgoff follow the file's writes. */
export interface FileMapping {
  obj: SharedObject;
  objOff: number;
  pgoff: number;
  len: number;
  /** Writes the mapping's bytes back to the file (absent: the file was opened read-only). */
  write?(src: Uint8Array, pos: number): number;
  fileSize?(): number;
}

/**
 * Before the file is read: what the application wrote through its shared mappings goes to the file
 * (on Linux both are the same page cache; here the mapping holds its own copy).
 */
export function flushFileMappings(key: string): void {
  const maps = fileMappings.get(key);
  if (!maps) return;
  for (const m of maps) {
    if (!m.write) continue;
    const end = Math.min(m.pgoff + m.len, m.fileSize?.() ?? m.pgoff + m.len, m.pgoff + m.obj.limit - m.objOff);
    if (end > m.pgoff) m.write(m.obj.bytes.subarray(m.objOff, m.objOff + (end - m.pgoff)), m.pgoff);
  }
}

/**
 * The one shared object per file that its MAP_SHARED mappings use, object offset = file offset, so
 * that processes mapping the same file (shm_open, sem_open) see each other's stores at once, as the
 * page cache makes them on Linux. Sized FILE_OBJECT_MIN at least (sparse: only touched pages cost);
 * a mapping reaching past it gets an object of its own, coherent through write-back only.
 */
export const fileObjects = new Map<string, SharedObject>();
export const FILE_OBJECT_MIN = 64 << 20;

/** Live shared mappings per file (dev:ino), so a write(2) to the file shows in them. */
export const fileMappings = new Map<string, Set<FileMapping>>();

export function fileKey(dev: number, ino: number | bigint): string {
  return `${dev}:${ino}`;
}

/** A write of src at pos went to the file: copy it into every shared mapping of it. */
export function syncFileWrite(key: string, src: Uint8Array[], pos: number): void {
  const maps = fileMappings.get(key);
  if (!maps) return;
  let p = pos;
  for (const chunk of src) {
    for (const m of maps) {
      const lo = Math.max(p, m.pgoff);
      const hi = Math.min(p + chunk.length, m.pgoff + m.len, m.pgoff + m.obj.limit - m.objOff);
      if (lo < hi) m.obj.bytes.set(chunk.subarray(lo - p, hi - p), m.objOff + (lo - m.pgoff));
    }
    p += chunk.length;
  }
}

/** The file's size changed (write past its end, truncate, fallocate): its shared objects follow. */
export function fileResized(key: string, size: number): void {
  const maps = fileMappings.get(key);
  if (!maps) return;
  for (const m of maps) m.obj.fitFile(size);
}
