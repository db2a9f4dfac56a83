// containerd.task.v2.Task on moat's library: every call runs in this process — create, start, exec,
// signal, pause, update, stats and delete are moat's lifecycle code (src/runtime/lifecycle.ts), not a
// `moat` command. Containers are kept in moat's state store under the namespace's root.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadPlatform } from '../platform';
import { loadBundle } from '../spec/bundle';
import { parseProcess } from '../spec/validate';
import { Runtime } from '../runtime/lifecycle';
import { statusOf } from '../runtime/status';
import { validateId } from '../state/store';
import { MoatError } from '../util/errors';
import { flushProfile, mark, profiling } from '../util/profile';
import { isolationFor, loadConfig } from './config';
import { Publisher } from './events';
import { metricsOf } from './metrics';
import { mountRootfs, unmountRootfs } from './mounts';
import { oomKilled } from './oom';
import { anyOf, decode, encode, timestamp, type Msg } from './proto';
import { openIo } from './stdio';
import { ShimProcess, type ShimTask } from './task';
import { podRole, podVmOf } from './pod';
import { Code, RpcError } from './ttrpc/status';
import type { TtrpcServer } from './ttrpc/server';

/** The vm pod code, loaded by the first pod member (a native or sentry server never needs it). */
const vmPod = () => import('../vm/pod');
/** The sentry pod code, loaded by the first member of a sentry pod. */
const sentryPod = () => import('./sentry-pod');

const SERVICE = 'containerd.task.v2.Task';
const STATUS = { created: 1, running: 2, stopped: 3, paused: 4 } as const;
const PROCESS_SPEC = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

export interface ServiceOptions {
  root: string;
  publisher: Publisher;
  /** Called when containerd's Shutdown finds no task left: the server may exit. */
  onIdle(): void;
  /** With a log (-debug, MOAT_SHIM_LOG): each call's wall time and the server's CPU time meanwhile. */
  trace?: (line: string) => void;
}

export class TaskService {
  private readonly tasks = new Map<string, ShimTask>();
  /** Ids whose Create is under way (a second Create of one id must not touch the first's rootfs). */
  private readonly creating = new Set<string>();
  private readonly rt: Runtime;

  constructor(private readonly o: ServiceOptions) {
    this.rt = new Runtime({ root: o.root, isolation: undefined });
  }

  register(server: TtrpcServer): void {
    const trace = this.o.trace ?? (profiling() ? () => undefined : undefined);
    const m = (name: string, req: string, res: string, fn: (r: Msg) => Promise<Msg>) =>
      server.register(SERVICE, name, !trace ? async (payload) => encode(res, await fn(decode(req, payload))) : async (payload) => {
        mark(`${name} called`);
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        try {
          return encode(res, await fn(decode(req, payload)));
        } finally {
          const c = process.cpuUsage(c0);
          trace(`${name}: ${(performance.now() - t0).toFixed(1)} ms, server CPU ${((c.user + c.system) / 1000).toFixed(1)} ms`);
          mark(`${name} answered`);
          flushProfile(); // each call's marks (the lifecycle's too) as a table of their own
        }
      });
    const t = (s: string) => `containerd.task.v2.${s}`;
    const empty = 'google.protobuf.Empty';
    m('State', t('StateRequest'), t('StateResponse'), (r) => this.state(r));
    m('Create', t('CreateTaskRequest'), t('CreateTaskResponse'), (r) => this.create(r));
    m('Start', t('StartRequest'), t('StartResponse'), (r) => this.start(r));
    m('Delete', t('DeleteRequest'), t('DeleteResponse'), (r) => this.delete(r));
    m('Pids', t('PidsRequest'), t('PidsResponse'), (r) => this.pids(r));
    // A container of a sentry pod: its pod's sentry pauses, resumes and counts it (sentry-pod.ts).
    m('Pause', t('PauseRequest'), empty, (r) => this.setPaused(r, true));
    m('Resume', t('ResumeRequest'), empty, (r) => this.setPaused(r, false));
    m('Checkpoint', t('CheckpointTaskRequest'), empty, async () => {
      throw new RpcError(Code.Unimplemented, 'checkpoint is not supported by moat (no CRIU integration): the container keeps running');
    });
    m('Kill', t('KillRequest'), empty, (r) => this.kill(r));
    m('Exec', t('ExecProcessRequest'), empty, (r) => this.exec(r));
    m('ResizePty', t('ResizePtyRequest'), empty, async (r) => {
      this.proc(r.id, r.execId).io?.resize(r.width, r.height);
      return {};
    });
    m('CloseIO', t('CloseIORequest'), empty, async (r) => {
      if (r.stdin) this.proc(r.id, r.execId).io?.closeStdin();
      return {};
    });
    m('Update', t('UpdateTaskRequest'), empty, (r) => this.update(r));
    m('Wait', t('WaitRequest'), t('WaitResponse'), (r) => this.wait(r));
    m('Stats', t('StatsRequest'), t('StatsResponse'), (r) => this.stats(r));
    m('Connect', t('ConnectRequest'), t('ConnectResponse'), async (r) => ({ shimPid: process.pid, taskPid: this.tasks.get(r.id)?.init.pid ?? 0, version: 'moat' }));
    m('Shutdown', t('ShutdownRequest'), empty, async () => {
      if (this.tasks.size === 0) setImmediate(() => this.o.onIdle());
      return {};
    });
  }

  /** Every task still known (the server's exit path kills and deletes them). */
  ids(): string[] {
    return [...this.tasks.keys()];
  }

  private task(id: string): ShimTask {
    const t = this.tasks.get(id);
    if (!t) throw new RpcError(Code.NotFound, `task ${JSON.stringify(id)} not found`);
    return t;
  }

  private proc(id: string, execId: string): ShimProcess {
    const t = this.task(id);
    if (!execId) return t.init;
    const p = t.execs.get(execId);
    if (!p) throw new RpcError(Code.NotFound, `process ${JSON.stringify(execId)} of task ${JSON.stringify(id)} not found`);
    return p;
  }

  private async create(r: Msg): Promise<Msg> {
    const id = validateId(String(r.id));
    if (this.tasks.has(id) || this.creating.has(id)) throw new RpcError(Code.AlreadyExists, `task ${JSON.stringify(id)} already exists`);
    if (r.checkpoint) throw new RpcError(Code.Unimplemented, 'restoring from a checkpoint is not supported by moat');
    if (!String(r.bundle).startsWith('/')) throw new MoatError('EUSAGE', `bundle: ${JSON.stringify(r.bundle)} is not an absolute path`);
    this.creating.add(id);
    try {
      return await this.createTask(id, r);
    } finally {
      this.creating.delete(id);
    }
  }

  private async createTask(id: string, r: Msg): Promise<Msg> {
    const bundleDir = path.resolve(String(r.bundle));
    const cfg = loadConfig(r.options);
    const rootfs = (r.rootfs ?? []) as Msg[];
    await mountRootfs(bundleDir, rootfs);
    const init = new ShimProcess('', { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal });
    const task: ShimTask = { id, bundle: bundleDir, init, execs: new Map(), mountedRootfs: rootfs.length > 0 };
    try {
      const bundle = loadBundle(bundleDir);
      const isolation = isolationFor(cfg, bundle.spec.annotations ?? {});
      const role = podRole(isolation, bundle.spec.annotations ?? {});
      const podVm = role === 'member' && isolation === 'vm' ? podVmOf(this.rt, this.tasks, bundle.spec.annotations ?? {}) : undefined;
      const podSentry = role === 'member' && isolation === 'sentry' ? (await sentryPod()).podSentryOf(this.rt, this.tasks, bundle.spec.annotations ?? {}) : undefined;
      if (podSentry) {
        // A container of a sentry pod: its gofer is ready; it runs in the pod's sentry from Start on.
        init.io = openIo(init.paths);
        try {
          task.sentryMember = (await sentryPod()).createSentryMember(id, bundle, podSentry, cfg.strace === true);
        } catch (err) {
          init.io.abort();
          throw err;
        }
        init.pid = podSentry.pid; // the pod's sentry runs it (as Kata's shim reports the VMM's pid)
        this.tasks.set(id, task);
        this.o.publisher.publish('TaskCreate', {
          containerId: id, bundle: bundleDir, rootfs, checkpoint: '', pid: init.pid,
          io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
        });
        return { pid: init.pid };
      }
      if (podVm) {
        // A container of a vm pod: made ready in its pod's VM; it runs from Start on (src/vm/pod.ts).
        init.io = openIo(init.paths);
        try {
          task.pod = await (await vmPod()).createPodMember({ id, bundle: bundleDir, rootfs: bundle.rootfs, spec: bundle.spec, sandbox: podVm });
        } catch (err) {
          init.io.abort();
          throw err;
        }
        init.pid = podVm.vm.vmmPid; // as Kata's shim: the VMM's pid until the container runs
        this.tasks.set(id, task);
        this.o.publisher.publish('TaskCreate', {
          containerId: id, bundle: bundleDir, rootfs, checkpoint: '', pid: init.pid,
          io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
        });
        return { pid: init.pid };
      }
      const rt = new Runtime({ root: this.o.root, isolation, systemdCgroup: cfg.systemdCgroup, strace: cfg.strace, ...(cfg.vmAccel ? { vmAccel: cfg.vmAccel } : {}) });
      init.io = openIo(init.paths);
      const io = init.io;
      let created;
      try {
        created = await rt.create({
          id,
          bundle,
          mode: 'run',
          // Kept in the state dir by what outlives this server: delete.ts reports it after a crash.
          recordExit: true,
          noPivot: false,
          preserveFds: 0,
          ...(io.stdio ? { stdio: io.stdio } : {}),
          ...(io.console ? { console: { handoff: io.console.handoff, rows: 0, cols: 0 } } : {}),
          ...(role === 'sandbox' && isolation === 'vm' ? { podSandbox: true } : {}),
        });
      } catch (err) {
        io.abort();
        throw err;
      }
      try {
        io.launched();
      } catch (err) {
        // The container exists but its terminal never came: take it down again, nothing left.
        io.abort();
        this.rt.delete(created.handle, created.record, true);
        created.handle.release();
        throw err;
      }
      created.handle.release();
      init.pid = created.record.pid;
      if (created.record.cgroups) task.cgroups = created.record.cgroups;
      this.tasks.set(id, task);
      void created.exited.then((code) => this.exited(task, init, code));
    } catch (err) {
      if (task.mountedRootfs) await unmountRootfs(bundleDir);
      throw err;
    }
    this.o.publisher.publish('TaskCreate', {
      containerId: id, bundle: bundleDir, rootfs, checkpoint: '', pid: init.pid,
      io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
    });
    return { pid: init.pid };
  }

  private async exited(task: ShimTask, p: ShimProcess, code: number): Promise<void> {
    p.recordExit(code);
    if (p === task.init && oomKilled(task.cgroups)) this.o.publisher.publish('TaskOOM', { containerId: task.id });
    try {
      await p.io?.finish();
    } catch {
      /* its output is lost; its exit is not */
    }
    p.markDone();
    this.o.publisher.publish('TaskExit', { containerId: task.id, id: p.execId || task.id, pid: p.pid, exitStatus: code, exitedAt: timestamp(p.exitedAt!) });
  }

  private async start(r: Msg): Promise<Msg> {
    const task = this.task(r.id);
    if (r.execId) return this.startExec(task, this.proc(r.id, r.execId));
    if (task.pod) return this.startPodMember(task);
    if (task.sentryMember) return this.startSentryMember(task);
    const { handle, rec } = this.rt.open(task.id);
    try {
      await this.rt.start(handle, rec);
    } finally {
      handle.release();
    }
    if (task.init.status === 'created') task.init.status = 'running'; // unless it has already exited
    this.o.publisher.publish('TaskStart', { containerId: task.id, pid: task.init.pid });
    return { pid: task.init.pid };
  }

  /** A container of a vm pod: its plan goes to the pod's VM; a relay stands for it on the host. */
  private async startPodMember(task: ShimTask): Promise<Msg> {
    const init = task.init;
    if (init.status !== 'created') throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} is ${init.status}: it cannot be started again`);
    const io = init.io!;
    const started = await (await vmPod()).startPodMember(task.pod!, {
      ...(io.stdio ? { stdio: io.stdio } : {}),
      ...(io.console ? { console: { handoff: io.console.handoff, rows: 0, cols: 0 } } : {}),
    });
    try {
      // A Kill that came while it was starting has ended the task: it does not run on unseen.
      if (init.status !== 'created') throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} was killed while starting`);
      io.launched();
    } catch (err) {
      io.abort();
      try {
        process.kill(started.pid, 'SIGKILL'); // its relay's end takes the container with it
      } catch {
        /* gone */
      }
      throw err;
    }
    init.pid = started.pid;
    init.status = 'running';
    void started.exited.then((code) => this.exited(task, init, code));
    this.o.publisher.publish('TaskStart', { containerId: task.id, pid: init.pid });
    return { pid: init.pid };
  }

  /** A container of a sentry pod: started in the pod's sentry over its control socket. */
  private async startSentryMember(task: ShimTask): Promise<Msg> {
    const init = task.init;
    const m = task.sentryMember!;
    if (init.status !== 'created') throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} is ${init.status}: it cannot be started again`);
    const io = init.io!;
    let started;
    try {
      started = await (await sentryPod()).startSentryMember(m, io);
      // A Kill that came while it was starting has ended the task: it does not run on unseen.
      if (init.status !== 'created') throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} was killed while starting`);
      io.launched();
    } catch (err) {
      io.abort();
      (await sentryPod()).removeSentryMember(m); // the sentry ends what it started of it
      throw err;
    }
    init.status = 'running';
    void started.exited.then((code) => this.exited(task, init, code));
    this.o.publisher.publish('TaskStart', { containerId: task.id, pid: init.pid });
    return { pid: init.pid };
  }

  private async exec(r: Msg): Promise<Msg> {
    const task = this.task(r.id);
    const execId = validateId(String(r.execId));
    if (task.execs.has(execId)) throw new RpcError(Code.AlreadyExists, `exec ${JSON.stringify(execId)} already exists in task ${JSON.stringify(task.id)}`);
    if (task.init.status === 'stopped') throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} has stopped: cannot exec in it`);
    if (r.spec?.type_url !== PROCESS_SPEC) {
      throw new MoatError('EUSAGE', `spec: expected an OCI process (${PROCESS_SPEC}), got ${JSON.stringify(r.spec?.type_url ?? '')}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.from(r.spec.value).toString('utf8'));
    } catch (err) {
      throw new MoatError('EUSAGE', `spec: the process is not JSON: ${(err as Error).message}`);
    }
    const spec = parseProcess(raw, 'spec');
    task.execs.set(execId, new ShimProcess(execId, { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal }, spec));
    this.o.publisher.publish('TaskExecAdded', { containerId: task.id, execId });
    return {};
  }

  private async startExec(task: ShimTask, p: ShimProcess): Promise<Msg> {
    if (p.status !== 'created') throw new RpcError(Code.FailedPrecondition, `process ${JSON.stringify(p.execId)} is ${p.status}: it cannot be started again`);
    const opened = task.pod || task.sentryMember ? undefined : this.rt.open(task.id); // a pod member has no moat state
    p.io = openIo(p.paths);
    const io = p.io;
    let started;
    try {
      // The sentry's exec in `create` mode leaves a relay process that stands for the process on
      // the host (its pid, its exit status); the native executor does that in `run` mode.
      started = task.sentryMember ? await (await sentryPod()).execInSentryMember(task.sentryMember, { ...p.spec!, terminal: p.paths.terminal }, io.stdio)
      : task.pod ? await (await vmPod()).execInPodMember(task.pod, { ...p.spec!, terminal: p.paths.terminal }, {
        ...(io.stdio ? { stdio: io.stdio } : {}),
        ...(io.console ? { console: { handoff: io.console.handoff, rows: 0, cols: 0 } } : {}),
      }) : await this.rt.exec(opened!.handle, opened!.rec, { ...p.spec!, terminal: p.paths.terminal }, {
        mode: opened!.rec.platform === 'sentry' ? 'create' : 'run',
        preserveFds: 0,
        ...(io.stdio ? { stdio: io.stdio } : {}),
        ...(io.console ? { console: { handoff: io.console.handoff, rows: 0, cols: 0 } } : {}),
      });
    } catch (err) {
      io.abort();
      throw err;
    } finally {
      opened?.handle.release();
    }
    try {
      io.launched();
    } catch (err) {
      io.abort();
      try {
        process.kill(started.pid, 'SIGKILL'); // its terminal never came: it does not run unseen
      } catch {
        /* gone */
      }
      throw err;
    }
    p.pid = started.pid;
    if (p.status === 'created') p.status = 'running';
    void started.exited.then((code) => this.exited(task, p, code));
    this.o.publisher.publish('TaskExecStarted', { containerId: task.id, execId: p.execId, pid: p.pid });
    return { pid: p.pid };
  }

  private async state(r: Msg): Promise<Msg> {
    const task = this.task(r.id);
    const p = this.proc(r.id, r.execId);
    let status: number = STATUS[p.status];
    if (!r.execId && p.status !== 'stopped' && task.pod?.paused) status = STATUS.paused;
    if (!r.execId && p.status !== 'stopped' && !task.pod && !task.sentryMember) {
      const { handle, rec } = this.rt.open(task.id);
      handle.release();
      const s = statusOf(rec);
      if (s === 'paused') status = STATUS.paused;
    }
    // A paused container of a sentry pod: the shim paused it (the sentry holds its tasks).
    if (!r.execId && p.status === 'running' && task.sentryMember?.paused) status = STATUS.paused;
    return {
      id: p.execId || task.id, execId: p.execId, bundle: task.bundle, pid: p.pid, status,
      stdin: p.paths.stdin, stdout: p.paths.stdout, stderr: p.paths.stderr, terminal: p.paths.terminal,
      exitStatus: p.exitStatus, ...(p.exitedAt ? { exitedAt: timestamp(p.exitedAt) } : {}),
    };
  }

  private async wait(r: Msg): Promise<Msg> {
    const p = this.proc(r.id, r.execId);
    await p.exited;
    return { exitStatus: p.exitStatus, exitedAt: timestamp(p.exitedAt!) };
  }

  private async kill(r: Msg): Promise<Msg> {
    const p = this.proc(r.id, r.execId);
    const signal = Number(r.signal);
    if (!Number.isInteger(signal) || signal < 0 || signal > 64) throw new MoatError('EUSAGE', `signal: ${r.signal} is not a signal number`);
    if (r.execId) {
      if (p.status !== 'running') throw new RpcError(Code.NotFound, `process ${JSON.stringify(p.execId)}: process already finished`);
      try {
        process.kill(p.pid, signal);
      } catch {
        throw new RpcError(Code.NotFound, `process ${JSON.stringify(p.execId)}: process already finished`);
      }
      return {};
    }
    const task = this.task(r.id);
    if (task.sentryMember) {
      if (p.status === 'created' && signal !== 0) {
        await this.exited(task, p, 128 + signal); // nothing of it runs yet: the signal ends it
        return {};
      }
      if (p.status !== 'running' || !task.sentryMember.signal) throw new RpcError(Code.NotFound, `task ${JSON.stringify(r.id)}: process already finished`);
      if (signal !== 0) task.sentryMember.signal(signal, Boolean(r.all));
      return {};
    }
    if (task.pod) {
      if (p.status === 'created' && signal !== 0) {
        // Nothing of it runs yet (a member runs from Start on): a signal ends it, as it would end
        // runc's init waiting on its fifo; containerd then waits for the TaskExit.
        await this.exited(task, p, 128 + signal);
        return {};
      }
      if (p.status !== 'running') throw new RpcError(Code.NotFound, `task ${JSON.stringify(r.id)}: process already finished`);
      if (signal === 0) return {};
      try {
        // Its init is pid 1 of its own pid namespace: SIGKILL ends the whole container (`all`).
        await (await vmPod()).signalPodMember(task.pod, signal);
      } catch (err) {
        if (signal !== 9) throw new RpcError(Code.NotFound, `task ${JSON.stringify(r.id)}: process already finished (${(err as Error).message})`);
        try {
          process.kill(p.pid, 'SIGKILL'); // the guest did not answer: the relay's end kills it there
        } catch {
          /* gone */
        }
      }
      return {};
    }
    const { handle, rec } = this.rt.open(r.id);
    handle.release();
    try {
      await this.rt.signal(rec, signal, Boolean(r.all));
    } catch (err) {
      if (/container not running/.test((err as Error).message)) throw new RpcError(Code.NotFound, `task ${JSON.stringify(r.id)}: process already finished`);
      throw err;
    }
    return {};
  }

  private async setPaused(r: Msg, paused: boolean): Promise<Msg> {
    const task = this.task(r.id);
    if (task.sentryMember) return this.setSentryMemberPaused(task, paused);
    if (task.pod) {
      if (task.init.status !== 'running') throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} is ${task.init.status}: cannot ${paused ? 'pause' : 'resume'} it`);
      await (await vmPod()).setPodMemberPaused(task.pod, paused);
    } else {
      const { handle, rec } = this.rt.open(r.id);
      try {
        this.rt.setPaused(handle, rec, paused);
      } finally {
        handle.release();
      }
    }
    this.o.publisher.publish(paused ? 'TaskPaused' : 'TaskResumed', { containerId: r.id });
    return {};
  }

  private async update(r: Msg): Promise<Msg> {
    const task = this.task(r.id);
    notInSentryPod(task, 'update');
    let resources: unknown;
    try {
      resources = JSON.parse(Buffer.from(r.resources?.value ?? []).toString('utf8'));
    } catch (err) {
      throw new MoatError('EUSAGE', `resources: not a JSON LinuxResources: ${(err as Error).message}`);
    }
    if (task.pod) {
      if (task.init.status !== 'running') throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} is ${task.init.status}: cannot update it`);
      await (await vmPod()).updatePodMember(task.pod, resources);
      return {};
    }
    const { handle, rec } = this.rt.open(r.id);
    try {
      this.rt.update(handle, rec, resources, 'resources');
    } finally {
      handle.release();
    }
    return {};
  }

  private async pids(r: Msg): Promise<Msg> {
    const task = this.task(r.id);
    if (task.pod || task.sentryMember) return { processes: task.init.status === 'running' ? [{ pid: task.init.pid }] : [] }; // its relay, the pod's sentry
    const { handle, rec } = this.rt.open(r.id);
    handle.release();
    const pids = statusOf(rec) === 'stopped' ? [] : loadPlatform(rec.platform).pids(rec) ?? [task.init.pid];
    return { processes: pids.map((pid) => ({ pid })) };
  }

  private async stats(r: Msg): Promise<Msg> {
    const task = this.task(r.id);
    if (task.sentryMember) return this.sentryMemberStats(task);
    if (task.pod) {
      if (task.init.status !== 'running') throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} is ${task.init.status}: no stats`);
      const data = await (await vmPod()).podMemberStats(task.pod, MEMBER_STATS_TIMEOUT_MS);
      return { stats: anyOf('io.containerd.cgroups.v1.Metrics', metricsOf(data)) };
    }
    const { handle, rec } = this.rt.open(r.id);
    handle.release();
    const data = await loadPlatform(rec.platform).stats(rec);
    return { stats: anyOf('io.containerd.cgroups.v1.Metrics', metricsOf(data)) };
  }

  // ---- a container of a sentry pod: stats, pause and resume from the pod's sentry (sentry-pod.ts) ----

  private async sentryMemberStats(task: ShimTask): Promise<Msg> {
    if (task.init.status !== 'running') throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} is ${task.init.status}: no stats`);
    const data = await (await sentryPod()).sentryMemberStats(task.sentryMember!);
    return { stats: anyOf('io.containerd.cgroups.v1.Metrics', metricsOf(data)) };
  }

  private async setSentryMemberPaused(task: ShimTask, paused: boolean): Promise<Msg> {
    if (task.init.status !== 'running') throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} is ${task.init.status}: it cannot be ${paused ? 'paused' : 'resumed'}`);
    await (await sentryPod()).setSentryMemberPaused(task.sentryMember!, paused);
    this.o.publisher.publish(paused ? 'TaskPaused' : 'TaskResumed', { containerId: task.id });
    return {};
  }

  private async delete(r: Msg): Promise<Msg> {
    const task = this.task(r.id);
    if (r.execId) {
      const p = this.proc(r.id, r.execId);
      if (p.status === 'running') throw new RpcError(Code.FailedPrecondition, `process ${JSON.stringify(p.execId)} is running: kill it first`);
      task.execs.delete(p.execId);
      p.io?.abort();
      return { pid: p.pid, exitStatus: p.exitStatus, ...(p.exitedAt ? { exitedAt: timestamp(p.exitedAt) } : {}) };
    }
    const init = task.init;
    await this.destroy(task, init.status !== 'stopped');
    const exitedAt = init.exitedAt ?? new Date();
    this.o.publisher.publish('TaskDelete', { containerId: task.id, id: task.id, pid: init.pid, exitStatus: init.exitStatus, exitedAt: timestamp(exitedAt) });
    return { pid: init.pid, exitStatus: init.exitStatus, exitedAt: timestamp(exitedAt) };
  }

  /** Remove a task: its container (killed first when force), its rootfs mount, its stdio. */
  async destroy(task: ShimTask, force: boolean): Promise<void> {
    if (task.pod) return this.destroyPodMember(task, force);
    if (task.sentryMember) return this.destroySentryMember(task, force);
    let opened;
    try {
      opened = this.rt.open(task.id);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOTFOUND') throw err;
    }
    if (opened) {
      try {
        const s = statusOf(opened.rec);
        if (!force && s !== 'stopped' && s !== 'created') throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} is ${s}: kill it first`);
        this.rt.delete(opened.handle, opened.rec, true);
      } finally {
        opened.handle.release();
      }
    }
    if (task.mountedRootfs) await unmountRootfs(task.bundle);
    task.init.io?.abort();
    for (const p of task.execs.values()) p.io?.abort();
    this.tasks.delete(task.id);
  }

  /** A container of a vm pod: killed (force), its binds out of the pod's share, its rootfs unmounted. */
  private async destroyPodMember(task: ShimTask, force: boolean): Promise<void> {
    const init = task.init;
    if (init.status === 'running') {
      if (!force) throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} is running: kill it first`);
      await (await vmPod()).signalPodMember(task.pod!, 9).catch(() => undefined);
      const gone = await Promise.race([init.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref())]);
      if (!gone) {
        try {
          process.kill(init.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        await init.exited;
      }
    }
    await (await vmPod()).removePodMember(task.pod!);
    if (task.mountedRootfs) await unmountRootfs(task.bundle);
    init.io?.abort();
    for (const p of task.execs.values()) p.io?.abort();
    this.tasks.delete(task.id);
  }

  /** A container of a sentry pod: killed (force) in the pod's sentry, its gofer gone, its rootfs unmounted. */
  private async destroySentryMember(task: ShimTask, force: boolean): Promise<void> {
    const init = task.init;
    const m = task.sentryMember!;
    if (init.status === 'running') {
      if (!force) throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)} is running: kill it first`);
      m.signal?.(9, true);
      const gone = await Promise.race([init.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref())]);
      // Not gone (a sentry that does not answer): closing the connection ends it there all the same.
      if (!gone) (await sentryPod()).removeSentryMember(m);
      await init.exited;
    }
    (await sentryPod()).removeSentryMember(m);
    if (task.mountedRootfs) await unmountRootfs(task.bundle);
    init.io?.abort();
    for (const p of task.execs.values()) p.io?.abort();
    this.tasks.delete(task.id);
  }

  /** The server is going away (SIGTERM): nothing it started is left behind. */
  async destroyAll(): Promise<void> {
    for (const t of [...this.tasks.values()]) {
      try {
        await this.destroy(t, true);
      } catch {
        /* best effort on the way out */
      }
    }
  }

  /** For tests and the docs: the state dir exists only while a container does. */
  static rootIsEmpty(root: string): boolean {
    try {
      return fs.readdirSync(root).length === 0;
    } catch {
      return true;
    }
  }
}

/** What a container of a sentry pod does not have yet (its pod's sentry is one set of host cgroups). */
function notInSentryPod(task: ShimTask, what: string): void {
  if (task.sentryMember) throw new RpcError(Code.FailedPrecondition, `task ${JSON.stringify(task.id)}: ${what} of a container in a sentry pod is not supported yet (its pod's sentry is the sandbox's)`);
}

/** How long Stats of a vm pod's container waits for the guest (a paused or busy guest answers late). */
const MEMBER_STATS_TIMEOUT_MS = 5_000;
