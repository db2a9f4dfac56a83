// Advisory file locks, as Linux keeps them per inode:
//  - POSIX record locks (fcntl F_SETLK/F_SETLKW/F_GETLK): byte ranges owned by a process; a
//    process's locks on a file go when it closes any fd of that file, or exits. Waiting for one
//    that would close a cycle of waiting processes fails with EDEADLK.
//  - OFD locks (F_OFD_*): the same ranges, in the same space, owned by the open file description
//    and released with it.
//  - flock(2): whole-file shared/exclusive locks owned by the open file description, in a space
//    of their own.
// Blocking waits park on the inode's wait queue; every change notifies it.

import type { WaitQueue } from '../kernel/waitqueue';
import { WaitQueue as Queue } from '../kernel/waitqueue';
import type { FileDescription } from './file';

export const F_RDLCK = 0;
export const F_WRLCK = 1;
export const F_UNLCK = 2;

export interface LockRange {
  start: number;
  /** Exclusive end; Infinity: to the end of the file, however long it grows. */
  end: number;
  type: number;
  owner: object;
  /** What F_GETLK reports as l_pid (-1 for OFD locks). */
  pid: number;
}

class InodeLocks {
  ranges: LockRange[] = [];
  readonly flocks = new Map<FileDescription, number>();
  readonly queue: WaitQueue = new Queue();
}

const locks = new WeakMap<object, InodeLocks>();
/** POSIX waiters: owner → the owners holding what it waits for, while its task is parked (EDEADLK). */
const waitsFor = new Map<object, { holders: Set<object>; task: { state: string } }>();

/** The lock state of the file f is open on (its inode; a pipe's own description). */
function locksOf(f: FileDescription): InodeLocks {
  const key: object = f.location?.dentry.inode ?? f;
  let l = locks.get(key);
  if (!l) locks.set(key, (l = new InodeLocks()));
  return l;
}

export function lockQueue(f: FileDescription): WaitQueue {
  return locksOf(f).queue;
}

function overlaps(a: LockRange, start: number, end: number): boolean {
  return a.start < end && start < a.end;
}

/** The first lock of another owner that a lock of this type over [start, end) would conflict with. */
export function conflicting(f: FileDescription, owner: object, start: number, end: number, type: number): LockRange | undefined {
  return locksOf(f).ranges.find((r) => r.owner !== owner && overlaps(r, start, end) && (type === F_WRLCK || r.type === F_WRLCK));
}

/** Would owner, waiting for the holders of blocker, wait (through others) for itself? */
export function wouldDeadlock(owner: object, blocker: object): boolean {
  const seen = new Set<object>();
  const todo = [blocker];
  while (todo.length > 0) {
    const o = todo.pop()!;
    if (o === owner) return true;
    if (seen.has(o)) continue;
    seen.add(o);
    const w = waitsFor.get(o);
    if (!w) continue;
    // A waiter interrupted since (EINTR) waits no more.
    if (w.task.state !== 'blocked') {
      waitsFor.delete(o);
      continue;
    }
    for (const next of w.holders) todo.push(next);
  }
  return false;
}

/** owner parks waiting for the holders of the conflicting locks (forgotten at its next try). */
export function noteWaiting(f: FileDescription, owner: object, start: number, end: number, type: number, task: { state: string }): void {
  const holders = new Set<object>();
  for (const r of locksOf(f).ranges) if (r.owner !== owner && overlaps(r, start, end) && (type === F_WRLCK || r.type === F_WRLCK)) holders.add(r.owner);
  waitsFor.set(owner, { holders, task });
}

export function stopWaiting(owner: object): void {
  waitsFor.delete(owner);
}

/** Set (or, with F_UNLCK, remove) owner's lock over [start, end): its other ranges are split or merged. */
export function setRange(f: FileDescription, owner: object, pid: number, start: number, end: number, type: number): void {
  const l = locksOf(f);
  const kept: LockRange[] = [];
  for (const r of l.ranges) {
    if (r.owner !== owner || !overlaps(r, start, end)) {
      kept.push(r);
      continue;
    }
    if (r.start < start) kept.push({ ...r, end: start });
    if (r.end > end) kept.push({ ...r, start: end });
  }
  if (type !== F_UNLCK) {
    // Merge with this owner's adjacent ranges of the same type.
    let s = start;
    let e = end;
    const rest: LockRange[] = [];
    for (const r of kept) {
      if (r.owner === owner && r.type === type && r.start <= e && s <= r.end) {
        s = Math.min(s, r.start);
        e = Math.max(e, r.end);
      } else rest.push(r);
    }
    rest.push({ start: s, end: e, type, owner, pid });
    l.ranges = rest.sort((a, b) => a.start - b.start);
    if (owner === (f as object)) f.lockHolder = true;
  } else l.ranges = kept;
  l.queue.notify();
}

/** A process closed an fd of f: its POSIX locks on that file go (Linux's locks_remove_posix). */
export function dropPosixLocks(f: FileDescription, owner: object): void {
  const key: object = f.location?.dentry.inode ?? f;
  const l = locks.get(key);
  if (!l || !l.ranges.some((r) => r.owner === owner)) return;
  l.ranges = l.ranges.filter((r) => r.owner !== owner);
  l.queue.notify();
}

/** The last reference to f is gone: its OFD and flock locks go. */
export function dropFileLocks(f: FileDescription): void {
  const l = locks.get(f.location?.dentry.inode ?? f);
  if (!l) return;
  const before = l.ranges.length;
  l.ranges = l.ranges.filter((r) => r.owner !== f);
  if (l.flocks.delete(f) || l.ranges.length !== before) l.queue.notify();
}

// ---- flock(2) ----

/** The flock another description holds that conflicts with type (F_RDLCK/F_WRLCK) for f. */
export function flockConflict(f: FileDescription, type: number): boolean {
  for (const [other, t] of locksOf(f).flocks) if (other !== f && (type === F_WRLCK || t === F_WRLCK)) return true;
  return false;
}

export function flockSet(f: FileDescription, type: number): void {
  const l = locksOf(f);
  if (type === F_UNLCK) l.flocks.delete(f);
  else {
    l.flocks.set(f, type);
    f.lockHolder = true;
  }
  l.queue.notify();
}
