// Processes: clone/fork/vfork/execve/exit, wait4/waitid, ids, process groups and sessions, kill.

import { E2BIG, EACCES, ECHILD, EFAULT, EINVAL, ENAMETOOLONG, ENOENT, EPERM, ESRCH } from '../../abi/errno';
import { SIGCHLD } from '../../abi/signals';
import { CLONE_VFORK, CLONE_VM, doClone } from '../../kernel/clone';
import { execTask } from '../../kernel/exec';
import { ptraceExec } from '../../kernel/ptrace';
import { exitTask, killThreadGroup, reap } from '../../kernel/exit';
import { sendSignalToGroup, sendSignalToTask } from '../../kernel/signals';
import { CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, CLD_TRAPPED, encodeSigInfo, SI_TKILL, SI_USER } from '../../kernel/signal-types';
import type { Task, ThreadGroup } from '../../kernel/task';
import { mayKill } from '../../kernel/creds';
import { groupCpuNs } from '../../kernel/cputime';
import { putTimeval } from './sys_time';
import { fileOf, startOf } from './vfs_args';
import { AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW } from '../../vfs/constants';

const WNOHANG = 1;
const WUNTRACED = 2;
const WEXITED = 4;
const WCONTINUED = 8;
const WNOWAIT = 0x01000000;
const WNOTHREAD = 0x20000000;
const WALL = 0x40000000;
const WCLONE = 0x80000000 | 0;
const P_ALL = 0;
const P_PID = 1;
const P_PGID = 2;
const MAX_ARGS = 0x7fffffff;

function readStringArray(t: Task, addr: number): Uint8Array[] | number {
  const out: Uint8Array[] = [];
  if (addr === 0) return out;
  let total = 0;
  for (let i = 0; ; i++) {
    if (i >= MAX_ARGS) return -E2BIG;
    const p = t.mm.readU64(addr + i * 8);
    if (p === null) return -EFAULT;
    if (p === 0) return out;
    const s = t.mm.readCBytes(p, 128 * 1024);
    if (s === null) return -EFAULT;
    if (s === undefined) return -E2BIG;
    total += s.length + 1;
    if (total > 2 * 1024 * 1024) return -E2BIG;
    out.push(s);
  }
}

function clone(t: Task, flags: number, stack: number, ptid: number, ctid: number, tls: number): number {
  // vfork: the parent waits until the child has exec'd or exited.
  const st = t.blockState as { vforkChild?: ThreadGroup } | undefined;
  if (st?.vforkChild) {
    const c = st.vforkChild;
    const still = [...c.tasks].some((x) => x.vforkParent === t);
    if (still) return t.block([c.vforkDone], Infinity, st);
    return c.tgid;
  }
  const tid = doClone(t, { flags, stack, ptid, ctid, tls, exitSignal: flags & 0xff });
  if (tid < 0) return tid;
  if (flags & CLONE_VFORK) {
    const c = t.pidns.groups.get(tid) ?? t.tg;
    return t.block([c.vforkDone], Infinity, { vforkChild: c });
  }
  return tid;
}

function waitStatus(tg: ThreadGroup): number {
  return tg.exitStatus ?? 0;
}

interface WaitResult {
  tg: ThreadGroup;
  kind: 'exit' | 'stop' | 'cont' | 'ptrace';
  /** kind 'ptrace': the stopped tracee (its tid is what wait returns). */
  tracee?: Task;
}

function matches(t: Task, c: ThreadGroup, idtype: number, id: number): boolean {
  if (idtype === P_ALL) return true;
  if (idtype === P_PID) return c.tgid === id;
  if (idtype === P_PGID) return c.pgid === (id === 0 ? t.tg.pgid : id);
  return false;
}

function findWaitable(t: Task, idtype: number, id: number, options: number): WaitResult | 'none' | 'wait' {
  let any = false;
  // Tracees of this thread (or of any thread of the process, without __WNOTHREAD): their
  // ptrace-stops are reported whatever WUNTRACED says (Linux's wait_task_stopped with ptrace).
  for (const tracer of options & WNOTHREAD ? [t] : t.tg.tasks) {
    for (const x of tracer.tracees) {
      if (idtype === P_PID ? x.tid !== id : !matches(t, x.tg, idtype, id)) continue;
      any = true;
      if (x.ptraceStop && !x.ptraceStop.reported) return { tg: x.tg, kind: 'ptrace', tracee: x };
    }
  }
  for (const c of t.tg.children) {
    if (!matches(t, c, idtype, id)) continue;
    // __WNOTHREAD: only children this thread made (or whose maker is gone: they are the group's).
    if (options & WNOTHREAD && c.parentTask !== undefined && c.parentTask !== t && c.parentTask.state !== 'dead') continue;
    // A "clone" child reports to a signal other than SIGCHLD: __WCLONE waits only for those, the
    // default only for the others, __WALL for both (Linux's eligible_child).
    // A child this process traces is eligible whatever its kind (Linux waits on it as a tracee).
    const traced = c.tracedAtExit || c.leader.tracer?.tg === t.tg;
    if (!traced && !(options & WALL) && (c.exitSignal !== SIGCHLD) !== ((options & WCLONE) !== 0)) continue;
    // A zombie is a candidate only for WEXITED: waiting just for stops or continues of children
    // that have all exited fails with ECHILD (Linux's notask_error), it does not wait forever.
    if (!c.alive && !(options & WEXITED)) continue;
    any = true;
    if (!c.alive && !c.reaped && options & WEXITED) return { tg: c, kind: 'exit' };
    if (c.alive && c.reportStop && c.stopped && options & WUNTRACED) return { tg: c, kind: 'stop' };
    if (c.alive && c.reportContinue && options & WCONTINUED) return { tg: c, kind: 'cont' };
  }
  return any ? 'wait' : 'none';
}

/** wait4/waitid's struct rusage of the child: its CPU time and that of the children it reaped. */
function writeRusage(t: Task, addr: number, r: WaitResult): boolean {
  const b = new Uint8Array(144);
  const ns = r.kind === 'exit' ? r.tg.deadCpuNs + r.tg.childCpuNs : groupCpuNs(r.tg);
  putTimeval(new DataView(b.buffer), 0, ns);
  return t.mm.write(addr, b);
}

function wait4(t: Task): number {
  const pid = t.argInt(0);
  const statusAddr = t.arg(1);
  const options = t.argInt(2);
  if (options & ~(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WCLONE | WALL)) return -EINVAL;
  let idtype = P_ALL;
  let id = 0;
  if (pid > 0) [idtype, id] = [P_PID, pid];
  else if (pid === 0) [idtype, id] = [P_PGID, 0];
  else if (pid < -1) [idtype, id] = [P_PGID, -pid];
  const r = findWaitable(t, idtype, id, options | WEXITED);
  if (r === 'none') return -ECHILD;
  if (r === 'wait') return options & WNOHANG ? 0 : t.block([t.tg.childEvents]);
  let status: number;
  if (r.kind === 'exit') status = waitStatus(r.tg);
  else if (r.kind === 'ptrace') status = 0x7f | (r.tracee!.ptraceStop!.code << 8);
  else if (r.kind === 'stop') status = 0x7f | (r.tg.stopSignal << 8);
  else status = 0xffff;
  if (statusAddr && !t.mm.writeU32(statusAddr, status)) return -EFAULT;
  if (t.arg(3) && !writeRusage(t, t.arg(3), r)) return -EFAULT;
  if (r.kind === 'ptrace') {
    r.tracee!.ptraceStop!.reported = true;
    return r.tracee!.tid;
  }
  if (r.kind === 'exit') reap(r.tg);
  else if (r.kind === 'stop') r.tg.reportStop = false;
  else r.tg.reportContinue = false;
  return r.tg.tgid;
}

function waitid(t: Task): number {
  const idtype = t.argInt(0);
  const id = t.argInt(1);
  const infop = t.arg(2);
  const options = t.argInt(3);
  if (options & ~(WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | WNOTHREAD | WCLONE | WALL)) return -EINVAL;
  if (idtype < 0 || idtype > 2 || !(options & (WEXITED | WUNTRACED | WCONTINUED))) return -EINVAL;
  const r = findWaitable(t, idtype, id, options);
  if (r === 'none') return -ECHILD;
  if (r === 'wait') {
    if (options & WNOHANG) {
      if (infop) t.mm.write(infop, new Uint8Array(128));
      return 0;
    }
    return t.block([t.tg.childEvents]);
  }
  const s = waitStatus(r.tg);
  let code: number;
  let status: number;
  if (r.kind === 'exit') {
    const sig = s & 0x7f;
    code = sig === 0 ? CLD_EXITED : s & 0x80 ? CLD_DUMPED : CLD_KILLED;
    status = sig === 0 ? (s >> 8) & 0xff : sig;
  } else if (r.kind === 'ptrace') {
    code = CLD_TRAPPED;
    status = r.tracee!.ptraceStop!.code;
  } else if (r.kind === 'stop') {
    code = CLD_STOPPED;
    status = r.tg.stopSignal;
  } else {
    code = CLD_CONTINUED;
    status = 18;
  }
  const who = r.tracee ?? r.tg.leader;
  if (infop && !t.mm.write(infop, encodeSigInfo({ signo: SIGCHLD, code, pid: r.tracee?.tid ?? r.tg.tgid, uid: who.creds.uid, status }))) return -EFAULT;
  if (t.arg(4) && !writeRusage(t, t.arg(4), r)) return -EFAULT;
  if (!(options & WNOWAIT)) {
    if (r.kind === 'ptrace') r.tracee!.ptraceStop!.reported = true;
    else if (r.kind === 'exit') reap(r.tg);
    else if (r.kind === 'stop') r.tg.reportStop = false;
    else r.tg.reportContinue = false;
  }
  return 0;
}

/**
 * execve and execveat. With a dirfd and a relative (or, with AT_EMPTY_PATH, empty) path, the
 * program's name is /dev/fd/N/path (or /dev/fd/N), as Linux names it for comm, AT_EXECFN and a
 * script's interpreter; through a close-on-exec fd that name cannot be opened after the exec.
 */
function execve(t: Task, dirfd: number, pathAddr: number, argvAddr: number, envpAddr: number, flags = 0): number {
  if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) return -EINVAL;
  const path = t.mm.readCString(pathAddr, 4095);
  if (path === null) return -EFAULT;
  if (path === undefined) return -ENAMETOOLONG;
  if (path === '' && !(flags & AT_EMPTY_PATH)) return -ENOENT;
  const argv = readStringArray(t, argvAddr);
  if (typeof argv === 'number') return argv;
  const envp = readStringArray(t, envpAddr);
  if (typeof envp === 'number') return envp;
  let r: number;
  if (dirfd === AT_FDCWD || path.startsWith('/')) {
    const file = flags & AT_SYMLINK_NOFOLLOW ? t.vfs.openExecAt(t, t.fs.cwdLoc, path, false) : undefined;
    if (typeof file === 'number') return file;
    r = execTask(t, path, argv, envp, { file });
  } else {
    const f = fileOf(t, dirfd);
    if (typeof f === 'number') return f;
    let file;
    if (path === '') {
      // The fd's own file (an O_PATH fd will do); a directory or a pipe is not executable.
      file = f.location ? t.vfs.execFileOf(t, f.location) : -EACCES;
    } else {
      const start = startOf(t, dirfd, path);
      if (typeof start === 'number') return start;
      file = t.vfs.openExecAt(t, start, path, !(flags & AT_SYMLINK_NOFOLLOW));
    }
    if (typeof file === 'number') return file;
    const name = path === '' ? `/dev/fd/${dirfd}` : `/dev/fd/${dirfd}/${path}`;
    r = execTask(t, name, argv, envp, { file, pathInaccessible: t.files.isCloexec(dirfd) });
  }
  if (r === 0) ptraceExec(t, t.tid);
  return r;
}

function kill(t: Task): number {
  const pid = t.argInt(0);
  const sig = t.argInt(1);
  if (sig < 0 || sig > 64) return -EINVAL;
  const info = { signo: sig, code: SI_USER, pid: t.pid, uid: t.creds.uid };
  if (pid > 0) {
    // A thread's id names its process too (Linux's find_vpid): kill(gettid(), sig) reaches the group.
    const tg = t.pidns.groups.get(pid) ?? t.pidns.tasks.get(pid)?.tg;
    if (!tg || (!tg.alive && tg.reaped)) return -ESRCH;
    const perm = mayKill(t, tg.leader, sig);
    if (perm < 0) return perm;
    sendSignalToGroup(tg, info);
    return 0;
  }
  const pgid = pid === 0 ? t.tg.pgid : pid === -1 ? -1 : -pid;
  // A group: 0 if any member got it, else the last error; -1: every process one may signal
  // (ESRCH if none: refusals do not count, as in Linux's kill_something_info).
  let found = false;
  let sent = false;
  for (const tg of [...t.pidns.groups.values()]) {
    if (!tg.alive) continue;
    if (pgid === -1 ? tg.tgid === 1 || tg === t.tg : tg.pgid !== pgid) continue;
    if (pgid !== -1) found = true;
    if (mayKill(t, tg.leader, sig) < 0) continue;
    found = sent = true;
    sendSignalToGroup(tg, info);
  }
  return sent ? 0 : found ? -EPERM : -ESRCH;
}

function tgkill(t: Task, tgid: number, tid: number, sig: number): number {
  if (sig < 0 || sig > 64 || tid <= 0) return -EINVAL;
  const target = t.pidns.tasks.get(tid);
  if (!target || target.state === 'dead' || (tgid > 0 && target.tg.tgid !== tgid)) return -ESRCH;
  const perm = mayKill(t, target, sig);
  if (perm < 0) return perm;
  sendSignalToTask(target, { signo: sig, code: SI_TKILL, pid: t.pid, uid: t.creds.uid });
  return 0;
}

function setpgid(t: Task): number {
  const pid = t.argInt(0) || t.pid;
  const pgid = t.argInt(1) || pid;
  if (pgid < 0) return -EINVAL;
  const tg = t.pidns.groups.get(pid);
  if (!tg || (tg !== t.tg && tg.parent !== t.tg)) return -ESRCH;
  if (tg.sid !== t.tg.sid || tg.tgid === tg.sid) return -EPERM;
  if (pgid !== pid && ![...t.pidns.groups.values()].some((g) => g.pgid === pgid && g.sid === t.tg.sid)) return -EPERM;
  tg.pgid = pgid;
  return 0;
}

function getpgid(t: Task): number {
  const pid = t.argInt(0) || t.pid;
  const tg = t.pidns.groups.get(pid);
  return tg && tg.alive ? tg.pgid : -ESRCH;
}

function getsid(t: Task): number {
  const pid = t.argInt(0) || t.pid;
  const tg = t.pidns.groups.get(pid);
  return tg && tg.alive ? tg.sid : -ESRCH;
}

function setsid(t: Task): number {
  const tg = t.tg;
  if ([...t.pidns.groups.values()].some((g) => g.pgid === tg.tgid && g.alive)) {
    if (tg.pgid === tg.tgid) return -EPERM;
  }
  tg.sid = tg.tgid;
  tg.pgid = tg.tgid;
  return tg.sid;
}

export const sysProcess = {
  clone: (t: Task) => clone(t, t.argU32(0), t.arg(1), t.arg(2), t.arg(3), t.arg(4)),
  clone3,
  fork: (t: Task) => clone(t, SIGCHLD, 0, 0, 0, 0),
  vfork: (t: Task) => clone(t, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0),
  execve: (t: Task) => execve(t, -100, t.arg(0), t.arg(1), t.arg(2)),
  execveat: (t: Task) => execve(t, t.argInt(0), t.arg(1), t.arg(2), t.arg(3), t.argInt(4)),
  exit: (t: Task) => {
    exitTask(t, (t.argInt(0) & 0xff) << 8);
    return 0;
  },
  exit_group: (t: Task) => {
    killThreadGroup(t.tg, (t.argInt(0) & 0xff) << 8);
    return 0;
  },
  wait4,
  waitid,
  getpid: (t: Task) => t.pid,
  gettid: (t: Task) => t.tid,
  getppid: (t: Task) => t.tg.parent?.tgid ?? 0,
  getpgrp: (t: Task) => t.tg.pgid,
  getpgid,
  setpgid,
  getsid,
  setsid,
  kill,
  tgkill: (t: Task) => tgkill(t, t.argInt(0), t.argInt(1), t.argInt(2)),
  tkill: (t: Task) => tgkill(t, -1, t.argInt(0), t.argInt(1)),
  set_tid_address: (t: Task) => {
    t.clearChildTid = t.arg(0);
    return t.tid;
  },
};

const CLONE_ARGS_SIZE_VER0 = 64;
const CLONE_ARGS_SIZE_VER2 = 88;
const CLONE_CLEAR_SIGHAND = 0x1_0000_0000n;
const CLONE_INTO_CGROUP = 0x2_0000_0000n;
const CLONE_DETACHED = 0x400000n;
const CLONE_SIGHAND = 0x800n;
const CLONE_THREAD = 0x10000n;
const CLONE_PARENT = 0x8000n;
const CSIGNAL_NOT_NEWTIME = 0x7fn;

/**
 * clone3(struct clone_args *, size): the arguments checked as Linux does before anything is made
 * (an unknown flag, a bad size or an inconsistent combination fails; it never creates a child).
 */
function clone3(t: Task): number {
  const size = t.arg(1);
  if (size > 4096) return -E2BIG;
  if (size < CLONE_ARGS_SIZE_VER0) return -EINVAL;
  const a = t.mm.read(t.arg(0), size);
  if (!a) return -EFAULT;
  // A newer caller's larger struct: what this kernel does not know must be zero.
  for (let i = CLONE_ARGS_SIZE_VER2; i < size; i++) if (a[i] !== 0) return -E2BIG;
  const args = new Uint8Array(CLONE_ARGS_SIZE_VER2);
  args.set(a.subarray(0, Math.min(size, CLONE_ARGS_SIZE_VER2)));
  const dv = new DataView(args.buffer);
  const u = (o: number) => dv.getBigUint64(o, true);
  const flags = u(0);
  const pidfd = u(8);
  const exitSignal = u(32);
  const stack = u(40);
  const stackSize = u(48);
  const setTid = u(64);
  const setTidSize = u(72);
  if (flags & ~(0xffff_ffffn | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP)) return -EINVAL;
  if (flags & (CLONE_DETACHED | CSIGNAL_NOT_NEWTIME)) return -EINVAL;
  if ((flags & (CLONE_SIGHAND | CLONE_CLEAR_SIGHAND)) === (CLONE_SIGHAND | CLONE_CLEAR_SIGHAND)) return -EINVAL;
  if (flags & (CLONE_THREAD | CLONE_PARENT) && exitSignal !== 0n) return -EINVAL;
  if (exitSignal & ~0xffn || exitSignal > 64n) return -EINVAL;
  if ((stack === 0n) !== (stackSize === 0n)) return -EINVAL;
  if (setTidSize > 32n || (setTid === 0n) !== (setTidSize === 0n)) return -EINVAL;
  // Choosing the child's pid (checkpoint/restore) and cgroups are not offered: as without privilege.
  if (setTidSize > 0n) return -EPERM;
  if (flags & CLONE_INTO_CGROUP) return -EINVAL;
  void pidfd;
  const top = stack === 0n ? 0 : Number(stack + stackSize);
  const r = cloneWithExit(t, Number(flags & 0xffff_ff00n), top, Number(u(24)), Number(u(16)), Number(u(56)), Number(exitSignal));
  if (r > 0 && flags & CLONE_CLEAR_SIGHAND && !t.blockState) clearHandlers(t, r);
  return r;
}

/** CLONE_CLEAR_SIGHAND: the child's handled signals go back to their default action. */
function clearHandlers(t: Task, tid: number): void {
  const child = t.pidns.tasks.get(tid);
  if (!child || child.tg.handlers === t.tg.handlers) return;
  for (let i = 1; i <= 64; i++) {
    const act = child.tg.handlers.actions[i];
    if (act.handler !== SIG_IGN_ADDR) child.tg.handlers.actions[i] = { handler: 0, flags: 0, restorer: 0, mask: 0n };
  }
}

const SIG_IGN_ADDR = 1;

function cloneWithExit(t: Task, flags: number, stack: number, ptid: number, ctid: number, tls: number, exitSignal: number): number {
  return clone(t, (flags & ~0xff) | (exitSignal & 0xff), stack, ptid, ctid, tls);
}

