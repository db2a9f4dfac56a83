// System V IPC from the application's side: shmget/shmat/shmdt/shmctl, semget/semop/semtimedop/
// semctl, msgget/msgsnd/msgrcv/msgctl. The objects live in the kernel's IPC namespace (ipc/);
// here are the argument checks in Linux's order, the copies in and out, and the waits.

import { E2BIG, EACCES, EAGAIN, EFAULT, EIDRM, EINTR, EINVAL, ENOMEM, ENOMSG } from '../../abi/errno';
import { ipcNamespace } from '../../ipc';
import { IPC_NOWAIT, ipcAllowed, nowSeconds } from '../../ipc/namespace';
import { MSG_COPY, MSG_EXCEPT, MSG_LIMITS, checkQueue, msgctl as msgctlOp, type Message, type MsgQueue } from '../../ipc/msg';
import { SEM_LIMITS, checkSops, parseSops, semctl as semctlOp, trySemop, type SemBuf, type SemSet, type SemWaiter } from '../../ipc/sem';
import { SHM_EXEC, SHM_RDONLY, SHM_REMAP, SHM_RND, shmctl as shmctlOp } from '../../ipc/shm';
import { PAGE } from '../../mm/layout';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../../mm/mm';
import type { Task } from '../../kernel/task';
import { mayGrowAs } from './sys_mmap';

const RLIMIT_MEMLOCK = 8;
const ERESTARTNOHAND = 514;

/** A ctl result: a number, or bytes for the caller's buffer and the value to return. */
function ctlOut(t: Task, buf: number, r: number | { out: Uint8Array; ret: number }): number {
  if (typeof r === 'number') return r;
  return t.mm.write(buf, r.out) ? r.ret : -EFAULT;
}

// ---- shared memory ----

function shmget(t: Task): number {
  return ipcNamespace(t.kernel).shm.shmget(t.creds, t.pid, t.argInt(0), t.arg(1), t.argInt(2));
}

function shmat(t: Task): number {
  const r = ipcNamespace(t.kernel).shm;
  const id = t.argInt(0);
  let addr = t.arg(1);
  const flg = t.argInt(2);
  if (id < 0) return -EINVAL;
  if (addr !== 0) {
    if (addr % PAGE !== 0) {
      if (!(flg & SHM_RND)) return -EINVAL;
      addr -= addr % PAGE;
      if (addr === 0 && flg & SHM_REMAP) return -EINVAL;
    }
  } else if (flg & SHM_REMAP) return -EINVAL;
  let prot = PROT_READ;
  let acc = 0o444;
  if (!(flg & SHM_RDONLY)) {
    prot |= PROT_WRITE;
    acc |= 0o222;
  }
  if (flg & SHM_EXEC) {
    prot |= PROT_EXEC;
    acc |= 0o111;
  }
  const seg = r.get(id);
  if (!seg) return -EINVAL;
  if (!ipcAllowed(t.creds, seg.perm, acc)) return -EACCES;
  const len = Math.ceil(seg.size / PAGE) * PAGE;
  if (addr !== 0 && !(flg & SHM_REMAP)) {
    for (const v of t.mm.vmas) if (v.start < addr + len && v.end > addr) return -EINVAL;
  }
  if (!mayGrowAs(t, len)) return -ENOMEM;
  const at = t.mm.mapObject(addr, seg.size, prot, addr !== 0, seg.obj, seg.mapName, flg & SHM_RDONLY ? PROT_WRITE : 0);
  if (at < 0) return at;
  seg.atime = nowSeconds();
  seg.lpid = t.pid;
  return at;
}

function shmdt(t: Task): number {
  const addr = t.arg(0);
  if (addr % PAGE !== 0) return -EINVAL;
  const r = ipcNamespace(t.kernel).shm;
  const v = t.mm.find(addr);
  const seg = v && v.start === addr && v.off === 0 ? r.segmentOf(v.obj) : undefined;
  if (!v || !seg) return -EINVAL;
  const end = addr + Math.ceil(seg.size / PAGE) * PAGE;
  const ranges: Array<[number, number]> = [];
  for (const w of t.mm.vmas) if (w.obj === seg.obj && w.start >= addr && w.start < end) ranges.push([w.start, w.end - w.start]);
  seg.dtime = nowSeconds();
  seg.lpid = t.pid;
  for (const [a, n] of ranges) t.mm.munmap(a, n);
  return 0;
}

function shmctl(t: Task): number {
  const id = t.argInt(0);
  const cmd = t.argInt(1);
  const buf = t.arg(2);
  if (cmd < 0 || id < 0) return -EINVAL;
  const rl = t.tg.rlimits.get(RLIMIT_MEMLOCK);
  const memlock = rl === undefined ? Infinity : rl.cur;
  const r = shmctlOp(ipcNamespace(t.kernel).shm, t.creds, memlock, id, cmd, () => t.mm.read(buf, 112));
  return ctlOut(t, buf, r);
}

// ---- semaphores ----

function semget(t: Task): number {
  return ipcNamespace(t.kernel).sem.semget(t.creds, t.argInt(0), t.argInt(1), t.argInt(2));
}

interface SemBlock {
  set: SemSet;
  sops: SemBuf[];
  deadline: number;
  waiter: SemWaiter | undefined;
  dispose(): void;
}

/** The timeout of semtimedop: a deadline (performance.now() ms), Infinity, or -errno. */
function semDeadline(t: Task, addr: number): number {
  if (!addr) return Infinity;
  const b = t.mm.read(addr, 16);
  if (!b) return -EFAULT;
  const dv = new DataView(b.buffer, b.byteOffset, 16);
  const sec = dv.getBigInt64(0, true);
  const nsec = dv.getBigInt64(8, true);
  if (sec < 0n || nsec < 0n || nsec >= 1_000_000_000n) return -EINVAL;
  return performance.now() + Number(sec) * 1000 + Number(nsec) / 1e6;
}

function semAttempt(t: Task, st: SemBlock): number {
  const got = trySemop(ipcNamespace(t.kernel).sem, st.set, t.tg, t.pid, st.sops);
  if (typeof got === 'number') return got;
  if (t.timedOut) return -EAGAIN;
  st.waiter = got;
  st.set.waiters.add(got);
  t.interruptResult = -EINTR;
  return t.block([st.set.queue], st.deadline, st);
}

function semtimedop(t: Task, tsAddr: number): number {
  const st = t.blockState as SemBlock | undefined;
  if (st) {
    if (st.waiter) st.set.waiters.delete(st.waiter);
    st.waiter = undefined;
    if (st.set.removed) return -EIDRM;
    return semAttempt(t, st);
  }
  const id = t.argInt(0);
  const nsops = t.arg(2);
  if (nsops < 1 || id < 0) return -EINVAL;
  if (nsops > SEM_LIMITS.semopm) return -E2BIG;
  const raw = t.mm.read(t.arg(1), nsops * 6);
  if (!raw) return -EFAULT;
  const sops = parseSops(raw);
  const deadline = semDeadline(t, tsAddr);
  if (deadline < 0) return deadline;
  const set = ipcNamespace(t.kernel).sem.get(id);
  const e = checkSops(set, t.creds, sops);
  if (e) return e;
  const block: SemBlock = {
    set: set!, sops, deadline, waiter: undefined,
    dispose() {
      if (this.waiter) this.set.waiters.delete(this.waiter);
    },
  };
  const got = trySemop(ipcNamespace(t.kernel).sem, block.set, t.tg, t.pid, sops);
  if (typeof got === 'number') return got;
  block.waiter = got;
  block.set.waiters.add(got);
  t.interruptResult = -EINTR;
  return t.block([block.set.queue], deadline, block);
}

function semctl(t: Task): number {
  const id = t.argInt(0);
  const num = t.argInt(1);
  const cmd = t.argInt(2);
  const arg = t.arg(3);
  if (id < 0 || cmd < 0) return -EINVAL;
  const r = semctlOp(ipcNamespace(t.kernel).sem, t.creds, t.pid, id, num, cmd, t.argInt(3), { read: (len) => t.mm.read(arg, len) });
  return ctlOut(t, arg, r);
}

// ---- message queues ----

function msgget(t: Task): number {
  return ipcNamespace(t.kernel).msg.msgget(t.creds, t.argInt(0), t.argInt(1));
}

interface MsgBlock {
  q: MsgQueue;
  m?: Message;
}

function msgsnd(t: Task): number {
  const ns = ipcNamespace(t.kernel).msg;
  const flg = t.argInt(3);
  let st = t.blockState as MsgBlock | undefined;
  if (!st) {
    const id = t.argInt(0);
    const size = t.arg(2);
    if (size > MSG_LIMITS.msgmax || id < 0) return -EINVAL;
    const hdr = t.mm.read(t.arg(1), 8);
    if (!hdr) return -EFAULT;
    const type = new DataView(hdr.buffer, hdr.byteOffset, 8).getBigInt64(0, true);
    if (type < 1n) return -EINVAL;
    const data = size === 0 ? new Uint8Array(0) : t.mm.read(t.arg(1) + 8, size);
    if (!data) return -EFAULT;
    const q = ns.get(id);
    const e = checkQueue(q, t.creds, true);
    if (e) return e;
    st = { q: q!, m: { type, data: Uint8Array.from(data) } };
  } else if (st.q.removed) return -EIDRM;
  if (ns.trySend(st.q, t.pid, st.m!) === 0) return 0;
  if (flg & IPC_NOWAIT) return -EAGAIN;
  t.interruptResult = -ERESTARTNOHAND;
  return t.block([st.q.queue], Infinity, st);
}

function msgrcv(t: Task): number {
  const ns = ipcNamespace(t.kernel).msg;
  const id = t.argInt(0);
  const buf = t.arg(1);
  const size = t.argS64(2);
  const msgtyp = BigInt(t.argS64(3));
  const flg = t.argInt(4);
  let st = t.blockState as MsgBlock | undefined;
  if (!st) {
    if (id < 0 || size < 0) return -EINVAL;
    if (flg & MSG_COPY && (flg & MSG_EXCEPT || !(flg & IPC_NOWAIT))) return -EINVAL;
    const q = ns.get(id);
    const e = checkQueue(q, t.creds, false);
    if (e) return e;
    st = { q: q! };
  } else if (st.q.removed) return -EIDRM;
  const got = ns.tryReceive(st.q, t.pid, size, msgtyp, flg);
  if (typeof got === 'number') return got;
  if (got === undefined) {
    if (flg & IPC_NOWAIT) return -ENOMSG;
    t.interruptResult = -ERESTARTNOHAND;
    return t.block([st.q.queue], Infinity, st);
  }
  const n = Math.min(size, got.data.length);
  const out = new Uint8Array(8 + n);
  new DataView(out.buffer).setBigInt64(0, got.type, true);
  out.set(got.data.subarray(0, n), 8);
  return t.mm.write(buf, out) ? n : -EFAULT;
}

function msgctl(t: Task): number {
  const id = t.argInt(0);
  const cmd = t.argInt(1);
  const buf = t.arg(2);
  if (id < 0 || cmd < 0) return -EINVAL;
  return ctlOut(t, buf, msgctlOp(ipcNamespace(t.kernel).msg, t.creds, id, cmd, (len) => t.mm.read(buf, len)));
}

export const sysIpc = {
  shmget,
  shmat,
  shmdt,
  shmctl,
  semget,
  semop: (t: Task) => semtimedop(t, 0),
  semtimedop: (t: Task) => semtimedop(t, t.arg(3)),
  semctl,
  msgget,
  msgsnd,
  msgrcv,
  msgctl,
};
