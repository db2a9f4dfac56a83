// A test double of the sentry's platform interface (src/sentry/platform/types.ts): address spaces
// that record every map/unmap/protect and accept them (or refuse them all, as a platform with no
// thread stopped would), contexts that record how they were resumed, and a wait() that plays a
// script of stops. The memory manager and the kernel's dispatch run on it without ptrace.

import * as fs from 'node:fs';
import { ESRCH } from '../../src/sentry/abi/errno';
import type { MemoryOps } from '../../src/sentry/mm/memory-file';
import { Registers } from '../../src/sentry/platform/registers';
import { STOP, type AddressSpace, type Context, type Platform, type Stop, type StopReason } from '../../src/sentry/platform/types';

export type AsOp = 'mapMemory' | 'mapObject' | 'mapFile' | 'reserve' | 'unmap' | 'protect';

export interface AsCall {
  op: AsOp;
  addr: number;
  len: number;
  prot: number;
  /** Offset in the memory file, the object or the file (-1: none). */
  off: number;
  /** mapObject / mapFile: the sentry's fd of it (-1: none); mapFile: the file's key. */
  fd: number;
  key?: string;
}

export type Resume = { how: 'syscall'; result: number } | { how: 'full'; regs: Registers } | { how: 'as-is' };

export class FakeContext implements Context {
  readonly resumes: Resume[] = [];
  interrupts = 0;
  released = false;
  constructor(readonly tid: number, readonly addressSpace: FakeAddressSpace) {}
  resumeSyscall(result: number): void {
    this.resumes.push({ how: 'syscall', result });
  }
  resumeFull(regs: Registers): void {
    this.resumes.push({ how: 'full', regs: regs.clone() });
  }
  resume(): void {
    this.resumes.push({ how: 'as-is' });
  }
  interrupt(): void {
    this.interrupts++;
  }
  getFpRegs(buf: Uint8Array): boolean {
    buf.fill(0);
    return true;
  }
  setFpRegs(): boolean {
    return true;
  }
  release(): void {
    this.released = true;
  }
}

let nextPid = 1000;

export class FakeAddressSpace implements AddressSpace {
  readonly calls: AsCall[] = [];
  readonly main: FakeContext;
  readonly contexts: FakeContext[] = [];
  /** false: no thread of it is stopped, so every change fails (ESRCH), as ptrace's would. */
  stopped = true;
  released = false;
  constructor(readonly pid = nextPid++) {
    this.main = new FakeContext(pid, this);
    this.contexts.push(this.main);
  }
  private record(op: AsOp, addr: number, len: number, prot: number, off = -1, fd = -1, key?: string): number {
    if (!this.stopped) return -ESRCH;
    this.calls.push({ op, addr, len, prot, off, fd, ...(key !== undefined ? { key } : {}) });
    return op === 'unmap' || op === 'protect' ? 0 : addr;
  }
  mapMemory(addr: number, len: number, prot: number, off: number): number {
    return this.record('mapMemory', addr, len, prot, off);
  }
  mapObject(addr: number, len: number, prot: number, obj: { readonly fd: number }, off: number): number {
    return this.record('mapObject', addr, len, prot, off, obj.fd);
  }
  mapFile(addr: number, len: number, prot: number, file: { readonly fd: number; readonly key: string }, off: number): number {
    return this.record('mapFile', addr, len, prot, off, file.fd, file.key);
  }
  reserve(addr: number, len: number): number {
    return this.record('reserve', addr, len, 0);
  }
  unmap(addr: number, len: number): number {
    return this.record('unmap', addr, len, 0);
  }
  protect(addr: number, len: number, prot: number): number {
    return this.record('protect', addr, len, prot);
  }
  newContext(): Context | number {
    const c = new FakeContext(nextPid++, this);
    this.contexts.push(c);
    return c;
  }
  /** What cpuNs() answers. */
  cpu = 0;
  cpuNs(): number {
    return this.cpu;
  }
  release(): void {
    this.released = true;
  }
}

/** One scripted stop: its reason, the context (for the four that name one) and what to load in the registers. */
export interface ScriptedStop {
  reason: StopReason;
  context?: FakeContext;
  regs?: (r: Registers) => void;
  signal?: number;
  fault?: { code: number; addr: number };
}

/** Memory files backed by plain buffers (size bytes each). */
export class BufferMemory implements MemoryOps {
  private readonly bufs = new Map<number, Uint8Array>();
  constructor(private readonly size = 16 << 20) {}
  memfdCreate(): number {
    return fs.openSync('/dev/null', 'r'); // a real fd, so MemoryManager.destroy's close is real
  }
  mapShared(fd: number): ArrayBuffer {
    const ab = new ArrayBuffer(this.size);
    this.bufs.set(fd, new Uint8Array(ab));
    return ab;
  }
  punchHole(fd: number, offset: number, length: number): void {
    this.bufs.get(fd)?.fill(0, offset, offset + length);
  }
  copyData(src: number, dst: number, srcOff: number, dstOff: number, length: number): void {
    const s = this.bufs.get(src);
    this.bufs.get(dst)?.set(s!.subarray(srcOff, srcOff + length), dstOff);
  }
}

export class FakePlatform implements Platform {
  readonly name = 'fake';
  readonly vdso = null;
  readonly vdsoRefused = '';
  readonly spaces: FakeAddressSpace[] = [];
  /** The stops wait() returns, in order; past the end: STOP.idle. */
  readonly script: ScriptedStop[] = [];
  /** The timeouts wait() was called with. */
  readonly waits: number[] = [];
  private readonly stop: Stop = { reason: STOP.idle, context: undefined, tid: 0, signal: 0, regs: new Registers(), fault: { code: 0, addr: 0, addrHi: 0, addrLo: 0 } };
  constructor(readonly memory: MemoryOps = new BufferMemory()) {}
  forwardHostSignals(): void {}
  prepare(): void {}
  newAddressSpace(): FakeAddressSpace {
    const as = new FakeAddressSpace();
    this.spaces.push(as);
    return as;
  }
  wait(timeoutMs: number): Stop {
    this.waits.push(timeoutMs);
    const next = this.script.shift();
    const s = this.stop;
    s.reason = next ? next.reason : STOP.idle;
    s.context = next?.context;
    s.tid = next?.context?.tid ?? 0;
    s.signal = next?.signal ?? 0;
    s.regs.buffer.fill(0);
    next?.regs?.(s.regs);
    s.fault.code = next?.fault?.code ?? 0;
    s.fault.addr = s.fault.addrLo = next?.fault?.addr ?? 0;
    s.fault.addrHi = 0;
    return s;
  }
  takeHostSignals(): number {
    return 0;
  }
  asyncFd(): void {}
  watchFds(): void {}
  pollWatched(): Int32Array {
    return new Int32Array(0);
  }
}
