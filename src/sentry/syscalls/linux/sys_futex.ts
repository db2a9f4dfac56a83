// futex(2) for threads (wait, wake, bitsets, requeue, PI locks: kernel/futex-pi.ts), robust lists
// (recorded; walked at exit by kernel/futex.ts).

import { EAGAIN, EFAULT, EINVAL, ENOSYS, EPERM, ESRCH, ETIMEDOUT } from '../../abi/errno';
import { mayReadTask } from '../../kernel/ptrace-access';
import { piLock, piUnlock } from '../../kernel/futex-pi';
import { futexDequeue, futexEnqueue, futexKey, futexRequeue, futexWake, type FutexWaiter } from '../../kernel/futex';
import type { Task } from '../../kernel/task';
import { clockNs } from './sys_time';

const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;

const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
const FUTEX_REQUEUE = 3;
const FUTEX_CMP_REQUEUE = 4;
const FUTEX_WAKE_OP = 5;
const FUTEX_LOCK_PI = 6;
const FUTEX_UNLOCK_PI = 7;
const FUTEX_TRYLOCK_PI = 8;
const FUTEX_WAIT_BITSET = 9;
const FUTEX_WAKE_BITSET = 10;
const FUTEX_LOCK_PI2 = 13;
const FUTEX_PRIVATE = 128;
const FUTEX_CLOCK_REALTIME = 256;

interface FutexBlock {
  key: string;
  waiter: FutexWaiter;
  deadline: number;
}

function readTimeout(t: Task, addr: number, absolute: boolean, realtime: boolean): number | null {
  if (!addr) return Infinity;
  const b = t.mm.read(addr, 16);
  if (!b) return null;
  const dv = new DataView(b.buffer);
  const ms = Number(dv.getBigInt64(0, true)) * 1000 + Number(dv.getBigInt64(8, true)) / 1e6;
  if (!absolute) return performance.now() + ms;
  // Absolute: on the CLOCK_MONOTONIC (or REALTIME) the application reads (clock_gettime's), turned
  // into the sentry's performance.now() deadline. (Date.now() alone drops the sub-millisecond part
  // the application sees: a wait woke up to 1 ms early; performance.now() is not the
  // application's CLOCK_MONOTONIC at all: a monotonic deadline was days away.)
  const nowClock = Number(clockNs(t, realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC)) / 1e6;
  return performance.now() + Math.max(0, ms - nowClock);
}

function wait(t: Task, addr: number, val: number, timeoutAddr: number, bitset: number, absolute: boolean, realtime: boolean, shared: boolean): number {
  const st = t.blockState as FutexBlock | undefined;
  if (st) {
    if (st.waiter.woken) return 0;
    if (t.timedOut) {
      futexDequeue(t.kernel, st.key, st.waiter);
      return -ETIMEDOUT;
    }
    return t.block([], st.deadline, st);
  }
  if (bitset === 0) return -EINVAL;
  if (addr % 4 !== 0) return -EINVAL;
  const cur = t.mm.readU32(addr);
  if (cur === null) return -EFAULT;
  if (cur !== val >>> 0) return -EAGAIN;
  const deadline = readTimeout(t, timeoutAddr, absolute, realtime);
  if (deadline === null) return -EFAULT;
  const key = futexKey(t.mm, addr, shared);
  const waiter: FutexWaiter = { task: t, bitset, woken: false };
  futexEnqueue(t.kernel, key, waiter);
  t.interruptResult = -514; // ERESTARTNOHAND: EINTR for the caller to retry
  const r = t.block([], deadline, { key, waiter, deadline });
  return r;
}

function futex(t: Task): number {
  const addr = t.arg(0);
  const op = t.argInt(1);
  const val = t.argU32(2);
  const cmd = op & ~(FUTEX_PRIVATE | FUTEX_CLOCK_REALTIME);
  const realtime = (op & FUTEX_CLOCK_REALTIME) !== 0;
  const shared = (op & FUTEX_PRIVATE) === 0;
  const key = (a: number) => futexKey(t.mm, a, shared);
  const k = t.kernel;
  // Linux's counts are ints: a wake of 0 or fewer still wakes one waiter (futex_wake's
  // "++ret >= nr_wake"); requeue counts below 0 are EINVAL.
  const atLeastOne = (n: number) => ((n | 0) <= 0 ? 1 : n | 0);
  switch (cmd) {
    case FUTEX_WAIT:
      return wait(t, addr, val, t.arg(3), 0xffffffff, false, realtime, shared);
    case FUTEX_WAIT_BITSET:
      return wait(t, addr, val, t.arg(3), t.argU32(5), true, realtime, shared);
    case FUTEX_WAKE:
      return futexWake(k, key(addr), atLeastOne(val), 0xffffffff);
    case FUTEX_WAKE_BITSET:
      return t.argU32(5) === 0 ? -EINVAL : futexWake(k, key(addr), atLeastOne(val), t.argU32(5));
    case FUTEX_REQUEUE:
      if ((val | 0) < 0 || t.argInt(3) < 0) return -EINVAL;
      return futexRequeue(k, key(addr), val, t.argU32(3), key(t.arg(4)));
    case FUTEX_CMP_REQUEUE: {
      if ((val | 0) < 0 || t.argInt(3) < 0) return -EINVAL;
      const cur = t.mm.readU32(addr);
      if (cur === null) return -EFAULT;
      if (cur !== t.argU32(5)) return -EAGAIN;
      return futexRequeue(k, key(addr), val, t.argU32(3), key(t.arg(4)));
    }
    case FUTEX_WAKE_OP: {
      const addr2 = t.arg(4);
      const encoded = t.argU32(5);
      const old = t.mm.readU32(addr2);
      if (old === null) return -EFAULT;
      const opc = (encoded >>> 28) & 7;
      const cmp = (encoded >>> 24) & 15;
      let oparg = (encoded >>> 12) & 0xfff;
      const cmparg = encoded & 0xfff;
      if ((encoded >>> 28) & 8) oparg = 1 << oparg;
      const nv = [oparg, old + oparg, old | oparg, old & ~oparg, old ^ oparg][opc];
      if (nv === undefined) return -ENOSYS;
      t.mm.writeU32(addr2, nv >>> 0);
      let n = futexWake(k, key(addr), atLeastOne(val), 0xffffffff);
      const ok = [old === cmparg, old !== cmparg, old < cmparg, old <= cmparg, old > cmparg, old >= cmparg][cmp];
      if (ok) n += futexWake(k, key(addr2), atLeastOne(t.argU32(3)), 0xffffffff);
      return n;
    }
    case FUTEX_LOCK_PI:
    case FUTEX_LOCK_PI2: {
      // LOCK_PI's timeout is absolute on CLOCK_REALTIME; LOCK_PI2's on CLOCK_MONOTONIC unless asked.
      const deadline = t.blockState ? Infinity : readTimeout(t, t.arg(3), true, cmd === FUTEX_LOCK_PI || realtime);
      if (deadline === null) return -EFAULT;
      return piLock(t, addr, key(addr), deadline, false);
    }
    case FUTEX_TRYLOCK_PI:
      return piLock(t, addr, key(addr), Infinity, true);
    case FUTEX_UNLOCK_PI:
      return piUnlock(t, addr, key(addr));
    default:
      return -ENOSYS;
  }
}

export const sysFutex = {
  futex,
  set_robust_list: (t: Task) => {
    if (t.arg(1) !== 24) return -EINVAL;
    t.robustList = t.arg(0);
    return 0;
  },
  /** Any task's list head (pid 0: the caller's), for a caller that may read it as ptrace would. */
  get_robust_list: (t: Task) => {
    const pid = t.argInt(0);
    const target = pid === 0 ? t : t.pidns.tasks.get(pid);
    if (!target || target.state === 'dead') return -ESRCH;
    if (!mayReadTask(t, target)) return -EPERM;
    return t.mm.writeU64(t.arg(1), target.robustList) && t.mm.writeU64(t.arg(2), 24) ? 0 : -EFAULT;
  },
};
