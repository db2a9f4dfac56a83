// The kernel's loop and syscall dispatch (src/sentry/kernel/kernel.ts) on a test double of the
// platform (test/helpers/fake-platform.ts) and a syscall table of the test's own: a scripted stop
// reaches the table with the task and its number, its result goes back with a one-register
// resume, a stop for no reason of the task's goes back with its full registers, and the tracer the
// kernel is given sees the call. No ptrace, no stub.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kernel } from '../../src/sentry/kernel/kernel';
import type { SyscallTable, SyscallTracer } from '../../src/sentry/kernel/dispatch';
import { copyCreds, initialCreds } from '../../src/sentry/kernel/creds';
import { SignalHandlers, Task, ThreadGroup } from '../../src/sentry/kernel/task';
import { MemoryManager } from '../../src/sentry/mm/mm';
import { REG } from '../../src/sentry/platform/registers';
import { STOP } from '../../src/sentry/platform/types';
import { FdTable, FsContext, type Vfs } from '../../src/sentry/vfs';
import { FakePlatform, type FakeContext } from '../helpers/fake-platform';

const NR_GETPID = 39;
const NR_UNKNOWN = 333;

interface Fixture {
  kernel: Kernel;
  platform: FakePlatform;
  task: Task;
  ctx: FakeContext;
  served: Array<[number, number]>;
  lines: string[];
}

function fixture(withTracer: boolean): Fixture {
  const platform = new FakePlatform();
  const served: Array<[number, number]> = [];
  const syscalls: SyscallTable = {
    dispatch: (t, nr) => {
      served.push([t.tid, nr]);
      return nr === NR_GETPID ? t.tg.tgid : -38;
    },
    name: (nr) => (nr === NR_GETPID ? 'getpid' : `syscall_${nr}`),
  };
  const lines: string[] = [];
  const tracer: SyscallTracer = {
    log: (l) => lines.push(l),
    enter: (t, nr) => `[${t.tid}] ${syscalls.name(nr)}(`,
    buffer: () => 0,
    exit: (_t, _nr, entered, r) => `${entered}) = ${r}`,
    goferNote: () => '',
  };
  const root = initialCreds(0, 0, []);
  const kernel = new Kernel({
    platform,
    syscalls,
    ...(withTracer ? { tracer } : {}),
    // The loop reads one thing of the VFS, under a tracer: the gofer's call counts.
    vfs: { client: { calls: [] } } as unknown as Vfs,
    hostname: 'box',
    creds: root,
    rlimits: new Map(),
  });
  const pid = kernel.pidns.allocPid();
  const tg = new ThreadGroup(pid, undefined, new SignalHandlers(), 0, new Map());
  tg.pidns = kernel.pidns;
  const mm = new MemoryManager(platform.memory);
  mm.users = 1;
  const as = platform.newAddressSpace();
  mm.as = as;
  const task = new Task(kernel, pid, tg, mm, new FdTable(), Object.create(FsContext.prototype) as FsContext, copyCreds(root), 'prog');
  task.ctx = as.main;
  task.state = 'running';
  tg.leader = task;
  tg.tasks.add(task);
  kernel.pidns.tasks.set(pid, task);
  kernel.pidns.groups.set(pid, tg);
  kernel.byHost.set(task.hostTid, task);
  return { kernel, platform, task, ctx: as.main, served, lines };
}

test('a syscall stop reaches the table the kernel was given; its result goes back in rax alone', () => {
  const f = fixture(false);
  f.platform.script.push({ reason: STOP.syscall, context: f.ctx, regs: (r) => r.set(REG.orig_rax, NR_GETPID) });
  assert.equal(f.kernel.run(), 0x7f00, 'nothing left to run: the loop ends');
  assert.deepEqual(f.served, [[f.task.tid, NR_GETPID]]);
  assert.deepEqual(f.ctx.resumes, [{ how: 'syscall', result: f.task.tg.tgid }]);
  assert.equal(f.task.regs.get(REG.orig_rax), NR_GETPID, 'the stop\'s registers were the task\'s');
});

test('an unknown number is the table\'s to answer (ENOSYS here), and the tracer sees both calls', () => {
  const f = fixture(true);
  f.platform.script.push({ reason: STOP.syscall, context: f.ctx, regs: (r) => r.set(REG.orig_rax, NR_UNKNOWN) });
  f.platform.script.push({ reason: STOP.syscall, context: f.ctx, regs: (r) => r.set(REG.orig_rax, NR_GETPID) });
  f.kernel.run();
  assert.deepEqual(f.served.map(([, nr]) => nr), [NR_UNKNOWN, NR_GETPID]);
  assert.deepEqual(f.ctx.resumes, [{ how: 'syscall', result: -38 }, { how: 'syscall', result: f.task.tg.tgid }]);
  assert.deepEqual(f.lines, [`[${f.task.tid}] syscall_${NR_UNKNOWN}() = -38`, `[${f.task.tid}] getpid() = ${f.task.tg.tgid}`]);
});

test('an interrupt (a stop of no interest) resumes the task with its full registers, serving nothing', () => {
  const f = fixture(false);
  f.platform.script.push({ reason: STOP.interrupt, context: f.ctx, regs: (r) => r.set(REG.rip, 0x401000) });
  f.kernel.run();
  assert.deepEqual(f.served, []);
  assert.equal(f.ctx.resumes.length, 1);
  const r = f.ctx.resumes[0]!;
  assert.equal(r.how, 'full');
  assert.equal(r.how === 'full' && r.regs.get(REG.rip), 0x401000);
});

test('the loop waits without a deadline when nothing is ready, and only starts the resumed context when something is', () => {
  const f = fixture(false);
  f.platform.script.push({ reason: STOP.syscall, context: f.ctx, regs: (r) => r.set(REG.orig_rax, NR_GETPID) });
  f.kernel.run();
  // First wait: nothing ready, no deadline (-1). Second: after resuming the task, nothing else ready: -1 again.
  assert.deepEqual(f.platform.waits, [-1, -1]);
});
