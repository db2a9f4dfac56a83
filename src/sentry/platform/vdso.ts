// The vDSO the application gets (docs/sentry.md, "The vDSO"): the host kernel's own, with its data
// pages ([vvar], [vvar_vclock]), which every stub moves at start-up to VDSO_BASE, above the stub's
// page and outside the application's addresses (native/sentry/stub.c). Its clock_gettime,
// gettimeofday, time and clock_getres read the host's clocks from the host's read-only data page,
// the very clocks the sentry's own clock syscalls answer from (kernel/host-clock.ts), so both paths
// give the same values. Two of its functions would say what the sentry does not, and are changed
// once in the template stub, before any stub is forked from it (each fork then shares the patched,
// read-only copy):
//  - getcpu: the host CPU the stub runs on (the sentry pins it to one) is not the sentry's CPU
//    numbering (getcpu(2) says CPU 0, node 0; sched_getaffinity a machine of its own): its code
//    becomes "store 0 where asked, return 0";
//  - getrandom: it needs state the kernel hands out through getrandom(2) calls the sentry does not
//    implement: the symbol is hidden (glibc and musl then call getrandom(2)).
// The patched image is kept: the sentry's reads of application memory in [vdso] (write(2) of it,
// /proc/pid/mem, PTRACE_PEEKTEXT) are served from it (mm/mm.ts); nothing the sentry does writes it.

import * as fs from 'node:fs';
import { VDSO_BASE, VDSO_SPAN } from '../mm/layout';

/** One of the host's special mappings as /proc/<pid>/maps shows it. */
export interface VdsoMapping {
  start: number;
  end: number;
  /** PROT_* bits. */
  prot: number;
  name: string;
  /**
   * [vdso] only: its bytes as every stub has them (patched, read back once from the template), which
   * the sentry's reads of application memory there return (mm/mm.ts vdsoBytes). The sentry never
   * writes them (nor the stub's pages); the data pages have none: the sentry cannot read them.
   */
  bytes?: Uint8Array;
}

export interface Vdso {
  /** AT_SYSINFO_EHDR: the [vdso] mapping's start (its ELF header). */
  base: number;
  /** [vvar], [vvar_vclock], [vdso], in address order. */
  mappings: readonly VdsoMapping[];
}

const LINE = /^([0-9a-f]+)-([0-9a-f]+) ([r-])([w-])([x-])[ps] [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ \d+\s+(\[vvar[a-z_]*\]|\[vdso\])$/;

/** The vDSO's mappings in a maps text, or an error naming what is wrong with them. */
export function parseVdsoMappings(maps: string): VdsoMapping[] | string {
  const out: VdsoMapping[] = [];
  for (const line of maps.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const start = parseInt(m[1]!, 16);
    const end = parseInt(m[2]!, 16);
    const prot = (m[3] === 'r' ? 1 : 0) | (m[4] === 'w' ? 2 : 0) | (m[5] === 'x' ? 4 : 0);
    if (prot & 2) return `${m[6]} is writable`;
    if (start < VDSO_BASE || end > VDSO_BASE + VDSO_SPAN || end <= start) {
      return `${m[6]} at ${m[1]}-${m[2]}, not inside ${VDSO_BASE.toString(16)}+${VDSO_SPAN.toString(16)} (the stub did not move it)`;
    }
    out.push({ start, end, prot, name: m[6]! });
  }
  if (out.filter((v) => v.name === '[vdso]').length !== 1) return 'no [vdso] mapping (or more than one)';
  return out.sort((a, b) => a.start - b.start);
}

/** getcpu(cpu, node, cache): `if (cpu) *cpu = 0; if (node) *node = 0; return 0;` (x86-64, 25 bytes). */
const GETCPU_ZERO = Uint8Array.from([
  0x48, 0x85, 0xff, // test %rdi,%rdi
  0x74, 0x06, //       je 1f
  0xc7, 0x07, 0, 0, 0, 0, // movl $0,(%rdi)
  0x48, 0x85, 0xf6, // 1: test %rsi,%rsi
  0x74, 0x06, //       je 2f
  0xc7, 0x06, 0, 0, 0, 0, // movl $0,(%rsi)
  0x31, 0xc0, //       2: xor %eax,%eax
  0xc3, //             ret
]);

const HIDDEN = new Set(['__vdso_getrandom', 'getrandom']);
const GETCPU = new Set(['__vdso_getcpu', 'getcpu']);
const SHT_DYNSYM = 11;
const SYM_SIZE = 24;

export interface Patch {
  /** Offset in the image. */
  offset: number;
  bytes: Uint8Array;
}

/**
 * The changes to the host's vDSO image (its bytes from the [vdso] mapping): getcpu's code replaced,
 * getrandom's symbols hidden (st_shndx and st_value zero: glibc's and musl's lookups skip them). An
 * error if the image is not the ELF expected or getcpu is too short to replace (then no vDSO is given).
 */
export function vdsoPatches(image: Uint8Array): Patch[] | string {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const n = image.byteLength;
  if (n < 64 || dv.getUint32(0, false) !== 0x7f454c46 || image[4] !== 2 || image[5] !== 1 || dv.getUint16(18, true) !== 62) {
    return 'not an x86-64 ELF64 image';
  }
  const shoff = Number(dv.getBigUint64(40, true));
  const shentsize = dv.getUint16(58, true);
  const shnum = dv.getUint16(60, true);
  if (shentsize !== 64 || shoff + shnum * 64 > n) return 'section headers outside the image';
  const section = (i: number) => ({
    type: dv.getUint32(shoff + i * 64 + 4, true),
    addr: Number(dv.getBigUint64(shoff + i * 64 + 16, true)),
    offset: Number(dv.getBigUint64(shoff + i * 64 + 24, true)),
    size: Number(dv.getBigUint64(shoff + i * 64 + 32, true)),
    link: dv.getUint32(shoff + i * 64 + 40, true),
  });
  const patches: Patch[] = [];
  let getcpu = -1;
  let found = 0;
  for (let i = 0; i < shnum; i++) {
    const sym = section(i);
    if (sym.type !== SHT_DYNSYM) continue;
    if (sym.link >= shnum) return 'dynsym without a string table';
    const str = section(sym.link);
    if (sym.offset + sym.size > n || str.offset + str.size > n) return 'dynsym outside the image';
    for (let off = sym.offset; off + SYM_SIZE <= sym.offset + sym.size; off += SYM_SIZE) {
      const nameOff = dv.getUint32(off, true);
      if (nameOff >= str.size) return 'a symbol name outside the string table';
      const end = image.indexOf(0, str.offset + nameOff);
      if (end < 0 || end >= str.offset + str.size) return 'an unterminated symbol name';
      const name = Buffer.from(image.subarray(str.offset + nameOff, end)).toString('latin1');
      if (HIDDEN.has(name)) {
        patches.push({ offset: off + 6, bytes: new Uint8Array(2) }, { offset: off + 8, bytes: new Uint8Array(8) });
      } else if (GETCPU.has(name)) {
        const value = Number(dv.getBigUint64(off + 8, true));
        const size = Number(dv.getBigUint64(off + 16, true));
        // The image is linked at 0: a symbol's value is its offset in the image.
        if (size < GETCPU_ZERO.length || value + GETCPU_ZERO.length > n) return `getcpu (${size} bytes) cannot be replaced`;
        if (getcpu >= 0 && getcpu !== value) return 'two getcpu functions';
        getcpu = value;
        found++;
      }
    }
  }
  if (found === 0) return 'no getcpu symbol';
  patches.push({ offset: getcpu, bytes: GETCPU_ZERO });
  return patches;
}

/**
 * Find the vDSO in the stopped stub pid (the template, before any fork and before the sentry gives
 * up its privileges) and patch it there through /proc/<pid>/mem, whose forced write makes the stub
 * a private copy of the read-only page (PTRACE_POKEDATA is refused: a stub that changed its uid
 * before PTRACE_TRACEME is not dumpable, and its tracer credentials are its own). The vDSO to
 * offer, or an error saying why none is (the application then makes its clock calls as syscalls).
 */
export function prepareVdso(pid: number): Vdso | string {
  const mappings = parseVdsoMappings(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
  if (typeof mappings === 'string') return mappings;
  const vdso = mappings.find((v) => v.name === '[vdso]')!;
  const image = new Uint8Array(vdso.end - vdso.start);
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r+');
  try {
    if (fs.readSync(fd, image, 0, image.length, vdso.start) !== image.length) return 'short read of [vdso]';
    const patches = vdsoPatches(image);
    if (typeof patches === 'string') return patches;
    for (const p of patches) {
      if (fs.writeSync(fd, p.bytes, 0, p.bytes.length, vdso.start + p.offset) !== p.bytes.length) {
        return `short write to [vdso] at +${p.offset.toString(16)}`;
      }
    }
    // The patched image, as the application's reads through the sentry will see it.
    if (fs.readSync(fd, image, 0, image.length, vdso.start) !== image.length) return 'short read of the patched [vdso]';
  } finally {
    fs.closeSync(fd);
  }
  return { base: vdso.start, mappings: mappings.map((m) => (m === vdso ? { ...m, bytes: image } : m)) };
}
