// The ptrace platform's own logic (src/sentry/platform/ptrace/) over a fake of the native addon:
// a resume is queued and done by the next wait in the same native call (one crossing per
// syscall), a second resume flushes the first, wait statuses become the right stop reasons, and
// an address space injects its calls only into a thread that is stopped where that is safe.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ESRCH } from '../../src/sentry/abi/errno';
import { PtracePlatform } from '../../src/sentry/platform/ptrace';
import type { PtraceSys } from '../../src/sentry/platform/ptrace/native';
import { REG, Registers } from '../../src/sentry/platform/registers';
import { NO_WAIT, STOP } from '../../src/sentry/platform/types';

const NR_MMAP = 9;
const NR_CLONE = 56;

interface Fake {
  p: PtracePlatform;
  /** resumeWait calls: [tid, regsMode, rax, timeout, preferTid]. */
  waits: number[][];
  /** inject calls: [tid, nr, a0]. */
  injected: number[][];
  /** The next wait's answer: its kind and, for a stop, [tid, status, ... event words]. */
  next(kind: number, event?: number[]): void;
  regsAtResume: number[];
}

function fake(): Fake {
  let regs: Uint8Array | undefined;
  let event: Int32Array | undefined;
  let kind = 0;
  let words: number[] = [];
  let lastClone = 5000;
  const f: Fake = {
    p: undefined as unknown as PtracePlatform,
    waits: [],
    injected: [],
    regsAtResume: [],
    next(k, e = []) {
      kind = k;
      words = e;
    },
  };
  const native = {
    sentryBuffers(r: Uint8Array, e: Int32Array) {
      regs = r;
      event = e;
    },
    resumeWait(tid: number, _how: number, _sig: number, mode: number, rax: number, timeout: number, prefer = 0) {
      f.waits.push([tid, mode, rax, timeout, prefer]);
      if (mode === 1) f.regsAtResume.push(new Registers(regs!).get(REG.rip));
      if (timeout === NO_WAIT) return 0;
      event!.fill(0);
      words.forEach((w, i) => (event![i] = w));
      return kind;
    },
    inject(tid: number, nr: number, a0: number) {
      f.injected.push([tid, nr, a0]);
      if (nr === NR_CLONE) {
        event![2] = ++lastClone;
        return 0;
      }
      return nr === NR_MMAP ? a0 : 0;
    },
    stubSpawn: () => 4000,
    processCpuNs: () => 7,
    tgkill: () => 0,
    waitTid: () => 0,
  } as unknown as PtraceSys;
  f.p = new PtracePlatform(native, '/nonexistent/moat-stub');
  return f;
}

const SYSCALL_STOP = (0x85 << 8) | 0x7f;
const SIGSEGV_STOP = (11 << 8) | 0x7f;

test('a resume is done by the next wait, in one native call; a second resume first flushes the one queued', () => {
  const f = fake();
  const as = f.p.newAddressSpace(99);
  const main = as.main;
  main.resumeSyscall(-2);
  f.next(1, [main.tid, SYSCALL_STOP]);
  assert.equal(f.p.wait(-1, undefined).reason, STOP.syscall);
  assert.deepEqual(f.waits, [[main.tid, 0, -2, -1, 0]], 'resume and wait: one call');
  f.waits.length = 0;
  const t = as.newContext();
  assert.ok(typeof t !== 'number');
  const regs = new Registers();
  regs.set(REG.rip, 0x401000);
  t.resumeFull(regs);
  main.resume();
  f.next(0);
  f.p.wait(5, t);
  assert.deepEqual(f.waits, [[t.tid, 1, 0, NO_WAIT, 0], [main.tid, 2, 0, 5, t.tid]]);
  assert.deepEqual(f.regsAtResume, [0x401000], 'the full registers were in the buffer when that resume was done');
});

test('wait statuses become stop reasons with their context; an exit forgets the context', () => {
  const f = fake();
  const as = f.p.newAddressSpace(99);
  const tid = as.main.tid;
  f.next(1, [tid, SYSCALL_STOP]);
  let s = f.p.wait(-1, undefined);
  assert.equal(s.reason, STOP.syscall);
  assert.equal(s.context, as.main);
  f.next(1, [tid, SIGSEGV_STOP, 0, 0, 1, 0x1000, 0x7fff]);
  s = f.p.wait(-1, undefined);
  assert.equal(s.reason, STOP.fault);
  assert.equal(s.signal, 11);
  assert.equal(s.fault.code, 1);
  assert.equal(s.fault.addr, 0x7fff * 2 ** 32 + 0x1000);
  f.next(1, [tid, (19 << 8) | 0x7f]);
  assert.equal(f.p.wait(-1, undefined).reason, STOP.interrupt, 'SIGSTOP (an interrupt)');
  f.next(4);
  assert.equal(f.p.wait(-1, undefined).reason, STOP.watch);
  f.next(1, [tid, 9]); // killed by SIGKILL
  s = f.p.wait(-1, undefined);
  assert.equal(s.reason, STOP.exit);
  assert.equal(s.context, as.main);
  f.next(1, [tid, SYSCALL_STOP]);
  assert.equal(f.p.wait(-1, undefined).context, undefined, 'forgotten');
});

test('an address space injects into a thread stopped at a syscall or fault, never a running one; none stopped: ESRCH', () => {
  const f = fake();
  const as = f.p.newAddressSpace(99);
  const main = as.main;
  assert.equal(as.mapMemory(0x400000, 4096, 3, 0), 0x400000, 'the new stub\'s first thread');
  assert.equal(f.injected.at(-1)![0], main.tid);
  const t = as.newContext();
  assert.ok(typeof t !== 'number');
  main.resumeSyscall(0);
  f.next(0);
  f.p.wait(NO_WAIT, undefined);
  assert.equal(as.unmap(0x400000, 4096), -ESRCH, 'the new thread has not stopped yet, the first runs');
  f.next(1, [t.tid, SYSCALL_STOP]);
  f.p.wait(-1, undefined);
  f.injected.length = 0;
  assert.equal(as.protect(0x400000, 4096, 1), 0);
  assert.deepEqual(f.injected.map((c) => c[0]), [t.tid], 'into the thread that stopped');
  f.next(1, [t.tid, (19 << 8) | 0x7f]);
  t.resume();
  f.p.wait(-1, undefined);
  assert.equal(as.unmap(0x400000, 4096), -ESRCH, 'a group-stop or SIGSTOP is no place to inject');
  assert.equal(as.cpuNs(), 7);
});
