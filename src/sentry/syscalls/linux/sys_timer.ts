// POSIX per-process timers: timer_create, timer_settime, timer_gettime, timer_getoverrun,
// timer_delete (the timers themselves are kernel/posix-timers.ts). Checks in Linux's order
// (kernel/time/posix-timers.c): the sigevent is copied first (EFAULT), then the clock (EINVAL;
// EOPNOTSUPP for the clocks that have no timers), the count (EAGAIN), the sigevent's fields
// (EINVAL), the id's copy-out (EFAULT), then the clock's own checks (ALARM clocks: EOPNOTSUPP
// without an RTC, EPERM without CAP_WAKE_ALARM; CPU clocks: EINVAL for a thread or process that
// is not there, or a thread of another process).

import { EAGAIN, EFAULT, EINVAL, EOPNOTSUPP, EPERM } from '../../abi/errno';
import { SIGALRM } from '../../abi/signals';
import { hostHasRtc } from '../../host-facts';
import { groupCpuNs, taskCpuNs } from '../../kernel/cputime';
import { capable } from '../../kernel/creds';
import { allocTimerId, PosixTimer, timerTable, type TimerClock, type TimerNotify } from '../../kernel/posix-timers';
import type { Task } from '../../kernel/task';
import { clockNs } from './sys_time';
import { readItimerspec } from './time_args';

const SIGEV_SIGNAL = 0;
const SIGEV_NONE = 1;
const SIGEV_THREAD = 2;
const SIGEV_THREAD_ID = 4;
const SIGRTMAX = 64;
const TIMER_ABSTIME = 1;
const CAP_WAKE_ALARM = 35;
const RLIMIT_SIGPENDING = 11;
/** Timers one process may hold, whatever its RLIMIT_SIGPENDING (each is sentry memory). */
const MAX_TIMERS = 32768;

const WALL_CLOCKS = new Set([0 /* REALTIME */, 1 /* MONOTONIC */, 7 /* BOOTTIME */, 11 /* TAI */]);
const ALARM_CLOCKS = new Set([8 /* REALTIME_ALARM */, 9 /* BOOTTIME_ALARM */]);
/** MONOTONIC_RAW and the COARSE clocks can be read but have no timers. */
const NO_TIMER_CLOCKS = new Set([4, 5, 6]);

/** A CPU clock as a timer's clock: the caller's (2 process, 3 thread) or the ~pid << 3 forms. */
function cpuClock(t: Task, clock: number): TimerClock | 'inval' | 'nosupp' {
  const ms = (ns: bigint): number => Number(ns) / 1e6;
  if (clock === 2) {
    const tg = t.tg;
    return { kind: 'cpu', readMs: () => (tg.alive ? ms(groupCpuNs(tg)) : null) };
  }
  if (clock === 3) {
    return { kind: 'cpu', readMs: () => (t.state === 'dead' ? null : ms(taskCpuNs(t))) };
  }
  // (clock & 7) === 3 is a dynamic (fd) clock: Linux has no timers on them.
  if ((clock & 7) === 3) return 'nosupp';
  if ((clock & 3) === 3) return 'inval';
  const id = ~(clock >> 3);
  if (clock & 4) {
    const task = id === 0 ? t : t.pidns.tasks.get(id);
    if (!task || task.state === 'dead' || task.tg !== t.tg) return 'inval';
    return { kind: 'cpu', readMs: () => (task.state === 'dead' ? null : ms(taskCpuNs(task))) };
  }
  const tg = id === 0 ? t.tg : t.pidns.groups.get(id);
  if (!tg || !tg.alive) return 'inval';
  return { kind: 'cpu', readMs: () => (tg.alive ? ms(groupCpuNs(tg)) : null) };
}

/** struct sigevent (64 bytes) as the timer's notification, or -EINVAL (Linux's good_sigevent). */
function parseSigevent(t: Task, b: Uint8Array): TimerNotify | number {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const value = dv.getBigInt64(0, true);
  const signo = dv.getInt32(8, true);
  const notify = dv.getInt32(12, true);
  let thread: Task | undefined;
  switch (notify) {
    case SIGEV_NONE:
      return { kind: 'none' };
    case SIGEV_THREAD_ID: {
      const task = t.pidns.tasks.get(dv.getInt32(16, true));
      if (!task || task.state === 'dead' || task.tg !== t.tg) return -EINVAL;
      thread = task;
      break;
    }
    case SIGEV_SIGNAL:
    case SIGEV_THREAD: // glibc builds SIGEV_THREAD on SIGEV_THREAD_ID; the kernel takes it as SIGEV_SIGNAL
      break;
    default:
      return -EINVAL;
  }
  if (signo <= 0 || signo > SIGRTMAX) return -EINVAL;
  return { kind: 'signal', signo, value, thread };
}

function timerCreate(t: Task): number {
  const clock = t.argInt(0);
  const sevAddr = t.arg(1);
  let sev: Uint8Array | null = null;
  if (sevAddr) {
    sev = t.mm.read(sevAddr, 64);
    if (!sev) return -EFAULT;
  }
  let timerClock: TimerClock | undefined;
  if (NO_TIMER_CLOCKS.has(clock)) return -EOPNOTSUPP;
  if (clock === 2 || clock === 3 || clock < 0) {
    const c = cpuClock(t, clock);
    if (c === 'nosupp') return -EOPNOTSUPP;
    // A bad pid or thread is found by the clock's own create, after the id is copied out.
    timerClock = c === 'inval' ? undefined : c;
  } else if (WALL_CLOCKS.has(clock) || ALARM_CLOCKS.has(clock)) {
    timerClock = { kind: 'wall' };
  } else {
    return -EINVAL;
  }
  const tab = timerTable(t.tg);
  const limit = Math.min(MAX_TIMERS, t.tg.rlimits.get(RLIMIT_SIGPENDING)?.cur ?? MAX_TIMERS);
  if (tab.timers.size >= limit) return -EAGAIN;
  const id = allocTimerId(t.tg);
  if (id < 0) return -EAGAIN;
  const notify: TimerNotify | number = sev
    ? parseSigevent(t, sev)
    : { kind: 'signal', signo: SIGALRM, value: BigInt(id) };
  if (typeof notify === 'number') return notify;
  const idBuf = new Uint8Array(4);
  new DataView(idBuf.buffer).setInt32(0, id, true);
  if (!t.mm.write(t.arg(2), idBuf)) return -EFAULT;
  if (ALARM_CLOCKS.has(clock)) {
    if (!hostHasRtc()) return -EOPNOTSUPP;
    if (!capable(t.creds, CAP_WAKE_ALARM)) return -EPERM;
  }
  if (!timerClock) return -EINVAL;
  tab.timers.set(id, new PosixTimer(t.tg, id, clock, timerClock, notify));
  return 0;
}

function timerOf(t: Task, id: number): PosixTimer | undefined {
  return timerTable(t.tg).timers.get(id);
}

function writeItimerspec(t: Task, addr: number, cur: { valueMs: number; intervalMs: number }): boolean {
  const b = new Uint8Array(32);
  const dv = new DataView(b.buffer);
  const put = (o: number, ms: number, armed: boolean): void => {
    let ns = BigInt(Math.round(ms * 1e6));
    if (armed && ns <= 0n) ns = 1n;
    dv.setBigInt64(o, ns / 1_000_000_000n, true);
    dv.setBigInt64(o + 8, ns % 1_000_000_000n, true);
  };
  put(0, cur.intervalMs, false);
  put(16, cur.valueMs, cur.valueMs > 0);
  return t.mm.write(addr, b);
}

function timerSettime(t: Task): number {
  const id = t.argInt(0);
  const flags = t.argInt(1);
  if (!t.arg(2)) return -EINVAL;
  const spec = readItimerspec(t, t.arg(2));
  if (typeof spec === 'number') return spec;
  const tm = timerOf(t, id);
  if (!tm) return -EINVAL;
  const old = tm.get();
  const valueMs = Number(spec.value) / 1e6;
  const intervalMs = Number(spec.interval) / 1e6;
  let at: number | null = null;
  if (spec.value !== 0n) {
    if (tm.now() === null) at = null;
    else if (flags & TIMER_ABSTIME) {
      // An absolute time on a wall clock: as far from now on the sentry's monotonic clock.
      if (tm.clockId === 2 || tm.clockId === 3 || tm.clockId < 0) at = valueMs;
      else at = performance.now() + Number(spec.value - (clockNs(t, tm.clockId) ?? 0n)) / 1e6;
    } else {
      at = (tm.now() ?? 0) + valueMs;
    }
  }
  tm.set(at, intervalMs);
  if (t.arg(3) && !writeItimerspec(t, t.arg(3), old)) return -EFAULT;
  return 0;
}

function timerGettime(t: Task): number {
  const tm = timerOf(t, t.argInt(0));
  if (!tm) return -EINVAL;
  return writeItimerspec(t, t.arg(1), tm.get()) ? 0 : -EFAULT;
}

function timerGetoverrun(t: Task): number {
  const tm = timerOf(t, t.argInt(0));
  return tm ? tm.overrun() : -EINVAL;
}

function timerDelete(t: Task): number {
  const id = t.argInt(0);
  const tab = timerTable(t.tg);
  const tm = tab.timers.get(id);
  if (!tm) return -EINVAL;
  tm.destroy();
  tab.timers.delete(id);
  return 0;
}

export const sysTimer = {
  timer_create: timerCreate,
  timer_settime: timerSettime,
  timer_gettime: timerGettime,
  timer_getoverrun: timerGetoverrun,
  timer_delete: timerDelete,
};
