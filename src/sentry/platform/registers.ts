// x86-64 general registers (struct user_regs_struct) in a buffer shared with the native layer:
// no allocation per syscall, numbers instead of BigInts. Addresses and results fit in 53 bits.

/** Indexes of struct user_regs_struct's 27 u64 fields. */
export const REG = {
  r15: 0, r14: 1, r13: 2, r12: 3, rbp: 4, rbx: 5, r11: 6, r10: 7, r9: 8, r8: 9, rax: 10, rcx: 11,
  rdx: 12, rsi: 13, rdi: 14, orig_rax: 15, rip: 16, cs: 17, eflags: 18, rsp: 19, ss: 20,
  fs_base: 21, gs_base: 22, ds: 23, es: 24, fs: 25, gs: 26,
} as const;
export const NREGS = 27;
export const REGS_BYTES = NREGS * 8;

const TWO32 = 0x1_0000_0000;

export class Registers {
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  constructor(readonly buffer: Uint8Array = new Uint8Array(REGS_BYTES)) {
    this.u32 = new Uint32Array(buffer.buffer, buffer.byteOffset, NREGS * 2);
    this.i32 = new Int32Array(buffer.buffer, buffer.byteOffset, NREGS * 2);
  }
  /** Unsigned value (exact below 2^53). */
  get(r: number): number {
    return this.u32[r * 2 + 1] * TWO32 + this.u32[r * 2];
  }
  /** Signed 64-bit value (exact within ±2^53). */
  getSigned(r: number): number {
    return this.i32[r * 2 + 1] * TWO32 + this.u32[r * 2];
  }
  /** Set from a number in (-2^53, 2^64): negatives become two's complement. */
  set(r: number, v: number): void {
    if (v < 0) {
      const lo = v % TWO32;
      this.u32[r * 2] = lo === 0 ? 0 : lo + TWO32;
      this.i32[r * 2 + 1] = Math.floor(v / TWO32);
    } else {
      this.u32[r * 2] = v % TWO32;
      this.u32[r * 2 + 1] = Math.floor(v / TWO32);
    }
  }
  copyFrom(other: Registers): void {
    this.buffer.set(other.buffer);
  }
  clone(): Registers {
    return new Registers(Uint8Array.from(this.buffer));
  }
}
