// A classic-BPF interpreter for seccomp filters, for tests: it runs a program on a seccomp_data
// {nr, arch, instruction_pointer, args[6]} and returns the 32-bit action, checking on the way what
// the kernel's checker would refuse (bad opcode, jump out of range, load outside seccomp_data,
// falling off the end). (test/helpers/bpf.ts is the eBPF one, for cgroup device programs.)

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  args?: (bigint | number)[];
}

export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;

/** The executor's wire form (code jt jf k, flattened) back to instructions. */
export function fromWords(words: readonly number[]): Insn[] {
  const out: Insn[] = [];
  for (let i = 0; i < words.length; i += 4) out.push({ code: words[i]!, jt: words[i + 1]!, jf: words[i + 2]!, k: words[i + 3]! });
  return out;
}

function dataBuffer(d: SeccompData): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(d.nr >>> 0, 0);
  b.writeUInt32LE(d.arch >>> 0, 4);
  b.writeBigUInt64LE(d.instructionPointer ?? 0n, 8);
  (d.args ?? []).forEach((a, i) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + 8 * i));
  return b;
}

/** What the kernel's seccomp checker verifies before running anything. */
export function checkProgram(prog: readonly Insn[]): void {
  if (prog.length === 0 || prog.length > 4096) throw new Error(`program length ${prog.length}`);
  prog.forEach((ins, pc) => {
    if (ins.jt > 255 || ins.jf > 255 || ins.jt < 0 || ins.jf < 0) throw new Error(`pc ${pc}: 8-bit jump offsets ${ins.jt}/${ins.jf}`);
    if ((ins.code & 0x07) === 0x05) {
      const far = ins.code === 0x05 ? pc + 1 + ins.k : pc + 1 + Math.max(ins.jt, ins.jf);
      if (far >= prog.length) throw new Error(`pc ${pc}: jump past the end`);
    }
  });
  const last = prog[prog.length - 1]!;
  if ((last.code & 0x07) !== 0x06) throw new Error('the last instruction is not a return');
}

function alu(code: number, a: number, k: number): number {
  switch (code & 0xf0) {
    case 0x50: return (a & k) >>> 0;
    case 0x40: return (a | k) >>> 0;
    case 0x00: return (a + k) >>> 0;
    case 0x10: return (a - k) >>> 0;
    default: throw new Error(`unsupported ALU op 0x${code.toString(16)}`);
  }
}

function jumpTaken(code: number, a: number, k: number): boolean {
  switch (code & 0xf0) {
    case 0x10: return a === k;
    case 0x20: return a > k;
    case 0x30: return a >= k;
    case 0x40: return (a & k) !== 0;
    default: throw new Error(`unsupported jump 0x${code.toString(16)}`);
  }
}

/** Run the filter; returns the action (SECCOMP_RET_*, data included) as an unsigned 32-bit number. */
export function runFilter(prog: readonly Insn[], d: SeccompData): number {
  checkProgram(prog);
  const data = dataBuffer(d);
  let a = 0;
  let pc = 0;
  for (let steps = 0; steps <= prog.length; steps++) {
    const ins = prog[pc];
    if (!ins) throw new Error(`fell off the program at ${pc}`);
    const k = ins.k >>> 0;
    switch (ins.code & 0x07) {
      case 0x00: // LD
        if (ins.code !== 0x20 || k % 4 !== 0 || k > 60) throw new Error(`pc ${pc}: bad load 0x${ins.code.toString(16)} ${k}`);
        a = data.readUInt32LE(k);
        pc++;
        break;
      case 0x04: // ALU, K operand only
        if (ins.code & 0x08) throw new Error(`pc ${pc}: ALU with X`);
        a = alu(ins.code, a, k);
        pc++;
        break;
      case 0x05: // JMP
        if (ins.code === 0x05) pc += 1 + k;
        else if (ins.code & 0x08) throw new Error(`pc ${pc}: jump with X`);
        else pc += 1 + (jumpTaken(ins.code, a, k) ? ins.jt : ins.jf);
        break;
      case 0x06: // RET
        if (ins.code !== 0x06) throw new Error(`pc ${pc}: ret of A`);
        return k;
      default:
        throw new Error(`pc ${pc}: unsupported opcode 0x${ins.code.toString(16)}`);
    }
  }
  throw new Error('loop: a classic BPF program can only jump forward');
}
