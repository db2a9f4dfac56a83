// The sentry's own seccomp allow-list: every host syscall the sentry process (Node, V8, libuv and
// moat's addon) makes once it has started, each with the reason it is there. Anything else kills
// the sentry (SECCOMP_RET_KILL_PROCESS): the sandbox stops, its stubs and gofer die with it.
// Measured, not guessed: docs/sentry.md ("The sentry's own confinement") says how.
//
// The list is an OCI `linux.seccomp` object, compiled by moat's own compiler (src/policy/seccomp),
// the one the native platform uses for containers.

/** x86_64 socket families the sentry's networking opens (net/inet, net/netlink). */
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
/** clone flags of a thread (glibc's pthread_create): VM FS FILES SIGHAND THREAD SYSVSEM SETTLS
 * PARENT_SETTID CHILD_CLEARTID. Anything else — a fork — is refused. */
const THREAD_CLONE_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000 | 0x100000 | 0x200000;
/** The ptrace requests the tracer makes (native/bindings/sentry.c). */
const PTRACE_REQUESTS = {
  PTRACE_PEEKDATA: 2,
  PTRACE_POKEDATA: 5,
  PTRACE_POKEUSER: 6,
  PTRACE_CONT: 7,
  PTRACE_GETREGS: 12,
  PTRACE_SETREGS: 13,
  PTRACE_GETFPREGS: 14,
  PTRACE_SETFPREGS: 15,
  PTRACE_SYSEMU: 31,
  PTRACE_GETEVENTMSG: 0x4201,
  PTRACE_GETSIGINFO: 0x4202,
} as const;

export interface AllowEntry {
  names: string[];
  why: string;
  /** Argument conditions (OCI form): all must hold. */
  args?: { index: number; value: number; op: 'SCMP_CMP_EQ' | 'SCMP_CMP_MASKED_EQ'; valueTwo?: number }[];
}

/** The list, grouped by reason. One entry per rule: entries with args each stand alone. */
export const SENTRY_ALLOW: readonly AllowEntry[] = [
  // The trap: the sentry is the tracer of every stub (platform/ptrace).
  ...Object.values(PTRACE_REQUESTS).map((req): AllowEntry => ({
    names: ['ptrace'], why: 'tracing the stubs: one request the platform makes', args: [{ index: 0, value: req, op: 'SCMP_CMP_EQ' }],
  })),
  { names: ['wait4', 'waitid'], why: 'the next event of a stub (waitpid __WALL); reaping a stub' },
  { names: ['tgkill', 'kill'], why: 'SIGKILL/SIGSTOP to a stub thread; Node signalling itself (process.kill on exit)' },
  // Memory: the application's memfds (mm/) and Node's heap.
  { names: ['memfd_create', 'ftruncate', 'fallocate', 'copy_file_range', 'lseek'], why: 'memory files of the address spaces: create, size, punch holes, fork copies (SEEK_DATA extents)' },
  { names: ['mmap', 'munmap', 'mprotect', 'madvise', 'mremap', 'brk', 'msync'], why: 'Node/V8 heap and code space, and mapping the memory files into the sentry' },
  // Threads and waiting: V8's platform workers, libuv's pool, the event loop.
  { names: ['futex', 'set_robust_list', 'rseq', 'sched_yield', 'sched_getaffinity', 'gettid', 'getpid', 'getppid'], why: 'threads of Node and V8: locks, start-up of a worker thread, which CPUs to use' },
  { names: ['clone'], why: 'a new thread of Node/V8 (libuv starts its pool lazily); the flags are a thread\'s, never a fork', args: [{ index: 0, value: THREAD_CLONE_FLAGS, op: 'SCMP_CMP_EQ' }] },
  { names: ['exit', 'exit_group'], why: 'a thread ends; the sentry exits with the init\'s status' },
  { names: ['epoll_create1', 'epoll_ctl', 'epoll_wait', 'epoll_pwait', 'epoll_pwait2', 'eventfd2', 'pipe2', 'poll', 'ppoll'], why: 'the event loop and the sentry\'s waits on host fds (stdio, sockets, the control socket)' },
  { names: ['clock_gettime', 'clock_getres', 'gettimeofday', 'nanosleep', 'clock_nanosleep', 'timer_create', 'timer_settime', 'timer_delete', 'timer_gettime'], why: 'time: clocks (also a stub\'s process CPU clock), the sentry\'s tick timer, sleeps' },
  { names: ['rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'sigaltstack'], why: 'signal handling: forwarded host signals, O_ASYNC readiness, Node\'s own handlers' },
  { names: ['getrandom'], why: 'V8\'s hash seeds and Math.random' },
  // I/O on fds the sentry already holds (stdio, gofer channel, files the gofer handed over,
  // host sockets, the control socket and what it receives).
  { names: ['read', 'write', 'readv', 'writev', 'pread64', 'pwrite64', 'preadv', 'pwritev', 'close', 'dup', 'dup3', 'fcntl', 'fstat', 'statx', 'newfstatat', 'fstatfs', 'fsync', 'fdatasync', 'getdents64', 'sendfile', 'splice'], why: 'I/O on fds the sentry holds (stdio, gofer-given files, sockets); statx/newfstatat only resolve fds (AT_EMPTY_PATH) since the root is empty' },
  { names: ['ioctl'], why: 'terminal ioctls on stdio (TIOCGWINSZ, TIOCSPGRP…), FIONBIO/FIONREAD, SIOCGIF* of the sandbox\'s namespace' },
  { names: ['sendmsg', 'recvmsg', 'sendto', 'recvfrom', 'sendmmsg', 'recvmmsg', 'shutdown', 'getsockopt', 'setsockopt', 'getsockname', 'getpeername', 'bind', 'listen', 'connect', 'accept4'], why: 'the gofer channel (SCM_RIGHTS), moat exec\'s control socket, and the sandbox\'s host sockets in its network namespace' },
  ...[AF_INET, AF_INET6, AF_NETLINK].map((family): AllowEntry => ({
    names: ['socket'], why: 'host sockets of the sandbox, in its network namespace: AF_INET/AF_INET6 TCP and UDP, AF_NETLINK (NETLINK_ROUTE dumps); no AF_UNIX (the sandbox\'s are the sentry\'s own), raw or packet family',
    args: [{ index: 0, value: family, op: 'SCMP_CMP_EQ' }],
  })),
  // Facts about itself and the host it reports to the application.
  { names: ['uname', 'sysinfo', 'getrlimit', 'prlimit64', 'getrusage', 'getuid', 'geteuid', 'getgid', 'getegid', 'getcwd', 'sched_getparam', 'sched_getscheduler', 'getpriority', 'capget'], why: 'facts about the sentry and the host (memory, limits, ids) that it reports or that Node asks for' },
  { names: ['prctl'], why: 'PR_SET_NAME of a new thread, PR_GET/SET_* Node checks at exit; harmless once no_new_privs and the filter are set (seccomp modes cannot be relaxed)' },
];

/** The OCI seccomp object of the sentry's filter: default kill (or log, when measuring). */
export function sentrySeccompSpec(measure: boolean): Record<string, unknown> {
  return {
    defaultAction: measure ? 'SCMP_ACT_LOG' : 'SCMP_ACT_KILL_PROCESS',
    architectures: ['SCMP_ARCH_X86_64'],
    flags: ['SECCOMP_FILTER_FLAG_TSYNC'],
    syscalls: [
      // glibc tries clone3 first and falls back to clone on ENOSYS: the flags of clone3 are in
      // memory, where a filter cannot see them.
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      // No path is ever opened (the root is empty too). Refused, not killed: glibc's malloc opens
      // /proc/sys/vm/overcommit_memory the first time a thread's heap shrinks (measured), and
      // ICU may look for time zone files; both take a failure in their stride.
      { names: ['open', 'openat', 'openat2', 'creat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
      ...SENTRY_ALLOW.map((e) => ({
        names: e.names,
        action: 'SCMP_ACT_ALLOW',
        ...(e.args ? { args: e.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op })) } : {}),
      })),
    ],
  };
}

/** How many distinct syscalls the filter lets through (for the docs and the test). */
export function allowedSyscallCount(): number {
  return new Set(SENTRY_ALLOW.flatMap((e) => e.names)).size;
}
