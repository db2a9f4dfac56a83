// A sandbox as a library object: made by the core in src/runtime/sandbox.ts, kept alive by an idle
// init (create) or running the caller's command as its init (spawn, spawn.ts: what `moat do` is),
// with processes exec'd into it through the platform's own exec, files in and out as checked tar
// streams, and a close that leaves nothing. It dies with the process that made it (native, sentry:
// a parent-death signal; vm: the moat-do-watch process), and a later Sandbox.create or moat command
// sweeps what such a death left (src/runtime/sweep.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { loadPlatform, type ConsoleRequest } from '../platform';
import { execProcessFromFlags } from '../runtime/exec-process';
import { setRelayEntry } from '../runtime/exec-relay';
import { killSandbox } from '../runtime/foreground';
import { Runtime, type Created } from '../runtime/lifecycle';
import { createSandbox } from '../runtime/sandbox';
import { SDK_PREFIX, sweepStaleDo } from '../runtime/sweep';
import { defaultRoot } from '../state/default-root';
import type { ContainerRecord } from '../state/store';
import { SetupError, StateError, toSandboxError, UsageError } from './errors';
import { ExecHandle, type ExecOptions, type ExecResult } from './exec';
import { checkEnv, parseUser, sandboxSpec, type Checked, type InitCommand, type Isolation, type SandboxOptions } from './options';
import type { SpawnedSandbox, SpawnOptions } from './spawn';
import { singleFileTar, TarCheck } from './tar';

export interface RunOptions extends ExecOptions {
  /** stdout and stderr together are cut at this many bytes (the process is killed then). Default 16 MiB. */
  maxOutputBytes?: number;
}

export interface RunResult extends ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  /** The output reached maxOutputBytes: what is there is its start, and the process was killed. */
  truncated: boolean;
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;
const DEFAULT_MAX_READ = 64 * 1024 * 1024;

/** build/moat.js: the relays (vm exec) run as `node build/moat.js vm-exec-relay`. */
function moatScript(): string | undefined {
  for (let dir = __dirname, i = 0; i < 6; i++, dir = path.dirname(dir)) {
    for (const c of [path.join(dir, 'moat.js'), path.join(dir, 'build', 'moat.js')]) {
      if (fs.existsSync(c) && path.basename(path.dirname(c)) === 'build') return c;
    }
  }
  return undefined;
}

/** A promise chain: one exec start at a time holds the sandbox's state lock (a blocking flock). */
class Queue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** How Sandbox.create and Sandbox.spawn make a sandbox (src/sdk/spawn.ts is the second). */
export interface OpenRequest {
  /** The caller's command as the init; default: the idle init. */
  init?: InitCommand;
  /** The init's stdin, stdout, stderr (the executor takes its copies at create). */
  stdio?: readonly [number, number, number];
  console?: ConsoleRequest;
  /** Aborted before the init starts: the sandbox is removed unstarted, the call rejects with its reason. */
  signal?: AbortSignal;
  /** Made, not started yet (a terminal's master is received here). */
  made?(): void;
}

export class Sandbox {
  protected gone: string | undefined;
  /** The sandbox was closed by its wall time. */
  protected wallTimeHit = false;
  private closing: Promise<void> | undefined;
  private readonly running = new Set<ExecHandle>();
  private readonly lock = new Queue();
  private wallTimer: NodeJS.Timeout | undefined;
  private initEnded = false;

  protected constructor(
    protected readonly rt: Runtime,
    protected readonly created: Created,
    readonly isolation: Isolation,
    private readonly env: string[],
    /** An idle init's end is the sandbox's death (closed at once); a command's is followed by its owner (spawn.ts). */
    private readonly closeOnInitExit = true,
  ) {}

  /** The sandbox's id (`sdk-…`), as `moat list --root` shows it. */
  get id(): string {
    return this.created.record.id;
  }

  /** Make and start a sandbox; resolves once execs can run in it. */
  static async create(o: SandboxOptions): Promise<Sandbox> {
    const devnull = fs.openSync('/dev/null', 'r+');
    try {
      return await Sandbox.open(o, { stdio: [devnull, devnull, devnull] }, (rt, created, checked) => new Sandbox(rt, created, checked.isolation, checked.spec.process.env));
    } finally {
      fs.closeSync(devnull);
    }
  }

  /**
   * Make a sandbox whose init is `argv` (`moat do` is built on this): its exit status is the
   * sandbox's, signals go to it, and its end closes the sandbox. See SpawnedSandbox (spawn.ts).
   */
  static spawn(argv: readonly string[], o: SpawnOptions = {}): Promise<SpawnedSandbox> {
    // Loaded here: spawn.ts extends this class.
    return (require('./spawn') as typeof import('./spawn')).spawnSandbox(argv, o);
  }

  /** Check the options, make the sandbox by the core `moat do` shares, start its init. */
  protected static async open<T extends Sandbox>(o: SandboxOptions, req: OpenRequest, make: (rt: Runtime, created: Created, checked: Checked) => T): Promise<T> {
    let rt: Runtime | undefined;
    let created: Created | undefined;
    try {
      const isolation = o.isolation ?? 'native';
      const ownUserns = isolation === 'native' && o.userns !== 'host' && (process.getuid?.() ?? 0) === 0;
      const checked = sandboxSpec(o, { ownUserns, ...(req.init ? { init: req.init } : {}) });
      if (o.rootfs !== undefined && !fs.statSync(o.rootfs, { throwIfNoEntry: false })?.isDirectory()) {
        throw new UsageError(`rootfs: ${o.rootfs} is not a directory`);
      }
      rt = new Runtime({
        root: o.root ?? defaultRoot(),
        isolation: checked.isolation,
        ...(o.vmAccel !== undefined ? { vmAccel: o.vmAccel } : {}),
        ...(o.systemdCgroup ? { systemdCgroup: true } : {}),
        ...(o.strace ? { strace: true } : {}),
      });
      sweepStaleDo(rt);
      if (checked.isolation === 'vm') {
        // The vm's exec relay is a process of moat's CLI bundle: never the caller's own script.
        const script = moatScript();
        if (!script) throw new SetupError('ENATIVE', 'moat\'s CLI bundle (build/moat.js) not found: run `npm run build`');
        setRelayEntry(script);
      }
      req.signal?.throwIfAborted();
      created = await createSandbox(rt, {
        prefix: o.idPrefix ?? SDK_PREFIX,
        spec: checked.spec,
        ...(checked.rootfs !== undefined ? { rootfs: checked.rootfs } : {}),
        ...(req.stdio ? { stdio: req.stdio } : {}),
        ...(req.console ? { console: req.console } : {}),
      });
      try {
        req.made?.();
        // An abort while it was being made: it never starts.
        req.signal?.throwIfAborted();
        await rt.start(created.handle, created.record);
      } catch (err) {
        // All of it goes, as a forced delete does (processes, cgroups, the VMM, the user-namespace range).
        rt.delete(created.handle, created.record, true);
        throw err;
      }
      created.handle.release();
      const sb = make(rt, created, checked);
      void created.exited.then(() => sb.initGone());
      if (checked.wallTimeMs !== undefined) {
        sb.wallTimer = setTimeout(() => {
          sb.gone ??= `its wall time (${checked.wallTimeMs} ms) has passed`;
          sb.wallTimeHit = true;
          void sb.close();
        }, checked.wallTimeMs);
      }
      return sb;
    } catch (err) {
      // A create that failed after the state was claimed leaves nothing: lifecycle cleaned it up.
      throw toSandboxError(err);
    }
  }

  /** Start a process; its streams are usable at once, `result` resolves when it has exited. */
  exec(argv: readonly string[], opts: ExecOptions = {}): ExecHandle {
    const h = new ExecHandle(
      {
        start: (stdio) => this.lock.run(async () => {
          this.checkOpen();
          if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string' && !a.includes('\0'))) {
            throw new UsageError('exec: argv must be a non-empty array of strings without NUL');
          }
          const { handle, rec } = this.rt.open(this.id);
          try {
            const proc = execProcessFromFlags(this.rt.savedSpec(handle), {
              args: [...argv],
              env: [...this.env, ...checkEnv(opts.env, 'exec: env')],
              ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
              additionalGids: [],
              caps: [],
              noNewPrivs: false,
              tty: false,
            });
            if (opts.user !== undefined) proc.user = { ...parseUser(opts.user, 'exec: user'), additionalGids: [] };
            return await this.rt.exec(handle, rec, proc, { mode: 'run', preserveFds: 0, stdio });
          } finally {
            handle.release();
          }
        }),
        usage: () => this.usage(),
        died: () => this.died(),
        done: () => queueMicrotask(() => this.running.delete(h)),
      },
      opts,
    );
    this.running.add(h);
    return h;
  }

  /** Run to the end, collecting stdout and stderr (at most maxOutputBytes together). */
  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const cap = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    const h = this.exec(argv, opts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let total = 0;
    let truncated = false;
    const take = (into: Buffer[]) => (chunk: Buffer) => {
      if (truncated) return;
      const room = cap - total;
      if (chunk.length > room) {
        into.push(chunk.subarray(0, room));
        total = cap;
        truncated = true;
        h.kill('SIGKILL');
        return;
      }
      into.push(chunk);
      total += chunk.length;
    };
    h.stdout.on('data', take(out));
    h.stderr.on('data', take(err));
    const r = await h.result;
    return { ...r, stdout: Buffer.concat(out), stderr: Buffer.concat(err), truncated };
  }

  /** Extract a tar stream into `dir` (absolute, inside the sandbox); hostile entry names are refused. */
  async copyIn(tar: Readable | Buffer, dir: string): Promise<void> {
    checkSandboxPath(dir, 'copyIn: dir');
    const checked = new TarCheck();
    (Buffer.isBuffer(tar) ? Readable.from([tar]) : tar).pipe(checked);
    let refused: Error | undefined;
    checked.on('error', (e) => (refused = e));
    const r = await this.run(['tar', '-x', '-f', '-', '-C', dir], { stdin: checked, maxOutputBytes: 64 * 1024 });
    if (refused) throw toSandboxError(refused);
    if (r.exitCode !== 0) throw new StateError(`copyIn: tar in the sandbox failed (status ${r.exitCode}): ${r.stderr.toString().trim().slice(0, 500)}`);
  }

  /** A tar stream of `target` (a file or a directory, absolute, inside the sandbox); symlinks stay symlinks. */
  copyOut(target: string): Readable {
    checkSandboxPath(target, 'copyOut: path');
    const out = new PassThrough();
    const dir = path.posix.dirname(target);
    const base = path.posix.basename(target);
    const h = this.exec(['tar', '-c', '-f', '-', '-C', dir, '--', base === '' ? '.' : base]);
    const checked = new TarCheck();
    const errs: Buffer[] = [];
    h.stderr.on('data', (d: Buffer) => errs.length < 16 && errs.push(d));
    h.stdout.pipe(checked);
    checked.on('error', (e) => {
      h.kill();
      out.destroy(toSandboxError(e));
    });
    checked.on('data', (d: Buffer) => out.write(d));
    h.result.then(async (r) => {
      await new Promise<void>((res) => (checked.writableFinished || checked.destroyed ? res() : checked.once('finish', () => res()).once('error', () => res())));
      if (out.destroyed) return;
      if (r.exitCode !== 0) out.destroy(new StateError(`copyOut: ${target}: tar in the sandbox failed (status ${r.exitCode}): ${Buffer.concat(errs).toString().trim().slice(0, 500)}`));
      else out.end();
    }, (e) => out.destroy(toSandboxError(e)));
    return out;
  }

  /** Write one regular file (absolute path; its directory must exist). A symlink there is replaced, never followed. */
  async writeFile(file: string, data: string | Buffer, opts: { mode?: number } = {}): Promise<void> {
    checkSandboxPath(file, 'writeFile: path');
    const base = path.posix.basename(file);
    if (base === '' || base === '.' || base === '..') throw new UsageError(`writeFile: ${JSON.stringify(file)} names no file`);
    await this.copyIn(singleFileTar(base, Buffer.isBuffer(data) ? data : Buffer.from(data), opts.mode ?? 0o644), path.posix.dirname(file));
  }

  /** Read one regular file (absolute path); a symlink is refused, never followed. */
  async readFile(file: string, opts: { maxBytes?: number } = {}): Promise<Buffer> {
    checkSandboxPath(file, 'readFile: path');
    const max = opts.maxBytes ?? DEFAULT_MAX_READ;
    const chunks: Buffer[] = [];
    let entries = 0;
    let kind = '';
    let size = 0;
    const parse = new TarCheck((e) => {
      entries++;
      kind = e.type;
      size = e.size;
      if (e.size > max) throw new UsageError(`readFile: ${file}: ${e.size} bytes, more than maxBytes (${max})`);
    }, (d) => chunks.push(Buffer.from(d)));
    const stream = this.copyOut(file);
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      parse.on('error', reject);
      parse.on('finish', () => resolve());
      stream.pipe(parse);
      parse.resume();
    }).catch((e) => {
      stream.destroy();
      throw toSandboxError(e);
    });
    if (entries === 0) throw new StateError(`readFile: ${file}: nothing read`);
    if (kind !== '0' && kind !== '\0' && kind !== '7') throw new UsageError(`readFile: ${file} is not a regular file (tar type ${JSON.stringify(kind)}${kind === '2' ? ': a symlink, not followed' : ''})`);
    const data = Buffer.concat(chunks);
    if (data.length !== size) throw new StateError(`readFile: ${file}: read ${data.length} of ${size} bytes`);
    return data;
  }

  /** Kill everything in the sandbox and remove all of it. Idempotent; resolves when nothing is left. */
  close(): Promise<void> {
    this.closing ??= this.destroy();
    return this.closing;
  }

  /** `await using sb = await Sandbox.create(...)` closes it at the end of the block (Node ≥ 20.4). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async destroy(): Promise<void> {
    this.gone ??= 'it was closed';
    if (this.wallTimer) clearTimeout(this.wallTimer);
    // Starts in flight finish first (they hold the lock), then the sandbox goes.
    await this.lock.run(async () => {
      const rec = this.created.record;
      killSandbox(this.rt, rec);
      try {
        const { handle, rec: current } = this.rt.open(this.id);
        this.rt.delete(handle, current, true);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOTFOUND') throw toSandboxError(err);
      }
    });
    await Promise.race([this.created.exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
    await Promise.allSettled([...this.running].map((h) => h.result));
  }

  /** The init ended without close(): the sandbox is dead (killed, OOM): clean up what is left. */
  private initGone(): void {
    this.initEnded = true;
    if (this.closing || !this.closeOnInitExit) return;
    this.gone ??= 'its init exited (killed, or out of memory)';
    void this.close().catch(() => undefined);
  }

  private async died(): Promise<boolean> {
    if (this.initEnded) return true;
    await Promise.race([this.created.exited, new Promise((r) => setTimeout(r, 300))]);
    return this.initEnded;
  }

  private checkOpen(): void {
    if (this.gone !== undefined) throw new StateError(`sandbox ${this.id} is closed: ${this.gone}`);
  }

  private usage(): Promise<{ cpuNs: number; peak: number; ooms: number }> {
    return sandboxUsage(this.created.record);
  }
}

function checkSandboxPath(p: string, what: string): void {
  if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0')) throw new UsageError(`${what}: must be an absolute path in the sandbox, got ${JSON.stringify(p)}`);
}

/** The sandbox's cgroup figures: CPU ns, memory high-water mark, OOM kills (zeros where not known). */
export async function sandboxUsage(rec: ContainerRecord): Promise<{ cpuNs: number; peak: number; ooms: number }> {
  const platform = loadPlatform(rec.platform);
  // A vm's OOM kills are the guest kernel's: asked of the guest, at the same time as its stats.
  const [stats, ooms] = await Promise.all([
    Promise.resolve().then(() => platform.stats(rec)).catch(() => undefined),
    platform.oomKills ? platform.oomKills(rec).catch(() => 0) : Promise.resolve(oomKills(rec)),
  ]);
  // No cgroups (rootless): zeros.
  const s = stats as { cpu?: { usage?: { total?: number | bigint } }; memory?: { usage?: { max?: number | bigint } } } | undefined;
  return { cpuNs: Number(s?.cpu?.usage?.total ?? 0), peak: Number(s?.memory?.usage?.max ?? 0), ooms };
}

function oomKills(rec: ContainerRecord): number {
  const dirs = rec.cgroups?.dirs ?? {};
  const file = dirs.memory !== undefined ? path.join(dirs.memory, 'memory.oom_control') : dirs[''] !== undefined ? path.join(dirs[''], 'memory.events') : undefined;
  if (!file) return 0;
  try {
    const m = /^oom_kill (\d+)$/m.exec(fs.readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
