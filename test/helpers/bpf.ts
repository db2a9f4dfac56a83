// A tiny eBPF interpreter for tests: runs a cgroup device program (encoded struct bpf_insn) on a
// bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; } and returns r0. It knows the ALU,
// ALU64, JMP, JMP32 and LDX classes; memory is the context only (r1 at entry). Anything else throws,
// as the kernel's verifier would refuse it.

const MASK64 = (1n << 64n) - 1n;
const MASK32 = (1n << 32n) - 1n;

function signed(v: bigint, bits: number): bigint {
  return BigInt.asIntN(bits, v);
}

interface Decoded {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

function decode(buf: Buffer, i: number): Decoded {
  const regs = buf.readUInt8(i * 8 + 1);
  return { code: buf.readUInt8(i * 8), dst: regs & 0xf, src: regs >> 4, off: buf.readInt16LE(i * 8 + 2), imm: buf.readInt32LE(i * 8 + 4) };
}

function alu(op: number, a: bigint, b: bigint, bits: 32 | 64): bigint {
  const mask = bits === 32 ? MASK32 : MASK64;
  const sh = b & BigInt(bits - 1);
  switch (op) {
    case 0x00: return (a + b) & mask;
    case 0x10: return (a - b) & mask;
    case 0x20: return (a * b) & mask;
    case 0x30: return b === 0n ? 0n : (a / b) & mask;
    case 0x40: return (a | b) & mask;
    case 0x50: return a & b & mask;
    case 0x60: return (a << sh) & mask;
    case 0x70: return (a & mask) >> sh;
    case 0x80: return -a & mask;
    case 0x90: return b === 0n ? a : a % b;
    case 0xa0: return (a ^ b) & mask;
    case 0xb0: return b & mask;
    case 0xc0: return BigInt.asUintN(bits, signed(a, bits) >> sh);
    default: throw new Error(`bpf: unknown ALU op 0x${op.toString(16)}`);
  }
}

function jump(op: number, a: bigint, b: bigint, bits: 32 | 64): boolean {
  const [ua, ub] = bits === 32 ? [a & MASK32, b & MASK32] : [a, b];
  const [sa, sb] = [signed(ua, bits), signed(ub, bits)];
  switch (op) {
    case 0x10: return ua === ub;
    case 0x20: return ua > ub;
    case 0x30: return ua >= ub;
    case 0x40: return (ua & ub) !== 0n;
    case 0x50: return ua !== ub;
    case 0x60: return sa > sb;
    case 0x70: return sa >= sb;
    case 0xa0: return ua < ub;
    case 0xb0: return ua <= ub;
    case 0xc0: return sa < sb;
    case 0xd0: return sa <= sb;
    default: throw new Error(`bpf: unknown JMP op 0x${op.toString(16)}`);
  }
}

const SIZE_BYTES: Record<number, number> = { 0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8 };

/** Run the program; ctx fields as the kernel passes them. Returns r0 (1 allow, 0 deny). */
export function runDeviceProgram(prog: Buffer, ctx: { accessType: number; major: number; minor: number }): number {
  const mem = Buffer.alloc(12);
  mem.writeUInt32LE(ctx.accessType >>> 0, 0);
  mem.writeUInt32LE(ctx.major >>> 0, 4);
  mem.writeUInt32LE(ctx.minor >>> 0, 8);
  const regs: bigint[] = new Array(11).fill(0n);
  let ctxReg: number | undefined = 1; // which register still holds the context pointer
  const n = prog.length / 8;
  let pc = 0;
  for (let steps = 0; steps < 100_000; steps++) {
    if (pc < 0 || pc >= n) throw new Error(`bpf: pc ${pc} out of the program`);
    const d = decode(prog, pc);
    const cls = d.code & 0x07;
    const op = d.code & 0xf0;
    const srcIsReg = (d.code & 0x08) !== 0;
    pc++;
    if (cls === 0x04 || cls === 0x07) {
      const bits = cls === 0x04 ? 32 : 64;
      const b = srcIsReg ? regs[d.src]! : BigInt.asUintN(64, BigInt(d.imm));
      regs[d.dst] = alu(op, regs[d.dst]!, b, bits);
      if (ctxReg === d.dst) ctxReg = undefined;
    } else if (cls === 0x05 || cls === 0x06) {
      if (d.code === 0x95) return Number(regs[0]! & MASK32);
      if (d.code === 0x05) {
        pc += d.off;
        continue;
      }
      const b = srcIsReg ? regs[d.src]! : BigInt.asUintN(64, BigInt(d.imm));
      if (jump(op, regs[d.dst]!, b, cls === 0x06 ? 32 : 64)) pc += d.off;
    } else if (cls === 0x01 && (d.code & 0xe0) === 0x60) {
      if (d.src !== ctxReg) throw new Error('bpf: load from something that is not the context');
      const size = SIZE_BYTES[d.code & 0x18]!;
      if (d.off < 0 || d.off + size > 12) throw new Error(`bpf: context access out of bounds at ${d.off}`);
      regs[d.dst] = size === 8 ? mem.readBigUInt64LE(d.off) : BigInt(mem.readUIntLE(d.off, size));
      if (ctxReg === d.dst) ctxReg = undefined;
    } else {
      throw new Error(`bpf: unsupported opcode 0x${d.code.toString(16)}`);
    }
  }
  throw new Error('bpf: program did not terminate');
}

/** BPF_DEVCG_* encoding of a request. */
export function devAccessType(type: 'c' | 'b', access: number): number {
  return (access << 16) | (type === 'b' ? 1 : 2);
}
