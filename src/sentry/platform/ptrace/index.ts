// The ptrace platform: each address space is a moat-stub process traced with PTRACE_SYSEMU, so
// an application syscall stops in the sentry and is never run by the host. The host runs only
// what the sentry injects through the stub's gadget (mmap of the sentry's memfd, munmap,
// mprotect, clone of a thread, exit), and the stub's seccomp filter kills anything else.
// See docs/sentry.md.

import * as fs from 'node:fs';
import { Registers } from '../registers';
import {
  EVENT_EXIT, EVENT_FAULT, EVENT_FD, EVENT_HOST_SIGNAL, EVENT_NO_TASKS, EVENT_OTHER_STOP, EVENT_SYSCALL,
  EVENT_TIMEOUT, EVENT_WATCH, type PlatformEvent, type SentryPlatform,
} from '../types';
import { prepareVdso, type Vdso } from '../vdso';
import { ptraceSys, stubPath, type PtraceSys } from './native';

const SYSCALL_STOP = 0x80 | 5; // SIGTRAP | 0x80 (PTRACE_O_TRACESYSGOOD)
const NR_CLONE = 56;
const NR_CLOSE = 3;
const NR_PRCTL = 157;
const NR_PIDFD_GETFD = 438;
const PR_SET_PDEATHSIG = 1;
const THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000; // VM FS FILES SIGHAND THREAD SYSVSEM
const FORK_FLAGS = 0x8000 | 17; // CLONE_PARENT | SIGCHLD: the new stub is the sentry's child
/** In every stub: fd 3 is its memory file, fd 4 a pidfd of the sentry (native/sentry/stub.c). */
const MEMORY_FD = 3;
const SENTRY_PIDFD = 4;

export class PtracePlatform implements SentryPlatform {
  readonly regs = new Registers();
  /** si_code and si_addr of the last EVENT_FAULT. */
  readonly lastFault = { code: 0, addr: 0, addrHi: 0, addrLo: 0 };
  private readonly event = new Int32Array(8);
  private readonly ev: PlatformEvent = { kind: 0, tid: 0, signal: 0, status: 0 };
  private readonly n: PtraceSys;
  private readonly stub: string;

  constructor() {
    this.n = ptraceSys();
    this.stub = stubPath();
    this.n.sentryBuffers(this.regs.buffer, this.event);
  }

  /**
   * The OOM-killer preference each new stub gets (the application's process.oomScoreAdj), set when
   * the sentry made itself the last choice (main.ts): under a memory limit the host's OOM killer
   * then ends the application process that grew, as it would under runc, not the sentry. Written
   * to the template stub before the sentry confines itself (its forks inherit it); to each spawned
   * stub where there is no template.
   */
  stubOomScoreAdj: number | undefined;

  private preferForOom(pid: number): void {
    if (this.stubOomScoreAdj === undefined || pid <= 0) return;
    try {
      fs.writeFileSync(`/proc/${pid}/oom_score_adj`, String(this.stubOomScoreAdj));
    } catch {
      // the stub is gone already: its death is seen as any other
    }
  }

  /**
   * The host uid (= gid) and capability mask of the stubs, when the sentry will switch to that uid
   * (src/sentry/confine/): the template stub becomes it at its start (native/sentry/stub.c), and
   * its forks are born with it — the sentry can signal only processes of its own uid, and a stub
   * fetching the sentry's fds (pidfd_getfd) must hold the capabilities the sentry holds.
   */
  stubCreds: { uid: number; caps: number } | undefined;

  private spawnStub(memfd: number): number {
    const c = this.stubCreds;
    return c ? this.n.stubSpawn(this.stub, memfd, c.uid, c.uid, c.caps) : this.n.stubSpawn(this.stub, memfd);
  }

  /** The stub every later one is forked from (prepareTemplate), or 0: each is spawned (exec). */
  private template = 0;

  /**
   * Spawn the template stub (with a memory file of its own that its copies replace): from then
   * on a new address space is a fork of it, so the sentry never execs again — what lets its own
   * seccomp filter refuse execve (src/sentry/confine/).
   */
  prepareTemplate(): void {
    if (this.template !== 0) return;
    const fd = this.n.memfdCreate('moat-stub-template', 0);
    try {
      this.template = this.spawnStub(fd);
      this.preferForOom(this.template);
    } finally {
      fs.closeSync(fd);
    }
    if (process.env.MOAT_SENTRY_VDSO === '0') return;
    let v: Vdso | string;
    try {
      v = prepareVdso(this.template);
    } catch (e) {
      v = `the template stub's memory: ${(e as Error).message}`;
    }
    if (typeof v === 'string') this.vdsoRefused = v;
    else this.vdso = v;
  }

  /**
   * The vDSO, patched in the template before any fork (platform/vdso.ts): only stubs forked from
   * the template have it, so none without one (MOAT_SENTRY_VDSO=0: none either).
   */
  vdso: Vdso | null = null;
  /** Why there is none, when the template's could not be used. */
  vdsoRefused = '';

  newAddressSpace(memfd: number): number {
    if (this.template === 0) {
      const spawned = this.spawnStub(memfd);
      this.preferForOom(spawned);
      return spawned;
    }
    const r = this.n.inject(this.template, NR_CLONE, FORK_FLAGS, 0, 0, 0, 0, 0);
    if (r < 0) throw new Error(`sentry: cannot fork a stub from the template (errno ${-r})`);
    const pid = this.event[2];
    // Its memory file instead of the template's, and death with the sentry (a fork loses it).
    let e = this.n.inject(pid, NR_CLOSE, MEMORY_FD, 0, 0, 0, 0, 0);
    if (e === 0) e = this.n.inject(pid, NR_PIDFD_GETFD, SENTRY_PIDFD, memfd, 0, 0, 0, 0);
    if (e === MEMORY_FD) e = this.n.inject(pid, NR_PRCTL, PR_SET_PDEATHSIG, 9, 0, 0, 0, 0);
    else if (e >= 0) e = -9; // EBADF: fd 3 was not the lowest free one
    if (e !== 0) {
      this.destroyAddressSpace(pid, []);
      throw new Error(`sentry: cannot give a new stub its memory (errno ${-e})`);
    }
    return pid;
  }

  newThread(tid: number): number {
    const r = this.n.inject(tid, NR_CLONE, THREAD_FLAGS, 0, 0, 0, 0, 0);
    if (r < 0) return r;
    return this.event[2];
  }

  inject(tid: number, nr: number, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
    return this.n.inject(tid, nr, a0, a1, a2, a3, a4, a5);
  }

  fdInStub(tid: number, fd: number): number {
    return this.n.inject(tid, NR_PIDFD_GETFD, SENTRY_PIDFD, fd, 0, 0, 0, 0);
  }

  loadRegs(tid: number): boolean {
    return this.n.getRegs(tid);
  }

  storeRegs(tid: number): boolean {
    return this.n.setRegs(tid);
  }

  getFpRegs(tid: number, buf: Uint8Array): boolean {
    return this.n.getFpRegs(tid, buf) === 0;
  }

  setFpRegs(tid: number, buf: Uint8Array): boolean {
    return this.n.setFpRegs(tid, buf) === 0;
  }

  resumeAndWait(tid: number, regsMode: number, rax: number, timeoutMs: number, preferTid = 0): PlatformEvent {
    const ev = this.ev;
    const kind = this.n.resumeWait(tid, 0, 0, regsMode, rax, timeoutMs, preferTid);
    ev.tid = 0;
    ev.signal = 0;
    ev.status = 0;
    switch (kind) {
      case 1:
        break;
      case 0:
        ev.kind = EVENT_TIMEOUT;
        return ev;
      case 2:
        ev.kind = EVENT_HOST_SIGNAL;
        return ev;
      case 3:
        ev.kind = EVENT_FD;
        return ev;
      case 4:
        ev.kind = EVENT_WATCH;
        return ev;
      default:
        ev.kind = EVENT_NO_TASKS;
        return ev;
    }
    const status = this.event[1];
    ev.tid = this.event[0];
    ev.status = status;
    if (status === -1) {
      // Stopped but gone before its registers could be read: its exit follows.
      ev.kind = EVENT_OTHER_STOP;
      return ev;
    }
    if ((status & 0x7f) === 0x7f) {
      const sig = (status >> 8) & 0xff;
      const event = status >> 16;
      if (sig === SYSCALL_STOP) ev.kind = EVENT_SYSCALL;
      else if (event !== 0 || sig === 19 || sig === 20 || sig === 21 || sig === 22) ev.kind = EVENT_OTHER_STOP;
      else {
        ev.kind = EVENT_FAULT;
        ev.signal = sig;
        this.lastFault.code = this.event[4];
        this.lastFault.addrHi = this.event[6] >>> 0;
        this.lastFault.addrLo = this.event[5] >>> 0;
        this.lastFault.addr = this.lastFault.addrHi * 0x1_0000_0000 + this.lastFault.addrLo;
      }
      return ev;
    }
    ev.kind = EVENT_EXIT;
    return ev;
  }

  destroyAddressSpace(pid: number, tids: readonly number[]): void {
    this.n.tgkill(pid, pid, 9);
    for (const t of tids) this.n.waitTid(t, false);
    this.n.waitTid(pid, true);
  }

  /** Stop a running thread (SIGSTOP, suppressed when it reports) so the kernel gets it back. */
  kick(pid: number, tid: number): void {
    this.n.tgkill(pid, tid, 19);
  }

  takeHostSignals(): number {
    return this.n.takeHostSignals();
  }

  asyncFd(fd: number): void {
    this.n.asyncFd(fd);
  }

  watchFds(fds: readonly number[]): void {
    this.n.setWatchFds(Int32Array.from(fds));
    if (this.revents.length < fds.length) this.revents = new Int32Array(Math.max(fds.length, this.revents.length * 2));
    this.nwatched = fds.length;
  }

  private revents = new Int32Array(64);
  private nwatched = 0;

  pollWatched(): Int32Array {
    const out = this.revents.subarray(0, this.nwatched);
    this.n.pollWatched(out);
    return out;
  }

  /** Memory the application's address spaces are made of (mm/). */
  get memory(): Pick<PtraceSys, 'memfdCreate' | 'mapShared' | 'punchHole' | 'copyData'> {
    return this.n;
  }

  hostSignals(signals: number[]): void {
    this.n.hostSignals(signals);
  }
}
