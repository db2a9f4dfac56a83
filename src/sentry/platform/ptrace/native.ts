// The addon functions the ptrace platform uses (native/bindings/sentry.c).

import * as path from 'node:path';
import { nativeDir, sys } from '../../../sys';

export interface PtraceSys {
  sentryBuffers(regs: Uint8Array, event: Int32Array): void;
  stubSpawn(path: string, memfd: number): number;
  resumeWait(tid: number, how: number, sig: number, regsMode: number, rax: number, timeoutMs: number): number;
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
  asyncFd(fd: number): void;
}

export function ptraceSys(): PtraceSys {
  return sys() as unknown as PtraceSys;
}

export function stubPath(): string {
  return path.join(nativeDir(), 'moat-stub');
}
