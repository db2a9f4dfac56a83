// A ptrace context: one host thread of a stub, traced with PTRACE_SYSEMU. Resuming it is queued
// in the platform (platform.ts) and done by the next wait in the same native call, so a syscall
// round trip stays one crossing into the addon.

import type { Registers } from '../registers';
import type { Context } from '../types';
import type { PtraceAddressSpace } from './address-space';
import type { PtracePlatform } from './platform';

const NR_EXIT = 60;
/** How the native resume sets the registers (sentry.c resume_wait_js's regsMode). */
export const SET_RAX = 0;
export const SET_ALL = 1;
export const SET_NONE = 2;

export class PtraceContext implements Context {
  /** Resumed and not reported stopped since. */
  running = false;
  /**
   * Stopped where a syscall can be injected (a syscall or fault stop, or the first thread of a new
   * stub): the address space runs its mmap/munmap/mprotect in such a thread.
   */
  injectable: boolean;
  /** The host thread is gone (exit reported, or released). */
  gone = false;

  constructor(
    private readonly p: PtracePlatform,
    readonly tid: number,
    readonly addressSpace: PtraceAddressSpace,
    injectable: boolean,
  ) {
    this.injectable = injectable;
  }

  resumeSyscall(result: number): void {
    this.running = true;
    this.p.queueResume(this.tid, SET_RAX, result);
  }

  resumeFull(regs: Registers): void {
    this.running = true;
    this.p.queueResumeFull(this.tid, regs);
  }

  resume(): void {
    this.running = true;
    this.p.queueResume(this.tid, SET_NONE, 0);
  }

  interrupt(): void {
    // SIGSTOP, suppressed when it reports: the wait gives the thread back as STOP.interrupt.
    this.p.native.tgkill(this.addressSpace.pid, this.tid, 19);
  }

  getFpRegs(buf: Uint8Array): boolean {
    this.p.flushResume();
    return this.p.native.getFpRegs(this.tid, buf) === 0;
  }

  setFpRegs(buf: Uint8Array): boolean {
    this.p.flushResume();
    return this.p.native.setFpRegs(this.tid, buf) === 0;
  }

  release(): void {
    // The stub's first thread stays (its exit would wait for the others): stopped until the stub goes.
    if (this.gone || this.tid === this.addressSpace.pid) return;
    this.p.flushResume();
    this.p.native.inject(this.tid, NR_EXIT, 0, 0, 0, 0, 0, 0);
    this.p.forget(this);
  }
}
