// ptrace between sandbox processes (Linux's kernel/ptrace.c, the part a debugger or a test harness
// uses): a tracer attaches (PTRACE_TRACEME, ATTACH, SEIZE); the tracee then stops instead of taking
// each signal (signal-delivery-stop), at syscall entry and exit (PTRACE_SYSCALL) and after exec; the
// tracer sees those stops with wait (no WUNTRACED needed), reads and writes the tracee's registers
// and memory while it is stopped, and resumes it, with a signal or none. The host is not involved:
// the tracee's host thread simply stays stopped in the sentry's own ptrace (docs/sentry.md).
//
// Not offered (the request fails with EIO, the option with EINVAL): single-stepping, the
// fork/clone/exit events and auto-attach of children, PTRACE_INTERRUPT/LISTEN, seccomp events.

import { SIGCHLD, SIGKILL, SIGSTOP } from '../abi/signals';
import { REG } from '../platform/registers';
import { sendSignalToGroup, sendSignalToTask } from './signals';
import { CLD_TRAPPED, SA_NOCLDSTOP, type SigInfo } from './signal-types';
import type { Task } from './task';

const SIGTRAP = 5;
const ENOSYS = 38;

export const PTRACE_O_TRACESYSGOOD = 0x1;
export const PTRACE_O_TRACEEXEC = 0x10;
export const PTRACE_O_EXITKILL = 0x100000;
export const PTRACE_EVENT_EXEC = 4;

export type PtraceStopKind = 'signal' | 'syscall-enter' | 'syscall-exit' | 'event';

export interface PtraceStop {
  kind: PtraceStopKind;
  /** What wait reports above 0x7f: the signal, and an event number << 8. */
  code: number;
  /** The signal being delivered (signal-delivery-stop) or the SIGTRAP of a syscall/event stop. */
  info: SigInfo;
  /** wait has reported it. */
  reported: boolean;
}

/** Make `tracer` trace `t` (TRACEME, ATTACH, SEIZE). */
export function ptraceLink(t: Task, tracer: Task, options: number): void {
  t.tracer = tracer;
  t.ptraceOptions = options;
  t.ptraceSyscalls = false;
  tracer.tracees.add(t);
}

/** Stop t for its tracer: it stays stopped until the tracer resumes (or detaches, or it is killed). */
export function ptraceStop(t: Task, kind: PtraceStopKind, code: number, info: SigInfo): void {
  t.ptraceStop = { kind, code, info, reported: false };
  t.state = 'stopped';
  const tracer = t.tracer;
  if (!tracer) return;
  const tg = tracer.tg;
  if (!tg.alive) return;
  // do_notify_parent_cldstop for the tracer: SIGCHLD (CLD_TRAPPED) unless SA_NOCLDSTOP.
  if (!(tg.handlers.actions[SIGCHLD].flags & SA_NOCLDSTOP)) {
    sendSignalToGroup(tg, { signo: SIGCHLD, code: CLD_TRAPPED, pid: t.tid, uid: t.creds.uid, status: code & 0x7f }, false);
  }
  tg.childEvents.notify();
}

/** A signal t is about to take: stop for the tracer instead (true), unless it already saw it. */
export function ptraceSignalStop(t: Task, info: SigInfo): boolean {
  if (!t.tracer || info.signo === SIGKILL) return false;
  if (info.ptraceSeen) return false;
  ptraceStop(t, 'signal', info.signo, info);
  return true;
}

/** Syscall-enter-stop (PTRACE_SYSCALL): the tracer sees orig_rax = the number and rax = -ENOSYS. */
export function ptraceSyscallEnter(t: Task): boolean {
  if (!t.tracer || !t.ptraceSyscalls || t.ptraceEntered) return false;
  t.ptraceEntered = true;
  t.retval = -ENOSYS;
  ptraceStop(t, 'syscall-enter', syscallTrap(t), { signo: SIGTRAP, code: syscallTrap(t) });
  return true;
}

/** Syscall-exit-stop: the tracer sees the result in rax (and may change it). */
export function ptraceSyscallExit(t: Task): boolean {
  const entered = t.ptraceEntered;
  t.ptraceEntered = false;
  if (!t.tracer || !t.ptraceSyscalls || !entered) return false;
  ptraceStop(t, 'syscall-exit', syscallTrap(t), { signo: SIGTRAP, code: syscallTrap(t) });
  return true;
}

function syscallTrap(t: Task): number {
  return t.ptraceOptions & PTRACE_O_TRACESYSGOOD ? SIGTRAP | 0x80 : SIGTRAP;
}

/** After a successful execve of a traced task: the exec event stop, or the legacy SIGTRAP. */
export function ptraceExec(t: Task, oldTid: number): void {
  if (!t.tracer || t.state === 'dead') return;
  if (t.ptraceOptions & PTRACE_O_TRACEEXEC) {
    t.ptraceEventMsg = oldTid;
    t.inSyscall = true;
    ptraceStop(t, 'event', SIGTRAP | (PTRACE_EVENT_EXEC << 8), { signo: SIGTRAP, code: SIGTRAP | (PTRACE_EVENT_EXEC << 8) });
  } else {
    sendSignalToTask(t, { signo: SIGTRAP, code: 0, pid: 0, uid: 0 });
  }
}

/**
 * Resume a ptrace-stopped tracee (PTRACE_CONT, SYSCALL, DETACH): `sig` (0 for none) is the signal
 * it then takes — the one it stopped for, or another — without stopping for it again.
 */
export function ptraceResume(t: Task, sig: number): void {
  const stop = t.ptraceStop;
  if (!stop) return;
  t.ptraceStop = undefined;
  if (sig !== 0) {
    if (stop.kind === 'signal') {
      const info = sig === stop.info.signo ? stop.info : { signo: sig, code: 0, pid: t.tracer?.tg.tgid ?? 0, uid: t.tracer?.creds.uid ?? 0 };
      t.pending.unshift({ ...info, ptraceSeen: true });
    } else {
      // After a syscall or event stop the signal is sent as by kill (ptrace_report_syscall).
      sendSignalToTask(t, { signo: sig, code: 0, pid: 0, uid: 0 });
    }
  }
  if (t.state !== 'stopped') return;
  // At syscall entry, resuming runs the syscall (as the tracer may have changed it).
  t.kernel.makeReady(t, stop.kind === 'syscall-enter');
}

/** Stop tracing t (PTRACE_DETACH, the tracer's exit); a stopped tracee runs again with sig. */
export function ptraceUnlink(t: Task, sig: number): void {
  const tracer = t.tracer;
  if (!tracer) return;
  tracer.tracees.delete(t);
  const wasStopped = t.ptraceStop !== undefined;
  ptraceResume(t, sig);
  t.tracer = undefined;
  t.ptraceOptions = 0;
  t.ptraceSyscalls = false;
  t.ptraceEntered = false;
  // Detached inside a group stop: it stays stopped with its group.
  if (wasStopped && t.tg.stopped && t.state === 'ready') t.state = 'stopped';
  tracer.tg.childEvents.notify();
}

/** The tracer exits: its tracees go free (or die with it, PTRACE_O_EXITKILL). */
export function ptraceTracerExit(tracer: Task): void {
  for (const t of [...tracer.tracees]) {
    const kill = t.ptraceOptions & PTRACE_O_EXITKILL;
    ptraceUnlink(t, 0);
    if (kill) sendSignalToTask(t, { signo: SIGKILL, code: 0, pid: 0, uid: 0 });
  }
}

/** The tracee exits: the tracer no longer has it (and a wait for it learns so). */
export function ptraceTraceeExit(t: Task): void {
  const tracer = t.tracer;
  if (!tracer) return;
  if (t === t.tg.leader && tracer.tg === t.tg.parent) t.tg.tracedAtExit = true;
  tracer.tracees.delete(t);
  t.tracer = undefined;
  t.ptraceStop = undefined;
  tracer.tg.childEvents.notify();
}

/** The registers as the tracer sees them: in a syscall, rax is its result so far. */
export function tracedRegs(t: Task): Uint8Array {
  const r = t.regs.clone();
  if (t.inSyscall) r.set(REG.rax, t.retval);
  return r.buffer;
}

/** What PTRACE_ATTACH starts with: SIGSTOP to the process (or a stop already there, reported). */
export function ptraceAttachStop(t: Task): void {
  if (t.tg.stopped && t.state === 'stopped') {
    ptraceStop(t, 'signal', SIGSTOP, { signo: SIGSTOP, code: 0 });
    return;
  }
  const info = { signo: SIGSTOP, code: 0, pid: t.tracer?.tg.tgid ?? 0, uid: t.tracer?.creds.uid ?? 0 };
  // The kernel's own SIGSTOP (SEND_SIG_PRIV): the sandbox's init takes it too, as from outside.
  if (t.tg === (t.tg.pidns?.init ?? t.kernel.init)) sendSignalToGroup(t.tg, info, true);
  else sendSignalToTask(t, info);
}
