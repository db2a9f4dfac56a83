// timerfd: a timer as a file. read gives the number of expirations since the last read (8 bytes),
// waiting while there were none; it is readable (POLLIN) once the timer has expired. Deadlines
// are kept on the sentry's monotonic clock (performance.now(), ms); an absolute CLOCK_REALTIME
// time is converted when it is set. The kernel's timer list wakes waiters at each expiry.

import { EAGAIN, EINVAL } from '../abi/errno';
import type { Kernel } from '../kernel/kernel';
import type { Task } from '../kernel/task';
import { POLLIN } from './constants';
import { allocAnonIno, anonStat, FileDescription, type StatInfo } from './file';

export interface TimerSpec {
  /** ms until the first expiry (0: disarmed). */
  valueMs: number;
  intervalMs: number;
}

export class TimerFdFile extends FileDescription {
  private readonly anonIno = allocAnonIno();
  /** Expirations not yet read. */
  private ticks = 0n;
  /** The next expiry (performance.now() ms); Infinity when disarmed. */
  private next = Infinity;
  private interval = 0;
  private entry: { deadline: number; fire: () => void } | undefined;

  constructor(private readonly kernel: Kernel, readonly clock: number, flags: number) {
    super(flags);
  }

  /** Count the expirations up to now. */
  private update(now = performance.now()): void {
    if (now < this.next) return;
    if (this.interval > 0) {
      const n = Math.floor((now - this.next) / this.interval) + 1;
      this.ticks += BigInt(n);
      this.next += n * this.interval;
    } else {
      this.ticks += 1n;
      this.next = Infinity;
    }
  }

  /** timerfd_gettime: time to the next expiry and the interval (ms). */
  get(): TimerSpec {
    this.update();
    return { valueMs: this.next === Infinity ? 0 : Math.max(this.next - performance.now(), 1e-6), intervalMs: this.interval };
  }

  /** timerfd_settime: arm at `at` (performance.now() ms; Infinity disarms); unread ticks are dropped. */
  set(at: number, intervalMs: number): void {
    this.ticks = 0n;
    this.next = at;
    this.interval = at === Infinity ? 0 : intervalMs;
    this.schedule();
    this.waitQueue.notify();
  }

  private schedule(): void {
    if (this.entry) this.kernel.timerDeadlines.delete(this.entry);
    this.entry = undefined;
    if (this.next === Infinity) return;
    const e = {
      deadline: this.next,
      fire: () => {
        if (this.entry !== e) return;
        this.entry = undefined;
        this.update();
        this.waitQueue.notify();
        this.schedule();
      },
    };
    this.entry = e;
    this.kernel.timerDeadlines.add(e);
  }

  override read(_t: Task, dst: Uint8Array[]): number {
    const b = dst[0];
    if (!b || b.length < 8) return -EINVAL;
    this.update();
    if (this.ticks === 0n) return -EAGAIN;
    new DataView(b.buffer, b.byteOffset, 8).setBigUint64(0, this.ticks, true);
    this.ticks = 0n;
    return 8;
  }

  override write(): number {
    return -EINVAL;
  }

  override readiness(): number {
    this.update();
    return this.ticks > 0n ? POLLIN : 0;
  }

  override stat(): StatInfo {
    return anonStat(0o600, this.anonIno);
  }

  override get displayPath(): string {
    return 'anon_inode:[timerfd]';
  }

  override release(): void {
    if (this.entry) this.kernel.timerDeadlines.delete(this.entry);
    this.entry = undefined;
  }
}
