// Waiting for files: poll/ppoll, select/pselect6, epoll, and eventfd. A waiting call parks on
// the wait queues of every file it watches (and the host fds of host streams) until one of them
// changes, its deadline passes or a signal comes; then the kernel re-runs it and it looks again.
// Its deadline is kept in t.blockState across re-runs; a signal with a handler ends it with EINTR
// (ERESTARTNOHAND), as Linux does for these calls.

import { EBADF, EFAULT, EINVAL } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import type { WaitQueue } from '../../kernel/waitqueue';
import type { FileDescription } from '../../vfs';
import { watchKey } from '../../vfs/file';
import { O_CLOEXEC, O_NONBLOCK, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLWRBAND, POLLWRNORM, pollBits } from '../../vfs/constants';
import { EPOLL_CTL_DEL, EpollFile } from '../../vfs/epoll';
import { beginHostPoll, endHostPoll } from '../../vfs/host-poll';
import { EFD_SEMAPHORE, EventFdFile } from '../../vfs/eventfd';
import { fileOf } from './vfs_args';

const ERESTARTNOHAND = 514;
const POLL_IN_SET = POLLIN | POLLHUP | POLLERR;
const POLL_OUT_SET = POLLOUT | POLLERR;
/** The events that ask for writability. */
const POLL_WRITE = POLLOUT | POLLWRNORM | POLLWRBAND;
const EPOLL_EVENT_SIZE = 12;

/** Where select/ppoll write the time left (Linux updates the caller's timeout). */
interface Left {
  addr: number;
  usec: boolean;
}

interface WaitState {
  deadline: number;
  /** The caller's signal mask was replaced for the wait (ppoll, pselect6, epoll_pwait). */
  masked: boolean;
}

/** The state of this wait: made at the first run (deadline from a timeout in ms, <0: none; a
 * re-run passes anything, the state has it). */
function waitState(t: Task, timeoutMs: number): WaitState {
  const st = t.blockState as WaitState | undefined;
  if (st) return st;
  return { deadline: timeoutMs < 0 ? Infinity : performance.now() + timeoutMs, masked: false };
}

/** Park on the files' queues (and host fds) until the deadline. */
function park(t: Task, st: WaitState, queues: WaitQueue[], hostFds: number[]): number {
  t.interruptResult = -ERESTARTNOHAND;
  const r = t.block(queues, st.deadline, st);
  for (const fd of hostFds) t.kernel.watchHostFd(t, fd);
  return r;
}

/** The call is returning: put back the signal mask it replaced; give back the time left. */
function finish(t: Task, st: WaitState, r: number, left?: Left): number {
  if (left && r >= 0) writeLeft(t, left.addr, st, left.usec);
  if (st.masked && t.savedMask !== undefined) {
    t.sigmask = t.savedMask;
    t.savedMask = undefined;
  }
  return r;
}

/** ppoll/pselect6/epoll_pwait: wait with this signal mask (read at the first run only). */
function applyMask(t: Task, st: WaitState, addr: number, size: number): number {
  if (addr === 0 || t.blockState) return 0;
  if (size !== 8) return -EINVAL;
  const b = t.mm.read(addr, 8);
  if (!b) return -EFAULT;
  t.savedMask = t.sigmask;
  t.sigmask = new DataView(b.buffer).getBigUint64(0, true) & ~((1n << 8n) | (1n << 18n)); // not SIGKILL, SIGSTOP
  st.masked = true;
  return 0;
}

/** A struct timespec timeout in ms; -1 for a NULL pointer; null on EFAULT; NaN if invalid. */
function timespecMs(t: Task, addr: number): number | null {
  if (addr === 0) return -1;
  const sec = t.mm.readI64(addr);
  const nsec = t.mm.readI64(addr + 8);
  if (sec === null || nsec === null) return null;
  if (sec < 0 || nsec < 0 || nsec >= 1e9) return NaN;
  return sec * 1000 + nsec / 1e6;
}

function timevalMs(t: Task, addr: number): number | null {
  if (addr === 0) return -1;
  const sec = t.mm.readI64(addr);
  const usec = t.mm.readI64(addr + 8);
  if (sec === null || usec === null) return null;
  if (sec < 0 || usec < 0 || usec >= 1e6) return NaN;
  return sec * 1000 + usec / 1000;
}

/** select and ppoll give back the time left. */
function writeLeft(t: Task, addr: number, st: WaitState, usec: boolean): void {
  if (addr === 0 || st.deadline === Infinity) return;
  const ns = Math.max(0, Math.round((st.deadline - performance.now()) * 1e6));
  const sec = Math.floor(ns / 1e9);
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigInt64(0, BigInt(sec), true);
  dv.setBigInt64(8, BigInt(usec ? Math.floor((ns % 1e9) / 1000) : ns % 1e9), true);
  t.mm.write(addr, b);
}

// ---- poll ----

function doPoll(t: Task, addr: number, nfds: number, timeoutMs: number, maskAddr = 0, maskSize = 8, left?: Left): number {
  if (nfds < 0 || nfds > t.files.limit) return -EINVAL;
  if (Number.isNaN(timeoutMs)) return -EINVAL;
  const st = waitState(t, timeoutMs);
  const m = applyMask(t, st, maskAddr, maskSize);
  if (m < 0) return m;
  const raw = t.mm.read(addr, nfds * 8);
  if (!raw) return finish(t, st, -EFAULT);
  const dv = new DataView(raw.buffer);
  const byIndex: Array<FileDescription | undefined> = [];
  for (let i = 0; i < nfds; i++) {
    const fd = dv.getInt32(i * 8, true);
    byIndex.push(fd >= 0 ? t.files.get(fd) : undefined);
  }
  const files: FileDescription[] = [];
  const watched: number[] = [];
  let ready = 0;
  // The host sockets' readiness in one host call (vfs/host-poll.ts).
  const polled = beginHostPoll(byIndex.filter((f): f is FileDescription => f !== undefined));
  try {
    for (let i = 0; i < nfds; i++) {
      const fd = dv.getInt32(i * 8, true);
      const events = dv.getUint16(i * 8 + 4, true);
      let rev = 0;
      if (fd >= 0) {
        const f = byIndex[i];
        if (!f) rev = POLLNVAL;
        else {
          rev = pollBits(f.readiness()) & (events | POLLERR | POLLHUP);
          files.push(f);
          hostWatch(watched, f, (events & ~POLL_WRITE) !== 0 || (events & POLL_WRITE) === 0, (events & POLL_WRITE) !== 0);
        }
      }
      dv.setUint16(i * 8 + 6, rev, true);
      if (rev) ready++;
    }
  } finally {
    endHostPoll(polled);
  }
  if (ready > 0 || t.timedOut || performance.now() >= st.deadline) {
    return finish(t, st, t.mm.write(addr, raw) ? ready : -EFAULT, left);
  }
  return park(t, st, files.map((f) => f.waitQueue), watched);
}

/** f's host fd, if it has one, watched for what the caller waits for (watchKey). */
function hostWatch(out: number[], f: FileDescription, wantIn: boolean, wantOut: boolean): void {
  const h = f.hostWatchFd();
  if (h >= 0) out.push(watchKey(h, wantIn, wantOut));
}

function ppoll(t: Task): number {
  const ms = t.blockState ? -1 : timespecMs(t, t.arg(2));
  if (ms === null) return -EFAULT;
  return doPoll(t, t.arg(0), t.argU32(1), ms, t.arg(3), t.arg(4), { addr: t.arg(2), usec: false });
}

// ---- select ----

interface FdSets {
  words: number;
  sets: Array<Uint8Array | null>;
}

function readSets(t: Task, nfds: number, addrs: number[]): FdSets | number {
  const words = Math.ceil(nfds / 64);
  const sets: Array<Uint8Array | null> = [];
  for (const a of addrs) {
    if (a === 0) sets.push(null);
    else {
      const b = t.mm.read(a, words * 8);
      if (!b) return -EFAULT;
      sets.push(b);
    }
  }
  return { words, sets };
}

function isSet(b: Uint8Array | null, fd: number): boolean {
  return b !== null && (b[fd >> 3] & (1 << (fd & 7))) !== 0;
}

function doSelect(t: Task, nfds: number, addrs: number[], timeoutMs: number, left: Left, maskAddr = 0, maskSize = 8): number {
  if (nfds < 0 || Number.isNaN(timeoutMs)) return -EINVAL;
  nfds = Math.min(nfds, t.files.limit);
  const st = waitState(t, timeoutMs);
  const m = applyMask(t, st, maskAddr, maskSize);
  if (m < 0) return m;
  const in_ = readSets(t, nfds, addrs);
  if (typeof in_ === 'number') return finish(t, st, in_);
  const out = in_.sets.map((s) => (s ? new Uint8Array(s.length) : null));
  const files: FileDescription[] = [];
  const watched: number[] = [];
  const masks = [POLL_IN_SET, POLL_OUT_SET, POLLPRI];
  let ready = 0;
  for (let fd = 0; fd < nfds; fd++) {
    const want = in_.sets.map((s) => isSet(s, fd));
    if (!want.some((w) => w)) continue;
    const f = t.files.get(fd);
    if (!f) return finish(t, st, -EBADF);
    files.push(f);
    hostWatch(watched, f, want[0] || want[2], want[1]);
    const r = f.readiness();
    for (let k = 0; k < 3; k++) {
      if (want[k] && r & masks[k]) {
        out[k]![fd >> 3] |= 1 << (fd & 7);
        ready++;
      }
    }
  }
  if (ready > 0 || t.timedOut || performance.now() >= st.deadline) {
    for (let k = 0; k < 3; k++) if (out[k] && !t.mm.write(addrs[k], out[k]!)) return finish(t, st, -EFAULT);
    return finish(t, st, ready, left);
  }
  return park(t, st, files.map((f) => f.waitQueue), watched);
}

function select(t: Task): number {
  const ms = t.blockState ? -1 : timevalMs(t, t.arg(4));
  if (ms === null) return -EFAULT;
  return doSelect(t, t.argInt(0), [t.arg(1), t.arg(2), t.arg(3)], ms, { addr: t.arg(4), usec: true });
}

function pselect6(t: Task): number {
  const ms = t.blockState ? -1 : timespecMs(t, t.arg(4));
  if (ms === null) return -EFAULT;
  // The sixth argument is { const sigset_t *ss; size_t ss_len; }.
  let maskAddr = 0;
  let maskSize = 8;
  if (t.arg(5)) {
    const a = t.mm.readU64(t.arg(5));
    const n = t.mm.readU64(t.arg(5) + 8);
    if (a === null || n === null) return -EFAULT;
    maskAddr = a;
    maskSize = n;
  }
  return doSelect(t, t.argInt(0), [t.arg(1), t.arg(2), t.arg(3)], ms, { addr: t.arg(4), usec: false }, maskAddr, maskSize);
}

// ---- epoll ----

function epollOf(t: Task, fd: number): EpollFile | number {
  const f = fileOf(t, fd);
  if (typeof f === 'number') return f;
  return f instanceof EpollFile ? f : -EINVAL;
}

function epollCtl(t: Task): number {
  const ep = epollOf(t, t.argInt(0));
  if (typeof ep === 'number') return ep;
  const op = t.argInt(1);
  const fd = t.argInt(2);
  const f = t.files.get(fd);
  if (!f) return -EBADF;
  let ev = { events: 0, lo: 0, hi: 0 };
  if (op !== EPOLL_CTL_DEL) {
    const b = t.mm.read(t.arg(3), EPOLL_EVENT_SIZE);
    if (!b) return -EFAULT;
    const dv = new DataView(b.buffer);
    ev = { events: dv.getUint32(0, true), lo: dv.getUint32(4, true), hi: dv.getUint32(8, true) };
  }
  return ep.ctl(op, fd, f, ev);
}

function epollWait(t: Task, timeoutMs: number, maskAddr = 0, maskSize = 8): number {
  const ep = epollOf(t, t.argInt(0));
  if (typeof ep === 'number') return ep;
  const max = t.argInt(2);
  if (max <= 0 || max > 0x7fffffff / EPOLL_EVENT_SIZE || Number.isNaN(timeoutMs)) return -EINVAL;
  const st = waitState(t, timeoutMs);
  const m = applyMask(t, st, maskAddr, maskSize);
  if (m < 0) return m;
  // The watched host sockets' readiness in one host call, for the collect and the park's watch.
  const polled = ep.pollHost();
  try {
    const evs = ep.collect(max);
    if (evs.length > 0) {
      const b = new Uint8Array(evs.length * EPOLL_EVENT_SIZE);
      const dv = new DataView(b.buffer);
      for (let i = 0; i < evs.length; i++) {
        const e = evs[i];
        dv.setUint32(i * 12, e.events >>> 0, true);
        dv.setUint32(i * 12 + 4, e.lo, true);
        dv.setUint32(i * 12 + 8, e.hi, true);
      }
      return finish(t, st, t.mm.write(t.arg(1), b) ? evs.length : -EFAULT);
    }
    if (t.timedOut || performance.now() >= st.deadline) return finish(t, st, 0);
    return park(t, st, [ep.waitQueue], ep.hostFds());
  } finally {
    endHostPoll(polled);
  }
}

function eventfd2(t: Task, init: number, flags: number): number {
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | EFD_SEMAPHORE)) return -EINVAL;
  const f = new EventFdFile(BigInt(init >>> 0), 2 | (flags & O_NONBLOCK), (flags & EFD_SEMAPHORE) !== 0);
  return t.files.install(f, (flags & O_CLOEXEC) !== 0);
}

export const sysPoll = {
  poll: (t: Task) => doPoll(t, t.arg(0), t.argU32(1), t.argInt(2) < 0 ? -1 : t.argInt(2)),
  ppoll,
  select,
  pselect6,
  epoll_create: (t: Task) => (t.argInt(0) <= 0 ? -EINVAL : t.files.install(new EpollFile(2), false)),
  epoll_create1: (t: Task) => {
    const flags = t.argInt(0);
    if (flags & ~O_CLOEXEC) return -EINVAL;
    return t.files.install(new EpollFile(2), (flags & O_CLOEXEC) !== 0);
  },
  epoll_ctl: epollCtl,
  epoll_wait: (t: Task) => epollWait(t, t.argInt(3) < 0 ? -1 : t.argInt(3)),
  epoll_pwait: (t: Task) => epollWait(t, t.argInt(3) < 0 ? -1 : t.argInt(3), t.arg(4), t.arg(5)),
  epoll_pwait2: (t: Task) => {
    const ms = t.blockState ? -1 : timespecMs(t, t.arg(3));
    return ms === null ? -EFAULT : epollWait(t, ms, t.arg(4), t.arg(5));
  },
  eventfd: (t: Task) => eventfd2(t, t.argU32(0), 0),
  eventfd2: (t: Task) => eventfd2(t, t.argU32(0), t.argInt(1)),
};
