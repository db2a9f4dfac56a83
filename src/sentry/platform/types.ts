// The platform interface: how the sentry runs application code on the host. gVisor's
// pkg/sentry/platform has the same three parts: a Platform that makes address spaces and contexts,
// an AddressSpace that maps the sentry's memory into the application, and a Context that switches
// into the application for one thread and comes back with why it stopped. moat's kernel is one
// synchronous loop over every thread (no goroutine per task), so "switch" is split in two: a
// context is resumed, and the platform's wait returns the next stop of any context. The kernel and
// the memory manager use only this file; platform/ptrace is one implementation (docs/sentry.md).

import type { MemoryOps } from '../mm/memory-file';
import type { Registers } from './registers';
import type { Vdso } from './vdso';

/**
 * Why wait() returned. Numbers, not strings: this is the per-syscall path. The first four name a
 * context (Stop.context); the others are the sentry's own business.
 */
export const STOP = {
  /** The context stopped at a syscall; its registers are in Stop.regs. */
  syscall: 1,
  /** The context stopped with a synchronous signal (a fault: Stop.signal and Stop.fault); registers in Stop.regs. */
  fault: 2,
  /** The context's host thread is gone (killed on the host: OOM, a stray SIGKILL). */
  exit: 3,
  /** The context stopped for no reason of its own (Context.interrupt, a host stop signal): resume it. */
  interrupt: 4,
  /** The timeout passed. */
  timeout: 5,
  /** The sentry got a signal it forwards (takeHostSignals says which). */
  hostSignal: 6,
  /** A host fd given to asyncFd became readable. */
  asyncFd: 7,
  /** A host fd given to watchFds may be ready (pollWatched says which). */
  watch: 8,
  /** No context is left to wait for. */
  idle: 9,
} as const;
export type StopReason = (typeof STOP)[keyof typeof STOP];

/** wait()'s timeout that does not wait: the resumed contexts start, and it returns STOP.timeout at once. */
export const NO_WAIT = -2;

/** si_code and si_addr of a fault; the address also in halves (near 2^64 one number is not exact). */
export interface FaultInfo {
  code: number;
  addr: number;
  addrHi: number;
  addrLo: number;
}

/** What wait() returns: one object per platform, reused at every stop (copy what you keep). */
export interface Stop {
  reason: StopReason;
  /** The context that stopped (syscall, fault, exit, interrupt); undefined for the others. */
  context: Context | undefined;
  /** Its host thread id (also for a thread the platform no longer knows: its exit). */
  tid: number;
  /** fault: the host signal. */
  signal: number;
  /** The general registers of the stopped context (syscall, fault, interrupt). */
  readonly regs: Registers;
  /** fault: where and how. */
  readonly fault: FaultInfo;
}

/**
 * One application thread on the host. Its general registers come with every stop (Stop.regs); the
 * FP state is fetched only when asked for (signal frames, PTRACE_GETFPREGS). Exactly one resume
 * per stop: with the syscall's result only, with a full register set, or as it is.
 */
export interface Context {
  /** The host thread id (what Stop.tid names). */
  readonly tid: number;
  readonly addressSpace: AddressSpace;
  /** Back to the application with rax = the syscall's result (the common case: one register). */
  resumeSyscall(result: number): void;
  /** Back to the application with all of regs (exec, signal frames, sigreturn, new threads). */
  resumeFull(regs: Registers): void;
  /** Back to the application as it stopped. */
  resume(): void;
  /** A running context stops soon (wait() reports STOP.interrupt): a signal for it. */
  interrupt(): void;
  /** 512-byte FP state (fxsave layout) of the stopped context. */
  getFpRegs(buf: Uint8Array): boolean;
  setFpRegs(buf: Uint8Array): boolean;
  /** The stopped thread ends; its address space lives on for its other contexts. */
  release(): void;
}

/**
 * An application address space: ranges of the sentry's memory (the memory file it was made with,
 * shared memory objects, files mapped by reference) mapped at fixed addresses. Every call returns
 * addr on success or -errno. Calls are made while the kernel holds one of its contexts stopped.
 */
export interface AddressSpace {
  /** The host process (for /proc/<pid>/stat CPU time and the OOM killer). */
  readonly pid: number;
  /** The first context (the thread the address space was made with). */
  readonly main: Context;
  /** [addr, addr+len) → the address space's memory file at off, shared (the sentry sees writes). */
  mapMemory(addr: number, len: number, prot: number, off: number): number;
  /** [addr, addr+len) → the shared memory object obj (a memfd of the sentry's) at off, shared. */
  mapObject(addr: number, len: number, prot: number, obj: { readonly fd: number }, off: number): number;
  /**
   * [addr, addr+len) → a host file's pages at off, private and read-only (prot has no PROT_WRITE);
   * key names the file (st_dev:st_ino) so that one file is opened once per address space.
   */
  mapFile(addr: number, len: number, prot: number, file: { readonly fd: number; readonly key: string }, off: number): number;
  /** [addr, addr+len) reserved: mapped with no access and no pages. */
  reserve(addr: number, len: number): number;
  unmap(addr: number, len: number): number;
  protect(addr: number, len: number, prot: number): number;
  /** A new thread in this address space (stopped): its context, or -errno. */
  newContext(): Context | number;
  /** On-CPU ns of the host process so far (what the application's threads ran), or 0 if gone. */
  cpuNs(): number;
  /** Kill every thread and free the host side. */
  release(): void;
}

/** What main.ts tells a platform at start-up, before the sentry confines itself. */
export interface PlatformSetup {
  /** The host uid (= gid) the application's processes run as, and the capabilities they keep. */
  stubUid?: number;
  stubCaps?: number;
  /** Their oom_score_adj (the application's process.oomScoreAdj, or the maximum). */
  oomScoreAdj?: number;
}

export interface Platform {
  /** The registry's name (registry.ts): 'ptrace', … */
  readonly name: string;
  /** The host signals the sentry forwards to the application (wait() reports STOP.hostSignal). */
  forwardHostSignals(signals: number[]): void;
  /** Last set-up while the sentry may still spawn and exec (ptrace: the template stub). */
  prepare(setup: PlatformSetup): void;
  /** The vDSO every address space has, outside the application's addresses, or null (none offered). */
  readonly vdso: Vdso | null;
  /** Why there is no vDSO ('' when there is one, or none was wanted). */
  readonly vdsoRefused: string;
  /** The sentry's memory files (what address spaces and shared memory are made of). */
  readonly memory: MemoryOps;
  /** A new address space whose memory is the memfd, with one stopped context (its main). */
  newAddressSpace(memfd: number): AddressSpace;
  /**
   * Run the resumed contexts until one stops or timeoutMs passes (-1: forever; NO_WAIT: only start them).
   * preferred: a context resumed earlier whose stop, if it has one, comes first (fairness).
   */
  wait(timeoutMs: number, preferred: Context | undefined): Stop;
  /** The host signals forwarded since the last call (bitmask, bit n = signal n). */
  takeHostSignals(): number;
  /** A host fd of the sentry's own whose readiness ends a wait (STOP.asyncFd), without polling. */
  asyncFd(fd: number): void;
  /** Host fds whose readiness ends a wait (STOP.watch); file.ts WATCH_* bits say for what. */
  watchFds(fds: readonly number[]): void;
  /** The revents of each fd given to watchFds, now (one poll, no wait), in that order. */
  pollWatched(): Int32Array;
}
