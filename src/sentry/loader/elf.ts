// ELF64 headers: only what loading an x86-64 executable needs. Every field is checked before use;
// the file is the application's and may be hostile.

import { ENOEXEC } from '../abi/errno';

export const ET_EXEC = 2;
export const ET_DYN = 3;
export const PT_LOAD = 1;
export const PT_INTERP = 3;
export const PT_PHDR = 6;
export const PT_GNU_STACK = 0x6474e551;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

export interface ElfHeader {
  /** The header is an ELF one, for x86-64 (an interpreter that is not: ELIBBAD). */
  type: number;
  entry: number;
  phoff: number;
  phnum: number;
  phdrs: ProgramHeader[];
}

const MAX_PHNUM = 128;

function u64(dv: DataView, off: number): number {
  const hi = dv.getUint32(off + 4, true);
  if (hi >= 0x200000) return -1; // beyond 2^53: not a sane value for a user address or size
  return hi * 0x1_0000_0000 + dv.getUint32(off, true);
}

/**
 * Parse the ELF header and program headers; -ENOEXEC if it is not a loadable x86-64 ELF (for an
 * interpreter, `badArch` instead when the header is not an x86-64 ELF's: Linux's ELIBBAD). The
 * PT_LOAD fields are not judged here: Linux finds a bad one only while mapping it (loader.ts).
 */
export function parseElf(read: (dst: Uint8Array, pos: number) => number, badArch = -ENOEXEC): ElfHeader | number {
  const eh = new Uint8Array(64);
  if (read(eh, 0) !== 64) return -ENOEXEC;
  if (eh[0] !== 0x7f || eh[1] !== 0x45 || eh[2] !== 0x4c || eh[3] !== 0x46) return badArch;
  if (eh[4] !== 2 || eh[5] !== 1) return badArch; // ELFCLASS64, little-endian
  const dv = new DataView(eh.buffer);
  const type = dv.getUint16(16, true);
  const machine = dv.getUint16(18, true);
  if (machine !== 62) return badArch;
  if (type !== ET_EXEC && type !== ET_DYN) return -ENOEXEC;
  const entry = u64(dv, 24);
  const phoff = u64(dv, 32);
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  if (entry < 0 || phoff < 0 || phentsize !== 56 || phnum === 0 || phnum > MAX_PHNUM) return -ENOEXEC;
  const ph = new Uint8Array(56 * phnum);
  if (read(ph, phoff) !== ph.length) return -ENOEXEC;
  const pv = new DataView(ph.buffer);
  const phdrs: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * 56;
    const h: ProgramHeader = {
      type: pv.getUint32(o, true),
      flags: pv.getUint32(o + 4, true),
      // -1: beyond 2^53 (no sane user address or size; the loader refuses the segment).
      offset: u64(pv, o + 8),
      vaddr: u64(pv, o + 16),
      filesz: u64(pv, o + 32),
      memsz: u64(pv, o + 40),
    };
    phdrs.push(h);
  }
  return { type, entry, phoff, phnum, phdrs };
}
