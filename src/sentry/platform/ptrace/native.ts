// The addon's sentry half (native/bindings/sentry.c), typed once: every export of that file is
// declared here, so no caller casts. The addon is one module; sys() loads it.

import * as path from 'node:path';
import { nativeDir, sys, type Sys } from '../../../sys';
import { STUB_BASE } from '../../mm/layout';

export interface PtraceSys {
  sentryBuffers(regs: Uint8Array, event: Int32Array): void;
  /** With uid: the stub runs as that uid/gid, holding only the capabilities of the caps mask. */
  stubSpawn(path: string, memfd: number, uid?: number, gid?: number, caps?: number): number;
  resumeWait(tid: number, how: number, sig: number, regsMode: number, rax: number, timeoutMs: number, preferTid?: number): number;
  inject(tid: number, nr: number, a0: number, a1: number, a2: number, a3: number, a4: number, a5: number): number;
  getRegs(tid: number): boolean;
  pokeData(tid: number, addr: number, data: Uint8Array): boolean;
  setRegs(tid: number): boolean;
  getFpRegs(tid: number, buf: Uint8Array): number;
  setFpRegs(tid: number, buf: Uint8Array): number;
  waitTid(tid: number, nohang: boolean): number;
  tgkill(tgid: number, tid: number, sig: number): number;
  memfdCreate(name: string, size: number): number;
  mapShared(fd: number, size: number): ArrayBuffer;
  punchHole(fd: number, offset: number, length: number): void;
  copyData(src: number, dst: number, srcOff: number, dstOff: number, length: number): void;
  hostSignals(signals: number[]): void;
  takeHostSignals(): number;
  setWatchFds(fds: Int32Array): void;
  /** One ppoll of the watched fds, no wait: out[i] = revents of the i-th; returns how many are ready. */
  pollWatched(out: Int32Array): number;
  asyncFd(fd: number): void;
  /** A read of fd would not block (poll, no wait). */
  pollIn(fd: number): boolean;
  /** A terminal ioctl on a stdio fd: 0 or -errno. */
  ttyIoctl(fd: number, cmd: number, buf: Uint8Array): number;
  /** moat exec's control socket: a listening unix socket at path; accept without waiting (-1: nobody). */
  unixListen(path: string): number;
  unixAccept(fd: number): number;
  /** One message with its SCM_RIGHTS fds (close-on-exec), waiting at most timeoutMs. */
  recvMsg(fd: number, timeoutMs: number): { data: Buffer; fds: number[] };
  sendMsg(sock: number, data: Buffer, fds: number[]): number;
  /** TIOCSCTTY: fd becomes the caller's controlling terminal. */
  setCtty(fd: number): boolean;
  dup2(oldfd: number, newfd: number): void;
  /** unshare(2): 0 or -errno. */
  unshare(flags: number): number;
  /** setns(CLONE_NEWUTS) into path: that namespace's host name, or -errno. */
  utsJoin(path: string): string | number;
  /** sethostname(2) in the sentry's own UTS namespace: 0 or -errno. */
  setHostname(name: string): number;
  /** The tracer and its stubs on one CPU: the CPU, or -errno. */
  pinCpu(): number;
  pinPid(pid: number, cpu: number): number;
  /** On-CPU ns of another process (a stub), from its process CPU clock; -errno if gone. */
  processCpuNs(pid: number): number;
  /** PR_SET_PDEATHSIG(SIGKILL), then 0 if the parent is still ppid, else -ESRCH. */
  dieWithParent(ppid: number): number;
  /** native/bindings/confine.c: the sentry's own confinement (src/sentry/confine/). 0 or -errno. */
  confineRoot(dir: string): number;
  /** With uid: every thread becomes uid/gid uid first (native/bindings/confine.c). */
  confineCaps(keep: number, uid?: number): number;
  confineFilter(program: Int32Array, flags: number): number;
  /** Measuring the allow-list: a SIGSYS handler recording to fd; the gadget's address [lo, hi]. */
  measureMode(fd: number): number[];
  /** Test hook: issue a call the sentry's filter forbids; returns only if it was not stopped. */
  forbiddenCall(what: string): number;
  /** native/bindings/host_clock.c: clock_gettime / clock_getres of a clock the vDSO serves, in ns. */
  hostClock(id: number): bigint | null;
  hostClockRes(id: number): bigint | null;
  /** The kernel's sys_tz: [tz_minuteswest, tz_dsttime]. */
  hostTimezone(): [number, number];
  /** STUB_BASE of native/sentry/layout.h, as the stub was linked. */
  readonly stubBase: number;
}

let checked: PtraceSys | undefined;

export function ptraceSys(): PtraceSys {
  if (checked) return checked;
  const n = sys() as Sys & PtraceSys;
  if (n.stubBase !== STUB_BASE) {
    throw new Error(`sentry: the stub's base ${n.stubBase.toString(16)} (native/sentry/layout.h) is not STUB_BASE ${STUB_BASE.toString(16)} (src/sentry/mm/layout.ts)`);
  }
  return (checked = n);
}

export function stubPath(): string {
  return path.join(nativeDir(), 'moat-stub');
}
