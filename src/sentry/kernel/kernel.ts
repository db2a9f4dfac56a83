// The sentry's kernel: the task table, the scheduler loop and the syscall dispatch.
//
// One loop, synchronous, on Node's main thread (the stubs' tracer): wait for the next stop of any
// application thread, serve it, resume. A task whose syscall must wait (a read of an empty pipe,
// wait4, futex, nanosleep) is parked on wait queues here, never in Node's event loop; its host
// thread simply stays stopped.

import { watchCpuLimit } from './cpu-limit';
import { ERESTARTSYS, ERESTARTNOHAND, EINTR, ENOSYS } from '../abi/errno';
import { SIGBUS, SIGKILL } from '../abi/signals';
import { MemoryManager } from '../mm/mm';
import { NO_WAIT, STOP, type Context, type Platform } from '../platform/types';
import { REG } from '../platform/registers';
import type { SyscallTable, SyscallTracer } from './dispatch';
import { FdTable, type Vfs } from '../vfs';
import { execTask } from './exec';
import { copyCreds } from './creds';
import { exitTask, killThreadGroup } from './exit';
import { deliverSignals, sendSignalToGroup, faultSignal } from './signals';
import { emulateVsyscall } from './vsyscall';
import { ptraceSyscallEnter, ptraceSyscallExit } from './ptrace';
import { SignalHandlers, Task, ThreadGroup, BLOCK, type Credentials, type Rlimit } from './task';
import { Machine } from './machine';
import { PodContainer } from './pod-container';
import { PidNamespace } from './pidns';

/** The host fds the platform watches at once (sentry.c MAX_WATCH). */
const MAX_WATCHED_FDS = 4096;

export interface KernelOptions {
  platform: Platform;
  vfs: Vfs;
  /** The syscall table the kernel dispatches through (syscalls/linux: linuxSyscalls). */
  syscalls: SyscallTable;
  /** --strace: trace every syscall (syscalls/linux/strace.ts: straceTracer). */
  tracer?: SyscallTracer;
  /** Report a bug of the sentry's (a handler threw): each time, with the syscall, message and detail. */
  onInternalError?: (syscall: string, message: string, detail: string) => void;
  /** Report each call of an unimplemented syscall (the reporter counts them). */
  onUnimplemented?: (name: string, nr: number) => void;
  hostname: string;
  creds: Credentials;
  rlimits: Map<number, Rlimit>;
  /** The machine shown to the application (memory, CPUs); default: 2 GiB and one CPU. */
  machine?: Machine;
}

export class Kernel {
  readonly byHost = new Map<number, Task>();
  /** The sandbox's PID namespace; a pod's later containers may have their own (pidNamespaces). */
  readonly pidns = new PidNamespace(true);
  readonly pidNamespaces = new Set<PidNamespace>([this.pidns]);
  readonly platform: Platform;
  readonly syscalls: SyscallTable;
  readonly vfs: Vfs;
  readonly bootTime = performance.now();
  /** The machine shown to the application: the container's limits (kernel/machine.ts). */
  readonly machine: Machine;
  hostname: string;
  domainname = '(none)';
  private readonly ready: Task[] = [];
  /** Ready tasks of a frozen container (freeze below): out of the run queue until it is thawed. */
  private readonly held = new Set<Task>();
  private readonly sleepers = new Set<Task>();
  /** Host fds some parked task waits on, and who. */
  private readonly hostWatch = new Map<number, Set<Task>>();
  private watchDirty = false;
  init: ThreadGroup | undefined;
  /** The sandbox's container (the sentry's own config): its mount tree is opts.vfs. */
  readonly sandbox: PodContainer;
  /** The init's wait status once it is gone: the container's exit. */
  private result: number | undefined;

  constructor(readonly opts: KernelOptions) {
    this.platform = opts.platform;
    this.syscalls = opts.syscalls;
    this.vfs = opts.vfs;
    this.hostname = opts.hostname;
    this.machine = opts.machine ?? new Machine();
    this.sandbox = new PodContainer('', opts.vfs, this.pidns);
  }

  /** Every live task of every PID namespace (what is global in Linux: /proc/stat, loadavg, sysinfo). */
  *allTasks(): IterableIterator<Task> {
    for (const ns of this.pidNamespaces) yield* ns.tasks.values();
  }

  *allGroups(): IterableIterator<ThreadGroup> {
    for (const ns of this.pidNamespaces) yield* ns.groups.values();
  }

  newMemoryManager(): MemoryManager {
    return new MemoryManager(this.platform.memory);
  }

  /** Start the container's init: pid 1 running argv[0] (resolved by the caller). */
  startInit(file: string, argv: string[], envp: string[], cwd: string, files: FdTable): number {
    const r = this.spawnProcess({ file, argv, envp, cwd, files, init: true });
    return r < 0 ? r : 0;
  }

  /**
   * A new process with no parent in the sandbox (the init, or one `moat exec` starts): returns its
   * pid or -errno (then nothing is left of it).
   */
  spawnProcess(o: {
    file: string; argv: string[]; envp: string[]; cwd: string; files: FdTable; init?: boolean; creds?: Credentials;
    /** The pod's container it belongs to (default: the sandbox's); rlimits: its own (default: the sandbox's). */
    container?: PodContainer; rlimits?: Map<number, Rlimit>;
  }): number {
    const ns = o.container?.pidns ?? this.pidns;
    const pid = ns.allocPid();
    const container = o.container ?? this.sandbox;
    const tg = new ThreadGroup(pid, undefined, new SignalHandlers(), 0, new Map([...(o.rlimits ?? this.opts.rlimits)].map(([k, v]) => [k, { ...v }])));
    tg.container = container;
    tg.pidns = ns;
    // No stub yet: execTask builds the program's address space in a stub of its own.
    const mm = this.newMemoryManager();
    mm.users = 1;
    const creds = o.creds ?? this.opts.creds;
    const t = new Task(this, pid, tg, mm, o.files, container.vfs.initialFsContext(o.cwd), copyCreds(creds), 'init');
    tg.leader = t;
    tg.tasks.add(t);
    ns.tasks.set(pid, t);
    ns.groups.set(pid, tg);
    if (o.init) this.init = tg;
    if (!ns.init) ns.init = tg;
    const enc = (s: string) => Buffer.from(s);
    const r = execTask(t, o.file, o.argv.map(enc), o.envp.map(enc), { firstExec: true });
    if (r < 0) {
      mm.destroy();
      ns.tasks.delete(pid);
      ns.groups.delete(pid);
      if (o.init) this.init = undefined;
      if (ns.init === tg) ns.init = undefined;
      return r;
    }
    t.state = 'ready';
    this.ready.push(t);
    // The container's RLIMIT_CPU (OCI process.rlimits), if it has one.
    watchCpuLimit(tg);
    return pid;
  }

  /** A process without a parent in the sandbox (from `moat exec`) exited: who wants to know. */
  onOrphanExit: ((tg: ThreadGroup, status: number) => void) | undefined;

  /** Host fds with a callback when readable (the control socket). */
  private readonly hostCallbacks = new Map<number, () => void>();

  /** fd (the sentry's own, e.g. its control socket) is signal-driven: readable → cb, no polling. */
  watchHostCallback(fd: number, cb: (() => void) | undefined): void {
    if (cb) {
      this.hostCallbacks.set(fd, cb);
      this.platform.asyncFd(fd);
    } else this.hostCallbacks.delete(fd);
  }

  // ---- scheduling ----

  makeReady(t: Task, rerun: boolean): void {
    if (t.state === 'dead') return;
    this.sleepers.delete(t);
    this.unwatch(t);
    t.state = 'ready';
    if (rerun) t.rerun = true;
    this.ready.push(t);
  }

  /** Task.block calls this: track its deadline and host fds. */
  parked(t: Task): void {
    if (t.deadline !== Infinity) this.sleepers.add(t);
  }

  /** A parked task also waits for a host fd to become readable. */
  watchHostFd(t: Task, fd: number): void {
    let s = this.hostWatch.get(fd);
    if (!s) this.hostWatch.set(fd, (s = new Set()));
    if (s.has(t)) return;
    s.add(t);
    let mine = this.watchesOf.get(t);
    if (!mine) this.watchesOf.set(t, (mine = []));
    mine.push(fd);
    this.watchDirty = true;
  }

  /** The host fds each parked task watches (hostWatch's keys it is in): a wake-up drops only its own, not a scan of every watch. */
  private readonly watchesOf = new Map<Task, number[]>();

  private unwatch(t: Task): void {
    const mine = this.watchesOf.get(t);
    if (!mine) return;
    this.watchesOf.delete(t);
    for (const fd of mine) {
      const s = this.hostWatch.get(fd);
      if (s?.delete(t)) {
        if (s.size === 0) this.hostWatch.delete(fd);
        this.watchDirty = true;
      }
    }
  }

  /** Interrupt a parked task for a signal: it returns -EINTR (or restarts, per SA_RESTART). */
  interrupt(t: Task): void {
    if (t.state !== 'blocked') return;
    if (t.wakeOnSignal) {
      t.wake();
      return;
    }
    // The parked call's last word before it returns EINTR (a sleep's time left, counted now).
    (t.blockState as { onInterrupt?: () => void } | undefined)?.onInterrupt?.();
    t.unblock();
    t.interrupted = t.interruptResult;
    this.sleepers.delete(t);
    this.unwatch(t);
    t.state = 'ready';
    this.ready.push(t);
  }

  /** Run until the init exits; returns its wait status. */
  run(): number {
    const p = this.platform;
    let current: Task | undefined;
    for (;;) {
      if (this.result !== undefined) return this.result;
      if (this.watchDirty) {
        this.watched = [...this.hostWatch.keys()];
        p.watchFds(this.watched);
        this.watchDirty = false;
      }
      // Resume one ready task (delivering its signals first), then take the next stop.
      current = this.ready.shift();
      if (current) {
        const t = current;
        if (t.state !== 'ready') continue;
        // A paused container's task waits here, as it is (a woken syscall keeps its rerun, signals
        // stay queued); a dying process (SIGKILL, exit_group) goes on to its end.
        if (t.tg.container?.frozen && t.tg.exiting === undefined) {
          this.held.add(t);
          continue;
        }
        if (t.rerun) {
          t.rerun = false;
          this.syscall(t);
          continue;
        }
        if (t.interrupted !== 0) {
          t.retval = t.interrupted;
          t.interrupted = 0;
          t.dropBlockState();
          // The syscall ends here: what it set for its wait must not reach the next one.
          t.interruptResult = -ERESTARTSYS;
          t.wakeOnSignal = false;
          t.timedOut = false;
          // PTRACE_SYSCALL: an interrupted call has its exit stop too, before the signal's.
          if (ptraceSyscallExit(t)) continue;
        }
        if (t.tg.exiting !== undefined) {
          exitTask(t, t.tg.exiting);
          continue;
        }
        deliverSignals(t);
        if (t.state !== 'ready') continue;
        if (t.tg.stopped) {
          t.state = 'stopped';
          continue;
        }
        if (t.retval === -ERESTARTSYS || t.retval === -ERESTARTNOHAND) t.retval = -EINTR;
        t.state = 'running';
        this.onHost.delete(t);
        this.onHost.add(t);
        const c = t.ctx!;
        if (t.fullRegs) {
          if (t.inSyscall) t.regs.set(REG.rax, t.retval);
          c.resumeFull(t.regs);
          t.fullRegs = false;
        } else c.resumeSyscall(t.retval);
      }
      const timeout = this.ready.length > 0 ? NO_WAIT : this.nextTimeout();
      const ev = p.wait(timeout, this.longestOnHost(current));
      if (ev.tid > 0) {
        const r = this.byHost.get(ev.tid);
        if (r) this.onHost.delete(r);
      }
      switch (ev.reason) {
        case STOP.syscall: {
          const t = this.byHost.get(ev.tid);
          if (!t || t.state === 'dead') {
            ev.context?.resume();
            break;
          }
          t.regs.copyFrom(ev.regs);
          this.syscall(t);
          break;
        }
        case STOP.fault: {
          const t = this.byHost.get(ev.tid);
          if (!t || t.state === 'dead') break;
          t.regs.copyFrom(ev.regs);
          const f = ev.fault;
          if (!emulateVsyscall(t, ev.signal, f.code, f.addrHi, f.addrLo)) {
            // A SIGBUS on a file page the file has grown over since: the page is mapped now, retry.
            const retry = ev.signal === SIGBUS && t.mm.resolveBusFault(f.addr);
            if (!retry) faultSignal(t, ev.signal, f.code, f.addr);
          }
          this.opts.tracer?.log(`[${t.tid}] --- fault: signal ${ev.signal} code ${f.code} addr 0x${f.addr.toString(16)} rip 0x${t.regs.get(REG.rip).toString(16)} rsp 0x${t.regs.get(REG.rsp).toString(16)} ---`);
          t.inSyscall = false;
          t.retval = 0;
          t.fullRegs = true;
          t.state = 'ready';
          this.ready.push(t);
          break;
        }
        case STOP.interrupt: {
          const t = this.byHost.get(ev.tid);
          if (t && t.state === 'running') {
            t.regs.copyFrom(ev.regs);
            t.fullRegs = true;
            t.inSyscall = false;
            t.retval = 0;
            t.state = 'ready';
            this.ready.push(t);
          }
          break;
        }
        case STOP.exit: {
          const t = this.byHost.get(ev.tid);
          this.byHost.delete(ev.tid);
          if (t && t.state !== 'dead') {
            // Killed on the host (OOM, a stray SIGKILL): the whole process goes.
            killThreadGroup(t.tg, SIGKILL);
            exitTask(t, SIGKILL);
          }
          break;
        }
        case STOP.hostSignal:
          this.hostSignals(p.takeHostSignals());
          break;
        case STOP.asyncFd:
          for (const cb of [...this.hostCallbacks.values()]) cb();
          break;
        case STOP.watch:
          this.wakeReady();
          break;
        case STOP.timeout:
          // More host fds than the platform watches: the unwatched ones' waiters look again (at least every second).
          if (this.hostWatch.size > MAX_WATCHED_FDS) for (const s of [...this.hostWatch.values()]) for (const t of [...s]) t.wake();
          break;
        case STOP.idle:
          if (this.ready.length === 0 && this.sleepers.size === 0 && this.held.size === 0) {
            if (this.result === undefined) this.result = 0x7f00; // nothing left to run
          }
          break;
        default:
          break;
      }
      this.expireTimers();
    }
  }

  /** Tasks resumed on the host and not heard from since, oldest first. */
  private readonly onHost = new Set<Task>();

  /**
   * The context of the task resumed longest ago and not heard from (none: undefined), other than the one
   * just resumed: the wait takes its stop first if it has one. Linux's wait reports the stub's
   * main thread (a child) before its other threads (tracees only), so a thread that keeps stopping
   * at once would otherwise be served while another's stop stays queued (a busy connect loop
   * starved its accepting thread until the listen backlog overflowed).
   */
  private longestOnHost(current: Task | undefined): Context | undefined {
    for (const t of this.onHost) {
      if (t.state !== 'running') {
        this.onHost.delete(t);
        continue;
      }
      if (t !== current) return t.ctx;
    }
    return undefined;
  }

  /** The keys of hostWatch as last given to the platform (pollWatched answers in this order). */
  private watched: number[] = [];

  /** A watched host fd may be ready: wake the tasks of those that are, for the events they wait for. */
  private wakeReady(): void {
    if (this.watchDirty) {
      this.watched = [...this.hostWatch.keys()];
      this.platform.watchFds(this.watched);
      this.watchDirty = false;
    }
    const rev = this.platform.pollWatched();
    for (let i = 0; i < rev.length; i++) {
      if (rev[i] === 0) continue;
      const s = this.hostWatch.get(this.watched[i]);
      if (s) for (const t of [...s]) t.wake();
    }
  }

  private nextTimeout(): number {
    let next = Infinity;
    for (const t of this.sleepers) next = Math.min(next, t.deadline);
    for (const d of this.timerDeadlines) next = Math.min(next, d.deadline);
    // Past the platform's limit the unwatched fds' waiters look again every second; else the wait
    // needs no deadline (a watched fd's readiness ends it: no timer to arm per wait).
    if (next === Infinity) return this.hostWatch.size > MAX_WATCHED_FDS ? 1000 : -1;
    return Math.max(0, next - performance.now());
  }

  /** Interval timers and alarms (setitimer/alarm): a callback at a deadline. */
  readonly timerDeadlines = new Set<{ deadline: number; fire: () => void }>();

  private expireTimers(): void {
    const now = performance.now();
    for (const t of this.sleepers) {
      if (t.deadline <= now) {
        this.sleepers.delete(t);
        t.timedOut = true;
        t.wake();
      }
    }
    for (const tm of this.timerDeadlines) {
      if (tm.deadline <= now) {
        this.timerDeadlines.delete(tm);
        tm.fire();
      }
    }
  }

  /** Serve the syscall t stopped at (or re-run it after a wake-up). */
  syscall(t: Task): void {
    const nr = t.regs.getSigned(REG.orig_rax);
    t.sysno = nr;
    t.state = 'running';
    t.inSyscall = true;
    if (t.tg.exiting !== undefined) {
      exitTask(t, t.tg.exiting);
      return;
    }
    // PTRACE_SYSCALL: the tracer sees the call first (and may change or skip it: orig_rax -1).
    if (ptraceSyscallEnter(t)) return;
    const tracer = this.opts.tracer;
    const entered = tracer ? tracer.enter(t, nr) : '';
    const buf = tracer ? tracer.buffer(t, nr) : 0;
    const gofer = tracer ? t.vfs.client.calls.slice() : undefined;
    // int $0x80 / sysenter: the 32-bit ABI, which the sentry does not offer (numbers differ).
    const rip = t.regs.get(REG.rip);
    const b0 = t.mm.byteAt(rip - 2);
    let r =
      b0 === 0xcd || (b0 === 0x0f && t.mm.byteAt(rip - 1) === 0x34) ? -ENOSYS
      : nr < 0 && t.ptraceEntered ? t.retval // skipped by the tracer: rax is what it left there
      : this.syscalls.dispatch(t, nr);
    if (r === BLOCK) {
      if (tracer && !t.timedOut) tracer.log(`${entered}) parked`);
      return;
    }
    if ((t.state as string) === 'dead') {
      if (tracer) tracer.log(`${entered}) = ?`);
      return;
    }
    t.timedOut = false;
    t.dropBlockState();
    t.interruptResult = -ERESTARTSYS;
    t.wakeOnSignal = false;
    if (tracer) tracer.log(tracer.exit(t, nr, entered, r, buf) + tracer.goferNote(gofer!, t.vfs.client.calls));
    if ((t.state as string) === 'blocked') return;
    if (r === -ERESTARTSYS && !t.hasDeliverableSignal()) r = -EINTR;
    t.retval = r;
    if ((t.state as string) === 'stopped') {
      t.ptraceEntered = false;
      return;
    }
    if (ptraceSyscallExit(t)) return;
    t.state = 'ready';
    // At the back, behind tasks woken meanwhile: at the front, threads that keep making
    // syscalls (a trylock spin) were served forever and a woken lock owner never ran.
    this.ready.push(t);
  }

  /** A handler threw: report it on the sentry's log (the reporter keeps one report per message). */
  internalError(t: Task, name: string, err: unknown): void {
    const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const stack = err instanceof Error && err.stack ? `\n${err.stack.split('\n').slice(1, 4).join('\n')}` : '';
    this.opts.onInternalError?.(name, msg, `sentry bug in ${name} (task ${t.tid}): ${msg}${stack}`);
  }

  unimplemented(t: Task, nr: number): void {
    this.opts.onUnimplemented?.(this.syscalls.name(nr), nr);
    void t;
  }

  // ---- the host side ----

  /** Signals sent to the sentry process (moat kill): to the container's init. */
  private hostSignals(mask: number): void {
    for (let sig = 1; sig < 32; sig++) {
      if (!(mask & (1 << sig)) || !this.init || !this.init.alive) continue;
      // From the terminal (^C, ^\\, ^Z, a resize): to its foreground process group, as a tty does.
      const fg = this.terminalForeground?.() ?? 0;
      if (fg > 0 && (sig === 2 || sig === 3 || sig === 20 || sig === 28)) {
        let sent = false;
        for (const tg of [...this.init.pidns.groups.values()]) {
          if (tg.alive && tg.pgid === fg) {
            sendSignalToGroup(tg, { signo: sig, code: 0x80, pid: 0, uid: 0 }, tg === this.init);
            sent = true;
          }
        }
        if (sent) continue;
      }
      sendSignalToGroup(this.init, { signo: sig, code: 0, pid: 0, uid: 0 }, true);
    }
  }

  /** With a terminal: the sandbox's foreground process group on it (set by main). */
  terminalForeground: (() => number) | undefined;

  /** The init exited: the container is done; every other process goes with it. */
  initExited(status: number): void {
    this.result = status;
    for (const tg of [...this.allGroups()]) if (tg.alive && tg !== this.init) killThreadGroup(tg, SIGKILL);
    for (const t of [...this.allTasks()]) if (t.state !== 'dead') exitTask(t, SIGKILL);
  }

  /**
   * Pause a container of the pod, as a cgroup freezer: its tasks on the host are stopped (an
   * interrupt: back to the kernel, where they are held), a parked syscall stays parked and is held
   * when it wakes, new tasks (fork, exec into it) are held from the start. The pod's other
   * containers run on. SIGKILL still ends a held task (killThreadGroup exits it at once).
   */
  freeze(c: PodContainer): void {
    if (c.frozen) return;
    c.frozen = true;
    for (const t of this.allTasks()) if (t.tg.container === c && t.state === 'running') t.ctx?.interrupt();
  }

  /** Resume a paused container: its held tasks go back to the run queue, as they were. */
  thaw(c: PodContainer): void {
    if (!c.frozen) return;
    c.frozen = false;
    for (const t of [...this.held]) {
      if (t.tg.container !== c) continue;
      this.held.delete(t);
      if (t.state === 'ready') this.ready.push(t);
    }
  }

  /** Remove from the scheduler (the task died). */
  forget(t: Task): void {
    this.held.delete(t);
    this.sleepers.delete(t);
    this.unwatch(t);
    const i = this.ready.indexOf(t);
    if (i >= 0) this.ready.splice(i, 1);
  }

  shutdown(): void {
    for (const t of [...this.allTasks()]) if (t.state !== 'dead') exitTask(t, SIGKILL);
  }
}
