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

/**
 * The ioctl requests the sentry makes, all on fds it holds: the console's terminal requests
 * (ttyIoctl, native/bindings/sentry.c), the socket and interface requests of net/ (net.c), and
 * libuv's own (FIONBIO, FIOCLEX, TCGETS for isatty). No other request reaches the host.
 */
const IOCTLS: Record<string, number> = {
  TCGETS: 0x5401, TCSETS: 0x5402, TCSETSW: 0x5403, TCSETSF: 0x5404, TIOCGWINSZ: 0x5413, TIOCSWINSZ: 0x5414,
  FIONREAD: 0x541b, FIONBIO: 0x5421, FIOCLEX: 0x5451, FIONCLEX: 0x5450,
  SIOCOUTQ: 0x5411, SIOCATMARK: 0x8905, SIOCOUTQNSD: 0x894b,
  SIOCGIFNAME: 0x8910, SIOCGIFCONF: 0x8912, SIOCGIFFLAGS: 0x8913, SIOCGIFADDR: 0x8915, SIOCGIFDSTADDR: 0x8917,
  SIOCGIFBRDADDR: 0x8919, SIOCGIFNETMASK: 0x891b, SIOCGIFMETRIC: 0x891d, SIOCGIFMTU: 0x8921, SIOCGIFHWADDR: 0x8927,
  SIOCGIFINDEX: 0x8933, SIOCGIFTXQLEN: 0x8942,
};
const IOCTL_WHY: Record<string, string> = {
  TCGETS: 'the console\'s termios for the application; isatty()', TCSETS: 'the application sets the console\'s termios',
  TCSETSW: 'the same, after output drains', TCSETSF: 'the same, input flushed', TIOCGWINSZ: 'the console\'s window size',
  TIOCSWINSZ: 'the application resizes the console', FIONREAD: 'bytes waiting on stdin or a socket',
  FIONBIO: 'libuv making an fd non-blocking', FIOCLEX: 'libuv marking an fd close-on-exec', FIONCLEX: 'libuv clearing it',
};

/** PR_SET_NAME: the one prctl (a new Node/V8 thread names itself). */
const PR_SET_NAME = 15;

/**
 * The list, grouped by reason. One entry per rule: entries with args each stand alone.
 * "measured": seen on the sentry's threads after confinement (perf trace, and the measure mode
 * over the sentry's test suites, docs/sentry.md); "code": a path of moat's or Node's that makes it,
 * named in the reason, which the measured runs did not happen to take.
 */
export const SENTRY_ALLOW: readonly AllowEntry[] = [
  // The trap: the sentry is the tracer of every stub (platform/ptrace, native/bindings/sentry.c).
  ...Object.values(PTRACE_REQUESTS).map((req): AllowEntry => ({
    names: ['ptrace'], why: 'measured: tracing the stubs, one request of those the platform makes (PEEK/POKEDATA, POKEUSER, CONT, GET/SETREGS, GET/SETFPREGS, SYSEMU, GETEVENTMSG, GETSIGINFO); no ATTACH, SEIZE or SETOPTIONS', args: [{ index: 0, value: req, op: 'SCMP_CMP_EQ' }],
  })),
  { names: ['wait4'], why: 'measured: the next event of a stub (waitpid __WALL), reaping one' },
  { names: ['waitid'], why: 'code: the tracer\'s blocking wait (sentry.c wait_event_blocking): waitid(WNOWAIT) leaves the stop queued, so a readiness or host signal whose handler leaves the wait with siglongjmp loses no stop; wait4 has no WNOWAIT' },
  { names: ['tgkill', 'kill'], why: 'code: SIGKILL of an address space, SIGSTOP to interrupt a running stub thread (PtraceAddressSpace.release, PtraceContext.interrupt)' },
  // Memory: the application's memory files (mm/) and Node's own heap.
  { names: ['memfd_create', 'ftruncate', 'fallocate', 'copy_file_range', 'lseek'], why: 'measured: memory files of the address spaces — create, size, punch holes, copy at fork (SEEK_DATA extents)' },
  { names: ['mmap', 'munmap', 'mprotect', 'madvise'], why: 'measured: the V8 heap and code space, mapping memory files into the sentry' },
  { names: ['brk', 'mremap'], why: 'code: glibc malloc growing the main arena, realloc of a large block' },
  // Threads: V8's platform workers (running), libuv's pool (started on first use).
  { names: ['futex', 'sched_yield', 'gettid', 'getpid', 'rt_sigprocmask'], why: 'measured: locks and waits between Node\'s threads' },
  { names: ['clone'], why: 'code: a new thread of Node/V8 (pthread_create); the flags are a thread\'s, never a fork or a namespace', args: [{ index: 0, value: THREAD_CLONE_FLAGS, op: 'SCMP_CMP_EQ' }] },
  { names: ['set_robust_list', 'rseq'], why: 'code: glibc starting a new thread' },
  { names: ['prctl'], why: 'code: a new thread names itself (PR_SET_NAME only)', args: [{ index: 0, value: PR_SET_NAME, op: 'SCMP_CMP_EQ' }] },
  { names: ['exit', 'exit_group'], why: 'measured: a thread ends; the sentry exits with the init\'s status' },
  // Waiting, time, signals.
  { names: ['epoll_pwait', 'epoll_ctl', 'ppoll', 'poll'], why: 'measured: Node\'s event loop (control socket), waits on host fds (stdin, sockets; pollIn)' },
  { names: ['clock_gettime', 'clock_nanosleep', 'timer_create', 'timer_settime'], why: 'measured: clocks (also a stub\'s process CPU clock, kernel/cputime.ts), the deadline timer of a wait, sleeps' },
  { names: ['clock_getres', 'gettimeofday'], why: 'code: the host clocks the application\'s are (kernel/host-clock.ts: a coarse clock\'s tick, the kernel\'s timezone); the host\'s vDSO answers them, a syscall only on a host without one' },
  { names: ['rt_sigaction', 'rt_sigreturn'], why: 'measured: host signals forwarded to the sandbox, O_ASYNC readiness (the control socket; SIGIO of the sandbox\'s host sockets), returning from a handler' },
  { names: ['getrandom'], why: 'code: crypto.randomUUID (the boot id of /proc/sys/kernel/random), V8\'s hash seeds' },
  // I/O on fds the sentry already holds: stdio, the gofer channel and the files it hands over,
  // host sockets, the control socket and what comes through it, the held log and /proc/net files.
  { names: ['read', 'write', 'pread64', 'pwrite64', 'writev', 'close', 'fcntl', 'fstat', 'statx'], why: 'measured: I/O on held fds; statx/fstat of an fd (a path resolves in the empty root)' },
  ...Object.entries(IOCTLS).map(([name, req]): AllowEntry => ({
    names: ['ioctl'], why: `code: ${name} — ${IOCTL_WHY[name] ?? 'the sandbox\'s sockets (net/inet, net/netdev)'}`,
    args: [{ index: 1, value: req, op: 'SCMP_CMP_EQ' }],
  })),
  { names: ['sendmsg', 'recvmsg'], why: 'measured: the gofer channel and the control socket (SCM_RIGHTS), the sandbox\'s sockets' },
  { names: ['connect', 'bind', 'listen', 'accept4', 'getsockname', 'getpeername'], why: 'measured: the sandbox\'s host sockets; accepting moat exec on the control socket' },
  { names: ['setsockopt', 'getsockopt', 'shutdown'], why: 'code: socket options of the sandbox\'s sockets (an allow-list, net/inet), shutdown(2)' },
  ...[AF_INET, AF_INET6, AF_NETLINK].map((family): AllowEntry => ({
    names: ['socket'], why: 'measured: host sockets of the sandbox, in its network namespace: AF_INET/AF_INET6 TCP and UDP, AF_NETLINK (NETLINK_ROUTE dumps); no AF_UNIX (the sandbox\'s are the sentry\'s own), raw or packet family',
    args: [{ index: 0, value: family, op: 'SCMP_CMP_EQ' }],
  })),
];

/** The OCI seccomp object of the sentry's filter: default kill (or trap, when measuring). */
export function sentrySeccompSpec(measure: boolean): Record<string, unknown> {
  return {
    defaultAction: measure ? 'SCMP_ACT_TRAP' : 'SCMP_ACT_KILL_PROCESS',
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
      // The same for looking a path up: ICU reads the /etc/localtime link to name the time zone
      // (measured: the sentry reads the zone before confining itself, host-facts.ts, but a time
      // zone change would have ICU look again).
      { names: ['readlink', 'readlinkat', 'access', 'faccessat', 'faccessat2', 'stat', 'lstat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
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
