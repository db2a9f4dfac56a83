// CPU time of tasks and processes: what the host charged to the stub threads that ran them.
// A task's application code runs on one host thread of its stub; the host's scheduler keeps that
// thread's time on a CPU in /proc/<tid>/schedstat (ns). It is read only when asked (a CPU clock,
// getrusage, times, /proc/pid/stat), and kept when the host thread goes away: at a task's exit
// (into its process's total) and at exec (the task moves to a new stub). The time the sentry
// spends serving a task's syscalls is the sentry's own, not charged to the task: the stubs'
// time is all user time (utime), stime stays 0.

import * as fs from 'node:fs';
import type { Task, ThreadGroup } from './task';

/** On-CPU ns of a host thread now, or 0 if it cannot be read (gone, or no schedstat). */
export function hostThreadCpuNs(hostTid: number): bigint {
  if (hostTid <= 0) return 0n;
  try {
    const text = fs.readFileSync(`/proc/${hostTid}/schedstat`, 'latin1');
    const sp = text.indexOf(' ');
    return BigInt(text.slice(0, sp > 0 ? sp : undefined).trim());
  } catch {
    return 0n;
  }
}

/** CPU time of one task (ns): its earlier host threads' and its current one's. */
export function taskCpuNs(t: Task): bigint {
  if (t.state === 'dead') return t.cpuBaseNs;
  return t.cpuBaseNs + hostThreadCpuNs(t.mm.hostPid === 0 ? 0 : t.hostTid);
}

/** CPU time of a process (ns): its exited tasks' and its live ones'. */
export function groupCpuNs(tg: ThreadGroup): bigint {
  let n = tg.deadCpuNs;
  for (const t of tg.tasks) n += taskCpuNs(t);
  return n;
}

/** The task leaves its host thread (exit, or exec to a new stub): keep what it was charged. */
export function chargeHostThread(t: Task): void {
  t.cpuBaseNs = taskCpuNs(t);
}

/** ns as clock ticks (USER_HZ, 100/s). */
export function nsToTicks(ns: bigint): number {
  return Number(ns / 10_000_000n);
}
