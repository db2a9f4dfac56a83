// Signal-driven I/O (O_ASYNC with F_SETOWN/F_SETSIG, Linux's fasync): when an O_ASYNC file's
// readiness may have changed (its wait queue is notified), its owner — a process, a thread or a
// process group — gets SIGIO (or the F_SETSIG signal). Any file with a wait queue gets it this way:
// pipes and FIFOs now, sockets when they come.

import type { Kernel } from '../kernel/kernel';
import { sendSignalToGroup, sendSignalToTask } from '../kernel/signals';
import type { Waiter } from '../kernel/waitqueue';
import { O_ASYNC } from './constants';
import type { FileDescription } from './file';

const SIGIO = 29;
const POLL_IN = 1;
export const F_OWNER_TID = 0;
export const F_OWNER_PID = 1;
export const F_OWNER_PGRP = 2;

export interface AsyncOwner {
  type: number;
  id: number;
  /** F_SETSIG: the signal instead of SIGIO (0: SIGIO). */
  signal: number;
}

const owners = new WeakMap<FileDescription, AsyncOwner & { waiter: Waiter }>();

/** The file's owner and signal (F_GETOWN/F_GETOWN_EX/F_GETSIG). */
export function asyncOwner(f: FileDescription): AsyncOwner {
  return owners.get(f) ?? { type: F_OWNER_PID, id: 0, signal: 0 };
}

/** F_SETOWN/F_SETOWN_EX/F_SETSIG: change the owner or the signal; from then on changes signal it. */
export function setAsyncOwner(k: Kernel, f: FileDescription, change: Partial<AsyncOwner>): void {
  let o = owners.get(f);
  if (!o) {
    const rec = { type: F_OWNER_PID, id: 0, signal: 0, waiter: { wake: () => signalOwner(k, f) } };
    owners.set(f, rec);
    f.waitQueue.add(rec.waiter);
    o = rec;
  }
  Object.assign(o, change);
}

let quiet = false;

/** Notify f's waiters without it counting as an I/O event (a change of flags, not of readiness). */
export function notifyQuietly(f: FileDescription): void {
  quiet = true;
  try {
    f.waitQueue.notify();
  } finally {
    quiet = false;
  }
}

function signalOwner(k: Kernel, f: FileDescription): void {
  if (quiet) return;
  const o = owners.get(f);
  if (!o || o.id === 0 || !(f.flags & O_ASYNC)) return;
  const info = { signo: o.signal || SIGIO, code: o.signal ? POLL_IN : 0x80, pid: 0, uid: 0 };
  if (o.type === F_OWNER_TID) {
    const t = k.tasks.get(o.id);
    if (t && t.state !== 'dead') sendSignalToTask(t, info);
  } else if (o.type === F_OWNER_PID) {
    const tg = k.groups.get(o.id);
    if (tg?.alive) sendSignalToGroup(tg, info);
  } else {
    for (const tg of [...k.groups.values()]) if (tg.alive && tg.pgid === o.id) sendSignalToGroup(tg, info);
  }
}
