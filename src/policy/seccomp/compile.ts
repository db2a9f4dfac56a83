// A checked profile → a classic BPF seccomp program, laid out like libseccomp's (and runc's patch):
//
//   arch dispatch   x86_64: nr & X32_SYSCALL_BIT ? x32 section : x86_64 section;  i386: i386
//                   section; an arch that is not in the profile (or an x32 call when x32 is not
//                   listed) gets libseccomp's bad-arch action, KILL_THREAD.
//   per section     ld nr; [runc's -ENOSYS stub for numbers above the profile's largest]; one
//                   `jeq nr` per syscall with a rule; then the default action.
//
// Jump offsets are 8 bits. A syscall whose rules are all unconditional costs one `jeq` to a shared
// `ret` in a pool placed after at most ~250 instructions ("chunk"); a syscall with argument rules
// gets its body inline, skipped by the `jeq`'s false branch (or by a 32-bit `ja` when the body is
// longer than 255). No conditional jump can therefore exceed 255, whatever the profile's size.

import { ConfigError } from '../../util/errors';
import { Assembler, NEXT, type Insn, type Label } from './asm';
import {
  AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, BPF, BPF_MAXINSNS, DATA, ERRNO, RET, X32_SYSCALL_BIT, type SupportedArch,
} from './constants';
import type { ArgCondition, SeccompProfile, SyscallRule } from './profile';
import { syscallNumber } from './tables';

const MAX_JUMP = 255;

interface ConditionalRule {
  args: ArgCondition[];
  action: number;
}

/** Everything the profile says about one syscall number on one arch. */
interface SyscallEntry {
  nr: number;
  conditional: ConditionalRule[];
  unconditional?: { action: number; field: string };
}

function split(v: bigint): { hi: number; lo: number } {
  return { hi: Number((v >> 32n) & 0xffffffffn), lo: Number(v & 0xffffffffn) };
}

function addRule(entry: SyscallEntry, rule: SyscallRule): void {
  if (rule.args.length > 0) {
    entry.conditional.push({ args: rule.args, action: rule.action });
    return;
  }
  // Two rules without args for one syscall: the first one wins, as libseccomp (runc, crun) does —
  // it keeps the existing rule and drops the later one. Podman's default profile relies on this
  // (setns, sethostname, … allowed, then denied again by a capability-dependent rule).
  entry.unconditional ??= { action: rule.action, field: rule.field };
}

/** The profile's rules for arch, by syscall number, ascending (read, write, ... come first). */
export function entriesFor(profile: SeccompProfile, arch: SupportedArch): SyscallEntry[] {
  const byNr = new Map<number, SyscallEntry>();
  for (const rule of profile.rules) {
    for (const name of new Set(rule.names)) {
      const nr = syscallNumber(arch, name);
      if (nr === undefined) continue;
      let entry = byNr.get(nr);
      if (!entry) byNr.set(nr, (entry = { nr, conditional: [] }));
      addRule(entry, rule);
    }
  }
  return [...byNr.values()].sort((a, b) => a.nr - b.nr);
}

/** Falls through when the condition holds, jumps to `fail` otherwise. i386 compares the low word. */
function emitCondition(a: Assembler, c: ArgCondition, fail: Label, wide: boolean): void {
  const lo = DATA.ARGS + 8 * c.index;
  const hi = lo + 4;
  const v = split(c.value);
  const match = a.label('match');
  switch (c.op) {
    case 'SCMP_CMP_EQ':
      if (wide) { a.load(hi); a.jump(BPF.JEQ_K, v.hi, NEXT, fail); }
      a.load(lo); a.jump(BPF.JEQ_K, v.lo, NEXT, fail);
      break;
    case 'SCMP_CMP_NE':
      if (wide) { a.load(hi); a.jump(BPF.JEQ_K, v.hi, NEXT, match); }
      a.load(lo); a.jump(BPF.JEQ_K, v.lo, fail, NEXT);
      break;
    case 'SCMP_CMP_GT':
    case 'SCMP_CMP_GE':
      if (wide) { a.load(hi); a.jump(BPF.JGT_K, v.hi, match, NEXT); a.jump(BPF.JEQ_K, v.hi, NEXT, fail); }
      a.load(lo); a.jump(c.op === 'SCMP_CMP_GT' ? BPF.JGT_K : BPF.JGE_K, v.lo, NEXT, fail);
      break;
    case 'SCMP_CMP_LT':
    case 'SCMP_CMP_LE':
      if (wide) { a.load(hi); a.jump(BPF.JGE_K, v.hi, NEXT, match); a.jump(BPF.JEQ_K, v.hi, NEXT, fail); }
      a.load(lo); a.jump(c.op === 'SCMP_CMP_LT' ? BPF.JGE_K : BPF.JGT_K, v.lo, fail, NEXT);
      break;
    case 'SCMP_CMP_MASKED_EQ': {
      // libseccomp: (arg & value) == valueTwo.
      const d = split(c.valueTwo);
      if (wide) { a.load(hi); a.and(v.hi); a.jump(BPF.JEQ_K, d.hi, NEXT, fail); }
      a.load(lo); a.and(v.lo); a.jump(BPF.JEQ_K, d.lo, NEXT, fail);
      break;
    }
  }
  a.place(match);
}

/** Rules with args in profile order (ANDed args, first match wins), then the rest. Ends in ret. */
function syscallBody(entry: SyscallEntry, fallback: number, wide: boolean): Assembler {
  const a = new Assembler();
  for (const rule of entry.conditional) {
    const next = a.label('next-rule');
    for (const c of rule.args) emitCondition(a, c, next, wide);
    a.ret(rule.action);
    a.place(next);
  }
  a.ret(entry.unconditional?.action ?? fallback);
  return a;
}

/** A run of syscall checks sharing one pool of `ret` instructions within jump range. */
class Chunk {
  private pool = new Map<number, Label>();
  private start = -1;

  constructor(private readonly a: Assembler) {}

  /** Would `size` more instructions (maybe using a new pool entry) keep every jump in range? */
  fits(size: number, action?: number): boolean {
    if (this.start < 0) return true;
    const poolSize = this.pool.size + (action !== undefined && !this.pool.has(action) ? 1 : 0);
    return this.a.length + size - this.start + poolSize - 1 <= MAX_JUMP - 1;
  }

  retLabel(action: number): Label {
    if (this.start < 0) this.start = this.a.length;
    let l = this.pool.get(action);
    if (!l) this.pool.set(action, (l = this.a.label('pool')));
    return l;
  }

  /** Emit the pool: after a `ja` over it, or after the section's final `ret`. */
  close(finalRet?: number): void {
    const after = this.a.label('after-pool');
    if (finalRet !== undefined) this.a.ret(finalRet);
    else if (this.pool.size > 0) this.a.ja(after);
    for (const [action, label] of this.pool) {
      this.a.place(label);
      this.a.ret(action);
    }
    this.a.place(after);
    this.pool = new Map();
    this.start = -1;
  }
}

function emitEntry(a: Assembler, chunk: Chunk, entry: SyscallEntry, fallback: number, wide: boolean): Chunk {
  if (entry.conditional.length === 0) {
    const action = entry.unconditional!.action;
    if (!chunk.fits(1, action)) chunk.close();
    a.jump(BPF.JEQ_K, entry.nr, chunk.retLabel(action), NEXT);
    return chunk;
  }
  const body = syscallBody(entry, fallback, wide);
  const long = body.length > MAX_JUMP;
  if (!chunk.fits(body.length + (long ? 2 : 1))) chunk.close();
  const after = a.label('after-body');
  if (long) {
    const start = a.label('body');
    a.jump(BPF.JEQ_K, entry.nr, start, NEXT);
    a.ja(after);
    a.place(start);
  } else {
    a.jump(BPF.JEQ_K, entry.nr, NEXT, after);
  }
  a.append(body);
  a.place(after);
  return chunk;
}

/** runc's patch: numbers above the profile's largest are newer syscalls; they get -ENOSYS. */
function enosysStubApplies(profile: SeccompProfile): boolean {
  const d = profile.defaultAction;
  return d !== RET.ALLOW && d !== RET.LOG && (d & 0xffff0000) !== RET.TRACE && d !== (RET.ERRNO | ERRNO.ENOSYS);
}

function emitSection(a: Assembler, profile: SeccompProfile, arch: SupportedArch): void {
  const entries = entriesFor(profile, arch).filter((e) => e.conditional.length > 0 || e.unconditional!.action !== profile.defaultAction);
  const all = entriesFor(profile, arch);
  a.load(DATA.NR);
  if (enosysStubApplies(profile) && all.length > 0) {
    const known = a.label('known');
    a.jump(BPF.JGT_K, all[all.length - 1]!.nr, NEXT, known);
    a.ret(RET.ERRNO | ERRNO.ENOSYS);
    a.place(known);
  }
  const wide = arch !== 'SCMP_ARCH_X86';
  const chunk = new Chunk(a);
  for (const e of entries) emitEntry(a, chunk, e, profile.defaultAction, wide);
  chunk.close(profile.defaultAction);
}

function emitDispatch(a: Assembler, sections: Map<SupportedArch, Label>, badArch: Label): void {
  const notX86_64 = a.label('not-x86_64');
  const native = a.label('x86_64');
  a.load(DATA.ARCH);
  a.jump(BPF.JEQ_K, AUDIT_ARCH_X86_64, NEXT, notX86_64);
  a.load(DATA.NR);
  a.jump(BPF.JSET_K, X32_SYSCALL_BIT, NEXT, native);
  a.ja(sections.get('SCMP_ARCH_X32') ?? badArch);
  a.place(native);
  a.ja(sections.get('SCMP_ARCH_X86_64')!);
  a.place(notX86_64);
  const i386 = sections.get('SCMP_ARCH_X86');
  if (i386) {
    a.jump(BPF.JEQ_K, AUDIT_ARCH_I386, NEXT, badArch);
    a.ja(i386);
  }
  a.place(badArch);
  a.ret(RET.KILL_THREAD);
}

export function compileProfile(profile: SeccompProfile): Insn[] {
  const a = new Assembler();
  const sections = new Map(profile.arches.map((arch) => [arch, a.label(arch)] as const));
  emitDispatch(a, sections, a.label('bad-arch'));
  for (const [arch, label] of sections) {
    a.place(label);
    emitSection(a, profile, arch);
  }
  const program = a.assemble();
  if (program.length > BPF_MAXINSNS) {
    throw new ConfigError('linux.seccomp', `compiles to ${program.length} BPF instructions; the kernel takes at most ${BPF_MAXINSNS}`);
  }
  return program;
}
