// The sentry's own seccomp filter (src/sentry/confine/profile.ts), compiled by moat's compiler and
// run on a BPF interpreter: what it lets through, what it refuses, what kills.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sentryFilterProgram } from '../../src/sentry/confine';
import { allowedSyscallCount, SENTRY_ALLOW } from '../../src/sentry/confine/profile';
import { SYSCALLS_X86_64 } from '../../src/abi/syscalls';
import { AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, checkProgram, fromWords, runFilter } from '../helpers/seccomp-bpf';

const KILL_PROCESS = 0x80000000;
const ALLOW = 0x7fff0000;
const TRAP = 0x00030000;
const ERRNO = 0x00050000;

const prog = fromWords([...sentryFilterProgram().program].map((w) => w >>> 0));
const nr = (name: string): number => {
  const n = SYSCALLS_X86_64[name];
  assert.ok(n !== undefined, name);
  return n;
};
const run = (name: string, args: (number | bigint)[] = []): number => runFilter(prog, { nr: nr(name), arch: AUDIT_ARCH_X86_64, args });

test('the sentry filter is a valid program that lets the measured set through', () => {
  checkProgram(prog);
  for (const name of ['read', 'write', 'futex', 'wait4', 'mmap', 'memfd_create', 'copy_file_range', 'timer_settime', 'recvmsg', 'sendmsg', 'exit_group']) {
    assert.equal(run(name) >>> 0, ALLOW, name);
  }
  assert.equal(run('ptrace', [31]) >>> 0, ALLOW, 'PTRACE_SYSEMU');
  assert.equal(run('ptrace', [12]) >>> 0, ALLOW, 'PTRACE_GETREGS');
  assert.equal(allowedSyscallCount(), new Set(SENTRY_ALLOW.flatMap((e) => e.names)).size);
});

test('exec, fork, attach, mount and the like kill the sentry', () => {
  for (const name of ['execve', 'execveat', 'fork', 'vfork', 'mount', 'umount2', 'pivot_root', 'chroot', 'unshare', 'setns', 'bpf', 'perf_event_open', 'init_module', 'kexec_load', 'keyctl', 'process_vm_writev', 'pidfd_getfd', 'setuid', 'mknodat', 'unlinkat', 'renameat2', 'symlinkat']) {
    assert.equal(run(name) >>> 0, KILL_PROCESS, name);
  }
  assert.equal(run('ptrace', [16]) >>> 0, KILL_PROCESS, 'PTRACE_ATTACH');
  assert.equal(run('ptrace', [0x4206]) >>> 0, KILL_PROCESS, 'PTRACE_SEIZE');
  // clone: a thread's flags only; a fork (SIGCHLD) or new namespaces kill.
  assert.equal(run('clone', [0x3d0f00]) >>> 0, ALLOW);
  assert.equal(run('clone', [17]) >>> 0, KILL_PROCESS);
  assert.equal(run('clone', [0x3d0f00 | 0x20000000]) >>> 0, KILL_PROCESS, 'CLONE_NEWNET');
  assert.equal(run('clone3') >>> 0, (ERRNO | 38) >>> 0, 'clone3: ENOSYS, glibc falls back to clone');
});

test('ioctl: only the requests the sentry makes (terminal, socket, interface reads)', () => {
  for (const req of [0x5401, 0x5402, 0x5413, 0x541b, 0x5421, 0x8913, 0x8912]) assert.equal(run('ioctl', [0, req]) >>> 0, ALLOW, req.toString(16));
  // TIOCSTI (push input into a terminal), SIOCSIFFLAGS (interface up/down), TIOCSCTTY, BLKGETSIZE64.
  for (const req of [0x5412, 0x8914, 0x540e, 0x80081272]) assert.equal(run('ioctl', [0, req]) >>> 0, KILL_PROCESS, req.toString(16));
});

test('sockets: only the networking families; opens are refused with EACCES', () => {
  for (const af of [2, 10, 16]) assert.equal(run('socket', [af, 1, 0]) >>> 0, ALLOW, `family ${af}`);
  for (const af of [1, 17, 40, 38]) assert.equal(run('socket', [af, 3, 0]) >>> 0, KILL_PROCESS, `family ${af} (unix, packet, vsock, alg)`);
  assert.equal(run('socket', [2n | (1n << 32n), 1, 0]) >>> 0, KILL_PROCESS, 'a family with high bits set is not AF_INET');
  for (const name of ['open', 'openat', 'openat2', 'creat']) assert.equal(run(name) >>> 0, (ERRNO | 13) >>> 0, name);
});

test('another architecture is killed (thread); measure mode traps, and lets its gadget through', () => {
  // The compiler's bad-arch action (libseccomp's): KILL_THREAD, 0.
  assert.equal(runFilter(prog, { nr: 11, arch: AUDIT_ARCH_I386 }) >>> 0, 0, 'an i386 call (int 0x80)');
  const measure = fromWords([...sentryFilterProgram([0x1234_5000, 0x7f00]).program].map((w) => w >>> 0));
  checkProgram(measure);
  assert.equal(runFilter(measure, { nr: nr('execve'), arch: AUDIT_ARCH_X86_64, instructionPointer: 0x1000n }) >>> 0, TRAP);
  assert.equal(runFilter(measure, { nr: nr('execve'), arch: AUDIT_ARCH_X86_64, instructionPointer: 0x7f00_1234_5000n }) >>> 0, ALLOW);
  assert.equal(runFilter(measure, { nr: nr('execve'), arch: AUDIT_ARCH_X86_64, instructionPointer: 0x7f01_1234_5000n }) >>> 0, TRAP);
});
