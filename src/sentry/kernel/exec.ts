// execve: a new address space (a new stub) with the program loaded, replacing the task's old one.
// `#!` scripts run their interpreter, as binfmt_script does (up to 5 levels).

import { ENOENT, ENOEXEC, ELOOP } from '../abi/errno';
import { loadProgram } from '../loader/loader';
import { REG } from '../platform/registers';
import type { ExecFile } from '../vfs';
import { exitThreadForExec, killThreadGroup, switchAddressSpace } from './exit';
import { execCreds } from './exec-creds';
import { MAY_READ, permission } from '../vfs/permission';
import { chargeHostThread } from './cputime';
import { exitRobustList } from './futex';
import { piOwnerExited } from './futex-pi';
import { resetHandlersForExec } from './signals';
import { deleteAllTimers } from './posix-timers';
import type { Task } from './task';

/** Linux runs at most 6 binary handlers per exec (fs/exec.c exec_binprm): 5 scripts, then the ELF. */
const MAX_SCRIPT_DEPTH = 5;
const SIGSEGV = 11;

export interface ExecOptions {
  /** A process the sentry starts: a load failing past the point of no return is its -errno. */
  firstExec?: boolean;
  /** execveat: the file, already opened from the dirfd (path is then /dev/fd/N[/name]). */
  file?: ExecFile;
  /** execveat through a close-on-exec fd: a script's interpreter could not open path (ENOENT). */
  pathInaccessible?: boolean;
}

/**
 * Returns 0 (the task now runs the new program; its registers are set) or -errno (nothing changed).
 * A load that fails past Linux's point of no return also returns 0, with the process killed by
 * SIGSEGV as Linux does (but see ExecOptions.firstExec).
 */
export function execTask(t: Task, path: string, argv: Uint8Array[], envp: Uint8Array[], opts: ExecOptions = {}): number {
  const k = t.kernel;
  const firstExec = opts.firstExec ?? false;
  let file: ExecFile | number = opts.file ?? t.vfs.openExec(t, path);
  if (typeof file === 'number') return file;
  let execPath = path;
  // #! scripts.
  for (let depth = 0; ; depth++) {
    const head = new Uint8Array(256);
    const n = file.pread(head, 0);
    if (n < 2 || head[0] !== 0x23 || head[1] !== 0x21) break;
    if (depth >= MAX_SCRIPT_DEPTH) {
      file.close();
      return -ELOOP;
    }
    // binfmt_script: the interpreter is given the script's path, which a close-on-exec fd loses.
    if (depth === 0 && opts.pathInaccessible) {
      file.close();
      return -ENOENT;
    }
    let line = Buffer.from(head.subarray(2, n)).toString('latin1');
    const nl = line.indexOf('\n');
    if (nl >= 0) line = line.slice(0, nl);
    line = line.trim();
    if (!line) {
      file.close();
      return -ENOEXEC;
    }
    const sp = line.search(/[ \t]/);
    const interp = sp < 0 ? line : line.slice(0, sp);
    const optArg = sp < 0 ? '' : line.slice(sp).trim();
    const newArgv = [Buffer.from(interp)];
    if (optArg) newArgv.push(Buffer.from(optArg));
    newArgv.push(Buffer.from(execPath));
    argv = [...newArgv, ...argv.slice(1)];
    file.close();
    execPath = interp;
    file = t.vfs.openExec(t, interp);
    if (typeof file === 'number') return file === -ENOENT ? -ENOENT : file;
  }
  const exe = file;

  // Build the new image in a new stub before touching the old one: a failed exec returns to it.
  const { creds, secure } = execCreds(t.creds, exe.ids);
  const unreadable = permission(t.creds, exe.ids, MAY_READ) < 0;
  const mm = k.newMemoryManager();
  try {
    mm.as = k.platform.newAddressSpace(mm.file.fd);
  } catch {
    mm.destroy();
    exe.close();
    return -12; // ENOMEM
  }
  const res = loadProgram({
    mm,
    file: exe,
    argv,
    envp,
    execfn: Buffer.from(path),
    openInterp: (p) => t.vfs.openExec(t, p),
    creds,
    secure,
    ...(k.platform.vdso ? { vdso: k.platform.vdso.base } : {}),
  });
  exe.close();
  if (typeof res === 'number' || ('fatal' in res && firstExec)) {
    mm.as.release();
    mm.destroy();
    return typeof res === 'number' ? res : res.fatal;
  }
  mm.exePath = exe.path;
  const fatal = 'fatal' in res ? res.fatal : 0;
  if (!('fatal' in res)) {
    mm.auxv = res.auxv;
    mm.vdso = k.platform.vdso?.mappings ?? [];
    mm.argStart = res.argStart;
    mm.argEnd = res.argEnd;
    mm.envStart = res.envStart;
    mm.envEnd = res.envEnd;
  }

  // Point of no return: other threads of the group go, the old address space is dropped.
  for (const other of [...t.tg.tasks]) {
    if (other !== t) exitThreadForExec(other);
  }
  exitRobustList(t);
  piOwnerExited(t);
  chargeHostThread(t);
  switchAddressSpace(t, mm);
  t.creds = creds;
  // begin_new_exec: dumpable again, unless the exec raised privileges or the program is one the
  // caller may not read (would_dump).
  t.tg.dumpable = secure || unreadable || creds.euid !== creds.uid || creds.egid !== creds.gid ? 0 : 1;
  // A table shared with another process (a vfork or CLONE_FILES child) is unshared first, as
  // Linux's unshare_files: closing the close-on-exec fds must not close the other's.
  if (t.files.refs > 1) {
    const own = t.files.fork();
    t.files.release();
    t.files = own;
  }
  t.files.closeOnExec();
  resetHandlersForExec(t);
  // POSIX timers do not survive exec (Linux's exit_itimers in begin_new_exec).
  deleteAllTimers(t.tg);
  t.altStack = { sp: 0, size: 0, flags: 2 };
  t.clearChildTid = 0;
    // comm is the basename of the path execve was given (Linux's bprm->filename), not of the file
  // it resolved to: /bin/cat → busybox is "cat", /proc/self/exe is "exe".
  const base = path.slice(path.lastIndexOf('/') + 1);
  t.comm = base.slice(0, 15);
  // Fresh registers: only the entry point and the stack.
  const cs = t.regs.get(REG.cs);
  const ss = t.regs.get(REG.ss);
  t.regs.buffer.fill(0);
  t.regs.set(REG.rip, 'fatal' in res ? 0 : res.entry);
  t.regs.set(REG.rsp, 'fatal' in res ? 0 : res.sp);
  t.regs.set(REG.cs, cs || 0x33);
  t.regs.set(REG.ss, ss || 0x2b);
  t.regs.set(REG.eflags, 0x202);
  t.regs.set(REG.orig_rax, -1);
  t.fullRegs = true;
  t.retval = 0;
  if (t.vforkParent) {
    t.tg.vforkDone.notify();
    t.vforkParent = undefined;
  }
  if (fatal) {
    k.opts.tracer?.log(`[${t.tid}] --- exec of ${path} failed past the point of no return (${fatal}): SIGSEGV ---`);
    killThreadGroup(t.tg, SIGSEGV);
  }
  return 0;
}
