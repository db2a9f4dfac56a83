// The ptrace platform's part of the addon's sentry half (native/bindings/sentry.c): the stubs,
// resume+wait, injection, registers, the wait's host signals and fds. The rest of that file (memory
// files, sockets, terminals, clocks, confinement) is the sentry's host layer (src/sentry/native.ts).
// The addon is one module; sys() loads it.

import * as path from 'node:path';
import { nativeDir, sys, type Sys } from '../../../sys';
import { STUB_BASE } from '../../mm/layout';
import type { SentrySys } from '../../native';

export interface PtraceSys extends SentrySys {
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
  hostSignals(signals: number[]): void;
  takeHostSignals(): number;
  setWatchFds(fds: Int32Array): void;
  /** One ppoll of the watched fds, no wait: out[i] = revents of the i-th; returns how many are ready. */
  pollWatched(out: Int32Array): number;
  asyncFd(fd: number): void;
  /** The tracer and its stubs on one CPU: the CPU, or -errno. */
  pinCpu(): number;
  pinPid(pid: number, cpu: number): number;
  /** On-CPU ns of another process (a stub), from its process CPU clock; -errno if gone. */
  processCpuNs(pid: number): number;
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
