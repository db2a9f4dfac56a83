// Signal-driven I/O (O_ASYNC with F_SETOWN/F_SETSIG, Linux's fasync): when an O_ASYNC file's
// readiness may have changed (its wait queue is notified), its owner — a process, a thread or a
// process group — gets SIGIO (or the F_SETSIG signal). Any file with a wait queue gets it this way:
// pipes and FIFOs now, sockets when they come.

import type { Kernel } from '../kernel/kernel';
import type { PidNamespace } from '../kernel/pidns';
import { sendSignalToGroup, sendSignalToTask } from '../kernel/signals';
import type { Waiter } from '../kernel/waitqueue';
import { O_ASYNC, POLLIN, POLLOUT } from './constants';
import type { FileDescription } from './file';

const SIGIO = 29;
const SI_KERNEL = 0x80;
const POLL_IN = 1;
const POLL_OUT = 2;
/** POLLIN | POLLRDNORM and POLLOUT | POLLWRNORM | POLLWRBAND (Linux's band_table). */
const BAND_IN = 0x41;
const BAND_OUT = 0x304;
export const F_OWNER_TID = 0;
export const F_OWNER_PID = 1;
export const F_OWNER_PGRP = 2;

export interface AsyncOwner {
  type: number;
  id: number;
  /** F_SETSIG: the signal instead of SIGIO (0: SIGIO). */
  signal: number;
}

interface AsyncRecord extends AsyncOwner {
  waiter: Waiter;
  /** The PID namespace the owner's id is a number of (the setter's). */
  ns: PidNamespace;
  /** The fd O_ASYNC was turned on through (Linux's fasync_struct fa_fd): si_fd; undefined while off. */
  fd: number | undefined;
}

const owners = new WeakMap<FileDescription, AsyncRecord>();

/** The file's owner and signal (F_GETOWN/F_GETOWN_EX/F_GETSIG). */
export function asyncOwner(f: FileDescription): AsyncOwner {
  return owners.get(f) ?? { type: F_OWNER_PID, id: 0, signal: 0 };
}

function record(k: Kernel, f: FileDescription): AsyncRecord {
  let o = owners.get(f);
  if (!o) {
    const rec: AsyncRecord = { type: F_OWNER_PID, id: 0, signal: 0, fd: undefined, ns: k.pidns, waiter: { wake: () => signalOwner(f) } };
    owners.set(f, rec);
    f.waitQueue.add(rec.waiter);
    o = rec;
  }
  return o;
}

/** F_SETOWN/F_SETOWN_EX/F_SETSIG: change the owner or the signal; from then on changes signal it. */
export function setAsyncOwner(k: Kernel, f: FileDescription, change: Partial<AsyncOwner>, ns: PidNamespace = k.pidns): void {
  Object.assign(record(k, f), change, change.id !== undefined ? { ns } : {});
}

/**
 * O_ASYNC turned on through fd (F_SETFL, FIOASYNC), or off (undefined): Linux's fasync_helper. The
 * signal names that fd (si_fd) whatever is dup'ed or closed since; O_ASYNC given to open() alone
 * registers nothing, as in Linux.
 */
export function setAsyncFd(k: Kernel, f: FileDescription, fd: number | undefined): void {
  record(k, f).fd = fd;
}

/** Is there a task, process, process group or session with this id (Linux's find_vpid)? */
export function idInUse(ns: PidNamespace, id: number): boolean {
  if (id <= 0) return false;
  const t = ns.tasks.get(id);
  if (t && t.state !== 'dead') return true;
  for (const tg of ns.groups.values()) if (tg.alive && (tg.pgid === id || tg.sid === id)) return true;
  return false;
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

function signalOwner(f: FileDescription): void {
  if (quiet) return;
  const o = owners.get(f);
  if (!o || o.id === 0 || o.fd === undefined || !(f.flags & O_ASYNC)) return;
  // With F_SETSIG (even to SIGIO) the siginfo says why and through which fd (send_sigio_to_task):
  // readable is POLL_IN, else writable POLL_OUT, with their poll bands.
  const out = !(f.readiness() & POLLIN) && (f.readiness() & POLLOUT) !== 0;
  const info = o.signal
    ? { signo: o.signal, code: out ? POLL_OUT : POLL_IN, band: out ? BAND_OUT : BAND_IN, fd: o.fd }
    : { signo: SIGIO, code: SI_KERNEL, pid: 0, uid: 0 };
  if (o.type === F_OWNER_TID) {
    const t = o.ns.tasks.get(o.id);
    if (t && t.state !== 'dead') sendSignalToTask(t, info);
  } else if (o.type === F_OWNER_PID) {
    const tg = o.ns.groups.get(o.id);
    if (tg?.alive) sendSignalToGroup(tg, info);
  } else {
    for (const tg of [...o.ns.groups.values()]) if (tg.alive && tg.pgid === o.id) sendSignalToGroup(tg, info);
  }
}
