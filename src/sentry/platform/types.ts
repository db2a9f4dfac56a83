import type { Registers } from './registers';
import type { Vdso } from './vdso';

/** What the wait returned. Numbers, not strings: this is the per-syscall path. */
export const EVENT_NONE = 0;
/** A thread stopped at a syscall (registers loaded). */
export const EVENT_SYSCALL = 1;
/** A thread stopped with a synchronous signal (fault: SIGSEGV, SIGILL, SIGTRAP, …; registers loaded). */
export const EVENT_FAULT = 2;
/** A thread exited or was killed on the host. */
export const EVENT_EXIT = 3;
export const EVENT_TIMEOUT = 4;
/** The sentry itself got a signal it forwards (SIGTERM from `moat kill`, …). */
export const EVENT_HOST_SIGNAL = 5;
/** A watched host fd became readable. */
export const EVENT_FD = 6;
/** No application thread is left. */
export const EVENT_NO_TASKS = 7;
/** A stop of no interest (group-stop, stray SIGSTOP): resume it. */
export const EVENT_OTHER_STOP = 8;
/** A watched host fd may be ready (watchFds): pollWatched says which. */
export const EVENT_WATCH = 9;

export interface PlatformEvent {
  kind: number;
  tid: number;
  /** EVENT_FAULT / EVENT_OTHER_STOP: the host signal; EVENT_EXIT: the wait status. */
  signal: number;
  status: number;
}

export interface SentryPlatform {
  /** Registers of the thread of the last event (or loaded with loadRegs). */
  readonly regs: Registers;
  /** si_code and si_addr of the last EVENT_FAULT. */
  /** si_addr is also given in halves: an address near 2^64 (the vsyscall page) is not exact as one number. */
  readonly lastFault: { code: number; addr: number; addrHi: number; addrLo: number };
  /**
   * The vDSO every address space has (platform/vdso.ts), outside the application's addresses, or
   * null: none is offered (AT_SYSINFO_EHDR absent; clock calls are syscalls).
   */
  readonly vdso: Vdso | null;
  /** Start a new, empty address space whose memory is the memfd; returns its first thread. */
  newAddressSpace(memfd: number): number;
  /** A new thread in the address space of the stopped thread tid; returns its tid (stopped). */
  newThread(tid: number): number;
  /** Run one host syscall in the stopped thread tid (mmap, munmap, mprotect, exit…). */
  inject(tid: number, nr: number, a0?: number, a1?: number, a2?: number, a3?: number, a4?: number, a5?: number): number;
  /**
   * A copy of the sentry's fd (a shared memory object's memfd) in the stub of the stopped thread
   * tid: its number there, or -errno. No path is opened.
   */
  fdInStub(tid: number, fd: number): number;
  /** Load tid's registers into regs / store regs into tid. */
  loadRegs(tid: number): boolean;
  storeRegs(tid: number): boolean;
  /** 512-byte FP state (fxsave layout). */
  getFpRegs(tid: number, buf: Uint8Array): boolean;
  setFpRegs(tid: number, buf: Uint8Array): boolean;
  /**
   * Resume tid (0: none) with its syscall result in rax (regsMode 0), all of regs (1) or as is
   * (2), then wait up to timeoutMs (-1 forever, -2 don't wait) for the next event.
   */
  resumeAndWait(tid: number, regsMode: number, rax: number, timeoutMs: number, preferTid?: number): PlatformEvent;
  /** Kill a whole address space (SIGKILL) and reap its threads. */
  destroyAddressSpace(pid: number, tids: readonly number[]): void;
  /** Take the host signals forwarded since the last call (bitmask, bit n = signal n). */
  takeHostSignals(): number;
  /** A host fd of the sentry's own whose readiness ends a wait through a signal (no polling). */
  asyncFd(fd: number): void;
  /** Host fds whose readiness ends a wait (EVENT_WATCH); file.ts WATCH_* bits say for what. */
  watchFds(fds: readonly number[]): void;
  /** The revents of each fd given to watchFds, now (one poll, no wait), in that order. */
  pollWatched(): Int32Array;
}
