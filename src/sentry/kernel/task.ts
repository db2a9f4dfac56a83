// Tasks (threads) and thread groups (processes), as the sentry's kernel keeps them. A task runs
// on one host thread of its address space's stub; everything else about it lives here.

import type { MemoryManager } from '../mm/mm';
import { Registers } from '../platform/registers';
import type { Context } from '../platform/types';
import type { FdTable, FsContext, Vfs } from '../vfs';
import type { Credentials } from './creds';
import type { Kernel } from './kernel';
import type { PtraceStop } from './ptrace';
import type { PodContainer } from './pod-container';
import type { PidNamespace } from './pidns';
import { type SigAction, type SigInfo, sigbit, SIG_DFL } from './signal-types';
import { WaitQueue, type Waiter } from './waitqueue';

/** A syscall handler's result when the task was parked (see Task.block). */
export const BLOCK = -0x7fff_fff0;

export type { Credentials } from './creds';

export class SignalHandlers {
  readonly actions: SigAction[] = [];
  constructor() {
    for (let i = 0; i <= 64; i++) this.actions.push({ handler: SIG_DFL, flags: 0, restorer: 0, mask: 0n });
  }
  clone(): SignalHandlers {
    const c = new SignalHandlers();
    for (let i = 0; i <= 64; i++) c.actions[i] = { ...this.actions[i] };
    return c;
  }
}

export interface Rlimit {
  cur: number;
  max: number;
}

export type TaskState = 'running' | 'ready' | 'blocked' | 'stopped' | 'dead';

export class ThreadGroup {
  readonly tasks = new Set<Task>();
  readonly children = new Set<ThreadGroup>();
  /** The thread of the parent that forked it (its real_parent; /proc/<pid>/task/<tid>/children). */
  parentThread = 0;
  /** Notified when a child changes state (exit, stop, continue): wait4/waitid park here. */
  readonly childEvents = new WaitQueue();
  /** Notified whenever a signal is queued to the process or one of its threads (signalfd). */
  readonly signalQueue = new WaitQueue();
  readonly pending: SigInfo[] = [];
  pgid: number;
  sid: number;
  /** Wait status once every task has exited; undefined while alive. */
  exitStatus: number | undefined;
  /** exit_group/fatal signal in progress: the status every task leaves with. */
  exiting: number | undefined;
  reaped = false;
  /** Job control: stopped by a stop signal, and what the parent has yet to be told. */
  stopped = false;
  stopSignal = 0;
  reportStop = false;
  reportContinue = false;
  exitSignal: number;
  readonly startTime: number;
  /** Accumulated CPU time of exited children (for times/getrusage), in clock ticks. */
  childTicks = 0;
  /** CPU time (ns) of this process's exited tasks (kernel/cputime.ts). */
  deadCpuNs = 0n;
  /** I/O counts of this process's exited tasks (/proc/pid/io). */
  readonly deadIo: IoAccounting = newIoAccounting();
  /** CPU time (ns) of the children (and their waited-for children) this process reaped. */
  childCpuNs = 0n;
  rlimits: Map<number, Rlimit>;
  /**
   * PR_GET_DUMPABLE (Linux keeps it on the mm): 0 once the process changed ids or ran a
   * set-ID program; its /proc files then belong to root.
   */
  dumpable = 1;
  leader!: Task;
  /** The thread that created this process (wait's __WNOTHREAD); undefined once it is gone or reparented. */
  parentTask: Task | undefined;
  /** Its leader was traced by its parent when it exited: the zombie is still the tracer's to wait for. */
  tracedAtExit = false;
  vforkDone = new WaitQueue();
  /**
   * The container of the pod this process belongs to (kernel/pod-container.ts): its mount tree.
   * Set when the process is made (spawnProcess, clone) and inherited by its children.
   */
  container!: PodContainer;
  /** Its PID namespace: the numbers it sees (its pids, pgids, sids) are that namespace's. */
  pidns!: PidNamespace;

  constructor(
    readonly tgid: number,
    public parent: ThreadGroup | undefined,
    public handlers: SignalHandlers,
    exitSignal: number,
    rlimits: Map<number, Rlimit>,
  ) {
    this.pgid = parent ? parent.pgid : tgid;
    this.sid = parent ? parent.sid : tgid;
    this.exitSignal = exitSignal;
    this.startTime = performance.now();
    this.rlimits = rlimits;
  }

  get alive(): boolean {
    return this.exitStatus === undefined;
  }
}

/** What a blocked task waits for. */
interface BlockRecord {
  queues: WaitQueue[];
  deadline: number;
}

/** What /proc/<pid>/io counts: bytes through read and write calls, and the calls. */
export interface IoAccounting {
  rchar: number;
  wchar: number;
  syscr: number;
  syscw: number;
}

export function newIoAccounting(): IoAccounting {
  return { rchar: 0, wchar: 0, syscr: 0, syscw: 0 };
}

export class Task implements Waiter {
  /** The task's registers: loaded at each stop, changed by handlers, stored when fullRegs. */
  readonly regs = new Registers();
  /** Its read/write calls and bytes (/proc/<pid>/task/<tid>/io). */
  readonly io: IoAccounting = newIoAccounting();
  /** Store all of regs on resume (exec, signal frames, sigreturn, new threads). */
  fullRegs = false;
  /** The syscall's return value, put in rax on resume. */
  retval = 0;
  state: TaskState = 'ready';
  /** Syscall number and arguments of the syscall in progress. */
  sysno = -1;
  /** Handler-private state of a parked syscall, kept across its re-runs; cleared when it returns. */
  blockState: unknown = undefined;
  /** The parked syscall's deadline passed. */
  timedOut = false;
  /** A signal interrupted the parked syscall: the result it returns instead. */
  interrupted = 0;
  /** Woken from a park: run the syscall again instead of resuming. */
  rerun = false;
  /** What a parked syscall returns when a signal interrupts it (ERESTARTSYS: restart if SA_RESTART). */
  interruptResult = -512;
  /** A signal re-runs the parked syscall instead of interrupting it (sigtimedwait). */
  wakeOnSignal = false;
  /** Stopped at a syscall (retval is its result), not at a fault or a kick. */
  inSyscall = false;
  block_: BlockRecord | undefined;
  sigmask = 0n;
  /** Mask to restore after a signal handler runs (rt_sigsuspend, ppoll, pselect). */
  savedMask: bigint | undefined;
  readonly pending: SigInfo[] = [];
  altStack = { sp: 0, size: 0, flags: 2 /* SS_DISABLE */ };
  clearChildTid = 0;
  robustList = 0;
  /** prctl(PR_SET_PDEATHSIG): sent when the thread that forked this one's process exits (0: none; not inherited). */
  pdeathSignal = 0;
  comm: string;
  /** The platform's context this task runs in (undefined before its first exec gives it one). */
  ctx: Context | undefined;
  /** A path walk's caller (vfs/resolve.ts PathCtx): the task itself, what /proc/self names. */
  get caller(): Task {
    return this;
  }
  /** Its host thread id (what a platform stop names; 0 without a context). */
  get hostTid(): number {
    return this.ctx === undefined ? 0 : this.ctx.tid;
  }
  /** A vfork child: the parent waits until this task execs or exits. */
  vforkParent: Task | undefined;
  exitCode = 0;
  /** setpriority's nice value (-20..19), inherited by clone. */
  nice = 0;
  /** sched_setaffinity's CPU mask (one bit per CPU, never written in place), null for every CPU; inherited by clone. */
  affinity: Uint8Array | null = null;
  /** Ticks of CPU time charged to this task (approximate: one per syscall batch). */
  ticks = 0;
  /** CPU time (ns) of the host threads this task ran on before its current one (exec). */
  cpuBaseNs = 0n;
  /** ptrace (kernel/ptrace.ts): who traces this task, whom it traces, its current ptrace-stop. */
  tracer: Task | undefined;
  readonly tracees = new Set<Task>();
  ptraceStop: PtraceStop | undefined;
  ptraceOptions = 0;
  /** PTRACE_SYSCALL: stop at each syscall's entry and exit. */
  ptraceSyscalls = false;
  /** The syscall in progress had its entry stop (its exit stop is next). */
  ptraceEntered = false;
  /** PTRACE_GETEVENTMSG's value. */
  ptraceEventMsg = 0;

  constructor(
    readonly kernel: Kernel,
    readonly tid: number,
    public tg: ThreadGroup,
    public mm: MemoryManager,
    public files: FdTable,
    public fs: FsContext,
    public creds: Credentials,
    comm: string,
  ) {
    this.comm = comm;
  }

  get pid(): number {
    return this.tg.tgid;
  }

  /** Its PID namespace (its thread group's). */
  get pidns(): PidNamespace {
    return this.tg.pidns;
  }

  /** The mount tree this task sees (its container's: Linux's mount namespace). */
  get vfs(): Vfs {
    return this.tg.container?.vfs ?? this.kernel.vfs;
  }

  // ---- syscall arguments (x86-64: rdi rsi rdx r10 r8 r9) ----

  /** Argument i as an unsigned number (addresses, sizes). */
  arg(i: number): number {
    return this.regs.get(ARG_REGS[i]);
  }
  /** Argument i as a signed 32-bit int (fds, flags, pids). */
  argInt(i: number): number {
    return this.regs.i32[ARG_REGS[i] * 2];
  }
  /** Argument i as an unsigned 32-bit int. */
  argU32(i: number): number {
    return this.regs.u32[ARG_REGS[i] * 2];
  }
  /** Argument i as a signed 64-bit number (offsets). */
  argS64(i: number): number {
    return this.regs.getSigned(ARG_REGS[i]);
  }

  // ---- blocking ----

  /**
   * Park the task until one of the queues is notified, the deadline (performance.now() ms)
   * passes, or a signal interrupts it; then the kernel re-runs the syscall. Returns BLOCK, for
   * the handler to return.
   */
  block(queues: WaitQueue[], deadline = Infinity, state?: unknown): number {
    if (state !== undefined) this.blockState = state;
    // A signal already pending interrupts the wait before it starts (signal_pending()).
    if (!this.wakeOnSignal && this.hasDeliverableSignal()) return this.interruptResult;
    this.block_ = { queues, deadline };
    for (const q of queues) q.add(this);
    this.state = 'blocked';
    this.kernel.parked(this);
    return BLOCK;
  }

  /**
   * The parked syscall is over (it returned, a signal ended it, or its task exits): forget its
   * state, and let go of what the state holds (a state with dispose(), e.g. the file a read or
   * write keeps open while it waits, as Linux's fdget holds it for the whole syscall).
   */
  dropBlockState(): void {
    const st = this.blockState as { dispose?: () => void } | undefined;
    this.blockState = undefined;
    if (st && typeof st.dispose === 'function') st.dispose();
  }

  /** Leave the queues (woken, timed out or interrupted). */
  unblock(): void {
    const b = this.block_;
    if (!b) return;
    for (const q of b.queues) q.remove(this);
    this.block_ = undefined;
  }

  wake(): void {
    if (this.state !== 'blocked') return;
    this.unblock();
    this.kernel.makeReady(this, true);
  }

  get deadline(): number {
    return this.block_?.deadline ?? Infinity;
  }

  /** A pending signal this task does not block. */
  hasDeliverableSignal(): boolean {
    const m = this.sigmask;
    for (const s of this.pending) if ((sigbit(s.signo) & m) === 0n) return true;
    for (const s of this.tg.pending) if ((sigbit(s.signo) & m) === 0n) return true;
    return false;
  }
}

export const ARG_REGS = [14, 13, 12, 7, 9, 8];
