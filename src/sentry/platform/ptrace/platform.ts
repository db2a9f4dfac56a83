// The ptrace platform: each address space is a moat-stub process traced with PTRACE_SYSEMU, so
// an application syscall stops in the sentry and is never run by the host. The host runs only
// what the sentry injects through the stub's gadget (address-space.ts), and the stub's seccomp
// filter kills anything else. See docs/sentry.md.

import * as fs from 'node:fs';
import type { MemoryOps } from '../../mm/memory-file';
import { Registers } from '../registers';
import { NO_WAIT, STOP, type Context, type Platform, type PlatformSetup, type Stop } from '../types';
import { prepareVdso, type Vdso } from '../vdso';
import { MEMORY_FD, PtraceAddressSpace, SENTRY_PIDFD } from './address-space';
import { SET_ALL, SET_NONE, type PtraceContext } from './context';
import { ptraceSys, stubPath, type PtraceSys } from './native';

const SYSCALL_STOP = 0x80 | 5; // SIGTRAP | 0x80 (PTRACE_O_TRACESYSGOOD)
const NR_CLONE = 56;
const NR_CLOSE = 3;
const NR_PRCTL = 157;
const NR_PIDFD_GETFD = 438;
const PR_SET_PDEATHSIG = 1;
const FORK_FLAGS = 0x8000 | 17; // CLONE_PARENT | SIGCHLD: the new stub is the sentry's child

export class PtracePlatform implements Platform {
  readonly name = 'ptrace';
  /** The native layer's register buffer: a stop's registers land here, a full resume's come from here. */
  private readonly regs = new Registers();
  private readonly event = new Int32Array(8);
  private readonly stop: Stop = { reason: STOP.timeout, context: undefined, tid: 0, signal: 0, regs: this.regs, fault: { code: 0, addr: 0, addrHi: 0, addrLo: 0 } };
  readonly native: PtraceSys;
  private readonly stub: string;
  /** Every live thread of every stub, by host tid. */
  private readonly contexts = new Map<number, PtraceContext>();
  /** The resume queued for the next wait (one native call does both); 0: none. */
  private pendingTid = 0;
  private pendingMode = SET_NONE;
  private pendingRax = 0;

  /** native, stub: the addon and the stub binary (a test gives a fake of the addon). */
  constructor(native: PtraceSys = ptraceSys(), stub = stubPath()) {
    this.native = native;
    this.stub = stub;
    this.native.sentryBuffers(this.regs.buffer, this.event);
  }

  get memory(): MemoryOps {
    return this.native;
  }

  // ---- contexts (context.ts calls these) ----

  adopt(c: PtraceContext): PtraceContext {
    this.contexts.set(c.tid, c);
    c.addressSpace.contexts.add(c);
    return c;
  }

  forget(c: PtraceContext): void {
    c.gone = true;
    if (this.contexts.get(c.tid) === c) this.contexts.delete(c.tid);
    c.addressSpace.contexts.delete(c);
  }

  /** The tid of the thread or process the last injected clone made. */
  lastNewTid(): number {
    return this.event[2];
  }

  queueResume(tid: number, mode: number, rax: number): void {
    if (this.pendingTid !== 0) this.flushResume();
    this.pendingTid = tid;
    this.pendingMode = mode;
    this.pendingRax = rax;
  }

  queueResumeFull(tid: number, regs: Registers): void {
    if (this.pendingTid !== 0) this.flushResume();
    this.regs.copyFrom(regs);
    this.pendingTid = tid;
    this.pendingMode = SET_ALL;
    this.pendingRax = 0;
  }

  /** Do the queued resume now (before anything else uses the thread or the register buffer). */
  flushResume(): void {
    const tid = this.pendingTid;
    if (tid === 0) return;
    this.pendingTid = 0;
    this.native.resumeWait(tid, 0, 0, this.pendingMode, this.pendingRax, NO_WAIT);
  }

  // ---- the OOM killer, the stubs' credentials, the template ----

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
    return c ? this.native.stubSpawn(this.stub, memfd, c.uid, c.uid, c.caps) : this.native.stubSpawn(this.stub, memfd);
  }

  prepare(setup: PlatformSetup): void {
    if (setup.oomScoreAdj !== undefined) this.stubOomScoreAdj = setup.oomScoreAdj;
    if (setup.stubUid !== undefined) this.stubCreds = { uid: setup.stubUid, caps: setup.stubCaps ?? 0 };
    this.prepareTemplate();
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
    const fd = this.native.memfdCreate('moat-stub-template', 0);
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

  newAddressSpace(memfd: number): PtraceAddressSpace {
    this.flushResume();
    if (this.template === 0) {
      const spawned = this.spawnStub(memfd);
      this.preferForOom(spawned);
      return new PtraceAddressSpace(this, spawned);
    }
    const n = this.native;
    const r = n.inject(this.template, NR_CLONE, FORK_FLAGS, 0, 0, 0, 0, 0);
    if (r < 0) throw new Error(`sentry: cannot fork a stub from the template (errno ${-r})`);
    const pid = this.event[2];
    // Its memory file instead of the template's, and death with the sentry (a fork loses it).
    let e = n.inject(pid, NR_CLOSE, MEMORY_FD, 0, 0, 0, 0, 0);
    if (e === 0) e = n.inject(pid, NR_PIDFD_GETFD, SENTRY_PIDFD, memfd, 0, 0, 0, 0);
    if (e === MEMORY_FD) e = n.inject(pid, NR_PRCTL, PR_SET_PDEATHSIG, 9, 0, 0, 0, 0);
    else if (e >= 0) e = -9; // EBADF: fd 3 was not the lowest free one
    const as = new PtraceAddressSpace(this, pid);
    if (e !== 0) {
      as.release();
      throw new Error(`sentry: cannot give a new stub its memory (errno ${-e})`);
    }
    return as;
  }

  // ---- waiting ----

  wait(timeoutMs: number, preferred: Context | undefined): Stop {
    const s = this.stop;
    const tid = this.pendingTid;
    this.pendingTid = 0;
    const kind = this.native.resumeWait(tid, 0, 0, this.pendingMode, this.pendingRax, timeoutMs, preferred === undefined ? 0 : preferred.tid);
    s.context = undefined;
    s.tid = 0;
    s.signal = 0;
    switch (kind) {
      case 1:
        break;
      case 0:
        s.reason = STOP.timeout;
        return s;
      case 2:
        s.reason = STOP.hostSignal;
        return s;
      case 3:
        s.reason = STOP.asyncFd;
        return s;
      case 4:
        s.reason = STOP.watch;
        return s;
      default:
        s.reason = STOP.idle;
        return s;
    }
    const status = this.event[1];
    const t = this.event[0];
    const c = this.contexts.get(t);
    s.tid = t;
    s.context = c;
    if (status === -1 || (status & 0x7f) === 0x7f) {
      if (c !== undefined) {
        c.running = false;
        c.injectable = false;
      }
      if (status === -1) {
        // Stopped but gone before its registers could be read: its exit follows.
        s.reason = STOP.interrupt;
        return s;
      }
      const sig = (status >> 8) & 0xff;
      if (sig === SYSCALL_STOP) s.reason = STOP.syscall;
      else if (status >> 16 !== 0 || sig === 19 || sig === 20 || sig === 21 || sig === 22) {
        s.reason = STOP.interrupt;
        return s;
      } else {
        s.reason = STOP.fault;
        s.signal = sig;
        const f = s.fault;
        f.code = this.event[4];
        f.addrHi = this.event[6] >>> 0;
        f.addrLo = this.event[5] >>> 0;
        f.addr = f.addrHi * 0x1_0000_0000 + f.addrLo;
      }
      if (c !== undefined) {
        c.injectable = true;
        c.addressSpace.lastStopped = c;
      }
      return s;
    }
    s.reason = STOP.exit;
    if (c !== undefined) this.forget(c);
    return s;
  }

  takeHostSignals(): number {
    return this.native.takeHostSignals();
  }

  asyncFd(fd: number): void {
    this.native.asyncFd(fd);
  }

  watchFds(fds: readonly number[]): void {
    this.native.setWatchFds(Int32Array.from(fds));
    if (this.revents.length < fds.length) this.revents = new Int32Array(Math.max(fds.length, this.revents.length * 2));
    this.nwatched = fds.length;
  }

  private revents = new Int32Array(64);
  private nwatched = 0;

  pollWatched(): Int32Array {
    const out = this.revents.subarray(0, this.nwatched);
    this.native.pollWatched(out);
    return out;
  }

  forwardHostSignals(signals: number[]): void {
    this.native.hostSignals(signals);
  }
}
