// Loading a program into a fresh address space, as Linux's binfmt_elf does: the executable's
// PT_LOAD segments (at their addresses, or at PIE_BASE for a position-independent one), the
// interpreter (ld.so, PT_INTERP) if it has one, then the initial stack: argument and environment
// strings, AT_RANDOM bytes, the auxiliary vector, envp, argv, argc.
//
// Errors come in two kinds, as in Linux: those found before the point of no return (not an ELF, a
// bad interpreter path or header) are execve's result; those found while mapping (a PT_LOAD Linux
// cannot map, no room for the stack) come after it, when the old program is already gone: the
// exec succeeds and the process dies of SIGSEGV (LoadFatal).

import { E2BIG, EACCES, EINVAL, ELIBBAD, ENOEXEC, ENOMEM } from '../abi/errno';
import { randomFill } from '../random';
import { APP_LIMIT, PAGE, PIE_BASE, STACK_SIZE, STACK_TOP, pageDown, pageUp } from '../mm/layout';
import { mmStats } from '../mm/stats';
import { MAP_FIXED, MAP_PRIVATE, MAP_ANONYMOUS, PROT_EXEC, PROT_READ, PROT_WRITE, type MapSource, type MemoryManager } from '../mm/mm';
import { ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR, parseElf, type ElfHeader } from './elf';

/** A file the loader reads: the executable or its interpreter. */
export interface ExecSource extends MapSource {
  size: number;
}

export interface LoadRequest {
  /** The address space to load into (its host side made: mm.as). */
  mm: MemoryManager;
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
  /** AT_SYSINFO_EHDR: where the vDSO is (platform/vdso.ts); absent, none is offered. */
  vdso?: number;
}

/** A failure after the point of no return (-errno): the process is to die of SIGSEGV. */
export interface LoadFatal {
  fatal: number;
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
  SYSINFO_EHDR: 33,
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

/** Map one PT_LOAD segment: its file pages (named after the file), then anonymous pages up to memsz. Returns its end or -errno. */
function loadSegment(req: LoadRequest, src: ExecSource, ph: ElfHeader['phdrs'][number], base: number): number {
  const { mm } = req;
  if (ph.offset < 0 || ph.vaddr < 0 || ph.filesz < 0 || ph.memsz < 0 || ph.filesz > ph.memsz) return -EINVAL;
  const start = base + ph.vaddr;
  if (start + ph.memsz > APP_LIMIT) return -EINVAL;
  // A file mapping needs the offset aligned as the address is (mmap's EINVAL); anon-only needs not.
  if (ph.filesz > 0 && ph.offset % PAGE !== ph.vaddr % PAGE) return -EINVAL;
  const mapStart = pageDown(start);
  const fileEnd = ph.filesz > 0 ? pageUp(start + ph.filesz) : mapStart;
  const segEnd = pageUp(start + ph.memsz);
  const prot = protOf(ph.flags);
  const anon = MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS;
  if (fileEnd > mapStart && !(prot & PROT_WRITE)) {
    // A segment the process cannot write maps the file as mmap(2) would (by reference where the
    // file has host pages, mm/file-ref.ts): nothing to zero, padzero ignores a read-only page.
    const r = mm.mmap(mapStart, fileEnd - mapStart, prot, MAP_FIXED | MAP_PRIVATE, src, pageDown(ph.offset));
    if (r < 0) return r;
  } else if (fileEnd > mapStart) {
    const r = mm.mmap(mapStart, fileEnd - mapStart, prot === 0 ? PROT_READ : prot, anon, undefined, 0, src.info.name);
    if (r < 0) return r;
    const v = mm.find(mapStart);
    if (!v) return -ENOMEM;
    v.file = src.info;
    v.pgoff = pageDown(ph.offset);
    // What mmap of the file shows: whole pages (zeroes past its end), then the part past filesz
    // zeroed when the segment goes on — padzero's clear_user, which a read-only page ignores.
    const at = v.off + (mapStart - v.start);
    const dst = mm.file.bytes.subarray(at, at + (fileEnd - mapStart));
    const n = src.pread(dst, v.pgoff);
    if (n < 0) return -EINVAL;
    mmStats.loaderCopiedBytes += dst.length;
    if (ph.memsz > ph.filesz && prot & PROT_WRITE) dst.fill(0, start + ph.filesz - mapStart);
    if (prot === 0) mm.mprotect(mapStart, fileEnd - mapStart, 0);
  }
  if (segEnd > fileEnd) {
    // Linux maps these pages as brk does (vm_brk_flags): read-write, executable if the segment is.
    const r = mm.mmap(fileEnd, segEnd - fileEnd, PROT_READ | PROT_WRITE | (prot & PROT_EXEC), anon, undefined, 0, '');
    if (r < 0) return r;
  }
  return segEnd;
}

function loadSegments(req: LoadRequest, src: ExecSource, elf: ElfHeader, base: number): Loaded | number {
  let end = 0;
  let phdrAddr = 0;
  let firstLoad = true;
  for (const ph of elf.phdrs) {
    if (ph.type === PT_PHDR && ph.vaddr >= 0) phdrAddr = base + ph.vaddr;
    if (ph.type !== PT_LOAD || ph.memsz === 0) continue;
    if (firstLoad && !phdrAddr && ph.offset >= 0 && elf.phoff >= ph.offset && elf.phoff < ph.offset + ph.filesz) {
      phdrAddr = base + ph.vaddr + (elf.phoff - ph.offset);
    }
    firstLoad = false;
    const segEnd = loadSegment(req, src, ph, base);
    if (segEnd < 0) return segEnd;
    end = Math.max(end, segEnd);
  }
  if (end === 0) return -ENOEXEC;
  return { base, entry: base + elf.entry, phdrAddr, end };
}

function interpPath(src: ExecSource, elf: ElfHeader): string | number | undefined {
  const ph = elf.phdrs.find((p) => p.type === PT_INTERP);
  if (!ph) return undefined;
  if (ph.offset < 0 || ph.filesz < 2 || ph.filesz > 4096) return -ENOEXEC;
  const b = new Uint8Array(ph.filesz);
  if (src.pread(b, ph.offset) !== ph.filesz) return -ENOEXEC;
  // The path must end the segment with its NUL (what follows a NUL inside is ignored).
  if (b[b.length - 1] !== 0) return -ENOEXEC;
  return Buffer.from(b.subarray(0, b.indexOf(0))).toString('latin1');
}

/** Base for an ET_DYN image of this span: PIE_BASE for the program, a free range for ld.so. */
function dynBase(req: LoadRequest, elf: ElfHeader, forInterp: boolean): number {
  if (!forInterp) return PIE_BASE;
  let lo = Infinity;
  let hi = 0;
  for (const ph of elf.phdrs) {
    if (ph.type !== PT_LOAD || ph.vaddr < 0 || ph.memsz < 0) continue;
    lo = Math.min(lo, pageDown(ph.vaddr));
    hi = Math.max(hi, pageUp(ph.vaddr + ph.memsz));
  }
  const at = req.mm.findFree(hi - lo);
  return at < 0 ? at : at - lo;
}

export function loadProgram(req: LoadRequest): LoadResult | LoadFatal | number {
  const { mm } = req;
  const elf = parseElf((d, p) => req.file.pread(d, p));
  if (typeof elf === 'number') return elf;
  const interp = interpPath(req.file, elf);
  if (typeof interp === 'number') return interp;
  let total = req.execfn.length + 1;
  for (const s of req.argv) total += s.length + 1;
  for (const s of req.envp) total += s.length + 1;
  if (total > MAX_ARG_BYTES) return -E2BIG;
  // The interpreter is opened and its header checked before the point of no return. An empty
  // path: Linux's open_exec("") opens the working directory, not a regular file (EACCES).
  let isrc: ExecSource | undefined;
  let ielf: ElfHeader | undefined;
  if (interp !== undefined) {
    const o = interp === '' ? -EACCES : req.openInterp(interp);
    if (typeof o === 'number') return o;
    isrc = o;
    const h = parseElf((d, p) => o.pread(d, p), -ELIBBAD);
    if (typeof h === 'number') return h;
    ielf = h;
  }

  // Past the point of no return.
  const main = loadSegments(req, req.file, elf, elf.type === ET_DYN ? dynBase(req, elf, false) : 0);
  if (typeof main === 'number') return { fatal: main };
  mm.brkStart = mm.brkCur = main.end;

  let entry = main.entry;
  let interpBase = 0;
  if (isrc && ielf) {
    // An ET_EXEC interpreter is loaded at its own addresses.
    const base = ielf.type === ET_EXEC ? 0 : dynBase(req, ielf, true);
    if (base < 0) return { fatal: base };
    const il = loadSegments(req, isrc, ielf, base);
    if (typeof il === 'number') return { fatal: il };
    entry = il.entry;
    interpBase = il.base;
  }

  // The stack.
  const stackLow = STACK_TOP - STACK_SIZE;
  const sr = mm.mmap(stackLow, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, undefined, 0, '[stack]');
  if (sr < 0) return { fatal: sr };

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
  mm.write(random, randomFill(new Uint8Array(16)));
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
    ...(req.vdso !== undefined ? [[AT.SYSINFO_EHDR, req.vdso] as [number, number]] : []),
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
  if (!mm.write(sp, new Uint8Array(table.buffer))) return { fatal: -ENOMEM };
  return { entry, sp, auxv, argStart, argEnd, envStart, envEnd };
}
