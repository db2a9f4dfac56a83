// Syscall numbers per architecture, from the generated tables (syscalls.ts).

import type { SupportedArch } from './constants';
import { SYSCALLS_I386, SYSCALLS_X32, SYSCALLS_X86_64 } from '../../abi/syscalls';

const TABLES: Record<SupportedArch, Readonly<Record<string, number>>> = {
  SCMP_ARCH_X86_64: SYSCALLS_X86_64,
  SCMP_ARCH_X86: SYSCALLS_I386,
  SCMP_ARCH_X32: SYSCALLS_X32,
};

/** The syscall's number on arch, or undefined if arch has no such syscall. */
export function syscallNumber(arch: SupportedArch, name: string): number | undefined {
  const table = TABLES[arch];
  return Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
}

export function knownOnAnyArch(name: string): boolean {
  return (Object.keys(TABLES) as SupportedArch[]).some((a) => syscallNumber(a, name) !== undefined);
}
