// timerfd_create/settime/gettime (the file is vfs/timerfd.ts). Clocks: REALTIME, MONOTONIC,
// BOOTTIME and their _ALARM forms; TFD_TIMER_ABSTIME times are on the timer's clock;
// TFD_TIMER_CANCEL_ON_SET is accepted (the sentry's realtime clock is never set).

import { EBADF, EFAULT, EINVAL } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import { O_CLOEXEC, O_NONBLOCK } from '../../vfs/constants';
import { TimerFdFile } from '../../vfs/timerfd';
import { clockNs } from './sys_time';
import { readItimerspec } from './time_args';

const CLOCKS = new Set([0 /* REALTIME */, 1 /* MONOTONIC */, 7 /* BOOTTIME */, 8 /* REALTIME_ALARM */, 9 /* BOOTTIME_ALARM */]);
const TFD_TIMER_ABSTIME = 1;
const TFD_TIMER_CANCEL_ON_SET = 2;

function timerOf(t: Task, fd: number): TimerFdFile | number {
  const f = t.files.get(fd);
  if (!f) return -EBADF;
  return f instanceof TimerFdFile ? f : -EINVAL;
}

function writeItimerspec(t: Task, addr: number, valueMs: number, intervalMs: number): boolean {
  const b = new Uint8Array(32);
  const dv = new DataView(b.buffer);
  const put = (o: number, ms: number) => {
    const ns = BigInt(Math.round(ms * 1e6));
    dv.setBigInt64(o, ns / 1_000_000_000n, true);
    dv.setBigInt64(o + 8, ns % 1_000_000_000n, true);
  };
  put(0, intervalMs);
  put(16, valueMs);
  return t.mm.write(addr, b);
}

function timerfdCreate(t: Task): number {
  const clock = t.argInt(0);
  const flags = t.argInt(1);
  if (!CLOCKS.has(clock) || flags & ~(O_CLOEXEC | O_NONBLOCK)) return -EINVAL;
  return t.files.install(new TimerFdFile(t.kernel, clock, 2 | (flags & O_NONBLOCK)), (flags & O_CLOEXEC) !== 0);
}

function timerfdSettime(t: Task): number {
  const f = timerOf(t, t.argInt(0));
  if (typeof f === 'number') return f;
  const flags = t.argInt(1);
  if (flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)) return -EINVAL;
  const spec = readItimerspec(t, t.arg(2));
  if (typeof spec === 'number') return spec;
  const old = f.get();
  if (t.arg(3) && !writeItimerspec(t, t.arg(3), old.valueMs, old.intervalMs)) return -EFAULT;
  let at = Infinity;
  if (spec.value !== 0n) {
    const now = clockNs(t, f.clock) ?? 0n;
    const rel = flags & TFD_TIMER_ABSTIME ? spec.value - now : spec.value;
    at = performance.now() + Math.max(0, Number(rel) / 1e6);
  }
  f.set(at, Number(spec.interval) / 1e6);
  return 0;
}

function timerfdGettime(t: Task): number {
  const f = timerOf(t, t.argInt(0));
  if (typeof f === 'number') return f;
  const cur = f.get();
  return writeItimerspec(t, t.arg(1), cur.valueMs, cur.intervalMs) ? 0 : -EFAULT;
}

export const sysTimerfd = {
  timerfd_create: timerfdCreate,
  timerfd_settime: timerfdSettime,
  timerfd_gettime: timerfdGettime,
};

