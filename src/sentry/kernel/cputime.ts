// CPU time of tasks and processes: what the host charged to the stubs that ran them. A task's
// application code runs on a host thread of its stub; the host keeps the stub's time on a CPU in
// its process CPU clock (the platform's AddressSpace.cpuNs: on ptrace, clock_gettime of the stub's
// pid; the confined sentry sees no /proc, and the host lets no process read another's *thread*
// clocks). A stub with one task is exact; the tasks of
// a multi-threaded stub share its time evenly (a known approximation: the per-thread figure is only
// in the host's /proc). Time is kept when a task leaves its stub: at exit (into its process's total)
// and at exec (the task moves to a new stub). The time the sentry spends serving a task's syscalls
// is the sentry's own, not charged to the task: the stubs' time is all user time (utime), stime 0.

import type { MemoryManager } from '../mm/mm';
import type { Task, ThreadGroup } from './task';

/** The share of the stub's not yet charged time that falls to one of its tasks. */
function stubShareNs(mm: MemoryManager): bigint {
  if (mm.as === undefined) return 0n;
  const ns = mm.as.cpuNs();
  const left = (ns > 0 ? BigInt(Math.round(ns)) : 0n) - mm.cpuChargedNs;
  return left > 0n ? left / BigInt(Math.max(1, mm.users)) : 0n;
}

/** CPU time of one task (ns): its earlier stubs' and its share of its current one's. */
export function taskCpuNs(t: Task): bigint {
  if (t.state === 'dead') return t.cpuBaseNs;
  return t.cpuBaseNs + stubShareNs(t.mm);
}

/** CPU time of a process (ns): its exited tasks' and its live ones'. */
export function groupCpuNs(tg: ThreadGroup): bigint {
  let n = tg.deadCpuNs;
  for (const t of tg.tasks) n += taskCpuNs(t);
  return n;
}

/** The task leaves its host thread (exit, or exec to a new stub): keep what it was charged. */
export function chargeHostThread(t: Task): void {
  if (t.state === 'dead') return;
  const share = stubShareNs(t.mm);
  t.mm.cpuChargedNs += share;
  t.cpuBaseNs += share;
}

/** ns as clock ticks (USER_HZ, 100/s). */
export function nsToTicks(ns: bigint): number {
  return Number(ns / 10_000_000n);
}
