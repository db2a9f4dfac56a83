// Signals: sending (kill, tgkill, faults, the host), and delivery — default actions, or a frame
// on the application's stack and its handler run, undone by rt_sigreturn.

import { EINTR, ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS } from '../abi/errno';
import { SIGCHLD, SIGCONT, SIGKILL, SIGPIPE, SIGSTOP } from '../abi/signals';
import { REG } from '../platform/registers';
import { killThreadGroup } from './exit';
import { ptraceSignalStop } from './ptrace';
import {
  CLD_CONTINUED, CLD_STOPPED, defaultCore, defaultIgnored, encodeSigInfo, isStopSignal, SA_NOCLDSTOP, SA_NODEFER,
  SA_ONSTACK, SA_RESETHAND, SA_RESTART, SA_SIGINFO, SI_USER, SIG_DFL, SIG_IGN, sigbit, UNBLOCKABLE, type SigInfo,
} from './signal-types';
import type { Task, ThreadGroup } from './task';

const SS_ONSTACK = 1;
const SS_DISABLE = 2;
const FRAME_SIZE = 8 + 304 + 128; // pretcode, ucontext, siginfo
const FP_SIZE = 512;

function ignored(tg: ThreadGroup, sig: number): boolean {
  const a = tg.handlers.actions[sig];
  return a.handler === SIG_IGN || (a.handler === SIG_DFL && defaultIgnored(sig));
}

/** Whether pid 1 of the container takes this signal (it has no default actions, like Linux's init). */
function initTakes(tg: ThreadGroup, sig: number, fromOutside: boolean, target: Task = tg.leader): boolean {
  if (tg !== (tg.pidns?.init ?? tg.leader.kernel.init)) return true; // its PID namespace's init
  if (sig === SIGKILL || sig === SIGSTOP) return fromOutside;
  // A blocked signal is queued even for init (Linux's sig_ignored looks at the mask first): it may
  // be taken by sigwait or a signalfd; delivered with the default action, it is dropped.
  // As Linux's sig_ignored, "blocked" includes the mask a sigtimedwait had before it unblocked
  // the signals it waits for (real_blocked): init waiting in sigtimedwait takes them.
  const bit = sigbit(sig);
  const blocked = (target.sigmask & bit) !== 0n || (target.wakeOnSignal && ((target.savedMask ?? 0n) & bit) !== 0n);
  return tg.handlers.actions[sig].handler !== SIG_DFL || blocked;
}

/** A signal init took only because it was blocked (its action is the default): marked, to drop at delivery. */
function markInit(tg: ThreadGroup, info: SigInfo): SigInfo {
  if (tg !== (tg.pidns?.init ?? tg.leader.kernel.init) || info.signo === SIGKILL || info.signo === SIGSTOP || tg.handlers.actions[info.signo].handler !== SIG_DFL) return info;
  return { ...info, toInitBlocked: true };
}

/** Make a task see a newly pending signal: interrupt its parked syscall, or stop it on the host. */
function notifyTask(t: Task): void {
  if (t.state === 'blocked') t.kernel.interrupt(t);
  else if (t.state === 'running') t.ctx?.interrupt();
}

function pickTarget(tg: ThreadGroup, sig: number): Task | undefined {
  const bit = sigbit(sig);
  let fallback: Task | undefined;
  for (const t of tg.tasks) {
    if (t.state === 'dead') continue;
    if ((t.sigmask & bit) === 0n) {
      if (t.state === 'blocked') return t;
      fallback ??= t;
    }
  }
  return fallback;
}

function continueGroup(tg: ThreadGroup): void {
  tg.pending.splice(0, tg.pending.length, ...tg.pending.filter((s) => !isStopSignal(s.signo)));
  for (const t of tg.tasks) t.pending.splice(0, t.pending.length, ...t.pending.filter((s) => !isStopSignal(s.signo)));
  if (!tg.stopped) return;
  tg.stopped = false;
  tg.reportContinue = true;
  tg.reportStop = false;
  // A tracee in a ptrace-stop stays there: only its tracer resumes it.
  for (const t of tg.tasks) if (t.state === 'stopped' && !t.ptraceStop) t.kernel.makeReady(t, false);
  notifyParent(tg, CLD_CONTINUED, SIGCONT);
}

function notifyParent(tg: ThreadGroup, code: number, status: number): void {
  const parent = tg.parent;
  if (!parent || !parent.alive) return;
  const a = parent.handlers.actions[SIGCHLD];
  if (!(a.flags & SA_NOCLDSTOP) || (code !== CLD_STOPPED && code !== CLD_CONTINUED)) {
    sendSignalToGroup(parent, { signo: SIGCHLD, code, pid: tg.tgid, uid: tg.leader.creds.uid, status }, false);
  }
  parent.childEvents.notify();
}

/** kill(2) and the host: a signal to a whole thread group. */
export function sendSignalToGroup(tg: ThreadGroup, info: SigInfo, fromOutside = false): void {
  const sig = info.signo;
  if (sig === 0 || !tg.alive || tg.exiting !== undefined) return;
  if (!initTakes(tg, sig, fromOutside)) return;
  if (sig === SIGKILL) {
    killThreadGroup(tg, SIGKILL);
    return;
  }
  if (sig === SIGCONT) continueGroup(tg);
  if (isStopSignal(sig)) {
    tg.pending.splice(0, tg.pending.length, ...tg.pending.filter((s) => s.signo !== SIGCONT));
  }
  const bit = sigbit(sig);
  const allBlock = [...tg.tasks].every((t) => (t.sigmask & bit) !== 0n);
  if (ignored(tg, sig) && !allBlock) return;
  // A timer's signal is queued even when the same legacy signal is pending (Linux's send_sigqueue).
  if (sig < 32 && info.timerId === undefined && tg.pending.some((s) => s.signo === sig)) return;
  tg.pending.push(markInit(tg, info));
  tg.signalQueue.notify();
  const t = pickTarget(tg, sig);
  if (t) notifyTask(t);
}

/** SIGPIPE to a task whose write found no reader (a pipe, a shut-down stream socket), as Linux sends it. */
export function sendSigpipe(t: Task): void {
  sendSignalToTask(t, { signo: SIGPIPE, code: SI_USER, pid: t.pid, uid: t.creds.uid });
}

/** tgkill/tkill: a signal to one task. */
export function sendSignalToTask(t: Task, info: SigInfo): void {
  const sig = info.signo;
  const tg = t.tg;
  if (sig === 0 || t.state === 'dead' || tg.exiting !== undefined) return;
  if (!initTakes(tg, sig, false, t)) return;
  if (sig === SIGKILL) {
    killThreadGroup(tg, SIGKILL);
    return;
  }
  if (sig === SIGCONT) continueGroup(tg);
  if (ignored(tg, sig) && (t.sigmask & sigbit(sig)) === 0n) return;
  if (sig < 32 && info.timerId === undefined && t.pending.some((s) => s.signo === sig)) return;
  t.pending.push(markInit(tg, info));
  tg.signalQueue.notify();
  if ((t.sigmask & sigbit(sig)) === 0n) notifyTask(t);
}

/** A synchronous fault on the host (SIGSEGV, SIGILL, …): forced on the task, like force_sig. */
export function faultSignal(t: Task, sig: number, code = 1, addr = 0): void {
  const a = t.tg.handlers.actions[sig];
  if (a.handler === SIG_IGN || (t.sigmask & sigbit(sig)) !== 0n) {
    a.handler = SIG_DFL;
    t.sigmask &= ~sigbit(sig);
  }
  t.pending.unshift({ signo: sig, code, addr });
}

/** execve: handled signals go back to their default action; ignored ones stay ignored. */
export function resetHandlersForExec(t: Task): void {
  const tg = t.tg;
  if (tg.tasks.size > 1 || tg.handlers !== undefined) tg.handlers = tg.handlers.clone();
  for (let i = 1; i <= 64; i++) {
    const a = tg.handlers.actions[i];
    if (a.handler !== SIG_IGN) tg.handlers.actions[i] = { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n };
    else a.flags = 0;
  }
}

function takeSignal(t: Task): SigInfo | undefined {
  const m = t.sigmask;
  for (let i = 0; i < t.pending.length; i++) {
    if ((sigbit(t.pending[i].signo) & m) === 0n) return t.pending.splice(i, 1)[0];
  }
  const p = t.tg.pending;
  for (let i = 0; i < p.length; i++) {
    if ((sigbit(p[i].signo) & m) === 0n) return p.splice(i, 1)[0];
  }
  return undefined;
}

/** Go back to the syscall instruction so the application makes the same call again. */
function restartSyscall(t: Task): void {
  t.regs.set(REG.rip, t.regs.get(REG.rip) - 2);
  t.regs.set(REG.rax, t.regs.get(REG.orig_rax));
  t.fullRegs = true;
  t.retval = t.regs.getSigned(REG.orig_rax);
}

/** Before t returns to the application: act on its pending signals. */
export function deliverSignals(t: Task): void {
  const restartable = t.inSyscall && (t.retval === -ERESTARTSYS || t.retval === -ERESTARTNOHAND || t.retval === -ERESTARTNOINTR);
  for (;;) {
    if (!t.hasDeliverableSignal()) break;
    const info = takeSignal(t);
    if (!info) break;
    // Traced: the tracer decides first (signal-delivery-stop); it resumes t with this signal or another.
    if (ptraceSignalStop(t, info)) return;
    const sig = info.signo;
    const tg = t.tg;
    const a = tg.handlers.actions[sig];
    if (a.handler === SIG_IGN) continue;
    if (a.handler === SIG_DFL) {
      if (defaultIgnored(sig)) continue;
      // Queued to init while blocked, now unblocked: init is not killed by its own signals.
      if (info.toInitBlocked) continue;
      if (isStopSignal(sig)) {
        if (!tg.stopped) {
          tg.stopped = true;
          tg.stopSignal = sig;
          tg.reportStop = true;
          tg.reportContinue = false;
          notifyParent(tg, CLD_STOPPED, sig);
        }
        if (restartable) restartSyscall(t);
        t.state = 'stopped';
        return;
      }
      killThreadGroup(tg, sig | (defaultCore(sig) ? 0x80 : 0));
      return;
    }
    // A handler: the syscall it interrupted returns EINTR or is restarted after it.
    if (restartable) {
      // ERESTARTNOINTR (a PI lock) restarts whatever the handler's flags.
      if (t.retval === -ERESTARTNOINTR || (t.retval === -ERESTARTSYS && a.flags & SA_RESTART)) restartSyscall(t);
      else t.retval = -EINTR;
    }
    if (t.inSyscall) t.regs.set(REG.rax, t.retval);
    const oldMask = t.savedMask ?? t.sigmask;
    t.savedMask = undefined;
    if (!setupFrame(t, sig, info, oldMask)) {
      t.kernel.opts.tracer?.log(`[${t.tid}] --- no room for a signal frame at 0x${t.regs.get(REG.rsp).toString(16)}: SIGSEGV ---`);
      killThreadGroup(tg, 11 | 0x80); // SIGSEGV: no room for the frame
      return;
    }
    t.sigmask |= a.mask | (a.flags & SA_NODEFER ? 0n : sigbit(sig));
    t.sigmask &= ~UNBLOCKABLE;
    if (a.flags & SA_RESETHAND) tg.handlers.actions[sig] = { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n };
    return;
  }
  if (restartable) restartSyscall(t);
  if (t.savedMask !== undefined) {
    t.sigmask = t.savedMask;
    t.savedMask = undefined;
  }
}

function onAltStack(t: Task, sp: number): boolean {
  return t.altStack.size > 0 && sp > t.altStack.sp && sp <= t.altStack.sp + t.altStack.size;
}

function writeU64(b: DataView, off: number, v: number): void {
  if (v < 0) b.setBigInt64(off, BigInt(v), true);
  else {
    b.setUint32(off, v % 0x1_0000_0000, true);
    b.setUint32(off + 4, Math.floor(v / 0x1_0000_0000), true);
  }
}

// sigcontext register order (struct sigcontext, x86-64).
const SC_REGS = [REG.r8, REG.r9, REG.r10, REG.r11, REG.r12, REG.r13, REG.r14, REG.r15, REG.rdi, REG.rsi, REG.rbp, REG.rbx, REG.rdx, REG.rax, REG.rcx, REG.rsp, REG.rip, REG.eflags];

function setupFrame(t: Task, sig: number, info: SigInfo, oldMask: bigint): boolean {
  const a = t.tg.handlers.actions[sig];
  const regs = t.regs;
  let sp = regs.get(REG.rsp);
  const wasOnStack = onAltStack(t, sp);
  const entering = a.flags & SA_ONSTACK && t.altStack.size > 0 && !(t.altStack.flags & SS_DISABLE) && !wasOnStack;
  if (entering) {
    sp = t.altStack.sp + t.altStack.size;
  } else {
    sp -= 128; // red zone
  }
  const fpAddr = Math.floor((sp - FP_SIZE) / 64) * 64;
  const fp = new Uint8Array(FP_SIZE);
  t.ctx?.getFpRegs(fp);
  const frame = Math.floor((fpAddr - FRAME_SIZE) / 16) * 16 - 8;
  // A frame that would leave the alternate stack it is on (a handler that walked off its bottom):
  // no frame, the signal is forced (SIGSEGV), as Linux's get_sigframe does.
  if ((entering || wasOnStack) && frame < t.altStack.sp) return false;
  const buf = new Uint8Array(FRAME_SIZE);
  const dv = new DataView(buf.buffer);
  writeU64(dv, 0, a.restorer);
  // ucontext at 8: flags, link, stack (sp, flags, size), mcontext (256), sigmask.
  writeU64(dv, 8, 0);
  writeU64(dv, 16, 0);
  writeU64(dv, 24, t.altStack.sp);
  dv.setInt32(32, t.altStack.size === 0 ? SS_DISABLE : wasOnStack ? SS_ONSTACK : t.altStack.flags & SS_DISABLE, true);
  writeU64(dv, 40, t.altStack.size);
  const mc = 48;
  SC_REGS.forEach((r, i) => writeU64(dv, mc + i * 8, regs.getSigned(r)));
  dv.setUint16(mc + 144, regs.get(REG.cs), true);
  dv.setUint16(mc + 150, regs.get(REG.ss), true);
  writeU64(dv, mc + 160, 14);
  writeU64(dv, mc + 168, Number(oldMask & 0xffffffffn));
  writeU64(dv, mc + 176, info.addr ?? 0);
  writeU64(dv, mc + 184, fpAddr);
  dv.setBigUint64(8 + 296, oldMask, true);
  buf.set(encodeSigInfo(info), 8 + 304);
  const mm = t.mm;
  if (!mm.write(fpAddr, fp) || !mm.write(frame, buf)) return false;
  regs.set(REG.rsp, frame);
  regs.set(REG.rip, a.handler);
  regs.set(REG.rdi, sig);
  regs.set(REG.rsi, a.flags & SA_SIGINFO ? frame + 8 + 304 : 0);
  regs.set(REG.rdx, a.flags & SA_SIGINFO ? frame + 8 : 0);
  regs.set(REG.rax, 0);
  regs.set(REG.orig_rax, -1);
  regs.set(REG.eflags, regs.get(REG.eflags) & ~0x40500); // clear TF, DF, AC
  t.fullRegs = true;
  t.inSyscall = false;
  return true;
}

/** rt_sigreturn: the registers, mask and FP state the frame saved. */
export function sigreturn(t: Task): number {
  const mm = t.mm;
  const frame = t.regs.get(REG.rsp) - 8;
  const uc = mm.read(frame + 8, 304);
  if (!uc) {
    killThreadGroup(t.tg, 11 | 0x80);
    return 0;
  }
  const dv = new DataView(uc.buffer);
  const mc = 40;
  const regs = t.regs;
  SC_REGS.forEach((r, i) => {
    const v = dv.getBigInt64(mc + i * 8, true);
    regs.set(r, Number(v));
  });
  // Only the flags user space may change (as the kernel's FIX_EFLAGS).
  const eflags = Number(dv.getBigUint64(mc + 136, true) & 0x40dd5n) | 0x202;
  regs.set(REG.eflags, eflags);
  regs.set(REG.orig_rax, -1);
  const fpAddr = Number(dv.getBigUint64(mc + 184, true));
  if (fpAddr) {
    const fp = mm.read(fpAddr, FP_SIZE);
    if (fp) {
      // mxcsr reserved bits must be clear or the host refuses the state.
      const fdv = new DataView(fp.buffer);
      fdv.setUint32(24, fdv.getUint32(24, true) & 0xffff, true);
      t.ctx?.setFpRegs(fp);
    }
  }
  t.sigmask = dv.getBigUint64(296, true) & ~UNBLOCKABLE;
  // sigaltstack restore.
  // uc_stack: ss_sp at 16, ss_flags at 24, ss_size at 32 of the ucontext.
  const ssp = Number(dv.getBigUint64(16, true));
  const sflags = dv.getInt32(24, true);
  const ssize = Number(dv.getBigUint64(32, true));
  if (!onAltStack(t, regs.get(REG.rsp))) t.altStack = { sp: ssp, size: sflags & SS_DISABLE ? 0 : ssize, flags: sflags & SS_DISABLE };
  t.fullRegs = true;
  return regs.getSigned(REG.rax);
}
