// POSIX per-process timers (timer_create and friends; the syscalls are syscalls/linux/sys_timer.ts).
// A timer belongs to a thread group, has a small id (allocated in sequence from 0 for each new
// process, kept across exec as Linux's signal_struct counter), and is gone at exec and exit; fork
// does not copy it. Wall-clock timers (REALTIME, MONOTONIC, BOOTTIME, TAI and the ALARM forms) keep
// their next expiry on the sentry's monotonic clock (performance.now(), ms) and ride the kernel's
// deadline list (Kernel.timerDeadlines) like timerfd and setitimer: no host timer of their own.
// CPU-clock timers keep their expiry on their CPU clock, read from the host when the kernel's list
// calls them: CPU time cannot run ahead of wall time by more than the host's CPUs, so the next
// look is after a quarter of what is left (at least 1 ms; backing off to 100 ms while it stands still).
//
// Signals (SIGEV_SIGNAL, SIGEV_THREAD_ID): one siginfo per timer is queued at a time (Linux's
// preallocated sigqueue). An expiry while it is still queued adds to its si_overrun (capped at
// DELAYTIMER_MAX) instead of queuing another; timer_getoverrun reads the count of the last one
// delivered. As Linux since 6.13, a signal still queued when its timer is set again or deleted is
// never delivered (here: taken off its queue at once).

import { sendSignalToGroup, sendSignalToTask } from './signals';
import type { SigInfo } from './signal-types';
import type { Task, ThreadGroup } from './task';

export const SI_TIMER = -2;
export const DELAYTIMER_MAX = 0x7fffffff;

export type TimerNotify = { kind: 'none' } | { kind: 'signal'; signo: number; value: bigint; thread?: Task };

/** A clock the timer counts on: 'wall' (performance.now()) or a CPU clock read in ms (null: gone). */
export type TimerClock = { kind: 'wall' } | { kind: 'cpu'; readMs: () => number | null };

/**
 * The wait (ms) before a CPU clock is read again, `left` ms of CPU time from a deadline: a quarter
 * of it (at least 1 ms); while the clock stood still since the last look (the process sleeps),
 * twice the last wait, up to 100 ms, so a sleeping process near its deadline is not polled hot
 * (an expiry may then be seen up to 100 ms late once it runs again).
 */
export function cpuPollDelay(left: number, stillDelay: number): number {
  const d = Math.max(1, Math.min(10_000, left / 4));
  return stillDelay > 0 ? Math.max(d, Math.min(stillDelay * 2, 100)) : d;
}

interface Deadline {
  deadline: number;
  fire: () => void;
}

export class PosixTimer {
  /** The next expiry on the timer's clock (ms); Infinity while disarmed. */
  private next = Infinity;
  private interval = 0;
  private entry: Deadline | undefined;
  /** The signal this timer has queued (or had, until it is queued again), and where. */
  private info: SigInfo | undefined;
  private queue: SigInfo[] | undefined;
  private overrunLast = 0;
  /** CPU clocks: the clock at the last look, and the wait before the next one (ms). */
  private lastCpu = -1;
  private cpuDelay = 0;

  constructor(
    readonly tg: ThreadGroup,
    readonly id: number,
    readonly clockId: number,
    private readonly clock: TimerClock,
    readonly notify: TimerNotify,
  ) {}

  /** The timer's clock now (ms), or null when a CPU clock's thread or process is gone. */
  now(): number | null {
    return this.clock.kind === 'wall' ? performance.now() : this.clock.readMs();
  }

  /** Count the expirations up to now; returns how many there were. */
  private advance(now: number): number {
    if (now < this.next) return 0;
    if (this.interval > 0) {
      const n = Math.floor((now - this.next) / this.interval) + 1;
      this.next += n * this.interval;
      return n;
    }
    this.next = Infinity;
    return 1;
  }

  /** timer_gettime: ms to the next expiry (0 disarmed) and the interval. */
  get(): { valueMs: number; intervalMs: number } {
    const now = this.now();
    if (now === null) return { valueMs: 0, intervalMs: this.interval };
    // A SIGEV_NONE timer has no expiry callback: it is brought up to date when read.
    if (this.notify.kind === 'none') this.advance(now);
    if (this.next === Infinity) return { valueMs: 0, intervalMs: this.interval };
    return { valueMs: Math.max(this.next - now, 1e-6), intervalMs: this.interval };
  }

  /**
   * timer_settime: the first expiry at `at` on the timer's clock (ms; null disarms), then every
   * intervalMs. A signal still queued from the old setting goes.
   */
  set(at: number | null, intervalMs: number): void {
    this.dropQueued();
    this.overrunLast = 0;
    this.next = at ?? Infinity;
    this.interval = at === null ? 0 : intervalMs;
    this.schedule();
  }

  /** timer_getoverrun: the overrun count of the last signal delivered. */
  overrun(): number {
    this.noteDelivered();
    return this.overrunLast;
  }

  /** timer_delete, exec, exit: disarmed for good, its queued signal gone. */
  destroy(): void {
    this.dropQueued();
    if (this.entry) this.tg.leader.kernel.timerDeadlines.delete(this.entry);
    this.entry = undefined;
    this.next = Infinity;
  }

  private isQueued(): boolean {
    return this.info !== undefined && this.queue !== undefined && this.queue.includes(this.info);
  }

  /** The queued signal was taken: its overrun count is the last delivered one (periodic timers, as Linux). */
  private noteDelivered(): void {
    if (!this.info || this.isQueued()) return;
    if (this.interval > 0) this.overrunLast = this.info.overrun ?? 0;
    this.info = undefined;
    this.queue = undefined;
  }

  private dropQueued(): void {
    if (this.info && this.queue) {
      const i = this.queue.indexOf(this.info);
      if (i >= 0) this.queue.splice(i, 1);
    }
    this.info = undefined;
    this.queue = undefined;
  }

  private schedule(): void {
    const k = this.tg.leader.kernel;
    if (this.entry) k.timerDeadlines.delete(this.entry);
    this.entry = undefined;
    // SIGEV_NONE timers are only read, never called.
    if (this.next === Infinity || this.notify.kind === 'none') return;
    let deadline = this.next;
    if (this.clock.kind === 'cpu') {
      const now = this.clock.readMs();
      if (now === null) return;
      this.cpuDelay = cpuPollDelay(this.next - now, now === this.lastCpu ? this.cpuDelay : 0);
      this.lastCpu = now;
      deadline = performance.now() + this.cpuDelay;
    } else {
      // A tiny interval is counted, not called: at most one call per ms.
      deadline = Math.max(deadline, performance.now() + (this.interval > 0 && this.interval < 1 ? 1 : 0));
    }
    const e: Deadline = {
      deadline,
      fire: () => {
        if (this.entry !== e) return;
        this.entry = undefined;
        this.expire();
      },
    };
    this.entry = e;
    k.timerDeadlines.add(e);
  }

  private expire(): void {
    if (!this.tg.alive || this.tg.exiting !== undefined) return;
    const now = this.now();
    if (now === null) {
      this.next = Infinity;
      return;
    }
    const n = this.advance(now);
    if (n > 0) this.signal(n);
    this.schedule();
  }

  /** n expirations: queue the timer's signal, or count them as overruns of the one still queued. */
  private signal(n: number): void {
    if (this.notify.kind !== 'signal') return;
    if (this.isQueued() && this.info) {
      this.info.overrun = Math.min(DELAYTIMER_MAX, (this.info.overrun ?? 0) + n);
      return;
    }
    this.noteDelivered();
    const { signo, value, thread } = this.notify;
    // SIGEV_THREAD_ID: a thread that has exited gets nothing (Linux finds no task for the pid).
    if (thread && thread.state === 'dead') return;
    const info: SigInfo = { signo, code: SI_TIMER, timerId: this.id, overrun: Math.min(DELAYTIMER_MAX, n - 1), sigval: value };
    const queue = thread ? thread.pending : this.tg.pending;
    if (thread) sendSignalToTask(thread, info);
    else sendSignalToGroup(this.tg, info);
    // What was queued (init's queue may hold a marked copy), if anything: none of ours was before.
    const queued = queue.find((s) => s.timerId === this.id);
    if (queued) {
      this.info = queued;
      this.queue = queue;
    }
  }
}

/** The timers of each process; its next id. */
interface TimerTable {
  timers: Map<number, PosixTimer>;
  nextId: number;
}
const tables = new WeakMap<ThreadGroup, TimerTable>();

export function timerTable(tg: ThreadGroup): TimerTable {
  let tab = tables.get(tg);
  if (!tab) {
    tab = { timers: new Map(), nextId: 0 };
    tables.set(tg, tab);
  }
  return tab;
}

/** The next id, as Linux's per-process counter (kept in positive int space). */
export function allocTimerId(tg: ThreadGroup): number {
  const tab = timerTable(tg);
  for (let i = 0; i < 1000; i++) {
    const id = tab.nextId;
    tab.nextId = (tab.nextId + 1) & 0x7fffffff;
    if (!tab.timers.has(id)) return id;
  }
  return -1;
}

/** exec (Linux's exit_itimers in begin_new_exec) and the process's end: every timer goes; the id counter stays. */
export function deleteAllTimers(tg: ThreadGroup): void {
  const tab = tables.get(tg);
  if (!tab) return;
  for (const tm of tab.timers.values()) tm.destroy();
  tab.timers.clear();
}
