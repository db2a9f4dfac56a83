// signalfd: the reading thread's pending signals in the file's mask, taken as 128-byte
// signalfd_siginfo records (as sigtimedwait would take them: the signal is then not delivered).
// Readable (POLLIN) while the creating thread or its process has one pending. Queuing a signal
// notifies the process's signal queue, which this file listens to.

import { EAGAIN, EINVAL } from '../abi/errno';
import { sigbit, type SigInfo } from '../kernel/signal-types';
import type { Task } from '../kernel/task';
import type { Waiter } from '../kernel/waitqueue';
import { POLLIN } from './constants';
import { allocAnonIno, anonStat, FileDescription, type StatInfo } from './file';

const RECORD = 128;
/** SIGKILL and SIGSTOP are never taken by a signalfd. */
const UNTAKEABLE = (1n << 8n) | (1n << 18n);

function encode(s: SigInfo): Uint8Array {
  const b = new Uint8Array(RECORD);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, s.signo, true);
  dv.setInt32(4, s.errno ?? 0, true);
  dv.setInt32(8, s.code, true);
  dv.setUint32(12, s.pid ?? 0, true);
  dv.setUint32(16, s.uid ?? 0, true);
  dv.setInt32(20, s.fd ?? 0, true);
  dv.setUint32(28, s.band ?? 0, true);
  dv.setInt32(40, s.status ?? 0, true);
  // POSIX timers: ssi_tid is the timer's id, ssi_overrun its overrun count.
  if (s.timerId !== undefined) {
    dv.setUint32(24, s.timerId, true);
    dv.setUint32(32, s.overrun ?? 0, true);
  }
  const v = BigInt.asUintN(64, s.sigval ?? BigInt(s.value ?? 0));
  dv.setInt32(44, Number(BigInt.asIntN(32, v)), true);
  dv.setBigUint64(48, v, true);
  dv.setBigUint64(56, BigInt(s.utime ?? 0), true);
  dv.setBigUint64(64, BigInt(s.stime ?? 0), true);
  dv.setBigUint64(72, BigInt(s.addr ?? 0), true);
  return b;
}

export class SignalFdFile extends FileDescription {
  private readonly anonIno = allocAnonIno();
  private readonly listener: Waiter = { wake: () => this.waitQueue.notify() };

  constructor(private readonly owner: Task, public mask: bigint, flags: number) {
    super(flags);
    owner.tg.signalQueue.add(this.listener);
  }

  setMask(mask: bigint): void {
    this.mask = mask & ~UNTAKEABLE;
    this.waitQueue.notify();
  }

  private take(t: Task): SigInfo | undefined {
    for (const q of [t.pending, t.tg.pending]) {
      const i = q.findIndex((s) => (sigbit(s.signo) & this.mask) !== 0n);
      if (i >= 0) return q.splice(i, 1)[0];
    }
    return undefined;
  }

  override read(t: Task, dst: Uint8Array[]): number {
    const room = dst.reduce((n, v) => n + v.length, 0);
    const max = Math.floor(room / RECORD);
    if (max === 0) return -EINVAL;
    const out: Uint8Array[] = [];
    for (let s = this.take(t); s; s = out.length < max ? this.take(t) : undefined) out.push(encode(s));
    if (out.length === 0) return -EAGAIN;
    let vi = 0;
    let off = 0;
    for (const rec of out) {
      for (let p = 0; p < RECORD; ) {
        const v = dst[vi];
        const n = Math.min(RECORD - p, v.length - off);
        v.set(rec.subarray(p, p + n), off);
        p += n;
        off += n;
        if (off === v.length) {
          vi++;
          off = 0;
        }
      }
    }
    return out.length * RECORD;
  }

  override readiness(): number {
    const has = (q: SigInfo[]) => q.some((s) => (sigbit(s.signo) & this.mask) !== 0n);
    return has(this.owner.pending) || has(this.owner.tg.pending) ? POLLIN : 0;
  }

  override stat(): StatInfo {
    return anonStat(0o600, this.anonIno);
  }

  override get displayPath(): string {
    return 'anon_inode:[signalfd]';
  }

  override release(): void {
    this.owner.tg.signalQueue.remove(this.listener);
  }
}
