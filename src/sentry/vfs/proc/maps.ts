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
}

function mergeable(a: Span, b: Vma): boolean {
  if (a.end !== b.start || a.prot !== b.prot || a.shared !== b.shared || a.name !== b.name) return false;
  if (!a.file && !b.file) return true;
  if (!a.file || !b.file) return false;
  return a.file.name === b.file.name && a.file.ino === b.file.ino && a.pgoff + (a.end - a.start) === b.pgoff;
}

export function mapsText(mm: ProcMm | undefined): string {
  if (!mm) return '';
  const spans: Span[] = [];
  for (const v of mm.vmas) {
    const last = spans[spans.length - 1];
    if (last && mergeable(last, v)) last.end = v.end;
    else spans.push({ start: v.start, end: v.end, prot: v.prot, shared: v.shared, name: v.name, file: v.file, pgoff: v.pgoff });
  }
  let out = '';
  for (const s of spans) {
    const perms =
      (s.prot & PROT_READ ? 'r' : '-') + (s.prot & PROT_WRITE ? 'w' : '-') + (s.prot & PROT_EXEC ? 'x' : '-') + (s.shared ? 's' : 'p');
    const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
    const off = s.file ? s.pgoff : 0;
    // The device is the sentry's (00:00): a host device number would tell the application about the host.
    let line = `${hex(s.start, 8)}-${hex(s.end, 8)} ${perms} ${hex(off, 8)} 00:00 ${s.file ? s.file.ino : 0} `;
    if (s.name !== '') {
      line = line.padEnd(NAME_COLUMN, ' ') + ' ' + (s.file ? escapePath(s.name) : s.name);
    }
    out += line + '\n';
  }
  // The vsyscall page is every process's, as on the host (not a VMA of the address space).
  if (vsyscallEnabled()) out += VSYSCALL_MAPS_LINE;
  return out;
}
