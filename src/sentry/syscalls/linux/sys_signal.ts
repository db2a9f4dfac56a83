// Signals: actions, masks, the alternate stack, rt_sigreturn, waiting for signals.

import { EAGAIN, EFAULT, EINVAL, ENOMEM, EPERM, ESRCH } from '../../abi/errno';
import { SIGKILL, SIGSTOP } from '../../abi/signals';
import { sendSignalToGroup, sendSignalToTask, sigreturn } from '../../kernel/signals';
import { sigbit, UNBLOCKABLE, encodeSigInfo, type SigInfo } from '../../kernel/signal-types';
import type { Task } from '../../kernel/task';
import { mayKill } from '../../kernel/creds';

const SIG_BLOCK = 0;
const SIG_UNBLOCK = 1;
const SIG_SETMASK = 2;
const SS_ONSTACK = 1;
const SS_DISABLE = 2;
const MINSIGSTKSZ = 2048;

function readSet(t: Task, addr: number): bigint | null {
  const b = t.mm.read(addr, 8);
  return b ? new DataView(b.buffer).getBigUint64(0, true) : null;
}

function writeSet(t: Task, addr: number, set: bigint): boolean {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, set & ((1n << 64n) - 1n), true);
  return t.mm.write(addr, b);
}

function rtSigaction(t: Task): number {
  const sig = t.argInt(0);
  const act = t.arg(1);
  const oact = t.arg(2);
  if (t.arg(3) !== 8) return -EINVAL;
  if (sig < 1 || sig > 64) return -EINVAL;
  const actions = t.tg.handlers.actions;
  const old = actions[sig];
  let next = old;
  if (act) {
    if (sig === SIGKILL || sig === SIGSTOP) return -EINVAL;
    const b = t.mm.read(act, 32);
    if (!b) return -EFAULT;
    const dv = new DataView(b.buffer);
    next = {
      handler: Number(dv.getBigUint64(0, true)),
      flags: dv.getUint32(8, true),
      restorer: Number(dv.getBigUint64(16, true)),
      mask: dv.getBigUint64(24, true) & ~UNBLOCKABLE,
    };
  }
  if (oact) {
    const b = new Uint8Array(32);
    const dv = new DataView(b.buffer);
    dv.setBigUint64(0, BigInt(old.handler), true);
    dv.setBigUint64(8, BigInt(old.flags >>> 0), true);
    dv.setBigUint64(16, BigInt(old.restorer), true);
    dv.setBigUint64(24, old.mask, true);
    if (!t.mm.write(oact, b)) return -EFAULT;
  }
  if (act) {
    actions[sig] = next;
    // Setting SIG_IGN (or a default of ignore) discards what is pending (POSIX).
    if (next.handler === 1) {
      const drop = (q: SigInfo[]) => q.splice(0, q.length, ...q.filter((s) => s.signo !== sig));
      drop(t.tg.pending);
      for (const x of t.tg.tasks) drop(x.pending);
    }
  }
  return 0;
}

function rtSigprocmask(t: Task): number {
  const how = t.argInt(0);
  const set = t.arg(1);
  const oset = t.arg(2);
  if (t.arg(3) !== 8) return -EINVAL;
  const old = t.sigmask;
  if (set) {
    const s = readSet(t, set);
    if (s === null) return -EFAULT;
    if (how === SIG_BLOCK) t.sigmask |= s;
    else if (how === SIG_UNBLOCK) t.sigmask &= ~s;
    else if (how === SIG_SETMASK) t.sigmask = s;
    else return -EINVAL;
    t.sigmask &= ~UNBLOCKABLE;
  }
  if (oset && !writeSet(t, oset, old)) return -EFAULT;
  return 0;
}

function sigaltstack(t: Task): number {
  const ss = t.arg(0);
  const oss = t.arg(1);
  const sp = t.regs.get(19);
  const on = t.altStack.size > 0 && sp > t.altStack.sp && sp <= t.altStack.sp + t.altStack.size;
  if (oss) {
    const b = new Uint8Array(24);
    const dv = new DataView(b.buffer);
    dv.setBigUint64(0, BigInt(t.altStack.sp), true);
    dv.setInt32(8, on ? SS_ONSTACK : t.altStack.size === 0 ? SS_DISABLE : 0, true);
    dv.setBigUint64(16, BigInt(t.altStack.size), true);
    if (!t.mm.write(oss, b)) return -EFAULT;
  }
  if (ss) {
    if (on) return -EPERM;
    const b = t.mm.read(ss, 24);
    if (!b) return -EFAULT;
    const dv = new DataView(b.buffer);
    const flags = dv.getInt32(8, true);
    if (flags & ~(SS_DISABLE | 0x80000000)) return -EINVAL;
    if (flags & SS_DISABLE) t.altStack = { sp: 0, size: 0, flags: SS_DISABLE };
    else {
      const size = Number(dv.getBigUint64(16, true));
      if (size < MINSIGSTKSZ) return -ENOMEM;
      t.altStack = { sp: Number(dv.getBigUint64(0, true)), size, flags: 0 };
    }
  }
  return 0;
}

function pendingSet(t: Task): bigint {
  let s = 0n;
  for (const p of t.pending) s |= sigbit(p.signo);
  for (const p of t.tg.pending) s |= sigbit(p.signo);
  return s;
}

function rtSigsuspend(t: Task): number {
  if (t.blockState === undefined) {
    const m = readSet(t, t.arg(0));
    if (m === null) return -EFAULT;
    t.savedMask = t.sigmask;
    t.sigmask = m & ~UNBLOCKABLE;
    t.blockState = { suspended: true };
  }
  // Returns only through a handler: -EINTR once a signal interrupts it.
  t.interruptResult = -514; // ERESTARTNOHAND
  return t.block([], Infinity, t.blockState);
}

function rtSigtimedwait(t: Task): number {
  const set = readSet(t, t.arg(0));
  if (set === null) return -EFAULT;
  const want = set & ~UNBLOCKABLE;
  const take = (q: SigInfo[]): SigInfo | undefined => {
    const i = q.findIndex((s) => (sigbit(s.signo) & want) !== 0n);
    return i >= 0 ? q.splice(i, 1)[0] : undefined;
  };
  const got = take(t.pending) ?? take(t.tg.pending);
  if (got) {
    if (t.arg(1) && !t.mm.write(t.arg(1), encodeSigInfo(got))) return -EFAULT;
    return got.signo;
  }
  if (t.timedOut) return -EAGAIN;
  let st = t.blockState as { deadline: number; oldMask: bigint } | undefined;
  if (!st) {
    let deadline = Infinity;
    if (t.arg(2)) {
      const ts = t.mm.read(t.arg(2), 16);
      if (!ts) return -EFAULT;
      const dv = new DataView(ts.buffer);
      deadline = performance.now() + Number(dv.getBigInt64(0, true)) * 1000 + Number(dv.getBigInt64(8, true)) / 1e6;
      if (deadline <= performance.now()) return -EAGAIN;
    }
    st = { deadline, oldMask: t.sigmask };
    // Waited-for signals must reach this task: unblock them while it waits (the kernel does the same).
    t.savedMask = t.sigmask;
  }
  t.sigmask = st.oldMask & ~want;
  t.wakeOnSignal = true;
  const r = t.block([], st.deadline, st);
  return r;
}

/** rt_sigqueueinfo/rt_tgsigqueueinfo: a signal with a value (sigqueue(3)); only SI_QUEUE-style codes from user space. */
function sigqueue(t: Task, tgid: number, tid: number, sig: number, infoAddr: number): number {
  if (sig < 1 || sig > 64) return -EINVAL;
  const b = t.mm.read(infoAddr, 128);
  if (!b) return -EFAULT;
  const dv = new DataView(b.buffer);
  const code = dv.getInt32(8, true);
  if (code >= 0 || code === -6 /* SI_TKILL */) return -EPERM;
  const info = { signo: sig, code, pid: t.pid, uid: t.creds.uid, value: Number(dv.getBigInt64(24, true)) };
  if (tid > 0) {
    const target = t.pidns.tasks.get(tid);
    if (!target || target.state === 'dead' || target.tg.tgid !== tgid) return -ESRCH;
    const perm = mayKill(t, target, sig);
    if (perm < 0) return perm;
    sendSignalToTask(target, info);
    return 0;
  }
  const tg = t.pidns.groups.get(tgid);
  if (!tg || !tg.alive) return -ESRCH;
  const perm = mayKill(t, tg.leader, sig);
  if (perm < 0) return perm;
  sendSignalToGroup(tg, info);
  return 0;
}

export const sysSignal = {
  rt_sigaction: rtSigaction,
  rt_sigprocmask: rtSigprocmask,
  rt_sigreturn: (t: Task) => sigreturn(t),
  sigaltstack,
  rt_sigpending: (t: Task) => (writeSet(t, t.arg(0), pendingSet(t) & t.sigmask) ? 0 : -EFAULT),
  rt_sigsuspend: rtSigsuspend,
  pause: (t: Task) => {
    t.interruptResult = -514; // ERESTARTNOHAND
    return t.block([], Infinity, { paused: true });
  },
  rt_sigtimedwait: rtSigtimedwait,
  rt_sigqueueinfo: (t: Task) => sigqueue(t, t.argInt(0), 0, t.argInt(1), t.arg(2)),
  rt_tgsigqueueinfo: (t: Task) => sigqueue(t, t.argInt(0), t.argInt(1), t.argInt(2), t.arg(3)),
};

