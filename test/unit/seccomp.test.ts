// linux.seccomp: validation, the BPF compiler (run on a small interpreter), the Docker default
// profile, the plan ops, and the executor's acceptance of them (moat-exec --mode check).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { compileProfile, dockerDefaultProfile, planSeccomp, readProfile } from '../../src/policy/seccomp';
import { planSeccompConnect } from '../../src/policy/seccomp';
import { SYSCALLS_I386, SYSCALLS_X32, SYSCALLS_X86_64 } from '../../src/abi/syscalls';
import { encodePlan, planContainer, type ChildOp, type ExecutorPlan, type HostFacts } from '../../src/policy/plan';
import { specTemplate, DOCKER_DEFAULT_CAPS } from '../../src/spec/default';
import { validateSpec } from '../../src/spec/validate';
import type { Linux, Process, Spec } from '../../src/spec/types';
import { doSpec } from '../../src/runtime/do-spec';
import { ConfigError } from '../../src/util/errors';
import { AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, checkProgram, fromWords, runFilter, type Insn } from '../helpers/seccomp-bpf';

const RET = { KILL_PROCESS: 0x80000000, KILL_THREAD: 0, TRAP: 0x30000, ERRNO: 0x50000, NOTIFY: 0x7fc00000, TRACE: 0x7ff00000, LOG: 0x7ffc0000, ALLOW: 0x7fff0000 };
const EPERM = RET.ERRNO | 1;
const ENOSYS = RET.ERRNO | 38;
const X32 = 0x40000000;
const NR = SYSCALLS_X86_64 as Record<string, number>;

function compile(profile: Record<string, unknown>): Insn[] {
  return compileProfile(readProfile(profile));
}

/** Run a compiled filter for an x86_64 syscall by name. */
function call(prog: Insn[], name: string, args: (bigint | number)[] = []): number {
  const nr = NR[name];
  assert.ok(nr !== undefined, name);
  return runFilter(prog, { nr, arch: AUDIT_ARCH_X86_64, args }) >>> 0;
}

function configError(fn: () => unknown, field: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.field, field);
    assert.match(e.message, message);
    return true;
  });
}

const allowBut = (rules: Record<string, unknown>[], extra: Record<string, unknown> = {}) => ({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: rules, ...extra });

// ---- actions ----

test('every action returns its SECCOMP_RET value; errnoRet and TRACE data are honoured', () => {
  const cases: [Record<string, unknown>, number][] = [
    [{ action: 'SCMP_ACT_KILL' }, RET.KILL_THREAD],
    [{ action: 'SCMP_ACT_KILL_THREAD' }, RET.KILL_THREAD],
    [{ action: 'SCMP_ACT_KILL_PROCESS' }, RET.KILL_PROCESS],
    [{ action: 'SCMP_ACT_TRAP' }, RET.TRAP],
    [{ action: 'SCMP_ACT_ERRNO' }, EPERM],
    [{ action: 'SCMP_ACT_ERRNO', errnoRet: 22 }, RET.ERRNO | 22],
    [{ action: 'SCMP_ACT_ERRNO', errnoRet: 0 }, RET.ERRNO],
    [{ action: 'SCMP_ACT_TRACE' }, RET.TRACE | 1],
    [{ action: 'SCMP_ACT_TRACE', errnoRet: 4660 }, RET.TRACE | 4660],
    [{ action: 'SCMP_ACT_LOG' }, RET.LOG],
    [{ action: 'SCMP_ACT_NOTIFY' }, RET.NOTIFY],
  ];
  for (const [rule, want] of cases) {
    const prog = compile(allowBut([{ names: ['getpid'], ...rule }], { listenerPath: '/run/l.sock' }));
    assert.equal(call(prog, 'getpid'), want >>> 0, JSON.stringify(rule));
    assert.equal(call(prog, 'getppid'), RET.ALLOW, 'other syscalls get the default');
  }
});

test('default action and defaultErrnoRet; errnoRet defaults to EPERM', () => {
  assert.equal(call(compile({ defaultAction: 'SCMP_ACT_ERRNO' }), 'getpid'), EPERM);
  assert.equal(call(compile({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 13 }), 'getpid'), RET.ERRNO | 13);
  assert.equal(call(compile({ defaultAction: 'SCMP_ACT_KILL_PROCESS', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }), 'read'), RET.ALLOW);
  assert.equal(call(compile({ defaultAction: 'SCMP_ACT_TRAP', syscalls: [{ names: ['read', 'exit_group'], action: 'SCMP_ACT_ALLOW' }] }), 'getpid', []), RET.TRAP);
  assert.equal(call(compile({ defaultAction: 'SCMP_ACT_LOG' }), 'getpid'), RET.LOG);
});

// ---- argument comparisons ----

const M = (1n << 64n) - 1n;
function reference(op: string, arg: bigint, value: bigint, two: bigint): boolean {
  switch (op) {
    case 'SCMP_CMP_NE': return arg !== value;
    case 'SCMP_CMP_LT': return arg < value;
    case 'SCMP_CMP_LE': return arg <= value;
    case 'SCMP_CMP_EQ': return arg === value;
    case 'SCMP_CMP_GE': return arg >= value;
    case 'SCMP_CMP_GT': return arg > value;
    case 'SCMP_CMP_MASKED_EQ': return (arg & value) === two;
    default: throw new Error(op);
  }
}

// Values whose high halves differ, whose low halves are equal, and the 32-bit edges.
const VALUES = [0n, 1n, 5n, 0xfffffffen, 0xffffffffn, 0x100000000n, 0x100000005n, 0x200000001n, 0x1fffffffffn, 0x1f00000000n, BigInt(Number.MAX_SAFE_INTEGER)];
const ARGS = [...VALUES, 0x300000000n, M, 0xffffffff00000005n];

for (const op of ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT']) {
  test(`${op}: 64-bit comparison on both 32-bit halves, as an exact reference says`, () => {
    for (const value of VALUES) {
      const prog = compile({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: Number(value), op }] }] });
      for (const arg of ARGS) {
        const want = reference(op, arg, value, 0n) ? RET.ALLOW : EPERM;
        assert.equal(call(prog, 'personality', [0, 0, arg]), want, `${op} arg=${arg.toString(16)} value=${value.toString(16)}`);
      }
    }
  });
}

test('SCMP_CMP_MASKED_EQ: (arg & value) == valueTwo on both halves', () => {
  const pairs: [bigint, bigint][] = [[0x7e020000n, 0n], [0xff00000000n, 0x1f00000000n], [0x1000000ffn, 0x100000005n], [0xffn, 5n], [0x100000000n, 0n]];
  for (const [mask, two] of pairs) {
    const prog = compile({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: Number(mask), valueTwo: Number(two), op: 'SCMP_CMP_MASKED_EQ' }] }] });
    for (const arg of [...ARGS, 0x10000000n, 0x1f00000005n, 0x100000005n, 0x200000005n]) {
      assert.equal(call(prog, 'clone', [arg]), reference('SCMP_CMP_MASKED_EQ', arg, mask, two) ? RET.ALLOW : EPERM, `mask=${mask.toString(16)} two=${two.toString(16)} arg=${arg.toString(16)}`);
    }
  }
});

test('several args of one rule are ANDed; several rules for one syscall are ORed', () => {
  const prog = compile({
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 9, op: 'SCMP_CMP_EQ' }] },
      { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 3, args: [{ index: 0, value: 2, op: 'SCMP_CMP_EQ' }] },
      { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 5, value: 0x100000000, op: 'SCMP_CMP_GE' }] },
    ],
  });
  assert.equal(call(prog, 'kill', [1, 9]), RET.ALLOW);
  assert.equal(call(prog, 'kill', [1, 15]), EPERM, 'one of two ANDed args fails');
  assert.equal(call(prog, 'kill', [0, 9]), EPERM);
  assert.equal(call(prog, 'kill', [2, 9]), RET.ERRNO | 3, 'second rule, its own action');
  assert.equal(call(prog, 'kill', [7, 7, 0, 0, 0, 0x100000000n]), RET.ALLOW, 'third rule');
  assert.equal(call(prog, 'kill', [7, 7, 0, 0, 0, 0xffffffffn]), EPERM);
});

test('a rule with args goes before the same syscall\'s unconditional rule; of two unconditional rules the first wins (libseccomp)', () => {
  const prog = compile(allowBut([
    { names: ['personality'], action: 'SCMP_ACT_ALLOW' },
    { names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 22, args: [{ index: 0, value: 0x40000, op: 'SCMP_CMP_EQ' }] },
  ], { defaultAction: 'SCMP_ACT_KILL_PROCESS' }));
  assert.equal(call(prog, 'personality', [0x40000]), RET.ERRNO | 22);
  assert.equal(call(prog, 'personality', [0]), RET.ALLOW);
  const first = compile(allowBut([
    { names: ['setns'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
    { names: ['setns'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
  ]));
  assert.equal(call(first, 'setns', [0, 0]), RET.ERRNO | 13);
});

// ---- architectures ----

test('an arch not in the profile gets the bad-arch action (KILL_THREAD), as libseccomp', () => {
  const prog = compile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'] });
  assert.equal(runFilter(prog, { nr: 20, arch: AUDIT_ARCH_I386 }), RET.KILL_THREAD);
  assert.equal(runFilter(prog, { nr: 172, arch: AUDIT_ARCH_AARCH64 }), RET.KILL_THREAD);
  assert.equal(runFilter(prog, { nr: 39, arch: AUDIT_ARCH_X86_64 }), RET.ALLOW);
  // No architectures at all: the native one only.
  assert.equal(runFilter(compile({ defaultAction: 'SCMP_ACT_ALLOW' }), { nr: 20, arch: AUDIT_ARCH_I386 }), RET.KILL_THREAD);
  // A foreign arch in the list is accepted and can never match here.
  const foreign = compile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_AARCH64'] });
  assert.equal(runFilter(foreign, { nr: 172, arch: AUDIT_ARCH_AARCH64 }), RET.KILL_THREAD);
});

test('i386 and x32 use their own syscall numbers; the x32 bit is checked on x86_64', () => {
  const rules = [{ names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 7 }, { names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 8, args: [{ index: 0, value: 0x100000008, op: 'SCMP_CMP_EQ' }] }];
  const all = compile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: rules });
  assert.equal(runFilter(all, { nr: SYSCALLS_I386.getpid!, arch: AUDIT_ARCH_I386 }), RET.ERRNO | 7);
  assert.equal(SYSCALLS_I386.getpid, 20);
  assert.equal(runFilter(all, { nr: 39, arch: AUDIT_ARCH_I386 }), RET.ALLOW, 'i386 39 is mkdir, not getpid');
  assert.equal(runFilter(all, { nr: SYSCALLS_X32.getpid!, arch: AUDIT_ARCH_X86_64 }), RET.ERRNO | 7);
  assert.equal(SYSCALLS_X32.getpid, X32 + 39);
  assert.equal(runFilter(all, { nr: X32 + 20, arch: AUDIT_ARCH_X86_64 }), RET.ALLOW);
  // i386 compares the low word only (a 32-bit arch, as libseccomp); x32 and x86_64 both words.
  assert.equal(runFilter(all, { nr: SYSCALLS_I386.personality!, arch: AUDIT_ARCH_I386, args: [8] }), RET.ERRNO | 8);
  assert.equal(runFilter(all, { nr: SYSCALLS_X32.personality!, arch: AUDIT_ARCH_X86_64, args: [8] }), RET.ALLOW);
  assert.equal(runFilter(all, { nr: SYSCALLS_X32.personality!, arch: AUDIT_ARCH_X86_64, args: [0x100000008n] }), RET.ERRNO | 8);

  const no32 = compile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: rules });
  assert.equal(runFilter(no32, { nr: X32 + 39, arch: AUDIT_ARCH_X86_64 }), RET.KILL_THREAD, 'x32 call without x32 in the profile');
  assert.equal(runFilter(no32, { nr: 0xffffffff, arch: AUDIT_ARCH_X86_64 }), RET.KILL_THREAD, 'nr -1 has the x32 bit');
  assert.equal(runFilter(no32, { nr: 39, arch: AUDIT_ARCH_X86_64 }), RET.ERRNO | 7);
});

test('runc\'s ENOSYS stub: syscalls newer than the profile\'s largest get ENOSYS unless the default allows', () => {
  const deny = compile({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'write', 'openat'], action: 'SCMP_ACT_ALLOW' }] });
  assert.equal(runFilter(deny, { nr: NR.openat! + 1, arch: AUDIT_ARCH_X86_64 }), ENOSYS);
  assert.equal(runFilter(deny, { nr: NR.openat! - 1, arch: AUDIT_ARCH_X86_64 }), EPERM);
  assert.equal(runFilter(deny, { nr: 999, arch: AUDIT_ARCH_X86_64 }), ENOSYS);
  const allow = compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO' }] });
  assert.equal(runFilter(allow, { nr: 999, arch: AUDIT_ARCH_X86_64 }), RET.ALLOW);
});

// ---- layout: 8-bit jumps and the 4096-instruction limit ----

test('a big profile keeps every jump within 8 bits, every rule still right (trampolines and pools)', () => {
  const names = Object.keys(NR);
  const actions = [{ action: 'SCMP_ACT_ALLOW' }, { action: 'SCMP_ACT_TRAP' }, { action: 'SCMP_ACT_LOG' }];
  const syscalls: Record<string, unknown>[] = names.map((n, i) => ({ names: [n], ...actions[i % 3] }));
  // A syscall with a body far longer than 255 instructions, and many mid-size ones.
  for (let v = 0; v < 60; v++) syscalls.push({ names: ['ioctl'], action: 'SCMP_ACT_ERRNO', errnoRet: v + 1, args: [{ index: 1, value: 1000 + v, op: 'SCMP_CMP_EQ' }] });
  for (const n of names.slice(50, 90)) {
    syscalls.push({ names: [n], action: 'SCMP_ACT_ERRNO', errnoRet: 99, args: [{ index: 0, value: 5, op: 'SCMP_CMP_GT' }, { index: 1, value: 0x100000000, op: 'SCMP_CMP_MASKED_EQ', valueTwo: 0 }] });
  }
  const profile = { defaultAction: 'SCMP_ACT_KILL_PROCESS', architectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls };
  const prog = compile(profile);
  checkProgram(prog);
  assert.ok(prog.length > 1500 && prog.length <= 4096, `length ${prog.length}`);
  const maxJump = Math.max(...prog.map((i) => Math.max(i.jt, i.jf)));
  assert.ok(maxJump > 200 && maxJump <= 255, `longest conditional jump ${maxJump}: the layout is exercised near the limit`);
  assert.ok(prog.some((i) => i.code === 0x05 && i.k > 255), 'long bodies are reached with 32-bit ja');
  names.forEach((n, i) => {
    const want = [RET.ALLOW, RET.TRAP, RET.LOG][i % 3]!;
    const conditional = names.slice(50, 90).includes(n);
    if (n !== 'ioctl') assert.equal(call(prog, n, [0]), want, n);
    if (conditional) assert.equal(call(prog, n, [6, 0xffffffffn]), RET.ERRNO | 99, `${n} conditional`);
  });
  for (let v = 0; v < 60; v++) assert.equal(call(prog, 'ioctl', [0, 1000 + v]), RET.ERRNO | (v + 1));
  assert.equal(call(prog, 'ioctl', [0, 999]), [RET.ALLOW, RET.TRAP, RET.LOG][names.indexOf('ioctl') % 3]);
  assert.equal(runFilter(prog, { nr: SYSCALLS_I386.getpid!, arch: AUDIT_ARCH_I386 }), [RET.ALLOW, RET.TRAP, RET.LOG][names.indexOf('getpid') % 3], 'i386 by its own numbers');
  assert.equal(runFilter(prog, { nr: SYSCALLS_I386.socketcall!, arch: AUDIT_ARCH_I386 }), RET.KILL_PROCESS, 'no x86_64 syscall is called socketcall');
});

test('a profile over 4096 instructions is refused with the count', () => {
  const syscalls = Array.from({ length: 700 }, (_, i) => ({ names: ['ioctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: i, op: 'SCMP_CMP_EQ' }, { index: 2, value: i, op: 'SCMP_CMP_EQ' }] }));
  configError(() => compile(allowBut(syscalls)), 'linux.seccomp', /compiles to \d+ BPF instructions; the kernel takes at most 4096/);
});

// ---- validation ----

test('validation errors name the field', () => {
  const bad: [Record<string, unknown>, string, RegExp][] = [
    [{}, 'linux.seccomp.defaultAction', /expected a string/],
    [{ defaultAction: 'SCMP_ACT_NOPE' }, 'linux.seccomp.defaultAction', /unknown action "SCMP_ACT_NOPE"/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 1 }, 'linux.seccomp.defaultErrnoRet', /only SCMP_ACT_ERRNO and SCMP_ACT_TRACE/],
    [{ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 5000 }, 'linux.seccomp.defaultErrnoRet', /out of range/],
    [{ defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/l' }, 'linux.seccomp.defaultAction', /cannot be the default action/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }, 'linux.seccomp.architectures[0]', /unknown architecture/],
    [{ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_NEW_LISTENER'] }, 'linux.seccomp.flags[0]', /unknown flag/],
    [allowBut([{ names: ['read'], action: 'SCMP_ACT_ERRNO' }, { names: ['read', 'Bad!'], action: 'SCMP_ACT_ERRNO' }]), 'linux.seccomp.syscalls[1].names[1]', /"Bad!" is not a syscall name/],
    [allowBut([{ names: [], action: 'SCMP_ACT_ERRNO' }]), 'linux.seccomp.syscalls[0].names', /at least one/],
    [allowBut([{ names: ['read'], action: 'SCMP_ACT_ALLOW', errnoRet: 1 }]), 'linux.seccomp.syscalls[0].errnoRet', /only SCMP_ACT_ERRNO/],
    [allowBut([{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] }]), 'linux.seccomp.syscalls[0].args[0].index', /out of range \[0, 5\]/],
    [allowBut([{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0, op: 'SCMP_CMP_XX' }] }]), 'linux.seccomp.syscalls[0].args[0].op', /unknown operator/],
    [allowBut([{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 2 ** 60, op: 'SCMP_CMP_EQ' }] }]), 'linux.seccomp.syscalls[0].args[0].value', /out of range/],
    [allowBut([{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, valueTwo: 2, op: 'SCMP_CMP_EQ' }] }]), 'linux.seccomp.syscalls[0].args[0].valueTwo', /only SCMP_CMP_MASKED_EQ/],
    [allowBut([{ names: ['read'], action: 'SCMP_ACT_NOTIFY' }]), 'linux.seccomp.listenerPath', /required when a rule uses SCMP_ACT_NOTIFY/],
    [allowBut([{ names: ['read'], action: 'SCMP_ACT_NOTIFY' }], { listenerPath: 'rel.sock' }), 'linux.seccomp.listenerPath', /absolute/],
    [allowBut([{ names: ['read', 'sendmsg'], action: 'SCMP_ACT_NOTIFY' }], { listenerPath: '/l' }), 'linux.seccomp.syscalls[0].names[1]', /cannot be used for sendmsg/],
    [allowBut([{ names: ['mkdri'], action: 'SCMP_ACT_ERRNO' }]), 'linux.seccomp.syscalls[0].names[0]', /unknown syscall "mkdri": skipping it would allow what this rule denies/],
  ];
  for (const [profile, field, message] of bad) configError(() => readProfile(profile), field, message);
});

test('unknown syscall names are skipped where that cannot fail open (runc does the same)', () => {
  const base = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] };
  const withUnknown = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'arm_fadvise64_64', 'write', 'no_such_call'], action: 'SCMP_ACT_ALLOW' }] };
  assert.deepEqual(compile(withUnknown), compile(base));
  // Denying an unknown name under an allowing default would silently allow it: refused (above);
  // allowing an unknown name under an allowing default changes nothing: accepted.
  assert.deepEqual(compile(allowBut([{ names: ['no_such_call'], action: 'SCMP_ACT_ALLOW' }])), compile(allowBut([])));
});

// ---- plan ops ----

function linuxWith(seccomp: Record<string, unknown>): Linux {
  return { namespaces: [], uidMappings: [], gidMappings: [], devices: [], sysctl: {}, maskedPaths: [], readonlyPaths: [], seccomp };
}

test('flags map to SECCOMP_FILTER_FLAG_* numbers; the program is 4 numbers per instruction', () => {
  const [op] = planSeccomp(linuxWith({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }));
  assert.ok(op && op.op === 'seccomp');
  assert.equal(op.flags, 1 | 2 | 4);
  assert.equal(op.program.length % 4, 0);
  assert.equal(runFilter(fromWords(op.program), { nr: 0, arch: AUDIT_ARCH_X86_64 }), RET.ALLOW);
  const [killable] = planSeccomp(linuxWith({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }));
  assert.ok(killable?.op === 'seccomp' && killable.flags === 0, 'WAIT_KILLABLE_RECV only with a listener');
  assert.deepEqual(planSeccomp(undefined), []);
});

const container = { ociVersion: '1.0.2', id: 'box', bundle: '/b', annotations: { a: 'b' } };
const notifyProfile = allowBut([{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }], {
  listenerPath: '/run/agent.sock', listenerMetadata: 'meta "x"', flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
});

test('SCMP_ACT_NOTIFY: seccomp-notify with NEW_LISTENER (TSYNC gets TSYNC_ESRCH) and the process state in parts', () => {
  const [op] = planSeccomp(linuxWith(notifyProfile), container);
  assert.ok(op && op.op === 'seccomp-notify');
  assert.equal(op.flags, 1 | 8 | 16 | 32);
  assert.equal(runFilter(fromWords(op.program), { nr: NR.mkdir!, arch: AUDIT_ARCH_X86_64 }), RET.NOTIFY);
  const state = JSON.parse(op.state.join('4242'));
  assert.deepEqual(state, {
    ociVersion: '1.2.0', fds: ['seccompFd'], pid: 4242, metadata: 'meta "x"',
    state: { ociVersion: '1.0.2', id: 'box', status: 'creating', pid: 4242, bundle: '/b', annotations: { a: 'b' } },
  });
  assert.deepEqual(planSeccompConnect(linuxWith(notifyProfile)), [{ op: 'seccomp-connect', path: '/run/agent.sock' }]);
  assert.deepEqual(planSeccompConnect(linuxWith(allowBut([]))), []);
  configError(() => planSeccomp(linuxWith(notifyProfile)), 'linux.seccomp.listenerPath', /moat exec/);
});

const facts: HostFacts = { uid: 0, gid: 0, pathKind: () => 'dir', cgroupHierarchies: () => [] } as unknown as HostFacts;

function containerPlan(mutate: (s: Record<string, any>) => void): ExecutorPlan {
  const raw = specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }) as Record<string, any>;
  raw.process.terminal = false;
  mutate(raw);
  const spec = validateSpec(raw) as Spec & { process: Process };
  return planContainer({ spec, rootfs: '/b/rootfs', startFifo: '/run/moat/x/exec.fifo', noPivot: false, preserveFds: 0, facts, container: { id: 'box', bundle: '/b' } });
}

const indexOf = (p: ExecutorPlan, name: ChildOp['op']) => p.child.findIndex((o) => o.op === name);

test('plan: connect before the pivot and any user switch, filter just before ready; without no_new_privs before the caps drop', () => {
  const p = containerPlan((s) => { s.linux.seccomp = notifyProfile; });
  assert.ok(indexOf(p, 'seccomp-connect') >= 0 && indexOf(p, 'seccomp-connect') < indexOf(p, 'pivot-root'));
  assert.ok(indexOf(p, 'seccomp-notify') > indexOf(p, 'no-new-privs') && indexOf(p, 'seccomp-notify') === indexOf(p, 'ready') - 1);
  const noNnp = containerPlan((s) => { s.process.noNewPrivileges = false; s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW' }; });
  assert.ok(indexOf(noNnp, 'seccomp') >= 0 && indexOf(noNnp, 'seccomp') < indexOf(noNnp, 'cap-bounding'), 'needs CAP_SYS_ADMIN: before the drop');
});

const EXECUTOR = path.join(process.env.MOAT_NATIVE_DIR ?? path.resolve(__dirname, '../../../native'), 'moat-exec');

function executorCheck(plan: ExecutorPlan): { status: number | null; stderr: string } {
  // The plan on fd 3 (our stdin), reports on fd 4 (its stderr).
  const r = spawnSync('sh', ['-c', 'exec "$0" --plan-fd 3 --report-fd 4 --mode check 3<&0 4>&2', EXECUTOR], { input: encodePlan(plan), encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

test('the executor accepts seccomp-connect/seccomp-notify and enforces their order', () => {
  const good = containerPlan((s) => { s.linux.seccomp = notifyProfile; });
  assert.deepEqual(executorCheck(good), { status: 0, stderr: '' });
  const noConnect = { ...good, child: good.child.filter((o) => o.op !== 'seccomp-connect') };
  const r = executorCheck(noConnect);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /seccomp-notify\): needs seccomp-connect before it/);
  const listenerOnPlainOp = { ...good, child: good.child.map((o) => (o.op === 'seccomp-notify' ? { op: 'seccomp' as const, flags: 8, program: o.program } : o)) };
  assert.match(executorCheck(listenerOnPlainOp).stderr, /NEW_LISTENER is only for seccomp-notify/);
});

// ---- the Docker default profile ----

test('the Docker default profile: allowlist with EPERM, argument rules, capability-conditional rules', () => {
  const prog = compile(dockerDefaultProfile(DOCKER_DEFAULT_CAPS));
  const CLONE_NEWUSER = 0x10000000;
  const threadFlags = 0x3d0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
  assert.equal(call(prog, 'read'), RET.ALLOW);
  assert.equal(call(prog, 'write'), RET.ALLOW);
  assert.equal(call(prog, 'reboot'), EPERM);
  assert.equal(call(prog, 'keyctl'), EPERM);
  assert.equal(call(prog, 'unshare', [CLONE_NEWUSER]), EPERM);
  assert.equal(call(prog, 'mount'), EPERM);
  assert.equal(call(prog, 'clone', [CLONE_NEWUSER | 17]), EPERM);
  assert.equal(call(prog, 'clone', [threadFlags]), RET.ALLOW);
  assert.equal(call(prog, 'clone', [17]), RET.ALLOW);
  assert.equal(call(prog, 'clone3'), ENOSYS, 'clone3 → ENOSYS so libc falls back to clone');
  assert.equal(call(prog, 'personality', [0]), RET.ALLOW);
  assert.equal(call(prog, 'personality', [0xffffffff]), RET.ALLOW);
  assert.equal(call(prog, 'personality', [0x0040000]), EPERM, 'ADDR_NO_RANDOMIZE');
  assert.equal(call(prog, 'socket', [2]), RET.ALLOW);
  assert.equal(call(prog, 'socket', [40]), EPERM, 'AF_VSOCK');
  assert.equal(call(prog, 'chroot'), RET.ALLOW, 'CAP_SYS_CHROOT is a default capability');
  assert.equal(call(prog, 'ptrace'), RET.ALLOW, 'allowed on kernels >= 4.8, as Docker');
  assert.equal(call(prog, 'open_by_handle_at'), EPERM);
  assert.equal(runFilter(prog, { nr: SYSCALLS_I386.getpid!, arch: AUDIT_ARCH_I386 }), RET.ALLOW);
  assert.equal(runFilter(prog, { nr: SYSCALLS_X32.getpid!, arch: AUDIT_ARCH_X86_64 }), RET.ALLOW);
  assert.equal(runFilter(prog, { nr: 1000, arch: AUDIT_ARCH_X86_64 }), ENOSYS, 'newer than the profile');
  assert.equal(runFilter(prog, { nr: 0, arch: AUDIT_ARCH_AARCH64 }), RET.KILL_THREAD);

  const admin = compile(dockerDefaultProfile([...DOCKER_DEFAULT_CAPS, 'CAP_SYS_ADMIN', 'SYS_BOOT']));
  assert.equal(call(admin, 'clone', [CLONE_NEWUSER | 17]), RET.ALLOW);
  assert.equal(call(admin, 'clone3'), RET.ALLOW);
  assert.equal(call(admin, 'unshare'), RET.ALLOW);
  assert.equal(call(admin, 'reboot'), RET.ALLOW);
  assert.equal(call(admin, 'keyctl'), EPERM);
});

test('moat do runs under the Docker default profile for Docker\'s default capabilities', () => {
  const s = doSpec({ args: ['true'], env: {}, cwd: '/' });
  assert.deepEqual(s.linux?.seccomp, dockerDefaultProfile(DOCKER_DEFAULT_CAPS));
  const [op] = planSeccomp(s.linux);
  assert.ok(op?.op === 'seccomp');
  assert.equal(runFilter(fromWords(op.program), { nr: NR.keyctl!, arch: AUDIT_ARCH_X86_64 }), EPERM);
});
