// /proc/<pid>/maps in Linux's show_map_vma layout. Adjacent VMAs Linux would have merged (same
// protection, sharing and name; for files, contiguous offsets in the same file) are shown as one,
// since the sentry splits its list where Linux would not (brk growth, mprotect round trips).

import type { Vma } from '../../mm/mm';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../../mm/mm';
import type { ProcMm } from './mmstats';
import { escapePath } from './process';
import { vsyscallEnabled, VSYSCALL_MAPS_LINE } from '../../kernel/vsyscall';

/** Where the name starts: "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu " padded to 25 + 6 * sizeof(void *) - 1. */
const NAME_COLUMN = 25 + 6 * 8 - 1;

interface Span {
  start: number;
  end: number;
  prot: number;
  shared: boolean;
  name: string;
  file: Vma['file'];
  pgoff: number;
  /** Bytes backed by memory (not a reservation, not past a file's end). */
  rss: number;
}

const resident = (v: Vma) => (v.off >= 0 || v.ref ? v.end - v.start : 0);

function mergeable(a: Span, b: Vma): boolean {
  if (a.end !== b.start || a.prot !== b.prot || a.shared !== b.shared || a.name !== b.name) return false;
  if (!a.file && !b.file) return true;
  if (!a.file || !b.file) return false;
  return a.file.name === b.file.name && a.file.ino === b.file.ino && a.pgoff + (a.end - a.start) === b.pgoff;
}

function spansOf(mm: ProcMm): Span[] {
  const spans: Span[] = [];
  for (const v of mm.vmas) {
    const last = spans[spans.length - 1];
    if (last && mergeable(last, v)) {
      last.end = v.end;
      last.rss += resident(v);
    } else spans.push({ start: v.start, end: v.end, prot: v.prot, shared: v.shared, name: v.name, file: v.file, pgoff: v.pgoff, rss: resident(v) });
  }
  // The vDSO and its data pages lie above every VMA (the host's pages; none counted as resident).
  for (const v of mm.vdso) spans.push({ start: v.start, end: v.end, prot: v.prot, shared: false, name: v.name, file: undefined, pgoff: 0, rss: 0 });
  return spans;
}

export function mapsText(mm: ProcMm | undefined): string {
  if (!mm) return '';
  let out = '';
  for (const s of spansOf(mm)) out += mapLine(s) + '\n';
  // The vsyscall page is every process's, as on the host (not a VMA of the address space).
  if (vsyscallEnabled()) out += VSYSCALL_MAPS_LINE;
  return out;
}

/**
 * /proc/<pid>/smaps: each mapping's maps line and show_smap's fields. Resident pages are those the
 * sentry backs; private ones count as dirty, shared ones as shared dirty (no page cache, no swap).
 */
export function smapsText(mm: ProcMm | undefined): string {
  if (!mm) return '';
  let out = '';
  const kb = (label: string, bytes: number) => `${label.padEnd(16)}${String(Math.floor(bytes / 1024)).padStart(8)} kB\n`;
  for (const s of spansOf(mm)) {
    const anon = s.file ? 0 : s.rss;
    out += mapLine(s) + '\n';
    out += kb('Size:', s.end - s.start) + kb('KernelPageSize:', 4096) + kb('MMUPageSize:', 4096);
    out += kb('Rss:', s.rss) + kb('Pss:', s.rss) + kb('Pss_Dirty:', s.rss);
    out += kb('Shared_Clean:', 0) + kb('Shared_Dirty:', s.shared ? s.rss : 0) + kb('Private_Clean:', 0) + kb('Private_Dirty:', s.shared ? 0 : s.rss);
    out += kb('Referenced:', s.rss) + kb('Anonymous:', s.shared ? 0 : anon) + kb('KSM:', 0) + kb('LazyFree:', 0);
    out += kb('AnonHugePages:', 0) + kb('ShmemPmdMapped:', 0) + kb('FilePmdMapped:', 0) + kb('Shared_Hugetlb:', 0) + kb('Private_Hugetlb:', 0);
    out += kb('Swap:', 0) + kb('SwapPss:', 0) + kb('Locked:', 0);
    out += `THPeligible:    0\n`;
    const flags = [s.prot & PROT_READ && 'rd', s.prot & PROT_WRITE && 'wr', s.prot & PROT_EXEC && 'ex', s.shared && 'sh', 'mr', 'mw', 'me', s.shared && 'ms'].filter(Boolean);
    out += `VmFlags: ${flags.join(' ')} \n`;
  }
  return out;
}

function mapLine(s: Span): string {
  const perms =
    (s.prot & PROT_READ ? 'r' : '-') + (s.prot & PROT_WRITE ? 'w' : '-') + (s.prot & PROT_EXEC ? 'x' : '-') + (s.shared ? 's' : 'p');
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  const off = s.file ? s.pgoff : 0;
  // The device is the sentry's (00:00): a host device number would tell the application about the host.
  let line = `${hex(s.start, 8)}-${hex(s.end, 8)} ${perms} ${hex(off, 8)} 00:00 ${s.file ? s.file.ino : 0} `;
  if (s.name !== '') {
    line = line.padEnd(NAME_COLUMN, ' ') + ' ' + (s.file ? escapePath(s.name) : s.name);
  }
  return line;
}
