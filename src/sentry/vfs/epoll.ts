// epoll: an interest list of (fd, file) pairs. Level-triggered by default: epoll_wait reports
// what each file's readiness() says now. EPOLLET reports a file only after its wait queue was
// notified since it was last reported. A host-backed file's changes come from outside: one that
// counts its calls (edgeActivity: sockets) is reported again when a bit rises that was not reported
// or after the application read, wrote or accepted on it, and while it has nothing new its host fd
// is watched only for the bits that are down (a readable host fd polled for input would wake the
// wait at once, forever); one that does not (host streams) counts as always notified.
// EPOLLONESHOT disarms an entry once reported, until EPOLL_CTL_MOD.
//
// An epoll may watch another epoll, but not in a cycle and not deeper than Linux's EP_MAX_NESTS
// (ELOOP): a wake-up walks the chain, so its length is bounded.
//
// As in Linux, an entry lives while its file does: closing one fd of a dup'ed file keeps it; the
// entry goes when the file is released.

import { EEXIST, EINVAL, ELOOP, ENOENT, EPERM } from '../abi/errno';
import type { Waiter } from '../kernel/waitqueue';
import { POLLERR, POLLHUP, POLLIN, POLLOUT, POLLWRBAND, POLLWRNORM, pollBits } from './constants';
import { beginHostPoll, endHostPoll } from './host-poll';
import { allocAnonIno, anonStat, FileDescription, WATCH_OUT, watchKey, type StatInfo } from './file';

export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLEXCLUSIVE = 1 << 28;
export const EPOLLWAKEUP = 1 << 29;
export const EPOLLONESHOT = 1 << 30;
export const EPOLLET = 2 ** 31;
const CONTROL = EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET;
/** The events that ask for writability. */
const POLL_WRITE = POLLOUT | POLLWRNORM | POLLWRBAND;
/** Linux's EP_MAX_NESTS: epolls inside epolls, at most this many levels. */
const EP_MAX_NESTS = 4;

export interface EpollEvent {
  events: number;
  /** The caller's 64 bits, as two halves (exact, unlike a number). */
  lo: number;
  hi: number;
}

class Interest implements Waiter {
  /** Notified since last reported (EPOLLET). */
  notified = true;
  disarmed = false;
  /** EPOLLET on a counted host-backed file: the bits last reported, and its activity count then. */
  reported = 0;
  activity: number | undefined = undefined;

  constructor(readonly owner: EpollFile, readonly fd: number, readonly file: FileDescription, public ev: EpollEvent) {}

  wake(): void {
    this.notified = true;
    this.owner.waitQueue.notify();
  }
}

export class EpollFile extends FileDescription {
  private readonly interests = new Map<FileDescription, Map<number, Interest>>();
  private readonly anonIno = allocAnonIno();

  constructor(flags: number) {
    super(flags);
  }

  ctl(op: number, fd: number, file: FileDescription, ev: EpollEvent): number {
    if (file === (this as FileDescription)) return -EINVAL;
    // Files without a poll method of their own (regular files, directories) cannot be watched.
    if (file.readiness === FileDescription.prototype.readiness) return -EPERM;
    let byFd = this.interests.get(file);
    const cur = byFd?.get(fd);
    switch (op) {
      case EPOLL_CTL_ADD: {
        if (cur) return -EEXIST;
        if (file instanceof EpollFile && this.wouldLoop(file)) return -ELOOP;
        const i = new Interest(this, fd, file, ev);
        if (!byFd) this.interests.set(file, (byFd = new Map()));
        byFd.set(fd, i);
        file.waitQueue.add(i);
        // A waiter parked before this fd was added must look again (it may be ready already).
        this.waitQueue.notify();
        return 0;
      }
      case EPOLL_CTL_MOD:
        if (!cur) return -ENOENT;
        if ((ev.events & EPOLLEXCLUSIVE) !== 0) return -EINVAL;
        cur.ev = ev;
        cur.disarmed = false;
        cur.notified = true;
        this.waitQueue.notify();
        return 0;
      case EPOLL_CTL_DEL:
        if (!cur) return -ENOENT;
        this.drop(cur);
        return 0;
      default:
        return -EINVAL;
    }
  }

  /**
   * Linux's ep_loop_check: adding epoll `to` to this one closes a cycle (to reaches this one), or
   * the levels below `to`, `to` itself and the levels above this one exceed EP_MAX_NESTS.
   */
  private wouldLoop(to: EpollFile): boolean {
    const below = new Map<EpollFile, number>();
    const down = (e: EpollFile, depth: number): number => {
      const known = below.get(e);
      if (known !== undefined) return known;
      let r = 0;
      for (const byFd of e.interests.values()) {
        for (const i of byFd.values()) {
          // (An entry of a closed epoll waits for collect() to drop it: it nests nothing.)
          if (!(i.file instanceof EpollFile) || i.file.refs <= 0) continue;
          r = i.file === this || depth > EP_MAX_NESTS ? EP_MAX_NESTS + 1 : Math.max(r, down(i.file, depth + 1) + 1);
          if (r > EP_MAX_NESTS) break;
        }
        if (r > EP_MAX_NESTS) break;
      }
      below.set(e, r);
      return r;
    };
    const depth = down(to, 0);
    if (depth > EP_MAX_NESTS) return true;
    const above = new Map<EpollFile, number>();
    const up = (e: EpollFile): number => {
      const known = above.get(e);
      if (known !== undefined) return known;
      let r = 0;
      for (const w of e.waitQueue.waiting()) if (w instanceof Interest) r = Math.max(r, up(w.owner) + 1);
      above.set(e, r);
      return r;
    };
    return depth + 1 + up(this) > EP_MAX_NESTS;
  }

  private drop(i: Interest): void {
    i.file.waitQueue.remove(i);
    const byFd = this.interests.get(i.file);
    byFd?.delete(i.fd);
    if (byFd && byFd.size === 0) this.interests.delete(i.file);
  }

  /** Up to max ready events (and their side effects: ET and ONESHOT bookkeeping). */
  collect(max: number): EpollEvent[] {
    const out: EpollEvent[] = [];
    // (Deleting the entry being visited, as drop does, is safe in a Map's iteration.)
    for (const byFd of this.interests.values()) {
      for (const i of byFd.values()) {
        if (out.length >= max) return out;
        if (i.file.refs <= 0) {
          this.drop(i);
          continue;
        }
        const r = this.ready(i);
        if (r === 0) continue;
        out.push({ events: r, lo: i.ev.lo, hi: i.ev.hi });
        if (i.ev.events & EPOLLET) {
          i.notified = false;
          i.reported = r;
          i.activity = i.file.edgeActivity?.();
        }
        if (i.ev.events & EPOLLONESHOT) i.disarmed = true;
      }
    }
    return out;
  }

  /** The events of i to report now (0: none). */
  private ready(i: Interest): number {
    if (i.disarmed) return 0;
    const host = i.file.hostBacked();
    if (i.ev.events & EPOLLET && !i.notified && !host) return 0;
    const r = pollBits(i.file.readiness()) & ((i.ev.events & ~CONTROL) | POLLERR | POLLHUP);
    if (!(i.ev.events & EPOLLET) || !host || !this.quiet(i)) return r;
    // Nothing happened since the last report: only a bit that rose since counts.
    i.reported &= r;
    return r & ~i.reported ? r : 0;
  }

  /** An EPOLLET entry on a counted host-backed file with no notification or call since it was reported. */
  private quiet(i: Interest): boolean {
    if (i.notified) return false;
    const a = i.file.edgeActivity?.();
    return a !== undefined && a === i.activity;
  }

  /** Host fds of watched host-backed files, for a waiting epoll_wait (see the top of the file for EPOLLET). */
  hostFds(): number[] {
    const out: number[] = [];
    for (const [f, byFd] of this.interests) {
      const h = f.hostWatchFd();
      if (h < 0) continue;
      const w = this.watchFor(f, h, [...byFd.values()]);
      if (w >= 0) out.push(w);
    }
    return out;
  }

  /** What to watch of f's host fd h for its entries (watchKey); if every entry is a quiet EPOLLET one, only the bits that are down. */
  private watchFor(f: FileDescription, h: number, list: Interest[]): number {
    let wantIn = false;
    let wantOut = false;
    let quiet = true;
    let any = false;
    for (const i of list) {
      if (i.disarmed) continue;
      any = true;
      wantIn ||= (i.ev.events & ~(POLL_WRITE | CONTROL)) !== 0;
      wantOut ||= (i.ev.events & POLL_WRITE) !== 0;
      if (!(i.ev.events & EPOLLET) || !this.quiet(i)) quiet = false;
    }
    if (!any) return -1;
    if (!quiet) return watchKey(h, wantIn || !wantOut, wantOut);
    const cur = f.readiness();
    if (cur & (POLLERR | POLLHUP)) return -1; // the host poll would report these at once, every time
    wantIn &&= !(cur & POLLIN);
    wantOut &&= !(cur & POLLOUT);
    if (wantIn) return watchKey(h | WATCH_OUT, true, wantOut);
    return wantOut ? watchKey(h, false, true) : -1;
  }

  /** The watched files' host readiness in one host call (vfs/host-poll.ts) until endHostPoll(its answer). */
  pollHost(): boolean {
    return beginHostPoll(this.interests.keys());
  }

  override readiness(): number {
    const polled = this.pollHost();
    try {
      for (const byFd of this.interests.values()) for (const i of byFd.values()) if (i.file.refs > 0 && this.ready(i)) return POLLIN;
      return 0;
    } finally {
      endHostPoll(polled);
    }
  }

  override stat(): StatInfo {
    return anonStat(0o600, this.anonIno);
  }

  override get displayPath(): string {
    return 'anon_inode:[eventpoll]';
  }

  override release(): void {
    for (const byFd of [...this.interests.values()]) for (const i of [...byFd.values()]) this.drop(i);
  }
}
