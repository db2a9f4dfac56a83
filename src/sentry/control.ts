// The sentry's control socket: how `moat exec` starts another process in a running sandbox.
// One connection per exec: the client sends one message — a JSON request with its stdin, stdout
// and stderr attached (SCM_RIGHTS) — and reads JSON lines back: {"pid":N} (or {"error":"…"}),
// then {"exit":<wait status>} when the process has exited. The socket lives in the container's
// state directory (mode 0700): only its owner can connect. Every field is validated.

import * as fs from 'node:fs';
import { errnoName } from './abi/errno';
import type { Kernel } from './kernel/kernel';
import type { ThreadGroup } from './kernel/task';
import { ptraceSys, type PtraceSys } from './platform/ptrace/native';
import { withSocketPath } from './socket-path';
import { sendSignalToGroup } from './kernel/signals';
import { FdTable, HostStreamFile } from './vfs';
import { capsFromWire, type CapsWire } from './config';
import { initialCreds } from './kernel/creds';

export interface ExecRequestWire {
  type: 'exec';
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  caps?: CapsWire;
  noNewPrivs?: boolean;
}

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

const MAX_ARGS = 4096;

function isStringArray(v: unknown, max: number): v is string[] {
  return Array.isArray(v) && v.length <= max && v.every((s) => typeof s === 'string' && !s.includes('\0') && s.length < 131072);
}

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 0xffffffff;
}

export function parseExecRequest(raw: Buffer): ExecRequestWire | string {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch {
    return 'request: not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'request: not an object';
  const r = v as Record<string, unknown>;
  if (r.type !== 'exec') return 'request.type: must be "exec"';
  if (!isStringArray(r.args, MAX_ARGS) || r.args.length === 0) return 'request.args: a non-empty array of strings';
  if (!isStringArray(r.env, MAX_ARGS)) return 'request.env: an array of strings';
  if (typeof r.cwd !== 'string' || !r.cwd.startsWith('/')) return 'request.cwd: an absolute path';
  if (!isId(r.uid) || !isId(r.gid)) return 'request.uid/gid: integers';
  if (!Array.isArray(r.groups) || !r.groups.every(isId) || r.groups.length > 65536) return 'request.groups: an array of ids';
  const out: ExecRequestWire = { type: 'exec', args: r.args, env: r.env, cwd: r.cwd, uid: r.uid, gid: r.gid, groups: r.groups as number[] };
  if (r.caps !== undefined) {
    const c = capsFromWire(r.caps, 'request.caps');
    if (typeof c === 'string') return c;
    out.caps = r.caps as CapsWire;
  }
  if (r.noNewPrivs !== undefined && typeof r.noNewPrivs !== 'boolean') return 'request.noNewPrivs: a boolean';
  if (r.noNewPrivs === true) out.noNewPrivs = true;
  return out;
}

export class ControlServer {
  private readonly n: PtraceSys;
  private readonly listenFd: number;
  /** Connection of each exec'd process, by pid: its exit status goes there. */
  private readonly waiting = new Map<number, number>();

  constructor(private readonly kernel: Kernel, readonly path: string) {
    this.n = ptraceSys();
    this.listenFd = withSocketPath(path, (p) => this.n.unixListen(p));
    kernel.watchHostCallback(this.listenFd, () => this.acceptAll());
    kernel.onOrphanExit = (tg, status) => this.exited(tg, status);
  }

  private acceptAll(): void {
    for (;;) {
      const c = this.n.unixAccept(this.listenFd);
      if (c < 0) return;
      this.serve(c);
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
      msg = this.n.recvMsg(c, 2000);
    } catch (e) {
      fs.closeSync(c);
      void e;
      return;
    }
    const closeAll = () => {
      for (const fd of msg.fds) fs.closeSync(fd);
      fs.closeSync(c);
    };
    const req = parseExecRequest(msg.data);
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
    const file = this.kernel.vfs.lookPath(req.args[0], searchPath, creds) ?? req.args[0];
    const pid = this.kernel.spawnProcess({ file, argv: req.args, envp: req.env, cwd: req.cwd, files, creds });
    if (pid < 0) {
      files.release();
      this.reply(c, { error: `exec ${JSON.stringify(req.args[0])}: ${errnoName(pid)}` });
      fs.closeSync(c);
      return;
    }
    this.waiting.set(pid, c);
    this.reply(c, { pid });
    // Afterwards the client may send {"signal":N} lines for the process (its relay got them).
    const pending = { text: '' };
    this.kernel.watchHostCallback(c, () => this.readSignals(c, pid, pending));
  }

  /** {"signal":N} lines from an exec's client: to the exec'd process, as if from outside. */
  private readSignals(c: number, pid: number, pending: { text: string }): void {
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
        // The client is gone; the process lives on (as runc exec's does).
        this.kernel.watchHostCallback(c, undefined);
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
      try {
        sig = (JSON.parse(line) as { signal?: unknown }).signal;
      } catch {
        continue;
      }
      const tg = this.kernel.groups.get(pid);
      if (typeof sig === 'number' && Number.isInteger(sig) && sig >= 1 && sig <= 64 && tg?.alive) {
        sendSignalToGroup(tg, { signo: sig, code: 0, pid: 0, uid: 0 }, true);
      }
    }
  }

  private exited(tg: ThreadGroup, status: number): void {
    const c = this.waiting.get(tg.tgid);
    if (c === undefined) return;
    this.waiting.delete(tg.tgid);
    this.kernel.watchHostCallback(c, undefined);
    this.reply(c, { exit: status });
    fs.closeSync(c);
  }

  close(): void {
    this.kernel.watchHostCallback(this.listenFd, undefined);
    fs.closeSync(this.listenFd);
    for (const c of this.waiting.values()) fs.closeSync(c);
    this.waiting.clear();
  }
}
