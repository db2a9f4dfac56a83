// System V shared memory segments (shmget/shmat/shmdt/shmctl). A segment is a SharedObject of the
// memory manager's (mm/shared.ts: a memfd of its own, charged to the sandbox like any MAP_SHARED
// memory), mapped by shmat as a shared mapping of the object; every mapping (after fork, or a
// split by munmap/mprotect) holds a reference, so the attach count is the object's references less
// the segment's own. IPC_RMID drops the segment's reference: the segment goes with its last
// mapping (exit, exec and munmap detach as shmdt does), its key forgotten at once, as Linux's
// SHM_DEST.

import { EACCES, EINVAL, ENOMEM, ENOSPC, EPERM } from '../abi/errno';
import { capable, type Credentials } from '../kernel/creds';
import type { MemoryOps } from '../mm/memory-file';
import { PAGE } from '../mm/layout';
import { SharedObject } from '../mm/shared';
import {
  IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, IpcRegistry, ipcAllowed, mayControl, newPerm, nowSeconds, readPermSet, setPerm, writePerm,
  type IpcObject, type IpcPerm,
} from './namespace';

export const SHM_RDONLY = 0o10000;
export const SHM_RND = 0o20000;
export const SHM_REMAP = 0o40000;
export const SHM_EXEC = 0o100000;
export const SHM_LOCK = 11;
export const SHM_UNLOCK = 12;
export const SHM_STAT = 13;
export const SHM_INFO = 14;
export const SHM_STAT_ANY = 15;
const SHM_DEST = 0o1000;
const SHM_LOCKED = 0o2000;
const SHMMIN = 1;
const CAP_IPC_LOCK = 14;
/** struct shmid64_ds's size. */
export const SHMID_DS_SIZE = 112;

/** The sandbox's limits (/proc/sys/kernel/shm*; read-only in the sandbox). */
export const SHM_LIMITS = {
  shmmax: 18446744073692774399n,
  shmall: 18446744073692774399n,
  shmmni: 4096,
};

export class ShmSegment implements IpcObject {
  id = 0;
  ctime = nowSeconds();
  atime = 0;
  dtime = 0;
  lpid = 0;

  constructor(
    readonly perm: IpcPerm,
    readonly size: number,
    readonly obj: SharedObject,
    readonly cpid: number,
  ) {}

  get removed(): boolean {
    return (this.perm.mode & SHM_DEST) !== 0;
  }

  /** shm_nattch: the mappings of it (each holds a reference; the segment holds one until IPC_RMID). */
  get nattch(): number {
    return Math.max(0, this.obj.refs - (this.removed ? 0 : 1));
  }

  get pages(): number {
    return Math.ceil(this.size / PAGE);
  }

  /** /proc/<pid>/maps' name of an attachment, as Linux's shmem file. */
  get mapName(): string {
    return `/SYSV${(this.perm.key >>> 0).toString(16).padStart(8, '0')} (deleted)`;
  }
}

export class ShmRegistry extends IpcRegistry<ShmSegment> {
  /** Pages of every segment (SHM_INFO's shm_tot, checked against shmall). */
  totalPages = 0;
  /** Which object is which segment (shmdt finds its mapping by the object). */
  readonly byObject = new WeakMap<SharedObject, ShmSegment>();

  constructor(private readonly ops: MemoryOps, private readonly memoryBytes: () => number) {
    super(() => SHM_LIMITS.shmmni);
  }

  /** shmget(2). */
  shmget(c: Credentials, pid: number, key: number, size: number, flags: number): number {
    return this.getOrCreate(
      c, key, flags,
      (s) => (s.size < size ? -EINVAL : 0),
      () => this.create(c, pid, key, size, flags),
    );
  }

  private create(c: Credentials, pid: number, key: number, size: number, flags: number): ShmSegment | number {
    if (size < SHMMIN || BigInt(size) > SHM_LIMITS.shmmax) return -EINVAL;
    const pages = Math.ceil(size / PAGE);
    if (BigInt(this.totalPages + pages) > SHM_LIMITS.shmall) return -ENOSPC;
    // The sentry maps every segment into itself: the segments together stay within the sandbox's
    // memory (a segment larger than the machine could never be touched whole anyway).
    if ((this.totalPages + pages) * PAGE > this.memoryBytes()) return -ENOMEM;
    let obj: SharedObject;
    try {
      obj = new SharedObject(this.ops, pages * PAGE);
    } catch {
      return -ENOMEM;
    }
    const seg = new ShmSegment(newPerm(key, flags, c), size, obj, pid);
    this.byObject.set(obj, seg);
    this.totalPages += pages;
    obj.onFree = () => this.destroy(seg);
    return seg;
  }

  private destroy(seg: ShmSegment): void {
    this.totalPages -= seg.pages;
    this.remove(seg);
  }

  /** IPC_RMID: gone now if nothing maps it, else when the last mapping goes; its key is free now. */
  rmid(seg: ShmSegment): void {
    if (seg.removed) return;
    this.forgetKey(seg);
    seg.perm.mode |= SHM_DEST;
    seg.ctime = nowSeconds();
    seg.obj.unref();
  }

  /** The segment whose mapping starts at a vma of obj at object offset off (shmdt). */
  segmentOf(obj: SharedObject | undefined): ShmSegment | undefined {
    return obj ? this.byObject.get(obj) : undefined;
  }
}

/** struct shmid64_ds of seg. */
export function shmidDs(seg: ShmSegment): Uint8Array {
  const b = new Uint8Array(SHMID_DS_SIZE);
  const dv = new DataView(b.buffer);
  writePerm(dv, 0, seg.perm);
  dv.setBigUint64(48, BigInt(seg.size), true);
  dv.setBigInt64(56, BigInt(seg.atime), true);
  dv.setBigInt64(64, BigInt(seg.dtime), true);
  dv.setBigInt64(72, BigInt(seg.ctime), true);
  dv.setInt32(80, seg.cpid, true);
  dv.setInt32(84, seg.lpid, true);
  dv.setBigUint64(88, BigInt(seg.nattch), true);
  return b;
}

/** struct shminfo64 (IPC_INFO). */
export function shmInfo(): Uint8Array {
  const b = new Uint8Array(72);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, SHM_LIMITS.shmmax, true);
  dv.setBigUint64(8, BigInt(SHMMIN), true);
  dv.setBigUint64(16, BigInt(SHM_LIMITS.shmmni), true);
  dv.setBigUint64(24, BigInt(SHM_LIMITS.shmmni), true); // shmseg: SHMSEG = SHMMNI
  dv.setBigUint64(32, SHM_LIMITS.shmall, true);
  return b;
}

/** struct shm_info (SHM_INFO): ids in use, pages, resident pages. */
export function shmUsage(r: ShmRegistry): Uint8Array {
  const b = new Uint8Array(48);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, r.count, true);
  dv.setBigUint64(8, BigInt(r.totalPages), true);
  dv.setBigUint64(16, BigInt(r.totalPages), true);
  return b;
}

export type ShmCtlResult = number | { out: Uint8Array; ret: number };

/**
 * shmctl(2) but for the copies: buf is the caller's struct for IPC_SET (read by the caller), and
 * a result with `out` asks the caller to write it to buf and return ret.
 */
export function shmctl(r: ShmRegistry, c: Credentials, memlockLimit: number, id: number, cmd: number, setBuf: () => Uint8Array | null): ShmCtlResult {
  switch (cmd) {
    case IPC_INFO:
      return { out: shmInfo(), ret: r.maxIndex() };
    case SHM_INFO:
      return { out: shmUsage(r), ret: r.maxIndex() };
    case SHM_STAT:
    case SHM_STAT_ANY: {
      const seg = r.atIndex(id);
      if (!seg) return -EINVAL;
      if (cmd === SHM_STAT && !ipcAllowed(c, seg.perm, 0o444)) return -EACCES;
      return { out: shmidDs(seg), ret: seg.id };
    }
  }
  if (cmd !== IPC_STAT && cmd !== IPC_SET && cmd !== IPC_RMID && cmd !== SHM_LOCK && cmd !== SHM_UNLOCK) return -EINVAL;
  const seg = r.get(id);
  if (!seg) return -EINVAL;
  switch (cmd) {
    case IPC_STAT:
      if (!ipcAllowed(c, seg.perm, 0o444)) return -EACCES;
      return { out: shmidDs(seg), ret: 0 };
    case IPC_SET: {
      const b = setBuf();
      if (!b) return -14; // EFAULT
      const e = mayControl(c, seg.perm);
      if (e) return e;
      const p = readPermSet(new DataView(b.buffer, b.byteOffset, b.byteLength), 0);
      setPerm(seg.perm, p.uid, p.gid, p.mode);
      seg.ctime = nowSeconds();
      return 0;
    }
    case IPC_RMID: {
      const e = mayControl(c, seg.perm);
      if (e) return e;
      r.rmid(seg);
      return 0;
    }
    default: {
      // SHM_LOCK / SHM_UNLOCK: nothing is swapped here; the flag is kept for IPC_STAT.
      if (!capable(c, CAP_IPC_LOCK)) {
        if (c.euid !== seg.perm.uid && c.euid !== seg.perm.cuid) return -EPERM;
        if (cmd === SHM_LOCK && memlockLimit === 0) return -EPERM;
      }
      if (cmd === SHM_LOCK) seg.perm.mode |= SHM_LOCKED;
      else seg.perm.mode &= ~SHM_LOCKED;
      return 0;
    }
  }
}

