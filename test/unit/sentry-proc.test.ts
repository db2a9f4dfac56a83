// moat's /proc (src/sentry/vfs/proc) against a kernel built from the sentry's real classes:
// Kernel, ThreadGroup, Task, MemoryManager, FdTable, FsContext, and the real exitTask to make a
// zombie. Only the host side is faked: the platform (the stub a MemoryManager mirrors its
// mappings into) and the memory file's backing (a plain buffer instead of a memfd); /proc reads
// neither.

import { vsyscallEnabled } from '../../src/sentry/kernel/vsyscall';
import assert from 'node:assert/strict';
import { ENOENT } from '../../src/sentry/abi/errno';
import * as os from 'node:os';
import { test } from 'node:test';
import { SIGCHLD, SIGPIPE, SIGUSR1 } from '../../src/sentry/abi/signals';
import { exitTask } from '../../src/sentry/kernel/exit';
import { Kernel } from '../../src/sentry/kernel/kernel';
import { SIG_IGN } from '../../src/sentry/kernel/signal-types';
import { SignalHandlers, Task, ThreadGroup, type Credentials } from '../../src/sentry/kernel/task';
import { copyCreds, initialCreds } from '../../src/sentry/kernel/creds';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MemoryManager, PROT_EXEC, PROT_READ, PROT_WRITE, type MapSource } from '../../src/sentry/mm/mm';
import { BufferMemory, FakePlatform } from '../helpers/fake-platform';
import { linuxSyscalls } from '../../src/sentry/syscalls/linux/table';
import { SENTRY_RELEASE } from '../../src/sentry/syscalls/linux/sys_misc';
import { FdTable, FileDescription, FsContext, type Vfs } from '../../src/sentry/vfs';
import { isFdLink, procRoot, type ProcNode } from '../../src/sentry/vfs/proc';
import { ProcFs } from '../../src/sentry/vfs/procfs';

// ---- the host side, faked ----

/** An open file that names itself (as the VFS's path-backed and pipe files do). */
class PathFile extends FileDescription {
  constructor(private readonly path: string, flags: number) {
    super(flags);
  }
  override get displayPath(): string {
    return this.path;
  }
}
/** One with FileDescription's defaults (no path, no mount, inode 0). */
class NamelessFile extends FileDescription {}

// ---- the fixture ----

const MOUNTS = 'none / overlay rw,relatime,lowerdir=/l 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\ntmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0\n';
const memory = new BufferMemory();
const platform = new FakePlatform(memory);
const root: Credentials = initialCreds(0, 0, [0, 10]);
const user: Credentials = initialCreds(1000, 100, []);
const kernel = new Kernel({
  // The test double of the platform (test/helpers/fake-platform.ts): the fixture runs nothing.
  platform,
  syscalls: linuxSyscalls,
  // /proc reads one thing of the VFS: its mount table.
  vfs: { mountsText: () => MOUNTS } as unknown as Vfs,
  hostname: 'box',
  creds: root,
  rlimits: new Map(),
});

const EXE = { name: '/bin/prog', dev: 0x801, ino: 4242 };
const TEXT = 0x400000;
const DATA = 0x402000;
const STACK_TOP = 0x7ffe0000;
const STACK_LEN = 0x20000;

function fileSource(info: MapSource['info']): MapSource {
  return { info, pread: (dst) => dst.length };
}

/** A process as exec would leave it: text and data of /bin/prog, a heap, a stack with argv and envp. */
function spawn(parent: ThreadGroup | undefined, comm: string, argv: string[], envp: string[], creds: Credentials): Task {
  const pid = kernel.pidns.allocPid();
  const tg = new ThreadGroup(pid, parent, new SignalHandlers(), parent ? SIGCHLD : 0, new Map());
  tg.pidns = kernel.pidns;
  parent?.children.add(tg);
  const mm = new MemoryManager(memory);
  mm.as = platform.newAddressSpace();
  mm.users = 1;
  assert.equal(mm.mmap(TEXT, 0x2000, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fileSource(EXE), 0), TEXT);
  assert.equal(mm.mmap(DATA, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fileSource(EXE), 0x2000), DATA);
  mm.brkStart = mm.brkCur = 0x600000;
  mm.brk(0x601000);
  mm.brk(0x603000); // grown twice: two VMAs the maps file shows as one [heap]
  assert.equal(mm.mmap(STACK_TOP - STACK_LEN, STACK_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, undefined, 0, '[stack]'), STACK_TOP - STACK_LEN);
  // Strings as the loader lays them out: envp at the top, argv right below.
  const blob = (l: string[]) => Buffer.from(l.map((s) => s + '\0').join(''), 'latin1');
  const env = blob(envp);
  const args = blob(argv);
  mm.envEnd = STACK_TOP - 64;
  mm.envStart = mm.argEnd = mm.envEnd - env.length;
  mm.argStart = mm.argEnd - args.length;
  assert.ok(mm.write(mm.envStart, env) && mm.write(mm.argStart, args));
  mm.exePath = EXE.name;
  mm.auxv = [[6, 4096], [9, TEXT + 0x100], [0, 0]];
  const t = new Task(kernel, pid, tg, mm, new FdTable(), fsContextAt('/home/u', 0o027), copyCreds(creds), comm);
  tg.leader = t;
  tg.tasks.add(t);
  kernel.pidns.tasks.set(pid, t);
  kernel.pidns.groups.set(pid, tg);
  return t;
}

// pid 1: init, reading /proc (running), with a second thread blocked in a syscall.
const init = spawn(undefined, 'init', ['/bin/prog', '-x'], ['PATH=/bin', 'HOME=/'], root);
kernel.init = init.tg;
init.state = 'running';
const worker = new Task(kernel, kernel.pidns.allocPid(), init.tg, init.mm, init.files, init.fs, { ...root, groups: [...root.groups] }, 'worker');
init.mm.users++;
init.files.refs++;
init.fs.refs++;
init.tg.tasks.add(worker);
kernel.pidns.tasks.set(worker.tid, worker);
worker.state = 'blocked';
init.files.install(new PathFile('/dev/null', 0), false);
init.files.install(new PathFile('/etc/passwd', 0o2 | 0o100000), true);
init.files.installAt(5, new NamelessFile(0o4000), false);
init.sigmask = 1n << BigInt(SIGUSR1 - 1);
init.tg.handlers.actions[SIGPIPE].handler = SIG_IGN;
init.tg.handlers.actions[SIGUSR1].handler = 0x401234;

// pid 3: a shell whose comm has ") (" in it (prctl(PR_SET_NAME) allows anything), stopped.
const shell = spawn(init.tg, 'a) (b', ['sh'], ['X=1'], user);
shell.tg.pgid = shell.tg.sid = shell.pid;
shell.state = 'stopped';
shell.tg.stopped = true;

// pid 4: a child of the shell that exits and is not yet reaped.
const dying = spawn(shell.tg, 'dying', ['dying', 'arg'], [], user);
exitTask(dying, 3 << 8);

// pid 5: exits and is reaped: gone from /proc.
const reaped = spawn(shell.tg, 'gone', ['gone'], [], user);
exitTask(reaped, 0);
reaped.tg.reaped = true;
kernel.pidns.groups.delete(reaped.pid);

const proc = procRoot(kernel);

// ---- helpers ----

/**
 * Look path up from /proc (root) as self (init unless said); the symlinks followed on the way are
 * /proc's own, relative to it.
 */
function walk(path: string, root: ProcNode = proc, self: Task = init): ProcNode | undefined {
  let n: ProcNode | undefined = root;
  for (const part of path.split('/').filter((p) => p !== '')) {
    if (!n) return undefined;
    if (n.kind === 'symlink') {
      const to = n.target(self);
      n = typeof to === 'string' ? walk(to, root, self) : undefined;
    }
    if (!n || n.kind !== 'dir') return undefined;
    n = n.lookup(part, self);
  }
  return n;
}

/** A proc file's contents (an errno there is a failure). */
function contents(n: ProcNode & { kind: 'file' }): Uint8Array {
  const b = n.read();
  assert.ok(typeof b !== 'number', `read gave errno ${String(b)}`);
  return b;
}

function read(path: string, from: ProcNode = proc): string {
  const n = walk(path, from);
  assert.ok(n && n.kind === 'file', `${path} is a file`);
  return Buffer.from(contents(n)).toString('latin1');
}

function list(path: string): string[] {
  const n = path === '' ? proc : walk(path);
  assert.ok(n && n.kind === 'dir', `${path} is a directory`);
  return n.list(init);
}

function link(path: string): string {
  const n = walk(path);
  assert.ok(n && n.kind === 'symlink', `${path} is a symlink`);
  const to = n.target(init);
  assert.ok(typeof to === 'string', `${path}: errno ${String(to)}`);
  return to;
}

/** stat's fields, the comm found by the last ')' as ps and top do. */
function statFields(text: string): string[] {
  assert.ok(text.endsWith('\n'));
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2, -1).split(' ');
  return [text.slice(0, open - 1), text.slice(open + 1, close), ...rest];
}

function statusMap(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.trimEnd().split('\n')) {
    const i = line.indexOf(':');
    assert.ok(i > 0 && line[i + 1] === '\t', `status line "${line}"`);
    m.set(line.slice(0, i), line.slice(i + 2));
  }
  return m;
}

// ---- tests ----

test('procRoot takes a Kernel; each call names its caller', () => {
  const f: (k: Kernel) => ProcNode = procRoot;
  assert.equal(typeof f, 'function');
  assert.equal(proc.kind, 'dir');
  assert.ok(proc.kind === 'dir' && proc.mode === 0o555);
});

test('root lists the system files, self, and live and zombie processes; reaped ones are gone', () => {
  const names = list('');
  for (const n of ['cpuinfo', 'meminfo', 'uptime', 'loadavg', 'stat', 'version', 'filesystems', 'mounts', 'sys', 'self', 'thread-self']) {
    assert.ok(names.includes(n), n);
  }
  const pids = names.filter((n) => /^\d+$/.test(n));
  assert.deepEqual(pids, ['1', '3', '4']);
  assert.equal(walk(String(reaped.pid)), undefined);
  assert.equal(walk('99'), undefined);
  assert.equal(walk('01'), undefined);
  // A thread's id resolves though it is not listed.
  const t = walk(String(worker.tid));
  assert.ok(t && t.kind === 'dir');
  assert.equal(statFields(read(`${worker.tid}/stat`))[0], String(worker.tid));
});

test('self and thread-self name the task doing the lookup', () => {
  assert.equal(link('self'), '1');
  assert.equal(link('thread-self'), `1/task/1`);
  const self = walk('self');
  const ts = walk('thread-self');
  assert.ok(self?.kind === 'symlink' && ts?.kind === 'symlink');
  assert.equal(self.target(worker), '1');
  assert.equal(ts.target(worker), `1/task/${worker.tid}`);
  assert.equal(self.target(), -ENOENT, 'no caller (the sentry\'s own call): no self');
  assert.equal(link('mounts'), 'self/mounts');
  assert.equal(read('self/comm'), 'init\n');
  assert.equal(read('thread-self/comm'), 'init\n');
});

test('stat: 52 fields in Linux order', () => {
  const f = statFields(read('1/stat'));
  assert.equal(f.length, 52);
  assert.equal(f[0], '1');
  assert.equal(f[1], 'init');
  assert.equal(f[2], 'R'); // init is running (the worker sleeps)
  assert.deepEqual(f.slice(3, 8), ['0', '1', '1', '0', '-1']); // ppid pgrp session tty_nr tpgid
  assert.equal(f[19], '2'); // num_threads
  assert.ok(Number(f[21]) >= 0); // starttime, ticks after boot
  const vsize = 0x2000 + 0x1000 + 0x3000 + STACK_LEN;
  assert.equal(f[22], String(vsize));
  assert.equal(f[23], String(vsize / 4096)); // rss in pages: everything is backed
  assert.equal(f[24], '18446744073709551615'); // rsslim
  assert.deepEqual(f.slice(25, 27), [String(TEXT), String(TEXT + 0x2000)]); // startcode endcode
  assert.equal(f[31], String(1 << (SIGUSR1 - 1))); // blocked
  assert.equal(f[32], String(1 << (SIGPIPE - 1))); // sigignore
  assert.equal(f[33], String(1 << (SIGUSR1 - 1))); // sigcatch
  assert.equal(f[37], '0'); // init's exit_signal
  assert.deepEqual(f.slice(44, 47), [String(DATA), String(DATA + 0x1000), String(0x600000)]);
  assert.deepEqual(f.slice(47, 51), [init.mm.argStart, init.mm.argEnd, init.mm.envStart, init.mm.envEnd].map(String));
  assert.equal(f[51], '0');
  for (const [i, v] of f.entries()) if (i !== 1 && i !== 2) assert.match(v, /^-?\d+$/, `field ${i + 1}`);
});

test('stat: a comm with ") (" still parses by the last ")"; a stopped process is T', () => {
  const text = read('3/stat');
  assert.ok(text.startsWith('3 (a) (b) T '));
  const f = statFields(text);
  assert.equal(f.length, 52);
  assert.equal(f[1], 'a) (b');
  assert.deepEqual(f.slice(2, 6), ['T', '1', '3', '3']);
  assert.equal(f[37], String(SIGCHLD));
  assert.equal(statusMap(read('3/status')).get('State'), 'T (stopped)');
});

test('the per-thread files: task/ lists every thread, each with its own state', () => {
  assert.deepEqual(list('1/task'), ['1', String(worker.tid)]);
  const w = statFields(read(`1/task/${worker.tid}/stat`));
  assert.equal(w.length, 52);
  assert.deepEqual([w[0], w[1], w[2], w[37]], [String(worker.tid), 'worker', 'S', '-1']);
  const st = statusMap(read(`1/task/${worker.tid}/status`));
  assert.equal(st.get('Pid'), String(worker.tid));
  assert.equal(st.get('Tgid'), '1');
  assert.equal(st.get('State'), 'S (sleeping)');
  assert.ok(!list(`1/task/${worker.tid}`).includes('task'));
  assert.equal(read(`1/task/${worker.tid}/cmdline`), '/bin/prog\0-x\0');
});

test('status: the Linux lines, in order, from the task', () => {
  const text = read('1/status');
  const m = statusMap(text);
  const keys = [...m.keys()];
  const want = [
    'Name', 'Umask', 'State', 'Tgid', 'Ngid', 'Pid', 'PPid', 'TracerPid', 'Uid', 'Gid', 'FDSize', 'Groups', 'NStgid', 'NSpid',
    'NSpgid', 'NSsid', 'VmPeak', 'VmSize', 'VmLck', 'VmPin', 'VmHWM', 'VmRSS', 'RssAnon', 'RssFile', 'RssShmem', 'VmData',
    'VmStk', 'VmExe', 'VmLib', 'VmPTE', 'VmSwap', 'HugetlbPages', 'CoreDumping', 'THP_enabled', 'Threads', 'SigQ', 'SigPnd',
    'ShdPnd', 'SigBlk', 'SigIgn', 'SigCgt', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp',
    'Seccomp_filters', 'Speculation_Store_Bypass', 'SpeculationIndirectBranch', 'Cpus_allowed', 'Cpus_allowed_list',
    'Mems_allowed', 'Mems_allowed_list', 'voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches',
  ];
  assert.deepEqual(keys, want);
  assert.equal(m.get('Name'), 'init');
  assert.equal(m.get('Umask'), '0027');
  assert.equal(m.get('State'), 'R (running)');
  assert.equal(m.get('Uid'), '0\t0\t0\t0');
  assert.equal(m.get('Gid'), '0\t0\t0\t0');
  assert.equal(m.get('Groups'), '0 10 ');
  assert.equal(m.get('FDSize'), '64');
  assert.equal(m.get('Threads'), '2');
  assert.equal(m.get('NSpid'), '1');
  assert.match(text, /\nVmSize:\t +\d+ kB\n/);
  assert.equal(m.get('VmSize'), `${String((0x2000 + 0x1000 + 0x3000 + STACK_LEN) / 1024).padStart(8)} kB`);
  assert.equal(m.get('VmStk'), `${String(STACK_LEN / 1024).padStart(8)} kB`);
  assert.equal(m.get('VmExe'), `${'8'.padStart(8)} kB`);
  assert.equal(m.get('SigBlk'), '0000000000000200');
  assert.equal(m.get('SigIgn'), '0000000000001000');
  assert.equal(m.get('SigCgt'), '0000000000000200');
  for (const k of ['SigPnd', 'ShdPnd', 'SigBlk', 'SigIgn', 'SigCgt', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
    assert.match(m.get(k)!, /^[0-9a-f]{16}$/, k);
  }
  assert.equal(m.get('CapEff'), '000001ffffffffff');
  assert.equal(m.get('Seccomp'), '0');
  assert.equal(m.get('Cpus_allowed'), '1');
  assert.equal(m.get('TracerPid'), '0');
  const u = statusMap(read('3/status'));
  assert.equal(u.get('Uid'), '1000\t1000\t1000\t1000');
  assert.equal(u.get('Groups'), ' ');
  assert.equal(u.get('CapEff'), '0000000000000000');
  assert.equal(u.get('PPid'), '1');
});

test('statm, in pages', () => {
  const pages = (0x2000 + 0x1000 + 0x3000 + STACK_LEN) / 4096;
  assert.equal(read('1/statm'), `${pages} ${pages} 3 2 0 ${pages - 2} 0\n`); // data: all but the text
});

test('maps: Linux lines, the heap merged, names at column 73', () => {
  const lines = read('1/maps').trimEnd().split('\n');
  const named = (head: string, name: string) => head + ' '.repeat(73 - head.length) + name;
  assert.deepEqual(lines, [
    named('00400000-00402000 r-xp 00000000 00:00 4242', '/bin/prog'),
    named('00402000-00403000 rw-p 00002000 00:00 4242', '/bin/prog'),
    named('00600000-00603000 rw-p 00000000 00:00 0', '[heap]'),
    named('7ffc0000-7ffe0000 rw-p 00000000 00:00 0', '[stack]'),
    // The host's vsyscall page, when it has one (as runc's containers see it).
    ...(vsyscallEnabled() ? [named('ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0', '[vsyscall]')] : []),
  ]);
  for (const l of lines) {
    assert.match(l, /^[0-9a-f]{8,}-[0-9a-f]{8,} [r-][w-][x-][ps] [0-9a-f]{8} [0-9a-f]{2}:[0-9a-f]{2} \d+ +\S/);
    assert.equal(l.length - l.trimStart().length, 0);
  }
  // 64-bit addresses keep the name column; an anonymous mapping ends with the inode and a space.
  assert.equal(init.mm.mmap(0x7f0000000000, 0x1000, PROT_READ, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS), 0x7f0000000000);
  try {
    const anon = read('1/maps').split('\n').find((l) => l.startsWith('7f0000000000-'));
    assert.equal(anon, '7f0000000000-7f0000001000 r--p 00000000 00:00 0 ');
  } finally {
    init.mm.munmap(0x7f0000000000, 0x1000);
  }
});

test('cmdline, environ, comm, auxv: from the process memory', () => {
  assert.equal(read('1/cmdline'), '/bin/prog\0-x\0');
  assert.equal(read('1/environ'), 'PATH=/bin\0HOME=/\0');
  assert.equal(read('3/comm'), 'a) (b\n');
  const auxv = walk('1/auxv');
  assert.ok(auxv?.kind === 'file');
  const b = Buffer.from(contents(auxv));
  assert.equal(b.length, 3 * 16);
  assert.equal(b.readBigUInt64LE(0), 6n);
  assert.equal(b.readBigUInt64LE(8), 4096n);
  assert.equal(b.readBigUInt64LE(32), 0n);
});

test('cmdline after setproctitle runs into the environment up to the first NUL', () => {
  const mm = init.mm;
  const saved = mm.read(mm.argStart, mm.envEnd - mm.argStart)!;
  try {
    // setproctitle: one string over argv and on into the environment; cmdline is up to its NUL.
    assert.ok(mm.write(mm.argStart, Buffer.from('prog: a long title\0')));
    assert.equal(read('1/cmdline'), 'prog: a long title\0');
    // Shorter than argv, NUL-padded: argv's area as it stands.
    assert.ok(mm.write(mm.argStart, Buffer.from('prog: t\0\0\0\0\0\0')));
    assert.equal(read('1/cmdline'), 'prog: t\0\0\0\0\0\0');
  } finally {
    mm.write(mm.argStart, saved);
  }
  assert.equal(read('1/cmdline'), '/bin/prog\0-x\0');
});

test('a zombie: state Z, empty cmdline, no memory, no exe or cwd, its exit status', () => {
  const pid = String(dying.pid);
  assert.equal(read(`${pid}/cmdline`), '');
  assert.equal(read(`${pid}/environ`), '');
  assert.equal(read(`${pid}/maps`), '');
  assert.equal(read(`${pid}/statm`), '0 0 0 0 0 0 0\n');
  const f = statFields(read(`${pid}/stat`));
  assert.equal(f.length, 52);
  assert.deepEqual([f[1], f[2], f[3], f[19]], ['dying', 'Z', String(shell.pid), '1']);
  assert.equal(f[22], '0');
  assert.equal(f[23], '0');
  assert.equal(f[51], String(3 << 8));
  const m = statusMap(read(`${pid}/status`));
  assert.equal(m.get('State'), 'Z (zombie)');
  assert.ok(!m.has('VmSize') && !m.has('Umask'));
  assert.equal(m.get('FDSize'), '0');
  assert.equal(walk(`${pid}/exe`), undefined);
  assert.equal(walk(`${pid}/cwd`), undefined);
  assert.deepEqual(list(`${pid}/fd`), []);
  assert.deepEqual(list(`${pid}/task`), [pid]);
});

test('exe, cwd, root links', () => {
  assert.equal(link('1/exe'), '/bin/prog');
  assert.equal(link('1/cwd'), '/home/u');
  assert.equal(link('1/root'), '/');
});

test('fd/ and fdinfo/: a link per fd, its offset and flags', () => {
  assert.deepEqual(list('1/fd'), ['0', '1', '5']);
  assert.equal(link('1/fd/0'), '/dev/null');
  assert.equal(link('1/fd/1'), '/etc/passwd');
  assert.equal(link('1/fd/5'), 'anon_inode:[unknown]');
  assert.equal(walk('1/fd/2'), undefined);
  const l = walk('1/fd/1');
  assert.ok(l && isFdLink(l) && l.fdFile(init) === init.files.get(1)); // opened as a magic link
  assert.ok(!isFdLink(walk('self')!));
  assert.equal(walk('1/fd/x'), undefined);
  assert.deepEqual(list('1/fdinfo'), ['0', '1', '5']);
  const f = init.files.get(1)!;
  f.offset = 77;
  assert.equal(read('1/fdinfo/1'), 'pos:\t77\nflags:\t02100002\nmnt_id:\t0\nino:\t0\n');
  assert.equal(read('1/fdinfo/5'), 'pos:\t0\nflags:\t04000\nmnt_id:\t0\nino:\t0\n');
});

test('limits, mounts, mountinfo, and the fixed per-process files', () => {
  const lines = read('1/limits').split('\n');
  assert.equal(lines[0], 'Limit                     Soft Limit           Hard Limit           Units     ');
  assert.equal(lines[4], 'Max stack size            8388608              unlimited            bytes     ');
  assert.equal(lines[8], 'Max open files            1024                 1048576              files     ');
  assert.equal(lines[14], 'Max nice priority         unlimited            unlimited            ');
  assert.equal(lines.length, 18);
  assert.equal(read('1/mounts'), MOUNTS);
  assert.deepEqual(read('1/mountinfo').split('\n'), [
    '20 1 0:20 / / rw,relatime - overlay none rw,lowerdir=/l',
    '21 20 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw',
    '22 20 0:22 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755',
    '',
  ]);
  // A VFS that knows its mount ids gives mountinfo itself; /proc needs only a kernel's tables.
  const own = procRoot(
    { pidns: kernel.pidns, allTasks: () => kernel.allTasks(), allGroups: () => kernel.allGroups(), bootTime: kernel.bootTime, hostname: 'h', domainname: 'd', machine: kernel.machine, vfs: { mountsText: () => MOUNTS, mountinfoText: () => '7 1 0:7 / / rw - tmpfs none rw' } }
  );
  assert.equal(read('1/mountinfo', own), '7 1 0:7 / / rw - tmpfs none rw\n');
  assert.equal(read('sys/kernel/hostname', own), 'h\n');
  assert.equal(read('1/cgroup'), '0::/\n');
  assert.equal(read('1/oom_score_adj'), '0\n');
  assert.equal(read('1/loginuid'), '4294967295');
  assert.equal(read('1/sessionid'), '4294967295');
  const n = walk('1/status');
  assert.ok(n?.kind === 'file' && n.mode === 0o444);
  const l = walk('1');
  assert.ok(l?.kind === 'dir' && l.mode === 0o555);
});

test('meminfo: a fixed total, free memory from the address spaces in use', () => {
  const text = read('meminfo');
  const lines = text.trimEnd().split('\n');
  assert.equal(lines[0], 'MemTotal:        2097152 kB');
  for (const l of lines) assert.match(l, /^[A-Za-z_()0-9]+: +\d+( kB)?$/);
  let used = 0;
  for (const tg of kernel.allGroups()) if (tg.alive) used += tg.leader.mm.file.allocated; // threads share init's
  assert.ok(used > 0);
  assert.equal(lines[1], `MemFree:${' '.repeat(8)}${String(2097152 - used / 1024).padStart(8)} kB`);
  assert.ok(text.includes('\nHugePages_Total:       0\n'));
});

test('cpuinfo: one processor, the host CPU model from os.cpus()', () => {
  const text = read('cpuinfo');
  assert.ok(text.startsWith('processor\t: 0\n'));
  assert.ok(text.endsWith('power management:\n\n'));
  const model = os.cpus()[0]?.model.trim() || 'unknown';
  assert.ok(text.includes(`\nmodel name\t: ${model}\n`));
  assert.equal(text.match(/^processor/gm)?.length, 1);
  assert.match(text, /\ncpu MHz\t\t: \d+\.\d{3}\n/);
  assert.match(text, /\nflags\t\t: fpu [a-z0-9_ ]+\n/);
});

test('uptime, loadavg, stat, version, filesystems, sys/', () => {
  assert.match(read('uptime'), /^\d+\.\d\d \d+\.\d\d\n$/);
  assert.match(read('loadavg'), /^\d+\.\d\d \d+\.\d\d \d+\.\d\d 1\/3 \d+\n$/); // running/threads (the zombie has none)
  const stat = read('stat').split('\n');
  assert.match(stat[0], /^cpu  \d+ 0 0 \d+ 0 0 0 0 0 0$/);
  assert.match(stat[1], /^cpu0 \d+ 0 0 \d+ 0 0 0 0 0 0$/);
  const btime = Number(stat.find((l) => l.startsWith('btime '))?.slice(6));
  assert.ok(Math.abs(btime - Date.now() / 1000) < 3600);
  assert.ok(stat.includes('procs_running 1'));
  assert.ok(read('version').startsWith(`Linux version ${SENTRY_RELEASE} `));
  assert.ok(read('filesystems').split('\n').includes('nodev\tproc'));
  assert.equal(read('sys/kernel/hostname'), 'box\n');
  kernel.hostname = 'renamed';
  assert.equal(read('sys/kernel/hostname'), 'renamed\n');
  kernel.hostname = 'box';
  assert.equal(read('sys/kernel/ostype'), 'Linux\n');
  assert.equal(read('sys/kernel/osrelease'), SENTRY_RELEASE + '\n');
  assert.equal(read('sys/kernel/pid_max'), '4194304\n');
  assert.equal(read('sys/kernel/ngroups_max'), '65536\n');
  assert.equal(read('sys/kernel/cap_last_cap'), '40\n');
  assert.equal(read('sys/kernel/random/boot_id'), read('sys/kernel/random/boot_id'));
  assert.notEqual(read('sys/kernel/random/uuid'), read('sys/kernel/random/uuid'));
  assert.equal(read('sys/vm/overcommit_memory'), '0\n');
  assert.equal(read('sys/fs/nr_open'), '1048576\n');
  assert.match(read('sys/fs/file-max'), /^\d+\n$/);
  assert.deepEqual(list('sys'), ['fs', 'kernel', 'net', 'vm']);
  assert.deepEqual(list('sys/net'), ['core', 'ipv4', 'ipv6', 'unix']);
});

test('contents are generated at each read', () => {
  const n = walk('1/comm');
  assert.ok(n?.kind === 'file');
  init.comm = 'renamed';
  try {
    assert.equal(Buffer.from(contents(n)).toString(), 'renamed\n');
  } finally {
    init.comm = 'init';
  }
});

/** What /proc reads of a task's fs context (cwd, umask), without a mounted VFS behind it. */
function fsContextAt(cwd: string, umask: number): FsContext {
  const fsc = Object.create(FsContext.prototype) as FsContext;
  Object.defineProperty(fsc, 'cwd', { get: () => cwd });
  Object.defineProperty(fsc, 'umask', { value: umask, writable: true });
  return fsc;
}

test('ProcFs: "self" is the task each call names (lookup hint, readlink, readdir), not a VFS-wide caller', () => {
  const pfs = new ProcFs((caller) => procRoot(caller.kernel));
  const root = pfs.root.inode;
  assert.equal(root.attr().mode & 0o777, 0o555, 'stat of /proc before any caller: a directory');
  const hint = (caller: Task) => ({ path: 'self', at: 4, open: false, caller });
  const self = root.lookup('self', hint(init));
  assert.ok(typeof self !== 'number');
  assert.equal(self.readlink(init), String(init.pid));
  assert.equal(self.readlink(shell), String(shell.pid), 'the same inode, another caller');
  assert.equal(self.readlink(), -ENOENT, 'no caller, no self (never a stale one)');
  const names = (root.readdir(shell) as Array<{ name: string }>).map((e) => e.name);
  assert.ok(names.includes(String(init.pid)) && names.includes('self'));
});
