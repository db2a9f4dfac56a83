// The sentry's control socket: how `moat exec` starts another process in a running sandbox, and
// how the shim starts a pod's later containers in its sentry (control-container.ts).
// One connection per exec: the client sends one message — a JSON request with its stdin, stdout
// and stderr attached (SCM_RIGHTS) — and reads JSON lines back: {"pid":N} (or {"error":"…"}),
// then {"exit":<wait status>} when the process has exited. A `container` request (four fds: the
// three and the container's gofer channel) is answered the same way for its init; the connection
// then stands for the container: {"signal":N,"all":bool} lines signal it, and its close ends what
// is left of it and its gofer. An exec may name a pod's container (`container`): it runs there.
// `stats`, `pause` and `resume` name a running container (control-member.ts): one answer line.
// The socket lives in the container's state directory (mode 0700): only its owner can connect.
// Every field is validated.

import * as fs from 'node:fs';
import { errnoName } from './abi/errno';
import type { Kernel } from './kernel/kernel';
import type { ThreadGroup } from './kernel/task';
import { sentrySys, type SentrySys } from './native';
import { withSocketPath } from './socket-path';
import { sendSignalToGroup } from './kernel/signals';
import { FdTable, HostStreamFile } from './vfs';
import { capsFromWire } from './config';
import { initialCreds } from './kernel/creds';
import { killThreadGroup } from './kernel/exit';
import { PodContainer, processesOf } from './kernel/pod-container';
import { PidNamespace } from './kernel/pidns';
import { Vfs } from './vfs';
import { containerRequestOf, type ContainerRequestWire } from './control-container';
import { parseProcessFields, parseRequestJson } from './control-wire';
import { isMemberRequestType, memberRequestOf, memberStatsWire } from './control-member';
import { containerStats } from './kernel/container-stats';

export { parseExecRequest, type ExecRequestWire } from './control-wire';

/** A host fd handed over by `moat exec`: closed with its last reference, unlike the sentry's own 0-2. */
class DonatedStream extends HostStreamFile {
  override release(): void {
    try {
      fs.closeSync(this.hostFd);
    } catch {
      /* already closed */
    }
  }
}

export class ControlServer {
  private readonly n: SentrySys;
  private readonly listenFd: number;
  /** Connection of each exec'd process: its exit status goes there. */
  private readonly waiting = new Map<ThreadGroup, number>();
  /** The pod's containers started here, by id, with the connection that stands for each. */
  private readonly containers = new Map<string, { c: PodContainer; conn: number }>();

  constructor(private readonly kernel: Kernel, readonly path: string) {
    this.n = sentrySys();
    this.listenFd = withSocketPath(path, (p) => this.n.unixListen(p));
    kernel.watchHostCallback(this.listenFd, () => this.acceptAll());
    kernel.onOrphanExit = (tg, status) => this.exited(tg, status);
  }

  private acceptAll(): void {
    for (;;) {
      const c = this.n.unixAccept(this.listenFd);
      if (c < 0) return;
      // Served when its request arrives, not waited for here: a client slow between connect and
      // send (a loaded host) neither stalls the sandbox nor finds the connection closed (EPIPE).
      // Host callbacks all run at any host-fd event, so each looks whether its fd is readable; the
      // first look is at once (the request may have come before the fd was signal-driven).
      const attempt = () => {
        if (!this.n.pollIn(c)) return;
        this.kernel.watchHostCallback(c, undefined);
        this.serve(c);
      };
      this.kernel.watchHostCallback(c, attempt);
      attempt();
    }
  }

  private reply(c: number, v: unknown): void {
    try {
      fs.writeSync(c, `${JSON.stringify(v)}\n`);
    } catch {
      /* the client went away */
    }
  }

  private serve(c: number): void {
    let msg: { data: Buffer; fds: number[] };
    try {
      msg = this.n.recvMsg(c, 0);
    } catch (e) {
      fs.closeSync(c);
      void e;
      return;
    }
    const closeAll = () => {
      for (const fd of msg.fds) fs.closeSync(fd);
      fs.closeSync(c);
    };
    const json = parseRequestJson(msg.data);
    if (typeof json !== 'string' && json.type === 'container') {
      this.serveContainer(c, msg.fds, containerRequestOf(json));
      return;
    }
    if (typeof json !== 'string' && isMemberRequestType(json.type)) {
      this.serveMember(c, msg.fds, json);
      return;
    }
    const req = typeof json === 'string' ? json : json.type !== 'exec' ? 'request.type: "exec", "container", "stats", "pause" or "resume"' : parseProcessFields(json);
    const into = typeof req === 'string' || req.container === undefined ? undefined : this.containers.get(req.container);
    if (typeof req !== 'string' && req.container !== undefined && !into) {
      this.reply(c, { error: `request.container: no container ${JSON.stringify(req.container)} in this pod` });
      closeAll();
      return;
    }
    if (typeof req === 'string' || msg.fds.length !== 3) {
      this.reply(c, { error: typeof req === 'string' ? req : 'exactly three fds (stdin, stdout, stderr) must be attached' });
      closeAll();
      return;
    }
    const files = new FdTable();
    files.install(new DonatedStream(msg.fds[0], 0, 'stdin'), false);
    files.install(new DonatedStream(msg.fds[1], 1, 'stdout'), false);
    files.install(new DonatedStream(msg.fds[2], 1, 'stderr'), false);
    const caps = req.caps ? capsFromWire(req.caps, 'request.caps') : undefined;
    const creds = initialCreds(req.uid, req.gid, req.groups, typeof caps === 'string' ? undefined : caps, req.noNewPrivs === true);
    // argv[0] is found in the request's PATH, as the init's is.
    const searchPath = req.env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    const vfs = into?.c.vfs ?? this.kernel.vfs;
    const file = vfs.lookPath(req.args[0], searchPath, creds) ?? req.args[0];
    const pid = this.kernel.spawnProcess({ file, argv: req.args, envp: req.env, cwd: req.cwd, files, creds, ...(into ? { container: into.c } : {}) });
    if (pid < 0) {
      files.release();
      this.reply(c, { error: `exec ${JSON.stringify(req.args[0])}: ${errnoName(pid)}` });
      fs.closeSync(c);
      return;
    }
    const tg = (into?.c.pidns ?? this.kernel.pidns).groups.get(pid)!;
    this.waiting.set(tg, c);
    this.reply(c, { pid });
    // Afterwards the client may send {"signal":N} lines for the process (its relay got them).
    const pending = { text: '' };
    this.kernel.watchHostCallback(c, () => this.readSignals(c, tg, pending));
  }

  /**
   * A later container of the pod: its mount tree over its own gofer (fds[3]), its init started
   * there. Nothing of it is left if anything fails (the gofer channel closed: the gofer exits).
   */
  private serveContainer(c: number, fds: number[], req: ContainerRequestWire | string): void {
    const fail = (error: string, vfs?: Vfs) => {
      this.reply(c, { error });
      if (vfs) vfs.close();
      for (const fd of fds) if (!vfs || fd !== fds[3]) fs.closeSync(fd);
      fs.closeSync(c);
    };
    if (typeof req === 'string') return fail(req);
    if (fds.length !== 4) return fail('exactly four fds (stdin, stdout, stderr, the gofer channel) must be attached');
    if (this.containers.has(req.id)) return fail(`request.id: container ${JSON.stringify(req.id)} already exists in this pod`);
    let vfs: Vfs;
    try {
      vfs = new Vfs({ rootfs: `(container ${req.id})`, goferFd: fds[3], readonly: req.readonlyRootfs, mounts: req.mounts, cpus: this.kernel.machine.size().cpus, podOf: this.kernel.vfs });
    } catch (e) {
      return fail(`container ${JSON.stringify(req.id)}: its root filesystem: ${(e as Error).message}`);
    }
    // CRI's PID namespace CONTAINER (Kubernetes' default): one of its own, its init is its pid 1;
    // POD (shareProcessNamespace): the sandbox's, where the pause process is pid 1.
    const pidns = req.sharePids ? this.kernel.pidns : new PidNamespace();
    this.kernel.pidNamespaces.add(pidns);
    const container = new PodContainer(req.id, vfs, pidns);
    const files = new FdTable();
    // A terminal: the pty slave read-write on all three, and the container's /dev/console.
    const streams = [new DonatedStream(fds[0], req.terminal ? 2 : 0, 'stdin'), new DonatedStream(fds[1], req.terminal ? 2 : 1, 'stdout'), new DonatedStream(fds[2], req.terminal ? 2 : 1, 'stderr')];
    for (const f of streams) files.install(f, false);
    if (req.terminal && streams[0].isTty) vfs.setConsole(streams[0]);
    const caps = req.caps ? capsFromWire(req.caps, 'request.caps') : undefined;
    const creds = initialCreds(req.uid, req.gid, req.groups, typeof caps === 'string' ? undefined : caps, req.noNewPrivs === true);
    const searchPath = req.env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    const file = vfs.lookPath(req.args[0], searchPath, creds) ?? req.args[0];
    const rlimits = new Map([...this.kernel.opts.rlimits].map(([k, v]) => [k, { ...v }]));
    for (const r of req.rlimits) rlimits.set(r.resource, { cur: r.soft, max: r.hard });
    const pid = this.kernel.spawnProcess({ file, argv: req.args, envp: req.env, cwd: req.cwd, files, creds, container, rlimits });
    if (pid < 0) {
      files.release();
      this.reply(c, { error: `exec ${JSON.stringify(req.args[0])}: ${errnoName(pid)}` });
      if (pidns !== this.kernel.pidns) this.kernel.pidNamespaces.delete(pidns);
      vfs.close();
      fs.closeSync(c);
      return;
    }
    container.init = pidns.groups.get(pid);
    this.containers.set(req.id, { c: container, conn: c });
    this.reply(c, { pid });
    const pending = { text: '' };
    this.kernel.watchHostCallback(c, () => this.readSignals(c, container.init!, pending, container));
  }

  /**
   * stats, pause, resume of a running container of the pod (control-member.ts): one answer line,
   * then the connection closes. Pause is the kernel's freeze (as a cgroup freezer), resume its thaw.
   */
  private serveMember(c: number, fds: number[], json: Record<string, unknown>): void {
    for (const fd of fds) fs.closeSync(fd);
    const req = memberRequestOf(json);
    const entry = typeof req === 'string' ? undefined : this.containers.get(req.container);
    if (typeof req === 'string') this.reply(c, { error: req });
    else if (fds.length) this.reply(c, { error: `${req.type}: no fds are attached to this request` });
    else if (!entry) this.reply(c, { error: `request.container: no container ${JSON.stringify(req.container)} in this pod` });
    else if (req.type === 'stats') this.reply(c, { stats: memberStatsWire(containerStats(entry.c.pidns.groups.values(), entry.c)) });
    else {
      if (req.type === 'pause') this.kernel.freeze(entry.c);
      else this.kernel.thaw(entry.c);
      this.reply(c, { ok: true });
    }
    fs.closeSync(c);
  }

  /** The shim let go of a container (its Delete, or the shim is gone): nothing of it is left. */
  private releaseContainer(container: PodContainer): void {
    const entry = this.containers.get(container.id);
    if (!entry || entry.c !== container) return;
    this.containers.delete(container.id);
    this.kernel.watchHostCallback(entry.conn, undefined);
    for (const tg of processesOf(container.pidns.groups.values(), container)) killThreadGroup(tg, 9);
    // Its PID namespace goes with it (the sandbox's stays); zombies in it are reaped by their parents.
    if (container.pidns !== this.kernel.pidns) this.kernel.pidNamespaces.delete(container.pidns);
    try {
      fs.closeSync(entry.conn);
    } catch {
      /* closed */
    }
    container.vfs.close();
  }

  /** {"signal":N} lines from an exec's client: to the exec'd process, as if from outside. */
  private readSignals(c: number, target: ThreadGroup, pending: { text: string }, container?: PodContainer): void {
    const buf = Buffer.alloc(4096);
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(c, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
        n = 0;
      }
      if (n === 0) {
        // The client is gone; an exec'd process lives on (as runc exec's does); a container goes.
        this.kernel.watchHostCallback(c, undefined);
        if (container) this.releaseContainer(container);
        return;
      }
      pending.text += buf.toString('utf8', 0, n);
      if (pending.text.length > 65536) pending.text = '';
    }
    let nl: number;
    while ((nl = pending.text.indexOf('\n')) >= 0) {
      const line = pending.text.slice(0, nl);
      pending.text = pending.text.slice(nl + 1);
      let sig: unknown;
      let all: unknown;
      try {
        ({ signal: sig, all } = JSON.parse(line) as { signal?: unknown; all?: unknown });
      } catch {
        continue;
      }
      if (typeof sig !== 'number' || !Number.isInteger(sig) || sig < 1 || sig > 64) continue;
      // `all` (a container's kill --all): every process of the container.
      const tgs = container && all === true ? processesOf(container.pidns.groups.values(), container) : [target];
      for (const tg of tgs) if (tg?.alive) sendSignalToGroup(tg, { signo: sig, code: 0, pid: 0, uid: 0 }, true);
    }
  }

  private exited(tg: ThreadGroup, status: number): void {
    const member = tg.container?.init === tg ? this.containers.get(tg.container.id) : undefined;
    if (member && member.c === tg.container) {
      // A container's init: the container is over (as its PID namespace's init dying ends it);
      // its connection stays, the shim's to close at Delete.
      for (const other of processesOf(member.c.pidns.groups.values(), member.c)) if (other !== tg) killThreadGroup(other, 9);
      this.reply(member.conn, { exit: status });
      return;
    }
    const c = this.waiting.get(tg);
    if (c === undefined) return;
    this.waiting.delete(tg);
    this.kernel.watchHostCallback(c, undefined);
    this.reply(c, { exit: status });
    fs.closeSync(c);
  }

  close(): void {
    this.kernel.watchHostCallback(this.listenFd, undefined);
    fs.closeSync(this.listenFd);
    for (const c of this.waiting.values()) fs.closeSync(c);
    this.waiting.clear();
    for (const { c } of [...this.containers.values()]) this.releaseContainer(c);
  }
}
