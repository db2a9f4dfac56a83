// PI futexes (FUTEX_LOCK_PI, FUTEX_LOCK_PI2, FUTEX_TRYLOCK_PI, FUTEX_UNLOCK_PI: glibc's
// PTHREAD_PRIO_INHERIT mutexes). The word holds its owner's tid, FUTEX_WAITERS while tasks wait in
// the kernel, FUTEX_OWNER_DIED after an owner died holding it. The application's threads change
// the word concurrently (the uncontended lock and unlock are a cmpxchg in user space), so the
// sentry changes it only by an atomic cmpxchg too.
//
// A word with waiters has a PiState (Linux's pi_state): its owner and its waiters in arrival
// order. Unlock hands the lock to the first waiter — the word becomes its tid | FUTEX_WAITERS —
// and wakes it; an owner that exits (or execs) still holding it hands it on the same way with
// FUTEX_OWNER_DIED added (exit_pi_state_list). Nothing is inherited: the sentry's tasks have no
// priorities to lend, so the order is first come, first served.

import { EAGAIN, EDEADLK, EFAULT, EINVAL, EPERM, ERESTARTNOINTR, ESRCH, ETIMEDOUT } from '../abi/errno';
import type { Kernel } from './kernel';
import type { Task } from './task';

export const FUTEX_WAITERS = 0x8000_0000;
export const FUTEX_OWNER_DIED = 0x4000_0000;
export const FUTEX_TID_MASK = 0x3fff_ffff;
/** cmpxchg retries against an application that keeps changing the word. */
const MAX_TRIES = 1000;

interface PiWaiter {
  task: Task;
  /** The word's address in the waiter's address space (a shared futex may sit elsewhere in each). */
  addr: number;
  acquired: boolean;
}

interface PiState {
  key: string;
  owner: number;
  waiters: PiWaiter[];
}

const tables = new WeakMap<Kernel, Map<string, PiState>>();

function table(k: Kernel): Map<string, PiState> {
  let m = tables.get(k);
  if (!m) tables.set(k, (m = new Map()));
  return m;
}

/** A LOCK_PI parked on a word: the waiter leaves the queue when the syscall ends without the lock. */
class PiBlock {
  constructor(readonly k: Kernel, readonly state: PiState, readonly waiter: PiWaiter, readonly deadline: number) {}
  dispose(): void {
    if (this.waiter.acquired) return;
    const ws = this.state.waiters;
    const i = ws.indexOf(this.waiter);
    if (i >= 0) ws.splice(i, 1);
    if (ws.length === 0 && table(this.k).get(this.state.key) === this.state) table(this.k).delete(this.state.key);
  }
}

/**
 * FUTEX_LOCK_PI / LOCK_PI2 (trylock false) and FUTEX_TRYLOCK_PI on the word at addr, queue key.
 * deadline: performance.now() ms (Infinity: none).
 */
export function piLock(t: Task, addr: number, key: string, deadline: number, trylock: boolean): number {
  const k = t.kernel;
  const b = t.blockState;
  if (b instanceof PiBlock) {
    if (b.waiter.acquired) return 0;
    if (t.timedOut) return -ETIMEDOUT; // the kernel's dropBlockState takes the waiter out
    return t.block([], b.deadline, b);
  }
  if (addr % 4 !== 0) return -EINVAL;
  const mm = t.mm;
  for (let i = 0; i < MAX_TRIES; i++) {
    const v = mm.readU32(addr);
    if (v === null) return -EFAULT;
    const owner = v & FUTEX_TID_MASK;
    const st = table(k).get(key);
    if (owner === 0) {
      // Free, or its owner died: take it (waiters still queued keep FUTEX_WAITERS set).
      const nv = ((v & FUTEX_OWNER_DIED) | t.tid | (st ? FUTEX_WAITERS : 0)) >>> 0;
      const got = mm.cmpxchgU32(addr, v, nv);
      if (got === null) return -EFAULT;
      if (got === v) return 0;
      continue;
    }
    if (owner === t.tid) return -EDEADLK;
    const ot = t.pidns.tasks.get(owner);
    if (!ot || ot.state === 'dead') return -ESRCH;
    if (trylock) return -EAGAIN;
    const nv = (v | FUTEX_WAITERS) >>> 0;
    if (nv !== v) {
      const got = mm.cmpxchgU32(addr, v, nv);
      if (got === null) return -EFAULT;
      if (got !== v) continue;
    }
    let s = st;
    if (!s) table(k).set(key, (s = { key, owner, waiters: [] }));
    s.owner = owner;
    const w: PiWaiter = { task: t, addr, acquired: false };
    s.waiters.push(w);
    // A signal does not end the wait: the lock is tried again after the handler (futex_lock_pi).
    t.interruptResult = -ERESTARTNOINTR;
    return t.block([], deadline, new PiBlock(k, s, w, deadline));
  }
  return -EAGAIN;
}

/**
 * Give the lock of s to its first waiter (the word in that waiter's memory becomes its tid |
 * FUTEX_WAITERS | extra) and wake it; false if there is none or its word cannot be written (or,
 * from given, no longer names that owner).
 */
function handOver(k: Kernel, s: PiState, extra: number, from: number | undefined): boolean {
  const w = s.waiters[0];
  if (!w) return false;
  const mm = w.task.mm;
  let done = false;
  for (let i = 0; i < MAX_TRIES && !done; i++) {
    const v = mm.readU32(w.addr);
    if (v === null || (from !== undefined && (v & FUTEX_TID_MASK) !== from)) return false;
    const got = mm.cmpxchgU32(w.addr, v, (w.task.tid | FUTEX_WAITERS | extra) >>> 0);
    if (got === null) return false;
    done = got === v;
  }
  if (!done) return false;
  s.waiters.shift();
  if (s.waiters.length === 0) table(k).delete(s.key);
  else s.owner = w.task.tid;
  w.acquired = true;
  w.task.wake();
  return true;
}

/** FUTEX_UNLOCK_PI: the caller must own the word; the first waiter gets it, else it becomes 0. */
export function piUnlock(t: Task, addr: number, key: string): number {
  if (addr % 4 !== 0) return -EINVAL;
  const k = t.kernel;
  const mm = t.mm;
  for (let i = 0; i < MAX_TRIES; i++) {
    const v = mm.readU32(addr);
    if (v === null) return -EFAULT;
    if ((v & FUTEX_TID_MASK) !== t.tid) return -EPERM;
    const s = table(k).get(key);
    if (s && s.waiters.length > 0 && handOver(k, s, 0, t.tid)) return 0;
    const got = mm.cmpxchgU32(addr, v, 0);
    if (got === null) return -EFAULT;
    if (got === v) return 0;
  }
  return -EAGAIN;
}

/** t exits or execs: every PI futex it owns with waiters goes to the first of them, marked FUTEX_OWNER_DIED. */
export function piOwnerExited(t: Task): void {
  const m = tables.get(t.kernel);
  if (!m) return;
  for (const s of [...m.values()]) {
    if (s.owner === t.tid) handOver(t.kernel, s, FUTEX_OWNER_DIED, undefined);
  }
}
