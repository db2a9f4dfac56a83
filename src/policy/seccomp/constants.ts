// Kernel and libseccomp numbers for seccomp filters (include/uapi/linux/seccomp.h, audit.h,
// filter.h), and the OCI names that map onto them.

/** SECCOMP_RET_* base values; ERRNO and TRACE carry 16 bits of data (SECCOMP_RET_DATA). */
export const RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;
export const RET_DATA_MASK = 0xffff;

/** OCI action name → what it does. SCMP_ACT_KILL is libseccomp's KILL_THREAD, as in runc. */
export const ACTIONS = {
  SCMP_ACT_KILL: 'KILL_THREAD',
  SCMP_ACT_KILL_THREAD: 'KILL_THREAD',
  SCMP_ACT_KILL_PROCESS: 'KILL_PROCESS',
  SCMP_ACT_TRAP: 'TRAP',
  SCMP_ACT_ERRNO: 'ERRNO',
  SCMP_ACT_TRACE: 'TRACE',
  SCMP_ACT_ALLOW: 'ALLOW',
  SCMP_ACT_LOG: 'LOG',
  SCMP_ACT_NOTIFY: 'USER_NOTIF',
} as const satisfies Record<string, keyof typeof RET>;
export type ActionName = keyof typeof ACTIONS;

export const OPERATORS = [
  'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ',
] as const;
export type Operator = (typeof OPERATORS)[number];

/** The architectures moat has syscall tables for (those this x86_64 kernel can run). */
export const SUPPORTED_ARCHES = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] as const;
export type SupportedArch = (typeof SUPPORTED_ARCHES)[number];

/**
 * Architectures libseccomp knows but this machine cannot run: accepted (a multi-arch profile lists
 * them) and ignored; their syscalls could only reach the filter with an arch it kills anyway.
 */
export const FOREIGN_ARCHES = [
  'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_LOONGARCH64', 'SCMP_ARCH_M68K', 'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X',
  'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_SH', 'SCMP_ARCH_SHEB',
] as const;

export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const X32_SYSCALL_BIT = 0x40000000;

/** SECCOMP_FILTER_FLAG_*. NEW_LISTENER and TSYNC_ESRCH are set by moat, never by a profile. */
export const FILTER_FLAGS = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
} as const;
export const FLAG_NEW_LISTENER = 8;
export const FLAG_TSYNC_ESRCH = 16;

export const ERRNO = { EPERM: 1, ENOSYS: 38 } as const;
/** The kernel clamps a filter's errno to MAX_ERRNO; a larger errnoRet is refused instead. */
export const MAX_ERRNO = 4095;

/** Classic BPF opcodes used by the compiler (include/uapi/linux/filter.h). */
export const BPF = {
  LD_W_ABS: 0x20,
  ALU_AND_K: 0x54,
  JA: 0x05,
  JEQ_K: 0x15,
  JGT_K: 0x25,
  JGE_K: 0x35,
  JSET_K: 0x45,
  RET_K: 0x06,
} as const;
export const BPF_MAXINSNS = 4096;
/** Offsets into struct seccomp_data (little-endian: an argument's low word first). */
export const DATA = { NR: 0, ARCH: 4, ARGS: 16 } as const;
