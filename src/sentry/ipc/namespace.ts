// System V IPC's kernel side: one IPC namespace per sentry kernel (the pod's: its containers share
// it, as a pod's containers share an IPC namespace), holding three registries (shm, sem, msg) of
// objects named by key and by id. An id is seq * 32768 + index, the index the lowest free slot and
// seq counting the registry's allocations, so that a stale id names nothing (EINVAL), as Linux's
// ipc_ids. Permissions are ipcperms(): the owner's, group's or others' bits of the mode, the
// creator counting as owner, CAP_IPC_OWNER overriding.

import { EACCES, EEXIST, ENOENT, ENOSPC, EPERM } from '../abi/errno';
import { capable, inGroupP, type Credentials } from '../kernel/creds';

export const IPC_PRIVATE = 0;
export const IPC_CREAT = 0o1000;
export const IPC_EXCL = 0o2000;
export const IPC_NOWAIT = 0o4000;
export const IPC_RMID = 0;
export const IPC_SET = 1;
export const IPC_STAT = 2;
export const IPC_INFO = 3;

/** Linux's IPCMNI: ids are seq * SEQ_MULTIPLIER + index. */
export const SEQ_MULTIPLIER = 32768;
const SEQ_MAX = Math.floor(0x7fffffff / SEQ_MULTIPLIER);
const CAP_SYS_ADMIN = 21;
const CAP_IPC_OWNER = 15;

/** struct kern_ipc_perm: who owns an object and who may use it. */
export interface IpcPerm {
  key: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  /** The low 9 bits are permissions; shm keeps SHM_DEST and SHM_LOCKED above them. */
  mode: number;
  seq: number;
}

export interface IpcObject {
  id: number;
  perm: IpcPerm;
  /** Seconds since the epoch of the last IPC_SET (or creation). */
  ctime: number;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export function newPerm(key: number, flags: number, c: Credentials): IpcPerm {
  return { key, uid: c.euid, gid: c.egid, cuid: c.euid, cgid: c.egid, mode: flags & 0o777, seq: 0 };
}

/** ipcperms(): may c have the rwx bits of `flag` (0o400/0o200 style or 0o4/0o2) on the object? */
export function ipcAllowed(c: Credentials, p: IpcPerm, flag: number): boolean {
  const requested = ((flag >> 6) | (flag >> 3) | flag) & 7;
  let granted = p.mode;
  if (c.euid === p.cuid || c.euid === p.uid) granted >>= 6;
  else if (inGroupP(c, p.cgid) || inGroupP(c, p.gid)) granted >>= 3;
  return (requested & ~granted & 7) === 0 || capable(c, CAP_IPC_OWNER);
}

/** IPC_RMID / IPC_SET: the owner, the creator, or CAP_SYS_ADMIN (ipcctl_obtain_check); EPERM otherwise. */
export function mayControl(c: Credentials, p: IpcPerm): number {
  return c.euid === p.cuid || c.euid === p.uid || capable(c, CAP_SYS_ADMIN) ? 0 : -EPERM;
}

/** IPC_SET's change to the perm: owner ids and the permission bits. */
export function setPerm(p: IpcPerm, uid: number, gid: number, mode: number): void {
  p.uid = uid;
  p.gid = gid;
  p.mode = (p.mode & ~0o777) | (mode & 0o777);
}

/** One kind of object's ids and keys (Linux's struct ipc_ids). */
export class IpcRegistry<T extends IpcObject> {
  private readonly slots: Array<T | undefined> = [];
  private readonly byKey = new Map<number, T>();
  private seq = 0;
  count = 0;

  constructor(readonly max: () => number) {}

  /** The object of id, or undefined (out of range, free slot, or another generation's id). */
  get(id: number): T | undefined {
    if (!Number.isInteger(id) || id < 0) return undefined;
    const o = this.slots[id % SEQ_MULTIPLIER];
    return o && o.id === id ? o : undefined;
  }

  /** The object in slot idx (SHM_STAT and friends take an index). */
  atIndex(idx: number): T | undefined {
    return Number.isInteger(idx) && idx >= 0 && idx < this.slots.length ? this.slots[idx] : undefined;
  }

  /** The highest index in use (IPC_INFO's return), 0 when empty. */
  maxIndex(): number {
    for (let i = this.slots.length - 1; i >= 0; i--) if (this.slots[i]) return i;
    return 0;
  }

  *all(): IterableIterator<T> {
    for (const o of this.slots) if (o) yield o;
  }

  /**
   * ipcget(): the id of key's object (checked by more, then by ipcperms), or a new one made by
   * create (IPC_PRIVATE, or IPC_CREAT and no such key). Returns the id or -errno.
   */
  getOrCreate(c: Credentials, key: number, flags: number, more: (o: T) => number, create: () => T | number): number {
    if (key !== IPC_PRIVATE) {
      const o = this.byKey.get(key);
      if (o) {
        if (flags & IPC_CREAT && flags & IPC_EXCL) return -EEXIST;
        const r = more(o);
        if (r < 0) return r;
        return ipcAllowed(c, o.perm, flags) ? o.id : -EACCES;
      }
      if (!(flags & IPC_CREAT)) return -ENOENT;
    }
    if (this.count >= this.max()) return -ENOSPC;
    const made = create();
    if (typeof made === 'number') return made;
    this.add(made);
    return made.id;
  }

  private add(o: T): void {
    let idx = this.slots.indexOf(undefined);
    if (idx < 0) idx = this.slots.length;
    const seq = this.seq;
    this.seq = this.seq >= SEQ_MAX ? 0 : this.seq + 1;
    o.perm.seq = seq;
    o.id = seq * SEQ_MULTIPLIER + idx;
    this.slots[idx] = o;
    if (o.perm.key !== IPC_PRIVATE) this.byKey.set(o.perm.key, o);
    this.count++;
  }

  /** The key no longer finds it (IPC_RMID of an attached segment: IPC_PRIVATE from now on). */
  forgetKey(o: T): void {
    if (o.perm.key !== IPC_PRIVATE && this.byKey.get(o.perm.key) === o) this.byKey.delete(o.perm.key);
    o.perm.key = IPC_PRIVATE;
  }

  remove(o: T): void {
    this.forgetKey(o);
    const idx = o.id % SEQ_MULTIPLIER;
    if (this.slots[idx] !== o) return;
    this.slots[idx] = undefined;
    while (this.slots.length > 0 && this.slots[this.slots.length - 1] === undefined) this.slots.pop();
    this.count--;
  }
}

/** struct ipc64_perm (48 bytes) at off of dv. */
export function writePerm(dv: DataView, off: number, p: IpcPerm): void {
  dv.setInt32(off, p.key | 0, true);
  dv.setUint32(off + 4, p.uid, true);
  dv.setUint32(off + 8, p.gid, true);
  dv.setUint32(off + 12, p.cuid, true);
  dv.setUint32(off + 16, p.cgid, true);
  dv.setUint16(off + 20, p.mode & 0xffff, true);
  dv.setUint16(off + 24, p.seq & 0xffff, true);
}

/** The uid, gid and mode IPC_SET takes from a struct ipc64_perm. */
export function readPermSet(dv: DataView, off: number): { uid: number; gid: number; mode: number } {
  return { uid: dv.getUint32(off + 4, true), gid: dv.getUint32(off + 8, true), mode: dv.getUint16(off + 20, true) };
}

