// Loading a program into a fresh address space, as Linux's binfmt_elf does: the executable's
// PT_LOAD segments (at their addresses, or at PIE_BASE for a position-independent one), the
// interpreter (ld.so, PT_INTERP) if it has one, then the initial stack: argument and environment
// strings, AT_RANDOM bytes, the auxiliary vector, envp, argv, argc.

import { randomFillSync } from 'node:crypto';
import { E2BIG, ENOEXEC, ENOMEM } from '../abi/errno';
import { PAGE, PIE_BASE, STACK_SIZE, STACK_TOP, pageDown, pageUp } from '../mm/layout';
import { MAP_FIXED, MAP_PRIVATE, MAP_ANONYMOUS, PROT_EXEC, PROT_READ, PROT_WRITE, type MapSource, type MemoryManager } from '../mm/mm';
import { ET_DYN, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR, parseElf, type ElfHeader } from './elf';

/** A file the loader reads: the executable or its interpreter. */
export interface ExecSource extends MapSource {
  size: number;
}

export interface LoadRequest {
  mm: MemoryManager;
  /** A stopped thread of mm's stub. */
  tid: number;
  file: ExecSource;
  argv: Uint8Array[];
  envp: Uint8Array[];
  /** The path given to execve (AT_EXECFN). */
  execfn: Uint8Array;
  /** Opens the interpreter named by PT_INTERP. */
  openInterp(path: string): ExecSource | number;
  creds: { uid: number; euid: number; gid: number; egid: number };
  /** AT_SECURE: the exec raised privileges (set-ID file, or capabilities gained). */
  secure?: boolean;
}

export interface LoadResult {
  entry: number;
  sp: number;
  /** For /proc/pid/auxv and friends. */
  auxv: Array<[number, number]>;
  argStart: number;
  argEnd: number;
  envStart: number;
  envEnd: number;
}

const AT = {
  NULL: 0, PHDR: 3, PHENT: 4, PHNUM: 5, PAGESZ: 6, BASE: 7, FLAGS: 8, ENTRY: 9, UID: 11, EUID: 12,
  GID: 13, EGID: 14, PLATFORM: 15, HWCAP: 16, CLKTCK: 17, SECURE: 23, RANDOM: 25, HWCAP2: 26, EXECFN: 31,
} as const;

const MAX_ARG_BYTES = 2 * 1024 * 1024;

function protOf(flags: number): number {
  return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) | (flags & PF_X ? PROT_EXEC : 0);
}

interface Loaded {
  base: number;
  entry: number;
  phdrAddr: number;
  end: number;
}

function loadSegments(req: LoadRequest, src: ExecSource, elf: ElfHeader, base: number): Loaded | number {
  const { mm, tid } = req;
  let end = 0;
  let phdrAddr = 0;
  let firstLoad = true;
  for (const ph of elf.phdrs) {
    if (ph.type === PT_PHDR) phdrAddr = base + ph.vaddr;
    if (ph.type !== PT_LOAD || ph.memsz === 0) continue;
    if (firstLoad && !phdrAddr && elf.phoff >= ph.offset && elf.phoff < ph.offset + ph.filesz) {
      phdrAddr = base + ph.vaddr + (elf.phoff - ph.offset);
    }
    firstLoad = false;
    const segStart = pageDown(base + ph.vaddr);
    const segEnd = pageUp(base + ph.vaddr + ph.memsz);
    const prot = protOf(ph.flags);
    const r = mm.mmap(tid, segStart, segEnd - segStart, prot === 0 ? PROT_READ : prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, undefined, 0, src.info.name);
    if (r < 0) return r;
    const v = mm.find(segStart);
    if (v) {
      v.file = src.info;
      v.pgoff = pageDown(ph.offset);
    }
    if (ph.filesz > 0) {
      const off = mm.find(base + ph.vaddr);
      if (!off) return -ENOMEM;
      const dst = mm.file.bytes.subarray(off.off + (base + ph.vaddr - off.start), off.off + (base + ph.vaddr - off.start) + ph.filesz);
      if (src.pread(dst, ph.offset) !== ph.filesz) return -ENOEXEC;
    }
    if (prot === 0) mm.mprotect(tid, segStart, segEnd - segStart, 0);
    end = Math.max(end, segEnd);
  }
  if (end === 0) return -ENOEXEC;
  return { base, entry: base + elf.entry, phdrAddr, end };
}

function interpPath(src: ExecSource, elf: ElfHeader): string | number | undefined {
  const ph = elf.phdrs.find((p) => p.type === PT_INTERP);
  if (!ph) return undefined;
  if (ph.filesz < 2 || ph.filesz > 4096) return -ENOEXEC;
  const b = new Uint8Array(ph.filesz);
  if (src.pread(b, ph.offset) !== ph.filesz) return -ENOEXEC;
  const nul = b.indexOf(0);
  return Buffer.from(b.subarray(0, nul < 0 ? b.length : nul)).toString('latin1');
}

/** Base for an ET_DYN image of this span: PIE_BASE for the program, a free range for ld.so. */
function dynBase(req: LoadRequest, elf: ElfHeader, forInterp: boolean): number {
  if (!forInterp) return PIE_BASE;
  let lo = Infinity;
  let hi = 0;
  for (const ph of elf.phdrs) {
    if (ph.type !== PT_LOAD) continue;
    lo = Math.min(lo, pageDown(ph.vaddr));
    hi = Math.max(hi, pageUp(ph.vaddr + ph.memsz));
  }
  const at = req.mm.findFree(hi - lo);
  return at < 0 ? at : at - lo;
}

export function loadProgram(req: LoadRequest): LoadResult | number {
  const { mm, tid } = req;
  const elf = parseElf((d, p) => req.file.pread(d, p));
  if (typeof elf === 'number') return elf;
  const interp = interpPath(req.file, elf);
  if (typeof interp === 'number') return interp;
  const main = loadSegments(req, req.file, elf, elf.type === ET_DYN ? dynBase(req, elf, false) : 0);
  if (typeof main === 'number') return main;
  mm.brkStart = mm.brkCur = main.end;

  let entry = main.entry;
  let interpBase = 0;
  if (interp !== undefined) {
    const isrc = req.openInterp(interp);
    if (typeof isrc === 'number') return isrc;
    const ielf = parseElf((d, p) => isrc.pread(d, p));
    if (typeof ielf === 'number') return ielf;
    if (ielf.type !== ET_DYN) return -ENOEXEC;
    const base = dynBase(req, ielf, true);
    if (base < 0) return base;
    const il = loadSegments(req, isrc, ielf, base);
    if (typeof il === 'number') return il;
    entry = il.entry;
    interpBase = il.base;
  }

  // The stack.
  const stackLow = STACK_TOP - STACK_SIZE;
  const sr = mm.mmap(tid, stackLow, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, undefined, 0, '[stack]');
  if (sr < 0) return sr;
  let total = req.execfn.length + 1;
  for (const s of req.argv) total += s.length + 1;
  for (const s of req.envp) total += s.length + 1;
  if (total > MAX_ARG_BYTES) return -E2BIG;

  let sp = STACK_TOP;
  const push = (bytes: Uint8Array): number => {
    sp -= bytes.length + 1;
    mm.write(sp, bytes);
    mm.write(sp + bytes.length, new Uint8Array(1));
    return sp;
  };
  const execfnAddr = push(req.execfn);
  const envEnd = sp;
  const envPtrs: number[] = new Array<number>(req.envp.length);
  for (let i = req.envp.length - 1; i >= 0; i--) envPtrs[i] = push(req.envp[i]);
  const envStart = sp;
  const argEnd = sp;
  const argPtrs: number[] = new Array<number>(req.argv.length);
  for (let i = req.argv.length - 1; i >= 0; i--) argPtrs[i] = push(req.argv[i]);
  const argStart = sp;
  const platform = push(Buffer.from('x86_64'));
  sp -= 16;
  const random = sp;
  mm.write(random, randomFillSync(new Uint8Array(16)));
  sp -= sp % 16;

  const auxv: Array<[number, number]> = [
    [AT.PHDR, main.phdrAddr],
    [AT.PHENT, 56],
    [AT.PHNUM, elf.phnum],
    [AT.PAGESZ, PAGE],
    [AT.BASE, interpBase],
    [AT.FLAGS, 0],
    [AT.ENTRY, main.entry],
    [AT.UID, req.creds.uid],
    [AT.EUID, req.creds.euid],
    [AT.GID, req.creds.gid],
    [AT.EGID, req.creds.egid],
    [AT.SECURE, req.secure ? 1 : 0],
    [AT.RANDOM, random],
    [AT.HWCAP, 0x178bfbff],
    [AT.HWCAP2, 0],
    [AT.CLKTCK, 100],
    [AT.PLATFORM, platform],
    [AT.EXECFN, execfnAddr],
    [AT.NULL, 0],
  ];
  const words = 1 + argPtrs.length + 1 + envPtrs.length + 1 + auxv.length * 2;
  sp -= words * 8;
  sp -= sp % 16;
  const table = new DataView(new ArrayBuffer(words * 8));
  let w = 0;
  const put = (v: number) => {
    table.setUint32(w * 8, v % 0x1_0000_0000, true);
    table.setUint32(w * 8 + 4, Math.floor(v / 0x1_0000_0000), true);
    w++;
  };
  put(argPtrs.length);
  for (const p of argPtrs) put(p);
  put(0);
  for (const p of envPtrs) put(p);
  put(0);
  for (const [k, v] of auxv) {
    put(k);
    put(v);
  }
  if (!mm.write(sp, new Uint8Array(table.buffer))) return -ENOMEM;
  return { entry, sp, auxv, argStart, argEnd, envStart, envEnd };
}
