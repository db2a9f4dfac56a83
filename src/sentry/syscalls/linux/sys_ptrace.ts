// ptrace(2) between sandbox processes: the requests (kernel/ptrace.ts has the stops and the
// tracer/tracee bookkeeping). Requests other than TRACEME/ATTACH/SEIZE need a tracee of the
// calling thread that is in a ptrace-stop (else ESRCH, as Linux's ptrace_check_attach).

import { EFAULT, EINVAL, EIO, EPERM, ESRCH } from '../../abi/errno';
import { SIGKILL } from '../../abi/signals';
import { capable, CAP_SYS_PTRACE } from '../../kernel/creds';
import {
  ptraceAttachStop, ptraceLink, ptraceResume, ptraceUnlink, tracedRegs, PTRACE_O_EXITKILL, PTRACE_O_TRACEEXEC,
  PTRACE_O_TRACESYSGOOD,
} from '../../kernel/ptrace';
import { sendSignalToTask } from '../../kernel/signals';
import { encodeSigInfo } from '../../kernel/signal-types';
import { ARG_REGS, type Task } from '../../kernel/task';
import { REG, REGS_BYTES } from '../../platform/registers';

const PTRACE_TRACEME = 0;
const PTRACE_PEEKTEXT = 1;
const PTRACE_PEEKDATA = 2;
const PTRACE_PEEKUSR = 3;
const PTRACE_POKETEXT = 4;
const PTRACE_POKEDATA = 5;
const PTRACE_POKEUSR = 6;
const PTRACE_CONT = 7;
const PTRACE_KILL = 8;
const PTRACE_GETREGS = 12;
const PTRACE_SETREGS = 13;
const PTRACE_GETFPREGS = 14;
const PTRACE_SETFPREGS = 15;
const PTRACE_ATTACH = 16;
const PTRACE_DETACH = 17;
const PTRACE_SYSCALL = 24;
const PTRACE_SETOPTIONS = 0x4200;
const PTRACE_GETEVENTMSG = 0x4201;
const PTRACE_GETSIGINFO = 0x4202;
const PTRACE_GETREGSET = 0x4204;
const PTRACE_SETREGSET = 0x4205;
const PTRACE_SEIZE = 0x4206;

const NT_PRSTATUS = 1;
const NT_PRFPREG = 2;
const FP_BYTES = 512;
/** sizeof(struct user) on x86-64; PEEKUSER past the registers reads zeroes (debug registers, …). */
const USER_BYTES = 912;
const OPTIONS = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
/** Flags the tracer may change (Linux's FLAG_MASK: CF PF AF ZF SF TF DF OF NT AC). */
const FLAG_MASK = 0x40dd5;
const TASK_SIZE_MAX = 0x7fff_ffff_f000;

/** __ptrace_may_access (attach, real creds): the same user and group throughout, or CAP_SYS_PTRACE. */
function mayAttach(t: Task, target: Task): boolean {
  if (capable(t.creds, CAP_SYS_PTRACE)) return true;
  const c = t.creds;
  const o = target.creds;
  const same = c.uid === o.uid && c.uid === o.euid && c.uid === o.suid && c.gid === o.gid && c.gid === o.egid && c.gid === o.sgid;
  return same && target.tg.dumpable === 1;
}

function attach(t: Task, pid: number, options: number, seize: boolean): number {
  const target = t.pidns.tasks.get(pid);
  if (!target || target.state === 'dead') return -ESRCH;
  if (target.tg === t.tg) return -EPERM;
  if (target.tracer) return -EPERM;
  if (!mayAttach(t, target)) return -EPERM;
  if (seize && options & ~OPTIONS) return -EINVAL;
  ptraceLink(target, t, seize ? options : 0);
  if (!seize) ptraceAttachStop(target);
  return 0;
}

/** Copy regs from the tracer's buffer into the stopped tracee, as Linux's putreg would accept them. */
function setRegs(x: Task, b: Uint8Array): number {
  const r = x.regs.clone();
  r.buffer.set(b.subarray(0, Math.min(b.length, REGS_BYTES)));
  // Segment selectors stay the kernel's; flags only in FLAG_MASK; segment bases in user space.
  for (const s of [REG.cs, REG.ss, REG.ds, REG.es, REG.fs, REG.gs]) r.set(s, x.regs.get(s));
  r.set(REG.eflags, (x.regs.get(REG.eflags) & ~FLAG_MASK) | (r.get(REG.eflags) & FLAG_MASK));
  for (const s of [REG.fs_base, REG.gs_base]) if (r.get(s) >= TASK_SIZE_MAX) return -EIO;
  x.regs.copyFrom(r);
  x.fullRegs = true;
  // In a syscall the kernel puts its result in rax on the way out: the tracer's rax is that result.
  if (x.inSyscall) x.retval = r.getSigned(REG.rax);
  return 0;
}

/** The data argument's 8 bytes exactly (a number would round a word above 2^53). */
function dataWord(t: Task): Uint8Array {
  const off = ARG_REGS[3] * 8;
  return t.regs.buffer.slice(off, off + 8);
}

function writeWord(t: Task, addr: number, v: Uint8Array): number {
  return t.mm.write(addr, v) ? 0 : -EFAULT;
}

function ptrace(t: Task): number {
  const req = t.argInt(0);
  const pid = t.argInt(1);
  const addr = t.arg(2);
  const data = t.arg(3);
  if (req === PTRACE_TRACEME) {
    const parent = t.tg.parent;
    if (t.tracer || !parent || !parent.alive) return -EPERM;
    // The tracer is the real parent *thread* (the one that forked this process), as Linux's
    // ptrace_traceme links to current->real_parent; another live thread if it has gone.
    const pt = t.tg.parentTask;
    const tracer = pt && pt.state !== 'dead' && pt.tg === parent ? pt : [...parent.tasks].find((x) => x.state !== 'dead');
    if (!tracer) return -EPERM;
    ptraceLink(t, tracer, 0);
    return 0;
  }
  if (req === PTRACE_ATTACH || req === PTRACE_SEIZE) {
    if (req === PTRACE_SEIZE && addr !== 0) return -EIO;
    return attach(t, pid, req === PTRACE_SEIZE ? data : 0, req === PTRACE_SEIZE);
  }
  const x = t.pidns.tasks.get(pid);
  if (!x || x.tracer !== t || x.state === 'dead') return -ESRCH;
  if (req === PTRACE_KILL) {
    sendSignalToTask(x, { signo: SIGKILL, code: 0, pid: t.tg.tgid, uid: t.creds.uid });
    return 0;
  }
  const stop = x.ptraceStop;
  if (!stop) return -ESRCH;
  switch (req) {
    case PTRACE_PEEKTEXT:
    case PTRACE_PEEKDATA: {
      const v = x.mm.read(addr, 8);
      if (!v) return -EIO;
      return writeWord(t, data, v);
    }
    case PTRACE_POKETEXT:
    case PTRACE_POKEDATA: {
      return x.mm.write(addr, dataWord(t), true) ? 0 : -EIO;
    }
    case PTRACE_PEEKUSR: {
      if (addr % 8 !== 0 || addr >= USER_BYTES) return -EIO;
      const v = new Uint8Array(8);
      if (addr < REGS_BYTES) v.set(tracedRegs(x).subarray(addr, addr + 8));
      return writeWord(t, data, v);
    }
    case PTRACE_POKEUSR: {
      if (addr % 8 !== 0 || addr >= USER_BYTES) return -EIO;
      if (addr >= REGS_BYTES) return 0; // debug registers and the rest: not kept
      const b = tracedRegs(x);
      b.set(dataWord(t), addr);
      return setRegs(x, b);
    }
    case PTRACE_GETREGS:
      return t.mm.write(data, tracedRegs(x)) ? 0 : -EFAULT;
    case PTRACE_SETREGS: {
      const b = t.mm.read(data, REGS_BYTES);
      return b ? setRegs(x, b) : -EFAULT;
    }
    case PTRACE_GETFPREGS:
    case PTRACE_SETFPREGS:
      return fpregs(t, x, data, FP_BYTES, req === PTRACE_SETFPREGS);
    case PTRACE_GETREGSET:
    case PTRACE_SETREGSET:
      return regset(t, x, addr, data, req === PTRACE_SETREGSET);
    case PTRACE_GETSIGINFO:
      return t.mm.write(data, encodeSigInfo(stop.info)) ? 0 : -EFAULT;
    case PTRACE_GETEVENTMSG: {
      const v = new Uint8Array(8);
      new DataView(v.buffer).setBigUint64(0, BigInt(x.ptraceEventMsg), true);
      return writeWord(t, data, v);
    }
    case PTRACE_SETOPTIONS:
      if (data & ~OPTIONS) return -EINVAL;
      x.ptraceOptions = data;
      return 0;
    case PTRACE_CONT:
    case PTRACE_SYSCALL:
    case PTRACE_DETACH: {
      if (data > 64) return -EIO;
      if (req === PTRACE_DETACH) {
        ptraceUnlink(x, data);
        return 0;
      }
      x.ptraceSyscalls = req === PTRACE_SYSCALL;
      ptraceResume(x, data);
      return 0;
    }
    default:
      // SINGLESTEP, SYSEMU, INTERRUPT, LISTEN, the seccomp and siginfo-queue requests: not offered.
      return -EIO;
  }
}

function fpregs(t: Task, x: Task, addr: number, len: number, set: boolean): number {
  const fp = new Uint8Array(FP_BYTES);
  if (!x.ctx?.getFpRegs(fp)) return -ESRCH;
  if (!set) return t.mm.write(addr, fp.subarray(0, len)) ? 0 : -EFAULT;
  const b = t.mm.read(addr, len);
  if (!b) return -EFAULT;
  fp.set(b);
  // mxcsr's reserved bits must stay clear, or the host refuses the state.
  const dv = new DataView(fp.buffer);
  dv.setUint32(24, dv.getUint32(24, true) & 0xffff, true);
  return x.ctx?.setFpRegs(fp) ? 0 : -EINVAL;
}

/** PTRACE_GETREGSET/SETREGSET: struct iovec at data; the general (NT_PRSTATUS) or FP registers. */
function regset(t: Task, x: Task, type: number, iovAddr: number, set: boolean): number {
  const base = t.mm.readU64(iovAddr);
  const len = t.mm.readU64(iovAddr + 8);
  if (base === null || len === null) return -EFAULT;
  const size = type === NT_PRSTATUS ? REGS_BYTES : type === NT_PRFPREG ? FP_BYTES : 0;
  if (size === 0) return -EINVAL;
  if (len % 8 !== 0) return -EINVAL;
  const n = Math.min(len, size);
  let r: number;
  if (type === NT_PRFPREG) r = fpregs(t, x, base, n, set);
  else if (!set) r = t.mm.write(base, tracedRegs(x).subarray(0, n)) ? 0 : -EFAULT;
  else {
    const b = t.mm.read(base, n);
    if (!b) return -EFAULT;
    const full = tracedRegs(x);
    full.set(b);
    r = setRegs(x, full);
  }
  if (r < 0) return r;
  return t.mm.writeU64(iovAddr + 8, n) ? 0 : -EFAULT;
}

export const sysPtrace = { ptrace };
