// The cgroup v2 device filter: a BPF_PROG_TYPE_CGROUP_DEVICE program compiled from the emulated
// device state (devices.ts), as runc's devicefilter does. Pure; loading it is the addon's job.
//
// The kernel calls it with struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; },
// access_type = (access << 16) | type, type BPF_DEVCG_DEV_BLOCK 1 / CHAR 2, access MKNOD 1 /
// READ 2 / WRITE 4. It returns 1 to allow, 0 to deny (EPERM).
//
//   r2 = type, r3 = access, r4 = major, r5 = minor
//   for each exception:  if it matches → return its verdict      (one block, jumps to the next)
//   return the default

import { ALL_ACCESS, type DeviceException, type DeviceState } from './devices';

export const DEV_TYPE = { b: 1, c: 2 } as const;

export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

// Opcodes (linux/bpf_common.h, linux/bpf.h).
export const OP = {
  LDX_MEM_W: 0x61, // BPF_LDX | BPF_MEM | BPF_W
  ALU32_AND_K: 0x54, // BPF_ALU | BPF_AND | BPF_K
  ALU32_RSH_K: 0x74,
  ALU32_MOV_X: 0xbc,
  ALU64_MOV_K: 0xb7,
  JMP_JEQ_K: 0x15,
  JMP_JNE_K: 0x55,
  JMP_JNE_X: 0x5d,
  JMP_JA: 0x05,
  EXIT: 0x95,
} as const;

const R0 = 0;
const R1 = 1;
const R2 = 2;
const R3 = 3;
const R4 = 4;
const R5 = 5;

const insn = (code: number, dst: number, src: number, off: number, imm: number): BpfInsn => ({ code, dst, src, off, imm });

function prologue(): BpfInsn[] {
  return [
    insn(OP.LDX_MEM_W, R2, R1, 0, 0),
    insn(OP.ALU32_AND_K, R2, 0, 0, 0xffff),
    insn(OP.LDX_MEM_W, R3, R1, 0, 0),
    insn(OP.ALU32_RSH_K, R3, 0, 0, 16),
    insn(OP.LDX_MEM_W, R4, R1, 4, 0),
    insn(OP.LDX_MEM_W, R5, R1, 8, 0),
  ];
}

function verdict(allow: boolean): BpfInsn[] {
  return [insn(OP.ALU64_MOV_K, R0, 0, 0, allow ? 1 : 0), insn(OP.EXIT, 0, 0, 0, 0)];
}

/**
 * One exception as a block whose tests jump past its end when they fail. Default-deny: the
 * request's access must lie within the grant; default-allow: any overlap with the denial matches.
 */
function exceptionBlock(e: DeviceException, defaultAllow: boolean): BpfInsn[] {
  const tests: ((skip: number) => BpfInsn)[] = [(s) => insn(OP.JMP_JNE_K, R2, 0, s, DEV_TYPE[e.type])];
  if (e.access !== ALL_ACCESS) {
    tests.push(() => insn(OP.ALU32_MOV_X, R1, R3, 0, 0));
    tests.push(() => insn(OP.ALU32_AND_K, R1, 0, 0, e.access));
    tests.push(defaultAllow ? (s) => insn(OP.JMP_JEQ_K, R1, 0, s, 0) : (s) => insn(OP.JMP_JNE_X, R1, R3, s, 0));
  }
  if (e.major !== -1) tests.push((s) => insn(OP.JMP_JNE_K, R4, 0, s, e.major));
  if (e.minor !== -1) tests.push((s) => insn(OP.JMP_JNE_K, R5, 0, s, e.minor));
  const total = tests.length + 2;
  const out = tests.map((t, i) => t(total - i - 1));
  return [...out, ...verdict(!defaultAllow)];
}

export function deviceProgram(state: DeviceState): BpfInsn[] {
  const out = prologue();
  for (const e of state.exceptions) out.push(...exceptionBlock(e, state.defaultAllow));
  out.push(...verdict(state.defaultAllow));
  return out;
}

/** struct bpf_insn, little-endian: code u8, dst:4 | src:4 u8, off s16, imm s32. */
export function encodeProgram(prog: readonly BpfInsn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    buf.writeUInt8(p.code, i * 8);
    buf.writeUInt8((p.src << 4) | p.dst, i * 8 + 1);
    buf.writeInt16LE(p.off, i * 8 + 2);
    buf.writeInt32LE(p.imm, i * 8 + 4);
  });
  return buf;
}

export const DEVICE_PROGRAM_LICENSE = 'Apache-2.0';
