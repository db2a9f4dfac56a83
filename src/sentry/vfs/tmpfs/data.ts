// A regular file's bytes in memory (tmpfs, the overlay's upper layer): one growable buffer.
// Its owner is told of every change, for mtime and for the file system's space accounting.

import { EFBIG, EINVAL, ENOSPC } from '../../abi/errno';
import type { FileData } from '../inode';

/** The largest in-memory file (what one typed array can hold comfortably). */
const MAX_FILE = 2 ** 32;
const EMPTY = new Uint8Array(0);

export interface DataOwner {
  /** The bytes changed (mtime and ctime). */
  modified(): void;
  /** Ask for delta more bytes of the file system's space (negative: give back); false: ENOSPC. */
  reserve(delta: number): boolean;
}

export class MemData implements FileData {
  private buf: Uint8Array = EMPTY;
  private len = 0;

  constructor(private readonly owner: DataOwner) {}

  size(): number {
    return this.len;
  }

  /** The file's bytes (for copies: link targets, exec of an in-memory file). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  read(dst: Uint8Array[], pos: number): number {
    let p = pos;
    let total = 0;
    for (const d of dst) {
      if (p >= this.len) break;
      const n = Math.min(d.length, this.len - p);
      d.set(this.buf.subarray(p, p + n));
      p += n;
      total += n;
      if (n < d.length) break;
    }
    return total;
  }

  pread(dst: Uint8Array, pos: number): number {
    return this.read([dst], pos);
  }

  write(src: Uint8Array[], pos: number): number {
    let want = 0;
    for (const s of src) want += s.length;
    if (want === 0) return 0;
    if (pos + want > MAX_FILE) return -EFBIG;
    const r = this.grow(pos + want);
    if (r < 0) return r;
    let p = pos;
    for (const s of src) {
      this.buf.set(s, p);
      p += s.length;
    }
    this.owner.modified();
    return want;
  }

  truncate(size: number): number {
    if (size < 0) return -EINVAL;
    if (size > MAX_FILE) return -EFBIG;
    if (size > this.len) {
      const r = this.grow(size);
      if (r < 0) return r;
    } else {
      // Bytes past the end must read back as zeros if the file grows again.
      this.buf.fill(0, size, this.len);
      this.owner.reserve(size - this.len);
      this.len = size;
    }
    this.owner.modified();
    return 0;
  }

  /** Replace the contents (copy-up). */
  fill(bytes: Uint8Array): number {
    const r = this.grow(bytes.length);
    if (r < 0) return r;
    this.buf.set(bytes);
    return 0;
  }

  release(): void {}

  /** Make the file at least size bytes long (zero-filled), capacity doubling. */
  private grow(size: number): number {
    if (size <= this.len) return 0;
    if (!this.owner.reserve(size - this.len)) return -ENOSPC;
    if (size > this.buf.length) {
      const cap = Math.min(MAX_FILE, Math.max(size, this.buf.length * 2, 256));
      const nb = new Uint8Array(cap);
      nb.set(this.buf.subarray(0, this.len));
      this.buf = nb;
    }
    this.len = size;
    return 0;
  }
}
