// Leaving: a task's exit, a thread group's end (zombie until its parent reaps it), orphans
// going to init, and the host side — the task's host thread, and the stub once no task uses it.

import { SIGCHLD } from '../abi/signals';
import type { MemoryManager } from '../mm/mm';
import { chargeHostThread, nsToTicks } from './cputime';
import { deleteAllTimers } from './posix-timers';
import { ipcNamespaceIfAny } from '../ipc';
import { exitRobustList, futexKey, futexWake } from './futex';
import { piOwnerExited } from './futex-pi';
import { CLD_DUMPED, CLD_EXITED, CLD_KILLED, SA_NOCLDWAIT, SI_USER, SIG_IGN } from './signal-types';
import { sendSignalToGroup } from './signals';
import { ptraceTraceeExit, ptraceTracerExit } from './ptrace';
import type { Task, ThreadGroup } from './task';

/** Drop a task's hold on its address space: its host side goes with its last user. */
export function releaseAddressSpace(t: Task, mm: MemoryManager, hostThreadStopped: boolean): void {
  const k = t.kernel;
  mm.users--;
  if (mm.as === undefined) {
    // Never had a host side (a process between its creation and its first exec).
    if (mm.users <= 0) mm.destroy();
    return;
  }
  k.byHost.delete(t.hostTid);
  if (mm.users <= 0) {
    mm.as.release();
    mm.destroy();
    return;
  }
  // Others still use it: end only this host thread (the platform keeps what it must, as ptrace
  // keeps the stub's first thread, stopped until the stub goes).
  if (hostThreadStopped) t.ctx?.release();
}

/** Exit one task with a wait status (code << 8, or a signal number). */
export function exitTask(t: Task, status: number): void {
  if (t.state === 'dead') return;
  const k = t.kernel;
  const wasRunning = t.state === 'running';
  chargeHostThread(t);
  t.tg.deadCpuNs += t.cpuBaseNs;
  for (const k of ['rchar', 'wchar', 'syscr', 'syscw'] as const) t.tg.deadIo[k] += t.io[k];
  t.unblock();
  t.dropBlockState();
  t.state = 'dead';
  k.forget(t);
  ptraceTraceeExit(t);
  ptraceTracerExit(t);
  const tg = t.tg;
  const mm = t.mm;
  exitRobustList(t);
  piOwnerExited(t);

  if (t.clearChildTid && mm.users > 1) {
    mm.writeU32(t.clearChildTid, 0);
    futexWake(k, futexKey(mm, t.clearChildTid, true), 1, 0xffffffff);
  }
  tg.tasks.delete(t);
  t.pidns.tasks.delete(t.tid);
  parentThreadExited(t);
  releaseAddressSpace(t, mm, !wasRunning);
  t.files.release();
  t.fs.release();
  if (t.vforkParent) {
    tg.vforkDone.notify();
    t.vforkParent = undefined;
  }
  if (tg.tasks.size === 0) groupExited(tg, tg.exiting ?? status);
  else if (t === tg.leader) t.pidns.tasks.set(t.tid, t); // the leader's id stays until the group ends
}

/**
 * The thread that forked some children has gone (forget_original_parent): each child whose thread
 * asked for it (prctl PR_SET_PDEATHSIG) gets its parent-death signal, and the children's parent
 * thread becomes another live thread of the group (or none, once the group is gone).
 */
function parentThreadExited(t: Task): void {
  const heir = [...t.tg.tasks].find((u) => u.state !== 'dead');
  for (const c of t.tg.children) {
    if (c.parentTask !== t) continue;
    c.parentTask = heir;
    if (heir) c.parentThread = heir.tid;
    if (!c.alive) continue;
    for (const u of c.tasks) {
      if (u.pdeathSignal > 0 && u.state !== 'dead') sendSignalToGroup(c, { signo: u.pdeathSignal, code: SI_USER, pid: 0, uid: 0 });
    }
  }
}

/** exit_group, a fatal signal: every task of the group leaves with this status. */
export function killThreadGroup(tg: ThreadGroup, status: number): void {
  if (tg.exiting !== undefined || !tg.alive) return;
  tg.exiting = status;
  for (const t of [...tg.tasks]) exitTask(t, status);
}

/** execve in a multi-threaded group: the other threads vanish without a trace. */
export function exitThreadForExec(other: Task): void {
  const k = other.kernel;
  const wasRunning = other.state === 'running';
  chargeHostThread(other);
  other.tg.deadCpuNs += other.cpuBaseNs;
  other.unblock();
  other.dropBlockState();
  other.state = 'dead';
  k.forget(other);
  ptraceTraceeExit(other);
  ptraceTracerExit(other);
  exitRobustList(other);
  piOwnerExited(other);
  other.tg.tasks.delete(other);
  other.pidns.tasks.delete(other.tid);
  releaseAddressSpace(other, other.mm, !wasRunning);
  other.files.release();
  other.fs.release();
}

/** After a successful exec: the task now lives in mm's stub. */
export function switchAddressSpace(t: Task, mm: MemoryManager): void {
  const old = t.mm;
  mm.users++;
  releaseAddressSpace(t, old, true);
  t.mm = mm;
  t.ctx = mm.as?.main;
  t.kernel.byHost.set(t.hostTid, t);
}

function groupExited(tg: ThreadGroup, status: number): void {
  const k = tg.leader.kernel;
  tg.exitStatus = status;
  // Its container's CPU time keeps it (container-stats.ts): every task of it is dead, charged here.
  if (tg.container) tg.container.exitedCpuNs += tg.deadCpuNs;
  deleteAllTimers(tg);
  // Its SEM_UNDO adjustments apply (exit_sem).
  ipcNamespaceIfAny(k)?.sem.exit(tg, tg.tgid);
  tg.pidns.tasks.delete(tg.tgid);
  if (tg === k.init) {
    k.initExited(status);
    return;
  }
  // Orphans go to their PID namespace's init; a dying namespace's (its init is what exits) to the
  // sandbox's, which reaps them once they are killed (control.ts ends such a container).
  const nsInit = tg.pidns.init;
  const init = nsInit && nsInit !== tg && nsInit.alive ? nsInit : k.init;
  for (const c of tg.children) {
    c.parent = init;
    c.parentTask = undefined;
    if (init) {
      c.parentThread = init.tgid;
      init.children.add(c);
      if (!c.alive) init.childEvents.notify();
    }
  }
  tg.children.clear();
  const parent = tg.parent;
  if (!parent) {
    // Started by `moat exec`: nobody in the sandbox waits for it.
    k.onOrphanExit?.(tg, status);
    reap(tg);
    return;
  }
  const a = parent.handlers.actions[SIGCHLD];
  if (tg.exitSignal === SIGCHLD && (a.handler === SIG_IGN || a.flags & SA_NOCLDWAIT)) {
    // Reaped by nobody's wait: its times are not the parent's (RUSAGE_CHILDREN counts waited-for children).
    reap(tg, false);
    parent.childEvents.notify();
    return;
  }
  const sig = status & 0x7f;
  const code = sig === 0 ? CLD_EXITED : status & 0x80 ? CLD_DUMPED : CLD_KILLED;
  if (tg.exitSignal > 0) {
    sendSignalToGroup(parent, { signo: tg.exitSignal, code, pid: tg.tgid, uid: tg.leader.creds.uid, status: sig === 0 ? (status >> 8) & 0xff : sig }, false);
  }
  parent.childEvents.notify();
}

/** wait4 took it (or nobody will: account false): the pid is free again. */
export function reap(tg: ThreadGroup, account = true): void {
  tg.reaped = true;
  tg.parent?.children.delete(tg);
  if (tg.parent && account) {
    tg.parent.childCpuNs += tg.deadCpuNs + tg.childCpuNs;
    tg.parent.childTicks = nsToTicks(tg.parent.childCpuNs);
  }
  tg.pidns.groups.delete(tg.tgid);
}
