// Memory accounting of one address space, as /proc/pid/{stat,statm,status} report it, computed
// from the MemoryManager's VMA list. "Resident" means backed by the address space's memory file
// (a VMA with an offset there); a reservation without pages (PROT_NONE) is not.

import type { MemoryManager, Vma } from '../../mm/mm';
import { PROT_EXEC, PROT_WRITE } from '../../mm/mm';

/** The fields of an address space /proc reads. */
export type ProcMm = Pick<MemoryManager, 'vmas' | 'exePath' | 'brkStart' | 'argStart' | 'argEnd' | 'envStart' | 'envEnd' | 'vdso'>;

export interface MmStats {
  /** Bytes mapped. */
  vsize: number;
  /** Bytes resident, and its split. */
  rss: number;
  rssAnon: number;
  rssFile: number;
  rssShmem: number;
  /** Private writable, not stack (VmData); the stack (VmStk). */
  data: number;
  stack: number;
  /** The executable's text (VmExe) and every other executable mapping (VmLib). */
  exe: number;
  lib: number;
  startCode: number;
  endCode: number;
  startData: number;
  endData: number;
  /** Where the stack's initial contents begin (approximate: the argv strings). */
  startStack: number;
  /** Peaks seen so far (VmPeak, VmHWM). */
  peakVsize: number;
  peakRss: number;
}

const peaks = new WeakMap<object, { vsize: number; rss: number }>();

function isStack(v: Vma): boolean {
  return v.name === '[stack]';
}

export function mmStats(mm: ProcMm): MmStats {
  const s: MmStats = {
    vsize: 0, rss: 0, rssAnon: 0, rssFile: 0, rssShmem: 0, data: 0, stack: 0, exe: 0, lib: 0,
    startCode: 0, endCode: 0, startData: 0, endData: 0, startStack: mm.argStart, peakVsize: 0, peakRss: 0,
  };
  let execTotal = 0;
  for (const v of mm.vmas) {
    const len = v.end - v.start;
    s.vsize += len;
    if (v.off >= 0 || v.ref) {
      s.rss += len;
      if (v.file) s.rssFile += len;
      else if (v.shared) s.rssShmem += len;
      else s.rssAnon += len;
    }
    if (isStack(v)) s.stack += len;
    else if (v.prot & PROT_WRITE && !v.shared) s.data += len;
    if (v.prot & PROT_EXEC) {
      execTotal += len;
      if (v.file && mm.exePath !== '' && v.file.name === mm.exePath) {
        s.startCode = s.startCode === 0 ? v.start : Math.min(s.startCode, v.start);
        s.endCode = Math.max(s.endCode, v.end);
      }
    } else if (v.file && mm.exePath !== '' && v.file.name === mm.exePath && v.prot & PROT_WRITE) {
      s.startData = s.startData === 0 ? v.start : Math.min(s.startData, v.start);
      s.endData = Math.max(s.endData, v.end);
    }
  }
  s.exe = s.endCode - s.startCode;
  s.lib = Math.max(0, execTotal - s.exe);
  const p = peaks.get(mm) ?? { vsize: 0, rss: 0 };
  p.vsize = Math.max(p.vsize, s.vsize);
  p.rss = Math.max(p.rss, s.rss);
  peaks.set(mm, p);
  s.peakVsize = p.vsize;
  s.peakRss = p.rss;
  return s;
}

/** Page-table pages the mapping would need on Linux (VmPTE), in bytes: one 4 KiB table per 2 MiB resident. */
export function pteBytes(s: MmStats): number {
  return Math.ceil(s.rss / (2 * 1024 * 1024)) * 4096;
}
