// Time: clocks, sleeps, process times, alarms. The sentry's clocks are the host's, read as the
// vDSO the application is given reads them (kernel/host-clock.ts, platform/vdso.ts): a clock read
// through the vDSO makes no syscall, one made as a syscall lands here and gives the same value.

import { EFAULT, EINTR, EINVAL } from '../../abi/errno';
import { SIGALRM } from '../../abi/signals';
import { sendSignalToGroup } from '../../kernel/signals';
import { groupCpuNs, nsToTicks, taskCpuNs } from '../../kernel/cputime';
import type { Task } from '../../kernel/task';
import {
  CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_TAI,
  hostClockNs, hostClockRes, hostTimezone,
} from '../../kernel/host-clock';

const CLOCK_PROCESS_CPUTIME_ID = 2;
const CLOCK_THREAD_CPUTIME_ID = 3;
const TIMER_ABSTIME = 1;

/** The clocks the vDSO serves too. */
const HOST_CLOCKS = new Set([CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME, CLOCK_TAI]);

/** ns since the clock's epoch: the host's clock the vDSO reads too (the alarm clocks: syscall only). */
export function clockNs(t: Task, clock: number): bigint | null {
  switch (clock) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
    case CLOCK_TAI:
      return hostClockNs(clock);
    case 8: // REALTIME_ALARM
      return hostClockNs(CLOCK_REALTIME);
    case 9: // BOOTTIME_ALARM
      return hostClockNs(CLOCK_BOOTTIME);
    case CLOCK_PROCESS_CPUTIME_ID:
      return groupCpuNs(t.tg);
    case CLOCK_THREAD_CPUTIME_ID:
      return taskCpuNs(t);
    default:
      return clock < 0 ? cpuClockNs(t, clock) : null;
  }
}

/**
 * A CPU clock of another thread or process (pthread_getcpuclockid, clock_getcpuclockid): the id is
 * ~pid << 3 | perthread << 2 | which (0 PROF, 1 VIRT, 2 SCHED; 3 is invalid); pid 0 is the caller.
 */
function cpuClockNs(t: Task, clock: number): bigint | null {
  const which = clock & 3;
  if (which === 3) return null;
  const id = ~(clock >> 3);
  if (clock & 4) {
    const task = id === 0 ? t : t.pidns.tasks.get(id);
    if (!task || task.state === 'dead' || task.tg !== t.tg) return null;
    return taskCpuNs(task);
  }
  const tg = id === 0 ? t.tg : t.pidns.groups.get(id);
  if (!tg) return null; // a zombie's clock reads until it is reaped, as Linux
  return groupCpuNs(tg);
}

function writeTimespec(t: Task, addr: number, ns: bigint): boolean {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigInt64(0, ns / 1_000_000_000n, true);
  dv.setBigInt64(8, ns % 1_000_000_000n, true);
  return t.mm.write(addr, b);
}

function readTimespecMs(t: Task, addr: number): number | null | 'inval' {
  const b = t.mm.read(addr, 16);
  if (!b) return null;
  const dv = new DataView(b.buffer);
  const sec = dv.getBigInt64(0, true);
  const nsec = dv.getBigInt64(8, true);
  if (sec < 0n || nsec < 0n || nsec >= 1_000_000_000n) return 'inval';
  return Number(sec) * 1000 + Number(nsec) / 1e6;
}

interface SleepState {
  deadline: number;
  rem: number;
  onInterrupt: () => void;
}

function sleepUntil(t: Task, deadline: number, remAddr: number): number {
  let st = t.blockState as SleepState | undefined;
  if (!st) {
    const fresh: SleepState = {
      deadline,
      rem: remAddr,
      onInterrupt: () => {
        if (fresh.rem) writeTimespec(t, fresh.rem, BigInt(Math.max(0, Math.round((fresh.deadline - performance.now()) * 1e6))));
      },
    };
    st = fresh;
  }
  if (performance.now() >= st.deadline || t.timedOut) return 0;
  t.interruptResult = -EINTR;
  // On EINTR the remaining time goes back to the caller: written now (a signal already pending
  // ends the sleep before it starts; harmless if it completes), and again when a signal ends it.
  st.onInterrupt();
  return t.block([], st.deadline, st);
}

function nanosleep(t: Task): number {
  if (t.blockState) return sleepUntil(t, 0, 0);
  const ms = readTimespecMs(t, t.arg(0));
  if (ms === null) return -EFAULT;
  if (ms === 'inval') return -EINVAL;
  return sleepUntil(t, performance.now() + ms, t.arg(1));
}

function clockNanosleep(t: Task): number {
  if (t.blockState) return sleepUntil(t, 0, 0);
  const clock = t.argInt(0);
  const flags = t.argInt(1);
  const ms = readTimespecMs(t, t.arg(2));
  if (ms === null) return -EFAULT;
  if (ms === 'inval') return -EINVAL;
  const now = clockNs(t, clock);
  if (now === null || clock === CLOCK_THREAD_CPUTIME_ID) return -EINVAL;
  const rel = flags & TIMER_ABSTIME ? ms - Number(now) / 1e6 : ms;
  return sleepUntil(t, performance.now() + Math.max(0, rel), flags & TIMER_ABSTIME ? 0 : t.arg(3));
}

function times(t: Task): number {
  const elapsed = Math.floor((performance.now() - t.kernel.bootTime) / 10);
  if (t.arg(0)) {
    const b = new Uint8Array(32);
    const dv = new DataView(b.buffer);
    dv.setBigInt64(0, BigInt(nsToTicks(groupCpuNs(t.tg))), true);
    dv.setBigInt64(16, BigInt(t.tg.childTicks), true);
    if (!t.mm.write(t.arg(0), b)) return -EFAULT;
  }
  return elapsed;
}

function getrusage(t: Task): number {
  const who = t.argInt(0);
  if (who !== 0 && who !== -1 && who !== 1) return -EINVAL;
  const b = new Uint8Array(144);
  const dv = new DataView(b.buffer);
  // ru_utime: the host CPU time of the stubs' threads (kernel/cputime.ts); ru_maxrss in KiB.
  const ns = who === 0 ? groupCpuNs(t.tg) : who === 1 ? taskCpuNs(t) : t.tg.childCpuNs;
  putTimeval(dv, 0, ns);
  dv.setBigInt64(32, BigInt(Math.max(1, Math.ceil(t.mm.sizes().rss / 1024))), true);
  return t.mm.write(t.arg(1), b) ? 0 : -EFAULT;
}

/** A struct timeval at off from ns. */
export function putTimeval(dv: DataView, off: number, ns: bigint): void {
  const us = ns / 1000n;
  dv.setBigInt64(off, us / 1_000_000n, true);
  dv.setBigInt64(off + 8, us % 1_000_000n, true);
}

interface Alarm {
  deadline: number;
  fire: () => void;
  /** ITIMER_REAL's it_interval (0 for alarm(2) and one-shot timers). */
  intervalMs?: number;
}

/** struct itimerval of the process's ITIMER_REAL: interval, then the time left. */
function itimerReal(t: Task): Uint8Array {
  const b = new Uint8Array(32);
  const a = alarms.get(t.tg);
  if (!a) return b;
  const dv = new DataView(b.buffer);
  const iv = a.intervalMs ?? 0;
  dv.setBigInt64(0, BigInt(Math.floor(iv / 1000)), true);
  dv.setBigInt64(8, BigInt(Math.floor((iv % 1000) * 1000)), true);
  // A timer about to fire still reads as running (Linux rounds a pending expiry up to 1 µs).
  const rem = Math.max(0.001, a.deadline - performance.now());
  dv.setBigInt64(16, BigInt(Math.floor(rem / 1000)), true);
  dv.setBigInt64(24, BigInt(Math.floor((rem % 1000) * 1000)), true);
  return b;
}

/** getitimer: ITIMER_REAL as set; the CPU-time timers are accepted and never run (zero). */
function getitimer(t: Task): number {
  const which = t.argInt(0);
  if (which < 0 || which > 2) return -EINVAL;
  return t.mm.write(t.arg(1), which === 0 ? itimerReal(t) : new Uint8Array(32)) ? 0 : -EFAULT;
}
const alarms = new WeakMap<object, Alarm>();

function alarm(t: Task): number {
  const secs = t.argU32(0);
  const k = t.kernel;
  const old = alarms.get(t.tg);
  let remaining = 0;
  if (old) {
    k.timerDeadlines.delete(old);
    alarms.delete(t.tg);
    remaining = Math.max(1, Math.ceil((old.deadline - performance.now()) / 1000));
  }
  if (secs > 0) {
    const tg = t.tg;
    const a: Alarm = { deadline: performance.now() + secs * 1000, fire: () => sendSignalToGroup(tg, { signo: SIGALRM, code: 0x80 }) };
    alarms.set(tg, a);
    k.timerDeadlines.add(a);
  }
  return remaining;
}

function setitimer(t: Task): number {
  const which = t.argInt(0);
  if (which !== 0) return which === 1 || which === 2 ? 0 : -EINVAL;
  const oldAddr = t.arg(2);
  const k = t.kernel;
  const old = alarms.get(t.tg);
  if (oldAddr && !t.mm.write(oldAddr, itimerReal(t))) return -EFAULT;
  if (!t.arg(1)) return 0;
  const nv = t.mm.read(t.arg(1), 32);
  if (!nv) return -EFAULT;
  const dv = new DataView(nv.buffer);
  const intervalMs = Number(dv.getBigInt64(0, true)) * 1000 + Number(dv.getBigInt64(8, true)) / 1000;
  const valueMs = Number(dv.getBigInt64(16, true)) * 1000 + Number(dv.getBigInt64(24, true)) / 1000;
  if (old) {
    k.timerDeadlines.delete(old);
    alarms.delete(t.tg);
  }
  if (valueMs > 0) {
    const tg = t.tg;
    const arm = (at: number): void => {
      const a: Alarm = {
        deadline: at,
        intervalMs,
        fire: () => {
          sendSignalToGroup(tg, { signo: SIGALRM, code: 0x80 });
          if (intervalMs > 0 && tg.alive) arm(performance.now() + intervalMs);
          else alarms.delete(tg);
        },
      };
      alarms.set(tg, a);
      k.timerDeadlines.add(a);
    };
    arm(performance.now() + valueMs);
  }
  return 0;
}

export const sysTime = {
  clock_gettime: (t: Task) => {
    const ns = clockNs(t, t.argInt(0));
    if (ns === null) return -EINVAL;
    return writeTimespec(t, t.arg(1), ns) ? 0 : -EFAULT;
  },
  clock_getres: (t: Task) => {
    const clock = t.argInt(0);
    if (clockNs(t, clock) === null) return -EINVAL;
    // The host's resolution for the clocks the vDSO serves (the coarse ones: a tick), as its clock_getres.
    const res = HOST_CLOCKS.has(clock) ? hostClockRes(clock) : 1n;
    return !t.arg(1) || writeTimespec(t, t.arg(1), res) ? 0 : -EFAULT;
  },
  gettimeofday: (t: Task) => {
    if (t.arg(0)) {
      const ns = clockNs(t, CLOCK_REALTIME) ?? 0n;
      const b = new Uint8Array(16);
      const dv = new DataView(b.buffer);
      dv.setBigInt64(0, ns / 1_000_000_000n, true);
      dv.setBigInt64(8, (ns % 1_000_000_000n) / 1000n, true);
      if (!t.mm.write(t.arg(0), b)) return -EFAULT;
    }
    if (t.arg(1)) {
      const [minuteswest, dsttime] = hostTimezone();
      const tz = new Int32Array([minuteswest, dsttime]);
      if (!t.mm.write(t.arg(1), new Uint8Array(tz.buffer))) return -EFAULT;
    }
    return 0;
  },
  // time(2) is the tick-updated wall clock's second (Linux's ktime_get_real_seconds), as the vDSO's time().
  time: (t: Task) => {
    const s = Number(hostClockNs(CLOCK_REALTIME_COARSE) / 1_000_000_000n);
    if (t.arg(0) && !t.mm.writeU64(t.arg(0), s)) return -EFAULT;
    return s;
  },
  nanosleep,
  clock_nanosleep: clockNanosleep,
  times,
  getrusage,
  alarm,
  setitimer,
  getitimer,
};
