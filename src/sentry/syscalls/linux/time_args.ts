// What the timer syscalls share (timerfd_settime, timer_settime): reading a struct itimerspec.

import { EFAULT, EINVAL } from '../../abi/errno';
import type { Task } from '../../kernel/task';

/** struct itimerspec { it_interval; it_value } in ns, or -errno (EINVAL as timespec64_valid). */
export function readItimerspec(t: Task, addr: number): { interval: bigint; value: bigint } | number {
  const b = t.mm.read(addr, 32);
  if (!b) return -EFAULT;
  const dv = new DataView(b.buffer, b.byteOffset, 32);
  const ts = (o: number): bigint | null => {
    const s = dv.getBigInt64(o, true);
    const ns = dv.getBigInt64(o + 8, true);
    return s < 0n || ns < 0n || ns >= 1_000_000_000n ? null : s * 1_000_000_000n + ns;
  };
  const interval = ts(0);
  const value = ts(16);
  if (interval === null || value === null) return -EINVAL;
  return { interval, value };
}
