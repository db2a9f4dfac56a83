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
 * the object and offset, so every process mapping it meets on one queue.
 */
export function futexKey(mm: MemoryManager, addr: number, shared = false): string {
  if (shared) {
    const v = mm.find(addr);
    if (v?.obj) return `s${v.obj.id}:${v.off + (addr - v.start)}`;
  }
  return `${mm.id}:${addr}`;
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
    if (w.task.state !== 'blocked' || w.task.blockState === undefined || (w.task.blockState as { waiter?: FutexWaiter }).waiter !== w) {
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
