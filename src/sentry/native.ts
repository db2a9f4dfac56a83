// The sentry's host layer: what it asks of the host kernel through the addon's sentry half
// (native/bindings/sentry.c) that is no platform's business — memory files, host sockets and
// terminals, clocks, namespaces, its own confinement — typed once, so no caller casts. The
// platform's own calls (the ptrace stubs, resume+wait, injection) are platform/ptrace/native.ts.

import { sys, type Sys } from '../sys';

export interface SentrySys {
  memfdCreate(name: string, size: number): number;
  mapShared(fd: number, size: number): ArrayBuffer;
  punchHole(fd: number, offset: number, length: number): void;
  copyData(src: number, dst: number, srcOff: number, dstOff: number, length: number): void;
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
  hostTimezone(): [number, number];}

/** The addon, as the sentry's host layer. */
export function sentrySys(): SentrySys {
  return sys() as Sys & SentrySys;
}
