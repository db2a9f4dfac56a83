// Futexes: wait queues keyed by (address space, address) for private futexes, and by (shared
// memory object, offset) for a shared futex in a MAP_SHARED mapping, as Linux keys them on the
// page: a sem_post in one process wakes a sem_wait in another that maps the same object at
// another address. Waiters park on the queue; a wake marks them woken so their re-run returns 0
// instead of re-checking the word.

import type { MemoryManager } from '../mm/mm';
import type { Kernel } from './kernel';
import type { Task } from './task';

export interface FutexWaiter {
  task: Task;
  bitset: number;
  woken: boolean;
}

const tables = new WeakMap<Kernel, Map<string, FutexWaiter[]>>();

function table(k: Kernel): Map<string, FutexWaiter[]> {
  let m = tables.get(k);
  if (!m) tables.set(k, (m = new Map()));
  return m;
}

/**
 * The queue of the futex word at addr. shared (no FUTEX_PRIVATE_FLAG): in a MAP_SHARED mapping,
 * the object and offset, so every process mapping it meets on one queue; elsewhere the address
 * space and address, but not the private futex's queue (Linux marks the key FUT_OFF_MMSHARED): a
 * shared wake does not wake a private wait on the same word, nor the reverse.
 */
export function futexKey(mm: MemoryManager, addr: number, shared = false): string {
  if (shared) {
    const v = mm.find(addr);
    if (v?.obj) return `s${v.obj.id}:${v.off + (addr - v.start)}`;
    return `m${mm.id}:${addr}`;
  }
  return `${mm.id}:${addr}`;
}

/** w's task no longer waits on it (a signal or a timeout ended its wait, or it died). */
function stale(w: FutexWaiter): boolean {
  return w.task.state !== 'blocked' || w.task.blockState === undefined || (w.task.blockState as { waiter?: FutexWaiter }).waiter !== w;
}

export function futexEnqueue(k: Kernel, key: string, w: FutexWaiter): void {
  const m = table(k);
  let q = m.get(key);
  if (!q) m.set(key, (q = []));
  q.push(w);
}

export function futexDequeue(k: Kernel, key: string, w: FutexWaiter): void {
  const m = table(k);
  const q = m.get(key);
  if (!q) return;
  const i = q.indexOf(w);
  if (i >= 0) q.splice(i, 1);
  if (q.length === 0) m.delete(key);
}

/** Wake up to n waiters on the queue key whose bitset matches; returns how many. */
export function futexWake(k: Kernel, key: string, n: number, bitset: number): number {
  const q = table(k).get(key);
  if (!q) return 0;
  let woken = 0;
  for (const w of [...q]) {
    if (woken >= n) break;
    if (stale(w)) {
      futexDequeue(k, key, w); // interrupted or timed out: no longer waiting
      continue;
    }
    if ((w.bitset & bitset) === 0) continue;
    w.woken = true;
    futexDequeue(k, key, w);
    w.task.wake();
    woken++;
  }
  return woken;
}

/** FUTEX_REQUEUE: wake n, move up to m of the rest to another queue. */
export function futexRequeue(k: Kernel, key: string, n: number, m: number, key2: string): number {
  const q = table(k).get(key);
  if (!q) return 0;
  let woken = 0;
  let moved = 0;
  for (const w of [...q]) {
    if (stale(w)) {
      futexDequeue(k, key, w);
      continue;
    }
    if (woken < n) {
      w.woken = true;
      futexDequeue(k, key, w);
      w.task.wake();
      woken++;
    } else if (moved < m) {
      futexDequeue(k, key, w);
      futexEnqueue(k, key2, w);
      (w.task.blockState as { key?: string } | undefined) && ((w.task.blockState as { key: string }).key = key2);
      moved++;
    }
  }
  return woken + moved;
}

const FUTEX_WAITERS = 0x8000_0000;
const FUTEX_OWNER_DIED = 0x4000_0000;
const FUTEX_TID_MASK = 0x3fff_ffff;
/** Linux's ROBUST_LIST_LIMIT: a list longer than this (or a cycle) is not walked further. */
const ROBUST_LIST_LIMIT = 2048;

/** One futex a dead owner held: mark it FUTEX_OWNER_DIED and wake a waiter (handle_futex_death; keyed as a shared futex, as Linux wakes it). */
function futexOwnerDied(t: Task, addr: number, pending: boolean): void {
  const mm = t.mm;
  const v = mm.readU32(addr);
  if (v === null) return;
  // A pending lock that was never taken (value 0) still wakes a waiter, as Linux does.
  if (pending && v === 0) {
    futexWake(t.kernel, futexKey(mm, addr, true), 1, 0xffffffff);
    return;
  }
  if ((v & FUTEX_TID_MASK) >>> 0 !== t.tid) return;
  const nv = ((v & FUTEX_WAITERS) | FUTEX_OWNER_DIED) >>> 0;
  if (!mm.writeU32(addr, nv)) return;
  if (v & FUTEX_WAITERS) futexWake(t.kernel, futexKey(mm, addr, true), 1, 0xffffffff);
}

/**
 * The task is exiting (or exec'ing): walk its robust list (set_robust_list: struct robust_list_head
 * { next; futex_offset; list_op_pending }) and release every futex it still owned.
 */
export function exitRobustList(t: Task): void {
  const head = t.robustList;
  t.robustList = 0;
  if (head === 0 || t.mm.users <= 0) return;
  const mm = t.mm;
  const next = mm.readU64(head);
  const off = mm.readI64(head + 8);
  const pending = mm.readU64(head + 16);
  if (next === null || off === null || pending === null) return;
  const pendingEntry = pending - (pending % 2);
  let entry = next - (next % 2);
  for (let n = 0; entry !== head && entry !== 0 && n < ROBUST_LIST_LIMIT; n++) {
    const nx = mm.readU64(entry);
    if (nx === null) return;
    if (entry !== pendingEntry) futexOwnerDied(t, entry + off, false);
    entry = nx - (nx % 2);
  }
  if (pendingEntry !== 0) futexOwnerDied(t, pendingEntry + off, true);
}
