// clone/fork/vfork: a new task, in the same thread group (a thread) or a new one (a process);
// sharing the address space (CLONE_VM: a new host thread in the same stub) or with a copy of it
// (a new stub with the parent's memory copied into its own memory file).

import { EAGAIN, EINVAL, ENOMEM, EPERM } from '../abi/errno';
import type { Context } from '../platform/types';
import { REG } from '../platform/registers';
import { Task, ThreadGroup } from './task';
import { copyCreds } from './creds';
import { watchCpuLimit } from './cpu-limit';

export const CLONE_VM = 0x100;
export const CLONE_FS = 0x200;
export const CLONE_FILES = 0x400;
export const CLONE_SIGHAND = 0x800;
export const CLONE_PIDFD = 0x1000;
export const CLONE_PTRACE = 0x2000;
export const CLONE_VFORK = 0x4000;
export const CLONE_PARENT = 0x8000;
export const CLONE_THREAD = 0x10000;
export const CLONE_NEWNS = 0x20000;
export const CLONE_SYSVSEM = 0x40000;
export const CLONE_SETTLS = 0x80000;
export const CLONE_PARENT_SETTID = 0x100000;
export const CLONE_CHILD_CLEARTID = 0x200000;
export const CLONE_DETACHED = 0x400000;
export const CLONE_UNTRACED = 0x800000;
export const CLONE_CHILD_SETTID = 0x1000000;
const NAMESPACE_FLAGS = 0x7e020000 | 0x80; // NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET, NEWTIME

const MAX_TASKS = 32768;
/** x86-64's TASK_SIZE_MAX: the end of the user half, less the guard page. */
const TASK_SIZE_MAX = 0x7fff_ffff_f000;

export interface CloneArgs {
  flags: number;
  stack: number;
  ptid: number;
  ctid: number;
  tls: number;
  exitSignal: number;
}

const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;

/**
 * The flag combinations Linux's copy_process refuses (EINVAL), then namespaces: one container has
 * one set of namespaces, the sentry's, and a new one is refused as without privilege (EPERM; so
 * does unshare).
 */
export function cloneFlagsInvalid(f: number): number {
  if ((f & (CLONE_NEWNS | CLONE_FS)) === (CLONE_NEWNS | CLONE_FS)) return -EINVAL;
  if ((f & (CLONE_NEWUSER | CLONE_FS)) === (CLONE_NEWUSER | CLONE_FS)) return -EINVAL;
  if (f & CLONE_THREAD && !(f & CLONE_SIGHAND)) return -EINVAL;
  if (f & CLONE_SIGHAND && !(f & CLONE_VM)) return -EINVAL;
  if (f & CLONE_THREAD && f & (CLONE_NEWUSER | CLONE_NEWPID)) return -EINVAL;
  if (f & CLONE_PIDFD && f & CLONE_DETACHED) return -EINVAL;
  if (f & NAMESPACE_FLAGS) return -EPERM;
  return 0;
}

export function doClone(t: Task, a: CloneArgs): number {
  const k = t.kernel;
  const f = a.flags;
  const bad = cloneFlagsInvalid(f);
  if (bad !== 0) return bad;
  // x86-64 copy_thread sets the TLS as ARCH_SET_FS does: an address past the user half is EPERM.
  if (f & CLONE_SETTLS && a.tls >= TASK_SIZE_MAX) return -EPERM;
  const ns = t.pidns;
  if (ns.tasks.size >= MAX_TASKS) return -EAGAIN;
  const nproc = t.tg.rlimits.get(6);
  if (nproc && ns.tasks.size >= nproc.cur) return -EAGAIN;

  const tid = ns.allocPid();
  let mm = t.mm;
  let ctx: Context;
  try {
    if (f & CLONE_VM) {
      const c = mm.as?.newContext() ?? -ENOMEM;
      if (typeof c === 'number') return -ENOMEM;
      ctx = c;
    } else {
      mm = t.mm.fork();
      mm.exePath = t.mm.exePath;
      mm.auxv = t.mm.auxv;
      mm.vdso = t.mm.vdso;
      mm.argStart = t.mm.argStart;
      mm.argEnd = t.mm.argEnd;
      mm.envStart = t.mm.envStart;
      mm.envEnd = t.mm.envEnd;
      mm.as = k.platform.newAddressSpace(mm.file.fd);
      ctx = mm.as.main;
      const r = mm.mirrorInto();
      if (r < 0) {
        mm.as.release();
        mm.destroy();
        return -ENOMEM;
      }
    }
  } catch {
    return -ENOMEM;
  }
  mm.users++;

  let tg: ThreadGroup;
  if (f & CLONE_THREAD) {
    tg = t.tg;
  } else {
    const parent = f & CLONE_PARENT ? t.tg.parent ?? t.tg : t.tg;
    const handlers = f & CLONE_SIGHAND ? t.tg.handlers : t.tg.handlers.clone();
    tg = new ThreadGroup(tid, parent, handlers, a.exitSignal, new Map([...t.tg.rlimits].map(([r, l]) => [r, { ...l }])));
    tg.pgid = t.tg.pgid;
    tg.dumpable = t.tg.dumpable;
    tg.sid = t.tg.sid;
    tg.container = t.tg.container;
    tg.pidns = t.tg.pidns;
    parent.children.add(tg);
    if (parent === t.tg) tg.parentTask = t;
    tg.parentThread = parent === t.tg ? t.tid : parent.tgid;
    ns.groups.set(tid, tg);
  }
  const files = f & CLONE_FILES ? t.files : t.files.fork();
  if (f & CLONE_FILES) t.files.refs++;
  const fsc = f & CLONE_FS ? t.fs : t.fs.fork();
  if (f & CLONE_FS) t.fs.refs++;
  const child = new Task(k, tid, tg, mm, files, fsc, copyCreds(t.creds), t.comm);
  if (!(f & CLONE_THREAD)) tg.leader = child;
  tg.tasks.add(child);
  child.ctx = ctx;
  child.sigmask = t.sigmask;
  child.nice = t.nice;
  child.affinity = t.affinity;
  child.altStack = f & CLONE_VM && !(f & CLONE_VFORK) ? { sp: 0, size: 0, flags: 2 } : { ...t.altStack };
  ns.tasks.set(tid, child);
  k.byHost.set(ctx.tid, child);

  // The child returns 0 from the same syscall, on its own stack and TLS if given.
  child.regs.copyFrom(t.regs);
  child.regs.set(REG.rax, 0);
  child.regs.set(REG.orig_rax, -1);
  if (a.stack) child.regs.set(REG.rsp, a.stack);
  if (f & CLONE_SETTLS) child.regs.set(REG.fs_base, a.tls);
  child.fullRegs = true;
  child.retval = 0;
  child.inSyscall = true;
  if (f & CLONE_PARENT_SETTID && a.ptid) t.mm.writeU32(a.ptid, tid);
  if (f & CLONE_CHILD_SETTID && a.ctid) child.mm.writeU32(a.ctid, tid);
  if (f & CLONE_CHILD_CLEARTID) child.clearChildTid = a.ctid;
  if (f & CLONE_VFORK) child.vforkParent = t;
  // RLIMIT_CPU is inherited: the new process is watched against it too.
  if (!(f & CLONE_THREAD)) watchCpuLimit(tg);
  k.makeReady(child, false);
  return tid;
}
