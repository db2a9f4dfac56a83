// What /proc needs to know about a process or a thread, derived from the kernel's own
// bookkeeping: state letters, thread lists, the address space a process's files describe,
// clock ticks, signal masks and resource limits.

import type { MemoryManager } from '../../mm/mm';
import type { Task, ThreadGroup } from '../../kernel/task';
import { groupCpuNs, nsToTicks, taskCpuNs } from '../../kernel/cputime';
import type { ProcKernel } from './node';

/** USER_HZ: what clock_t counts in /proc (and times(2), AT_CLKTCK). */
export const HZ = 100;
export const PAGE_SIZE = 4096;
/** RLIM_INFINITY as /proc prints it. */
export const U64_MAX = '18446744073709551615';
/** CAP_LAST_CAP of the capability set the sentry models (PR_CAPBSET_READ answers up to 40). */
export const CAP_LAST_CAP = 40;
/** The highest pid the sentry hands out (Kernel.allocPid wraps there). */
export const PID_MAX = 4194304;

export const STATE_NAMES: Record<string, string> = {
  R: 'R (running)',
  S: 'S (sleeping)',
  T: 'T (stopped)',
  Z: 'Z (zombie)',
};

/** A thread group that exited and waits for its parent's wait(): only the leader's record is left. */
export function isZombie(tg: ThreadGroup): boolean {
  return tg.exitStatus !== undefined;
}

/** Listed in /proc: alive, or a zombie not yet reaped. */
export function isVisible(tg: ThreadGroup): boolean {
  return !tg.reaped;
}

/** The task that stands for the process: the leader while it lives, else any live thread. */
export function liveTask(tg: ThreadGroup): Task | undefined {
  if (isZombie(tg)) return undefined;
  if (tg.leader && tg.leader.state !== 'dead') return tg.leader;
  for (const t of tg.tasks) if (t.state !== 'dead') return t;
  return undefined;
}

/** The address space a task's /proc files describe; none once it has exited. */
export function taskMm(t: Task): MemoryManager | undefined {
  return t.state === 'dead' || isZombie(t.tg) ? undefined : t.mm;
}

export function groupMm(tg: ThreadGroup): MemoryManager | undefined {
  const t = liveTask(tg);
  return t ? t.mm : undefined;
}

/** Every thread of the group, the leader first even when it has exited (as Linux lists it). */
export function threadsOf(tg: ThreadGroup): Task[] {
  const out = new Set<Task>();
  if (tg.leader) out.add(tg.leader);
  for (const t of tg.tasks) out.add(t);
  return [...out].sort((a, b) => a.tid - b.tid);
}

/** num_threads / Threads: a zombie leader still counts until it is reaped. */
export function threadCount(tg: ThreadGroup): number {
  let n = tg.tasks.size;
  if (tg.leader && !tg.tasks.has(tg.leader)) n++;
  return Math.max(n, 1);
}

/** One task's state letter. */
export function taskStateLetter(t: Task): string {
  if (t.state === 'dead' || isZombie(t.tg)) return 'Z';
  if (t.state === 'stopped' || t.tg.stopped) return 'T';
  if (t.state === 'running' || t.state === 'ready') return 'R';
  return 'S';
}

/** A process's state letter, from its threads': running beats sleeping beats stopped. */
export function groupStateLetter(tg: ThreadGroup): string {
  if (isZombie(tg)) return 'Z';
  if (tg.stopped) return 'T';
  let sleeping = false;
  let stopped = false;
  for (const t of tg.tasks) {
    const s = taskStateLetter(t);
    if (s === 'R') return 'R';
    if (s === 'S') sleeping = true;
    if (s === 'T') stopped = true;
  }
  if (sleeping) return 'S';
  return stopped ? 'T' : 'Z';
}

export function ppidOf(tg: ThreadGroup): number {
  return tg.parent ? tg.parent.tgid : 0;
}

/** Milliseconds since the sentry's kernel booted. */
export function uptimeMs(k: ProcKernel): number {
  return Math.max(0, performance.now() - k.bootTime);
}

/** starttime: clock ticks after boot at which the process started. */
export function startTicks(k: ProcKernel, tg: ThreadGroup): number {
  return Math.max(0, Math.floor(((tg.startTime - k.bootTime) * HZ) / 1000));
}

/** CPU time of one thread in clock ticks: its stub thread's host CPU time (kernel/cputime.ts). */
export function taskTicks(t: Task): number {
  return nsToTicks(taskCpuNs(t));
}

export function groupTicks(tg: ThreadGroup): number {
  return nsToTicks(groupCpuNs(tg));
}

/** A signal set as /proc/pid/status prints it: 16 hex digits, bit n-1 for signal n. */
export function sigHex(set: bigint): string {
  return (set & ((1n << 64n) - 1n)).toString(16).padStart(16, '0');
}

export function pendingSet(list: ReadonlyArray<{ signo: number }>): bigint {
  let s = 0n;
  for (const i of list) if (i.signo >= 1 && i.signo <= 64) s |= 1n << BigInt(i.signo - 1);
  return s;
}

/** SigIgn and SigCgt: the group's dispositions. */
export function dispositions(tg: ThreadGroup): { ignored: bigint; caught: bigint } {
  let ignored = 0n;
  let caught = 0n;
  const acts = tg.handlers.actions;
  for (let sig = 1; sig <= 64 && sig < acts.length; sig++) {
    const h = acts[sig].handler;
    if (h === 1) ignored |= 1n << BigInt(sig - 1);
    else if (h !== 0) caught |= 1n << BigInt(sig - 1);
  }
  return { ignored, caught };
}

/** An rlimit value as a decimal string (RLIM_INFINITY at or above 2^64-1). */
export function rlimText(v: number): string {
  return v >= 2 ** 64 - 1 ? U64_MAX : String(Math.max(0, Math.floor(v)));
}

export function isUnlimited(v: number): boolean {
  return v >= 2 ** 64 - 1;
}

const INF = 2 ** 64 - 1;
/** What getrlimit answers for a limit nobody set (sys_misc's defaults). */
const DEFAULT_RLIMITS: Record<number, { cur: number; max: number }> = {
  3: { cur: 8 * 1024 * 1024, max: INF }, // RLIMIT_STACK
  7: { cur: 1024, max: 1024 * 1024 }, // RLIMIT_NOFILE
};

export function rlimit(tg: ThreadGroup, r: number): { cur: number; max: number } {
  return tg.rlimits.get(r) ?? DEFAULT_RLIMITS[r] ?? { cur: INF, max: INF };
}

/** Escape a path as seq_file_path/mangle does for maps and mounts ("\n" → "\012", …). */
export function escapePath(s: string, chars = '\n'): string {
  let out = '';
  for (const c of s) out += chars.includes(c) ? '\\' + c.charCodeAt(0).toString(8).padStart(3, '0') : c;
  return out;
}
