// Memory: brk, mmap (anonymous and file-backed), munmap, mprotect, mremap, madvise, and the
// calls that have nothing to do with no swap and no host page cache (mlock, msync, mincore).

import { EACCES, EBADF, EINVAL, ENODEV, EFAULT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../abi/errno';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, type MapSource } from '../../mm/mm';
import { APP_LIMIT, PAGE } from '../../mm/layout';
import type { Task } from '../../kernel/task';
import type { FileDescription } from '../../vfs';
import { O_PATH } from '../../vfs/constants';

const MAP_TYPE = 0x0f;
const MAP_SHARED_VALIDATE = 0x03;
/**
 * Linux's LEGACY_MAP_MASK: the flags MAP_SHARED_VALIDATE accepts (MAP_SHARED, MAP_PRIVATE, FIXED,
 * ANONYMOUS, 32BIT, GROWSDOWN, DENYWRITE, EXECUTABLE, LOCKED, NORESERVE, POPULATE, NONBLOCK, STACK,
 * HUGETLB, UNINITIALIZED, HUGE_2MB/1GB); any other bit (MAP_SYNC) is EOPNOTSUPP.
 */
const LEGACY_MAP_MASK = 0x03 | 0x10 | 0x20 | 0x40 | 0x100 | 0x800 | 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x40000 | 0x4000000 | (21 << 26) | (30 << 26);
const RLIMIT_AS = 9;
const MREMAP_MAYMOVE = 1;
const MREMAP_FIXED = 2;
const MADV_DONTNEED = 4;
const MADV_FREE = 8;
const MADV_DONTFORK = 10;
const MADV_DOFORK = 11;

/** A file that can back a mapping: the VFS file exposes its bytes this way. */
interface Mappable {
  mapSource?(): MapSource | number;
}

const RLIMIT_DATA = 2;
const PROT_WRITE = 2;
const MAP_GROWSDOWN = 0x100;

/** RLIMIT_DATA's soft limit in bytes (Infinity when not set). */
function dataLimit(t: Task): number {
  const rl = t.tg.rlimits.get(RLIMIT_DATA);
  return rl === undefined || rl.cur >= 2 ** 63 ? Infinity : rl.cur;
}

/** RLIMIT_AS's soft limit in bytes (Infinity when not set). */
export function asLimit(t: Task): number {
  const rl = t.tg.rlimits.get(RLIMIT_AS);
  return rl === undefined || rl.cur >= 2 ** 63 ? Infinity : rl.cur;
}

/** may_expand_vm for RLIMIT_AS: the address space may grow by `more` bytes. */
export function mayGrowAs(t: Task, more: number): boolean {
  const limit = asLimit(t);
  return limit === Infinity || t.mm.sizes().vsize + more <= limit;
}

/** Bytes of [addr, addr+len) already mapped (MAP_FIXED replaces them: they do not count twice). */
function mappedIn(t: Task, addr: number, len: number): number {
  let n = 0;
  for (const v of t.mm.vmas) n += Math.max(0, Math.min(v.end, addr + len) - Math.max(v.start, addr));
  return n;
}

/** Linux's data_vm: private writable mappings that are not the stack (the heap included). */
function dataBytes(t: Task): number {
  let n = 0;
  for (const v of t.mm.vmas) if (!v.shared && !v.obj && v.prot & PROT_WRITE && v.name !== '[stack]') n += v.end - v.start;
  return n;
}

function brk(t: Task): number {
  const addr = t.arg(0);
  const mm = t.mm;
  // Growing the heap past RLIMIT_DATA fails (brk returns the old break), as check_data_rlimit.
  if (addr > mm.brkCur && addr - mm.brkStart > dataLimit(t)) return mm.brkCur;
  if (addr > mm.brkCur && !mayGrowAs(t, Math.ceil(addr / PAGE) * PAGE - Math.ceil(mm.brkCur / PAGE) * PAGE)) return mm.brkCur;
  return mm.brk(addr);
}

function mmap(t: Task): number {
  const addr = t.arg(0);
  const len = t.arg(1);
  const prot = t.argInt(2);
  const flags = t.argInt(3);
  const fd = t.argInt(4);
  const off = t.argS64(5);
  const type = flags & MAP_TYPE;
  if (type !== MAP_PRIVATE && type !== MAP_SHARED && type !== MAP_SHARED_VALIDATE) return -EINVAL;
  // The offset's low bits, exactly (a double loses them past 2^53).
  if (t.argU32(5) % PAGE !== 0) return -EINVAL;
  const pages = Math.ceil(len / PAGE) * PAGE;
  let src: MapSource | undefined;
  if (!(flags & MAP_ANONYMOUS)) {
    const f = t.files.get(fd) as (FileDescription & Mappable) | undefined;
    if (!f || f.flags & O_PATH) return -EBADF;
    // do_mmap's order: the length (EINVAL, ENOMEM) before anything about the file.
    if (len === 0) return -EINVAL;
    if (pages > APP_LIMIT) return -ENOMEM;
    if (type === MAP_SHARED_VALIDATE && flags & ~LEGACY_MAP_MASK) return -EOPNOTSUPP;
    // The end of the range must be a valid file offset (file_mmap_ok: below 2^63).
    if (off < 0 || off + pages >= 2 ** 63) return -EOVERFLOW;
    // A shared writable mapping writes the file: the descriptor must allow it.
    if (type !== MAP_PRIVATE && prot & PROT_WRITE && (f.flags & 3) !== 2) return -EACCES;
    if ((f.flags & 3) === 1) return -EACCES;
    // A file on a noexec mount cannot be mapped executable (Linux: EPERM).
    if (prot & PROT_EXEC && f.location?.mount.flags.noexec) return -EPERM;
    if (!f.mapSource) return -ENODEV;
    const s = f.mapSource();
    if (typeof s === 'number') return s;
    src = s;
  } else if (type === MAP_SHARED_VALIDATE) {
    return -EINVAL;
  }
  if (len > 0 && !mayGrowAs(t, pages - (flags & MAP_FIXED ? mappedIn(t, addr, pages) : 0))) return -ENOMEM;
  // A new private writable mapping counts against RLIMIT_DATA (may_expand_vm).
  if (type === MAP_PRIVATE && prot & PROT_WRITE && !(flags & MAP_GROWSDOWN)) {
    const limit = dataLimit(t);
    if (limit !== Infinity && dataBytes(t) + Math.ceil(len / PAGE) * PAGE > limit) return -ENOMEM;
  }
  return t.mm.mmap(addr, len, prot, type === MAP_SHARED_VALIDATE ? (flags & ~MAP_TYPE) | MAP_SHARED : flags, src, off);
}

function mremap(t: Task): number {
  const flags = t.argInt(3);
  if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | 4)) return -EINVAL;
  if (flags & MREMAP_FIXED && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  const grow = Math.ceil(t.arg(2) / PAGE) * PAGE - Math.ceil(t.arg(1) / PAGE) * PAGE;
  if (grow > 0 && !mayGrowAs(t, grow)) return -ENOMEM;
  return t.mm.mremap(t.arg(0), t.arg(1), t.arg(2), (flags & MREMAP_MAYMOVE) !== 0, flags & MREMAP_FIXED ? t.arg(4) : undefined);
}

function madvise(t: Task): number {
  const addr = t.arg(0);
  if (addr % PAGE !== 0) return -EINVAL;
  const advice = t.argInt(2);
  if (advice === MADV_DONTNEED || advice === MADV_FREE) return t.mm.dontNeed(addr, t.arg(1));
  if (advice === MADV_DONTFORK || advice === MADV_DOFORK) return t.mm.setDontFork(addr, t.arg(1), advice === MADV_DONTFORK);
  return 0;
}

function mincore(t: Task): number {
  const addr = t.arg(0);
  const len = t.arg(1);
  if (addr % PAGE !== 0) return -EINVAL;
  // Every page must be mapped (ENOMEM otherwise), which also bounds the vector's size.
  const end = addr + Math.ceil(len / PAGE) * PAGE;
  if (end > APP_LIMIT || end < addr) return -ENOMEM;
  for (let a = addr; a < end; ) {
    const v = t.mm.find(a);
    if (!v) return -ENOMEM;
    a = v.end;
  }
  const out = new Uint8Array((end - addr) / PAGE).fill(1);
  return t.mm.write(t.arg(2), out) ? 0 : -EFAULT;
}

export const sysMmap = {
  brk,
  mmap,
  munmap: (t: Task) => t.mm.munmap(t.arg(0), t.arg(1)),
  mprotect: (t: Task) => t.mm.mprotect(t.arg(0), t.arg(1), t.argInt(2)),
  mremap,
  madvise,
  mincore,
  msync: (t: Task) => (t.arg(0) % PAGE === 0 ? t.mm.msync(t.arg(0), t.arg(1)) : -EINVAL),
  mlock: () => 0,
  munlock: () => 0,
  mlockall: () => 0,
  munlockall: () => 0,
  mlock2: () => 0,
};

