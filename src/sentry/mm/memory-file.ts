// The memory behind one address space: a memfd the sentry owns, mapped into the sentry (so it
// reads and writes application memory with plain typed-array access, no syscall) and, range by
// range, into the stub (MAP_SHARED|MAP_FIXED of fd 3). Ranges are handed out first-fit; freed
// ranges are punched out so their pages go back to the host.

import { MEMORY_FILE_SIZE, PAGE } from './layout';

export interface MemoryOps {
  memfdCreate(name: string, size: number): number;
  mapShared(fd: number, size: number): ArrayBuffer;
  punchHole(fd: number, offset: number, length: number): void;
  copyData(src: number, dst: number, srcOff: number, dstOff: number, length: number): void;
}

export class MemoryFile {
  readonly fd: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** Free ranges [off, len], sorted by offset, never adjacent. */
  private free: Array<[number, number]> = [[0, MEMORY_FILE_SIZE]];
  private used = 0;

  constructor(readonly ops: MemoryOps, readonly size: number = MEMORY_FILE_SIZE) {
    this.fd = ops.memfdCreate('moat-sentry-memory', size);
    const ab = ops.mapShared(this.fd, size);
    this.bytes = new Uint8Array(ab);
    this.view = new DataView(ab);
    this.free = [[0, size]];
  }

  /** Bytes handed out (for /proc/meminfo and limits). */
  get allocated(): number {
    return this.used;
  }

  /** A zeroed, page-aligned range of len bytes; -1 if the file is full. */
  alloc(len: number): number {
    for (let i = 0; i < this.free.length; i++) {
      const [off, flen] = this.free[i];
      if (flen < len) continue;
      if (flen === len) this.free.splice(i, 1);
      else this.free[i] = [off + len, flen - len];
      this.used += len;
      return off;
    }
    return -1;
  }

  release(off: number, len: number): void {
    if (len <= 0) return;
    this.ops.punchHole(this.fd, off, len);
    this.used -= len;
    let i = 0;
    while (i < this.free.length && this.free[i][0] < off) i++;
    this.free.splice(i, 0, [off, len]);
    // Merge with neighbours.
    if (i + 1 < this.free.length && this.free[i][0] + this.free[i][1] === this.free[i + 1][0]) {
      this.free[i][1] += this.free[i + 1][1];
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1][0] + this.free[i - 1][1] === this.free[i][0]) {
      this.free[i - 1][1] += this.free[i][1];
      this.free.splice(i, 1);
    }
  }

  /** Zero a range in place (MADV_DONTNEED on private memory). */
  zero(off: number, len: number): void {
    if (len > 0) this.ops.punchHole(this.fd, off, len);
  }

  /** Copy a range from another memory file (fork), holes staying holes. */
  copyFrom(src: MemoryFile, srcOff: number, dstOff: number, len: number): void {
    this.ops.copyData(src.fd, this.fd, srcOff, dstOff, len);
  }

  static readonly PAGE = PAGE;
}
