// --strace: each application syscall with its arguments decoded (paths and strings quoted, fds and
// flags as numbers, buffers shown after the call) and its result, as runsc --strace prints them.

import { errnoName } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import type { SyscallTracer } from '../../kernel/dispatch';
import { syscallName } from './table';

/** How to show an argument: i int, u unsigned, x hex, s C string, b buffer (length in the next arg, shown after the call), o octal. */
type Kind = 'i' | 'u' | 'x' | 's' | 'b' | 'o';

const SIGNATURES: Record<string, string> = {
  read: 'ibu', write: 'ibu', pread64: 'ibui', pwrite64: 'ibui', open: 'sxo', openat: 'isxo', openat2: 'isxu', creat: 'so',
  close: 'i', stat: 'sx', lstat: 'sx', fstat: 'ix', newfstatat: 'isxx', statx: 'isxxx', access: 'so', faccessat: 'iso',
  faccessat2: 'isox', readlink: 'sxu', readlinkat: 'isxu', execve: 'sxx', execveat: 'isxxx', chdir: 's', fchdir: 'i',
  mkdir: 'so', mkdirat: 'iso', rmdir: 's', unlink: 's', unlinkat: 'isx', rename: 'ss', renameat: 'isis', renameat2: 'isisx',
  symlink: 'ss', symlinkat: 'sis', link: 'ss', linkat: 'isisx', chmod: 'so', fchmodat: 'iso', chown: 'sii', fchownat: 'isiix',
  truncate: 'si', lseek: 'iii', dup: 'i', dup2: 'ii', dup3: 'iix', fcntl: 'iix', ioctl: 'ixx', pipe2: 'xx', getdents64: 'ixu',
  mmap: 'xuxxii', munmap: 'xu', mprotect: 'xux', brk: 'x', kill: 'ii', tgkill: 'iii', tkill: 'ii', wait4: 'ixxx',
  clone: 'xxxxx', exit: 'i', exit_group: 'i', rt_sigaction: 'ixxu', rt_sigprocmask: 'ixxu', nanosleep: 'xx',
  uname: 'x', getcwd: 'xu', umask: 'o', utimensat: 'isxx', chroot: 's', mount: 'ssxxx', umount2: 'sx',
  getpid: '', getppid: '', gettid: '', getuid: '', geteuid: '', getgid: '', getegid: '', getpgrp: '', setsid: '',
  sched_yield: '', pause: '', set_tid_address: 'x', set_robust_list: 'xu', arch_prctl: 'xx', prctl: 'ixxxx',
  getrandom: 'xux', rseq: 'xuxx', prlimit64: 'iixx', futex: 'xiuxxu', clock_gettime: 'ix', clock_nanosleep: 'ixxx',
  vfork: '', fork: '', setpgid: 'ii', getpgid: 'i', getsid: 'i', sigaltstack: 'xx', rt_sigreturn: '',
  poll: 'xui', ppoll: 'xuxxu', select: 'ixxxx', pselect6: 'ixxxxx', epoll_wait: 'ixii', epoll_ctl: 'iiix',
  socket: 'iii', socketpair: 'iiix', bind: 'ixi', connect: 'ixi', listen: 'ii', accept: 'ixx', accept4: 'ixxx',
  getsockname: 'ixx', getpeername: 'ixx', sendto: 'ibuixi', recvfrom: 'ibuixx', sendmsg: 'ixx', recvmsg: 'ixx',
  sendmmsg: 'ixux', recvmmsg: 'ixuxx', shutdown: 'ii', getsockopt: 'iiixx', setsockopt: 'iiixi',
  sendfile: 'iixu', readv: 'ixi', writev: 'ixi', mremap: 'xuuxx', madvise: 'xui', sysinfo: 'x', getrusage: 'ix',
  splice: 'ixixux', tee: 'iiux', vmsplice: 'ixux',
  timer_create: 'ixx', timer_settime: 'iixx', timer_gettime: 'ix', timer_getoverrun: 'i', timer_delete: 'i',
};

const MAX_STRING = 64;

function quote(bytes: Uint8Array, max = MAX_STRING): string {
  let out = '"';
  for (let i = 0; i < Math.min(bytes.length, max); i++) {
    const c = bytes[i];
    if (c === 0x22 || c === 0x5c) out += `\\${String.fromCharCode(c)}`;
    else if (c === 10) out += '\\n';
    else if (c === 9) out += '\\t';
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `${out}"${bytes.length > max ? '...' : ''}`;
}

function showArg(t: Task, kind: Kind, i: number): string {
  switch (kind) {
    case 'i':
      return String(t.argInt(i));
    case 'u':
      return String(t.arg(i));
    case 'o':
      return `0${t.argU32(i).toString(8)}`;
    case 's': {
      const addr = t.arg(i);
      if (addr === 0) return 'NULL';
      const s = t.mm.readCBytes(addr, 4096);
      return s ? quote(s) : s === null ? `0x${addr.toString(16)} (bad address)` : `0x${addr.toString(16)} (too long)`;
    }
    default:
      return `0x${t.arg(i).toString(16)}`;
  }
}

/** "[tid] name(args" before the call, while the arguments are still the caller's (execve replaces them). */
export function straceEnter(t: Task, nr: number): string {
  const name = syscallName(nr);
  const sig = SIGNATURES[name];
  const args: string[] = [];
  for (let i = 0; i < (sig ? sig.length : 6); i++) {
    const kind = (sig ? sig[i] : 'x') as Kind;
    args.push(kind === 'b' ? `0x${t.arg(i).toString(16)}` : showArg(t, kind, i));
  }
  return `[${t.tid}] ${name}(${args.join(', ')}`;
}

/** ") = result", with the bytes a read-like call returned or a write-like call sent. */
export function straceExit(t: Task, nr: number, entered: string, r: number, bufAddr: number): string {
  const name = syscallName(nr);
  const sig = SIGNATURES[name];
  let extra = '';
  if (sig && sig.includes('b') && r > 0 && bufAddr) {
    const data = t.mm.read(bufAddr, Math.min(r, MAX_STRING + 1));
    if (data) extra = ` ${quote(data)}`;
  }
  const res = r < 0 && r > -4096 ? `-1 ${errnoName(r)}` : r >= 0 && r < 65536 ? String(r) : `0x${r.toString(16)}`;
  return `${entered}) = ${res}${extra}`;
}

const GOFER_OPS = ['', 'HELLO', 'ATTACH', 'WALK', 'STAT', 'READLINK', 'READDIR', 'OPEN', 'CLOSE', 'CREATE', 'MKDIR', 'SYMLINK', 'UNLINK', 'RENAME', 'SETATTR', 'WALKPATH'];

/** The gofer round trips a call made (counts per op, before and after), as " [gofer WALK×2 OPEN]"; '' for none. */
export function goferNote(before: readonly number[], after: readonly number[]): string {
  let out = '';
  for (let op = 1; op < after.length; op++) {
    const n = after[op]! - (before[op] ?? 0);
    if (n > 0) out += ` ${GOFER_OPS[op] ?? op}${n > 1 ? `×${n}` : ''}`;
  }
  return out ? ` [gofer${out}]` : '';
}

/** The buffer argument's address, read before the call. */
export function straceBuffer(t: Task, nr: number): number {
  const sig = SIGNATURES[syscallName(nr)];
  const i = sig ? sig.indexOf('b') : -1;
  return i >= 0 ? t.arg(i) : 0;
}

/** The --strace tracer as the kernel is given it (KernelOptions.tracer), writing its lines to log. */
export function straceTracer(log: (line: string) => void): SyscallTracer {
  return { log, enter: straceEnter, buffer: straceBuffer, exit: straceExit, goferNote };
}
