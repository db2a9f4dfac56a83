// A tiny classic-BPF assembler: instructions with symbolic jump targets, resolved to offsets.
// Conditional jumps have 8-bit offsets (0..255, forward only); `ja` has 32 bits. The compiler lays
// the program out so that no conditional jump needs more than 255; a violation here is a bug and
// throws rather than producing a wrong filter.

import { BPF } from './constants';

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A jump target; NEXT means "the following instruction" (offset 0). */
export type Label = { readonly name: string };
export const NEXT = null;
export type Target = Label | typeof NEXT;

type Item =
  | { kind: 'insn'; code: number; k: number; jt: Target; jf: Target }
  | { kind: 'label'; label: Label };

export class Assembler {
  private readonly items: Item[] = [];
  private count = 0;

  /** Instructions emitted so far. */
  get length(): number {
    return this.count;
  }

  label(name = 'L'): Label {
    return { name };
  }

  place(label: Label): void {
    this.items.push({ kind: 'label', label });
  }

  private insn(code: number, k: number, jt: Target = NEXT, jf: Target = NEXT): void {
    this.items.push({ kind: 'insn', code, k: k >>> 0, jt, jf });
    this.count++;
  }

  /** A = 32-bit word of seccomp_data at offset. */
  load(offset: number): void {
    this.insn(BPF.LD_W_ABS, offset);
  }

  and(mask: number): void {
    this.insn(BPF.ALU_AND_K, mask);
  }

  /** Conditional jump (JEQ, JGT, JGE, JSET with constant k). */
  jump(code: number, k: number, ifTrue: Target, ifFalse: Target): void {
    this.insn(code, k, ifTrue, ifFalse);
  }

  /** Unconditional jump: 32-bit offset, used for long distances. */
  ja(target: Label): void {
    this.insn(BPF.JA, 0, target, NEXT);
  }

  ret(value: number): void {
    this.insn(BPF.RET_K, value);
  }

  /** Append another assembler's code (labels are objects, so they stay distinct). */
  append(other: Assembler): void {
    this.items.push(...other.items);
    this.count += other.count;
  }

  assemble(): Insn[] {
    const where = new Map<Label, number>();
    let pc = 0;
    for (const it of this.items) {
      if (it.kind === 'label') where.set(it.label, pc);
      else pc++;
    }
    const out: Insn[] = [];
    for (const it of this.items) {
      if (it.kind === 'label') continue;
      const offset = (t: Target, max: number): number => {
        if (t === NEXT) return 0;
        const to = where.get(t);
        if (to === undefined) throw new Error(`seccomp assembler: label ${t.name} never placed`);
        const off = to - (out.length + 1);
        if (off < 0 || off > max) throw new Error(`seccomp assembler: jump to ${t.name} of ${off} at ${out.length}`);
        return off;
      };
      if (it.code === BPF.JA) out.push({ code: it.code, jt: 0, jf: 0, k: offset(it.jt, 0xffffffff) });
      else out.push({ code: it.code, jt: offset(it.jt, 255), jf: offset(it.jf, 255), k: it.k });
    }
    return out;
  }
}
