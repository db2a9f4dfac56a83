// System V semaphore sets (semget/semop/semtimedop/semctl). An operation list applies all at once
// or not at all (Linux's perform_atomic_semop); one that cannot proceed parks the caller on the
// set's queue, and every change to the set wakes the parked callers to try again. SEM_UNDO
// adjustments are kept per process (its thread group, which CLONE_SYSVSEM threads share) and
// applied when it exits.

import { EACCES, EAGAIN, EFBIG, EIDRM, EINVAL, ENOMEM, ENOSPC, ERANGE } from '../abi/errno';
import type { Credentials } from '../kernel/creds';
import { WaitQueue } from '../kernel/waitqueue';
import {
  IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT, IpcRegistry, ipcAllowed, mayControl, newPerm, nowSeconds, readPermSet, setPerm, writePerm,
  type IpcObject, type IpcPerm,
} from './namespace';

export const SEM_UNDO = 0x1000;
export const GETPID = 11;
export const GETVAL = 12;
export const GETALL = 13;
export const GETNCNT = 14;
export const GETZCNT = 15;
export const SETVAL = 16;
export const SETALL = 17;
export const SEM_STAT = 18;
export const SEM_INFO = 19;
export const SEM_STAT_ANY = 20;
export const SEMVMX = 32767;
const SEMAEM = SEMVMX;
export const SEMID_DS_SIZE = 104;
/**
 * The sentry's own bounds under Linux's (semmns would allow 10^9 semaphores): the semaphores of all
 * sets, and the SEM_UNDO adjustments of all processes, are the sentry's memory. Past them semget
 * is ENOSPC (as past semmns) and a SEM_UNDO operation ENOMEM (as when its undo cannot be allocated).
 */
export const SEM_TOTAL_MAX = 1 << 20;
export const SEM_UNDO_TOTAL_MAX = 1 << 22;

/** /proc/sys/kernel/sem: semmsl, semmns, semopm, semmni (the sandbox's; read-only there). */
export const SEM_LIMITS = { semmsl: 32000, semmns: 1024000000, semopm: 500, semmni: 32000 };

export interface SemBuf {
  num: number;
  op: number;
  flg: number;
}

/** A caller parked in semop: which semaphore it waits on, and for what (ncnt or zcnt). */
export interface SemWaiter {
  num: number;
  zero: boolean;
}

export class SemSet implements IpcObject {
  id = 0;
  ctime = nowSeconds();
  otime = 0;
  readonly vals: Int32Array;
  readonly pids: Int32Array;
  removed = false;
  readonly queue = new WaitQueue();
  readonly waiters = new Set<SemWaiter>();
  /** SEM_UNDO adjustments, per process. */
  readonly undos = new Map<object, Int32Array>();

  constructor(readonly perm: IpcPerm, readonly nsems: number) {
    this.vals = new Int32Array(nsems);
    this.pids = new Int32Array(nsems);
  }

  count(num: number, zero: boolean): number {
    let n = 0;
    for (const w of this.waiters) if (w.num === num && w.zero === zero) n++;
    return n;
  }
}

export class SemRegistry extends IpcRegistry<SemSet> {
  usedSems = 0;
  /** Adjustments held in every undo list (bounded by SEM_UNDO_TOTAL_MAX). */
  undoSems = 0;

  constructor() {
    super(() => SEM_LIMITS.semmni);
  }

  semget(c: Credentials, key: number, nsems: number, flags: number): number {
    if (nsems < 0 || nsems > SEM_LIMITS.semmsl) return -EINVAL;
    return this.getOrCreate(
      c, key, flags,
      (s) => (nsems > s.nsems ? -EINVAL : 0),
      () => {
        if (nsems === 0) return -EINVAL;
        if (this.usedSems + nsems > Math.min(SEM_LIMITS.semmns, SEM_TOTAL_MAX)) return -ENOSPC;
        this.usedSems += nsems;
        return new SemSet(newPerm(key, flags, c), nsems);
      },
    );
  }

  rmid(s: SemSet): void {
    s.removed = true;
    this.usedSems -= s.nsems;
    this.remove(s);
    this.undoSems -= s.undos.size * s.nsems;
    s.undos.clear();
    s.queue.notify();
  }

  /** A process is gone: its SEM_UNDO adjustments apply (clamped to 0..SEMVMX, as exit_sem). */
  exit(owner: object, pid: number): void {
    for (const s of this.all()) {
      const adj = s.undos.get(owner);
      if (!adj) continue;
      s.undos.delete(owner);
      this.undoSems -= s.nsems;
      let changed = false;
      for (let i = 0; i < s.nsems; i++) {
        if (adj[i] === 0) continue;
        s.vals[i] = Math.max(0, Math.min(SEMVMX, s.vals[i] + adj[i]));
        s.pids[i] = pid;
        changed = true;
      }
      if (changed) {
        s.otime = nowSeconds();
        s.queue.notify();
      }
    }
  }
}

/** struct sembuf[] (6 bytes each: u16 num, i16 op, i16 flg). */
export function parseSops(b: Uint8Array): SemBuf[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: SemBuf[] = [];
  for (let o = 0; o + 6 <= b.length; o += 6) out.push({ num: dv.getUint16(o, true), op: dv.getInt16(o + 2, true), flg: dv.getInt16(o + 4, true) });
  return out;
}

/** Checks before any attempt (do_semtimedop's): E2BIG/EINVAL on the count are the caller's. */
export function checkSops(s: SemSet | undefined, c: Credentials, sops: SemBuf[]): number {
  if (!s) return -EINVAL;
  let max = 0;
  let alter = false;
  for (const op of sops) {
    max = Math.max(max, op.num);
    if (op.op !== 0) alter = true;
  }
  if (max >= s.nsems) return -EFBIG;
  if (!ipcAllowed(c, s.perm, alter ? 0o222 : 0o444)) return -EACCES;
  if (s.removed) return -EIDRM;
  return 0;
}

/**
 * One attempt at the whole list: 0 (done, applied), -EAGAIN/-ERANGE, or the waiter to park as
 * (the first operation that cannot proceed).
 */
export function trySemop(r: SemRegistry, s: SemSet, owner: object, pid: number, sops: SemBuf[]): number | SemWaiter {
  const vals = Int32Array.from(s.vals);
  let adj = s.undos.get(owner);
  const newAdj = adj ? Int32Array.from(adj) : new Int32Array(s.nsems);
  let undo = false;
  for (const op of sops) {
    let v = vals[op.num];
    if (op.op === 0 && v !== 0) return op.flg & IPC_NOWAIT ? -EAGAIN : { num: op.num, zero: true };
    v += op.op;
    if (v < 0) return op.flg & IPC_NOWAIT ? -EAGAIN : { num: op.num, zero: false };
    if (v > SEMVMX) return -ERANGE;
    if (op.flg & SEM_UNDO) {
      const u = newAdj[op.num] - op.op;
      if (u < -SEMAEM - 1 || u > SEMAEM) return -ERANGE;
      newAdj[op.num] = u;
      undo = true;
    }
    vals[op.num] = v;
  }
  if (undo && !adj && r.undoSems + s.nsems > SEM_UNDO_TOTAL_MAX) return -ENOMEM;
  let changed = false;
  for (let i = 0; i < s.nsems; i++) if (vals[i] !== s.vals[i]) changed = true;
  s.vals.set(vals);
  for (const op of sops) s.pids[op.num] = pid;
  if (undo) {
    if (!adj) {
      s.undos.set(owner, (adj = newAdj));
      r.undoSems += s.nsems;
    } else adj.set(newAdj);
  }
  s.otime = nowSeconds();
  if (changed) s.queue.notify();
  return 0;
}

export function semidDs(s: SemSet): Uint8Array {
  const b = new Uint8Array(SEMID_DS_SIZE);
  const dv = new DataView(b.buffer);
  writePerm(dv, 0, s.perm);
  dv.setBigInt64(48, BigInt(s.otime), true);
  dv.setBigInt64(64, BigInt(s.ctime), true);
  dv.setBigUint64(80, BigInt(s.nsems), true);
  return b;
}

/** struct seminfo (IPC_INFO: the limits; SEM_INFO: semusz = sets, semaem = semaphores in use). */
export function semInfo(r: SemRegistry, usage: boolean): Uint8Array {
  const b = new Uint8Array(40);
  const dv = new DataView(b.buffer);
  const L = SEM_LIMITS;
  // semmap, semmni, semmns, semmnu (SEMMNU = SEMMNS), semmsl, semopm, semume, semusz, semvmx, semaem.
  const vals = [L.semmns, L.semmni, L.semmns, L.semmns, L.semmsl, L.semopm, L.semopm, 20, SEMVMX, SEMAEM];
  if (usage) {
    vals[7] = r.count;
    vals[9] = r.usedSems;
  }
  vals.forEach((v, i) => dv.setInt32(i * 4, v, true));
  return b;
}

export interface SemCtlIo {
  /** The caller's struct semid64_ds (IPC_SET) or its array of nsems u16 (SETALL). */
  read(len: number): Uint8Array | null;
}

export type SemCtlResult = number | { out: Uint8Array; ret: number };

/** semctl(2) but for the copies (a result with `out` goes to the caller's buffer). */
export function semctl(r: SemRegistry, c: Credentials, pid: number, id: number, num: number, cmd: number, arg: number, io: SemCtlIo): SemCtlResult {
  switch (cmd) {
    case IPC_INFO:
    case SEM_INFO:
      return { out: semInfo(r, cmd === SEM_INFO), ret: r.maxIndex() };
    case SEM_STAT:
    case SEM_STAT_ANY: {
      const s = r.atIndex(id);
      if (!s) return -EINVAL;
      if (cmd === SEM_STAT && !ipcAllowed(c, s.perm, 0o444)) return -EACCES;
      return { out: semidDs(s), ret: s.id };
    }
  }
  if (cmd < 0 || cmd > SETALL || cmd === IPC_INFO || (cmd > IPC_INFO && cmd < GETPID)) return -EINVAL;
  if (cmd === SETVAL && ((arg | 0) < 0 || (arg | 0) > SEMVMX)) return -ERANGE;
  const s = r.get(id);
  if (!s) return -EINVAL;
  switch (cmd) {
    case IPC_STAT:
      if (!ipcAllowed(c, s.perm, 0o444)) return -EACCES;
      return { out: semidDs(s), ret: 0 };
    case IPC_SET: {
      const b = io.read(SEMID_DS_SIZE);
      if (!b) return -14;
      const e = mayControl(c, s.perm);
      if (e) return e;
      const p = readPermSet(new DataView(b.buffer, b.byteOffset, b.byteLength), 0);
      setPerm(s.perm, p.uid, p.gid, p.mode);
      s.ctime = nowSeconds();
      return 0;
    }
    case IPC_RMID: {
      const e = mayControl(c, s.perm);
      if (e) return e;
      r.rmid(s);
      return 0;
    }
    case GETALL: {
      if (!ipcAllowed(c, s.perm, 0o444)) return -EACCES;
      const out = new Uint8Array(s.nsems * 2);
      const dv = new DataView(out.buffer);
      for (let i = 0; i < s.nsems; i++) dv.setUint16(i * 2, s.vals[i], true);
      return { out, ret: 0 };
    }
    case SETALL: {
      if (!ipcAllowed(c, s.perm, 0o222)) return -EACCES;
      const b = io.read(s.nsems * 2);
      if (!b) return -14;
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const vals: number[] = [];
      for (let i = 0; i < s.nsems; i++) {
        const v = dv.getUint16(i * 2, true);
        if (v > SEMVMX) return -ERANGE;
        vals.push(v);
      }
      vals.forEach((v, i) => {
        s.vals[i] = v;
        s.pids[i] = pid;
      });
      for (const adj of s.undos.values()) adj.fill(0);
      s.ctime = nowSeconds();
      s.queue.notify();
      return 0;
    }
  }
  // One semaphore: GETVAL, GETPID, GETNCNT, GETZCNT, SETVAL.
  if (!ipcAllowed(c, s.perm, cmd === SETVAL ? 0o222 : 0o444)) return -EACCES;
  if (num < 0 || num >= s.nsems) return -EINVAL;
  switch (cmd) {
    case GETVAL:
      return s.vals[num];
    case GETPID:
      return s.pids[num];
    case GETNCNT:
      return s.count(num, false);
    case GETZCNT:
      return s.count(num, true);
    default: {
      const v = arg | 0;
      s.vals[num] = v;
      s.pids[num] = pid;
      for (const adj of s.undos.values()) adj[num] = 0;
      s.ctime = nowSeconds();
      s.queue.notify();
      return 0;
    }
  }
}

