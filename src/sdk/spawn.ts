// A sandbox whose init is the caller's command (Sandbox.spawn), as `moat do` runs one: its exit
// status is the sandbox's, signals go to it, its stdio is the caller's own, three fds, or pipes, and
// with a terminal it gets a pty of its own (relayed to the caller's terminal, or as a stream). When
// the command ends, its output is drained and the sandbox closed; `result` then says how it ended.
// The rest is Sandbox's: exec into it while it runs, files, close, the owner's death.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { constants } from 'node:os';
import { Readable, Writable } from 'node:stream';
import { signalSender } from '../runtime/foreground';
import { callerWindowSize, foregroundConsoleEndpoint, relayTerminal, type ConsoleEndpoint } from '../runtime/terminal';
import { sys } from '../sys';
import { toSandboxError, UsageError } from './errors';
import { drained, type Usage } from './exec';
import type { Created, Runtime } from '../runtime/lifecycle';
import type { Isolation, SandboxOptions } from './options';
import { Sandbox, sandboxUsage } from './sandbox';

export interface SpawnOptions extends SandboxOptions {
  /** The command's working directory (absolute; default '/'). */
  cwd?: string;
  /**
   * 'pipe' (default): `stdin`, `stdout`, `stderr` streams on the sandbox; 'inherit': this process's
   * own 0, 1, 2; or three file descriptors (the executor takes copies at create).
   */
  stdio?: 'pipe' | 'inherit' | readonly [number, number, number];
  /**
   * A pseudo-terminal of the sandbox's own for the command (never the caller's terminal itself,
   * which a sandboxed process could push keystrokes into). With stdio 'inherit' moat relays it to
   * this process's terminal (raw mode, window size followed); with 'pipe' `stdout` reads it,
   * `stdin` writes to it, `resize()` sets its size. `{ rows, cols }`: its first size.
   */
  terminal?: boolean | { rows: number; cols: number };
  /** Aborted while the sandbox is made: nothing is left and spawn rejects; after: the sandbox is closed. */
  signal?: AbortSignal;
}

export interface SpawnResult {
  /** The command's exit status as a shell says it: the code, or 128+N for a signal N. */
  exitCode: number;
  signal: NodeJS.Signals | null;
  /** Ended by the sandbox's wall time (limits.wallTime). */
  timedOut: boolean;
  /** The kernel's OOM killer struck in the sandbox while it lived. */
  oomKilled: boolean;
  /** The whole sandbox over its life: CPU time, peak memory, wall time from start to the command's end. */
  usage: Usage;
}

const SIGNAL_NAMES = Object.fromEntries(Object.entries(constants.signals).map(([k, v]) => [v, k])) as Record<number, NodeJS.Signals>;
/** After the command has exited, how long its output may take to drain (a child it left holding it). */
const DRAIN_MS = 2000;

interface Streams {
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  /** The pty master, with a terminal. */
  master?: number;
  /** With stdio 'inherit' and a terminal: the relay to this process's terminal. */
  relay?: { done: Promise<void>; stop(): void };
}

export class SpawnedSandbox extends Sandbox {
  /** With stdio 'pipe': the command's stdin (its terminal's input with a terminal); else null. */
  stdin: Writable | null = null;
  stdout: Readable | null = null;
  /** With stdio 'pipe' and no terminal: the command's stderr; else null. */
  stderr: Readable | null = null;
  /** Resolves once the command has exited, its output drained and the sandbox closed (nothing left). */
  readonly result: Promise<SpawnResult>;
  private streams: Streams | undefined;
  private readonly t0 = Date.now();
  private ended = false;

  /** Send a signal to the command (the sandbox's init; in a vm, inside the guest). Default SIGTERM. */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): void {
    if (this.ended) return;
    const n = typeof signal === 'number' ? signal : constants.signals[signal];
    if (n === undefined) throw new UsageError(`kill: unknown signal ${JSON.stringify(signal)}`, 'ESIGNAL');
    signalSender(this.created.record)(n);
  }

  /** With a terminal: set its size (the command gets SIGWINCH). */
  resize(rows: number, cols: number): void {
    if (this.streams?.master === undefined) throw new UsageError('resize: the sandbox has no terminal (spawn with terminal: true)');
    try {
      sys().setWinsize(this.streams.master, rows, cols);
    } catch {
      // the command's side is gone
    }
  }

  /** `result`, for symmetry with child processes. */
  wait(): Promise<SpawnResult> {
    return this.result;
  }

  /** Sandbox.spawn's work (a static of this class: Sandbox.open is protected). */
  static async launch(argv: readonly string[], o: SpawnOptions): Promise<SpawnedSandbox> {
    const { cwd, stdio = 'pipe', terminal, signal, ...rest } = o;
    const fdList = Array.isArray(stdio) && stdio.length === 3 && stdio.every((fd) => Number.isSafeInteger(fd) && fd >= 0);
    if (stdio !== 'pipe' && stdio !== 'inherit' && !fdList) {
      throw new UsageError(`stdio: 'pipe', 'inherit' or three file descriptors, got ${JSON.stringify(stdio)}`);
    }
    if (terminal && fdList) throw new UsageError('terminal: with stdio \'pipe\' or \'inherit\' (a terminal is the command\'s stdio)');
    const size = typeof terminal === 'object' ? terminal : stdio === 'inherit' ? callerWindowSize() : { rows: 24, cols: 80 };
    if (terminal && !(Number.isSafeInteger(size.rows) && Number.isSafeInteger(size.cols) && size.rows >= 0 && size.cols >= 0 && size.rows < 65536 && size.cols < 65536)) {
      throw new UsageError(`terminal: rows and cols are integers from 0 to 65535, got ${JSON.stringify(terminal)}`);
    }
    const endpoint: ConsoleEndpoint | undefined = terminal ? foregroundConsoleEndpoint() : undefined;
    // Pipes without a terminal: socket pairs, their far ends handed to the executor at create.
    const pairs: [number, number][] = [];
    /** Our ends of the pairs, once the executor has the far ones (closed here then). */
    const streamEnds: number[] = [];
    let master: number | undefined;
    try {
      if (!terminal && stdio === 'pipe') for (let i = 0; i < 3; i++) pairs.push(sys().socketpair());
      const fds = pairs.length === 3 ? ([pairs[0]![1], pairs[1]![1], pairs[2]![1]] as const) : fdList ? (stdio as readonly [number, number, number]) : undefined;
      const sb = await Sandbox.open(
        rest,
        {
          init: { args: argv, ...(cwd !== undefined ? { cwd } : {}), ...(terminal ? { terminal: true } : {}) },
          ...(fds ? { stdio: fds } : {}),
          ...(endpoint ? { console: { handoff: endpoint.handoff, ...size } } : {}),
          ...(signal ? { signal } : {}),
          made: () => {
            master = endpoint?.receiveMaster();
          },
        },
        (rt, created, checked) => new SpawnedSandbox(rt, created, checked.isolation, checked.spec.process.env),
      );
      // The executor has its copies of the far ends: ours go, so that the streams end with the command.
      for (const [mine, theirs] of pairs.splice(0)) {
        streamEnds.push(mine);
        fs.closeSync(theirs);
      }
      sb.attach(streamsFor(stdio, streamEnds, master), signal);
      master = undefined;
      return sb;
    } catch (err) {
      if (master !== undefined) fs.closeSync(master);
      for (const fd of [...pairs.flat(), ...streamEnds]) fs.closeSync(fd);
      throw err;
    } finally {
      endpoint?.close();
    }
  }

  /** The sandbox runs: its streams are known, an abort closes it. */
  private attach(streams: Streams, signal: AbortSignal | undefined): void {
    this.streams = streams;
    this.stdin = streams.stdin;
    this.stdout = streams.stdout;
    this.stderr = streams.stderr;
    if (signal) {
      const onAbort = () => void this.close();
      signal.addEventListener('abort', onAbort, { once: true });
      void this.result.finally(() => signal.removeEventListener('abort', onAbort));
      // Aborted between the last check before the start and now: no event will come.
      if (signal.aborted) onAbort();
    }
    this.attached();
  }

  private attached!: () => void;
  private readonly ready = new Promise<void>((r) => (this.attached = r));

  private constructor(rt: Runtime, created: Created, isolation: Isolation, env: string[]) {
    super(rt, created, isolation, env, false);
    this.result = this.follow();
    this.result.catch(() => undefined); // the caller may only close it
  }

  private async follow(): Promise<SpawnResult> {
    try {
      await this.ready;
      const status = await this.created.exited;
      this.ended = true;
      const wallMs = Date.now() - this.t0;
      const s = this.streams;
      if (s?.relay) {
        // Every holder of the pty's other end is gone with the command: the relay sees EIO soon.
        await Promise.race([s.relay.done, new Promise((r) => setTimeout(r, DRAIN_MS).unref())]);
        s.relay.stop();
      } else if (s) {
        await drained([s.stdout, s.stderr].filter((x): x is Readable => x !== null), DRAIN_MS);
      }
      // Measured before the close removes the cgroups.
      const u = await sandboxUsage(this.created.record).catch(() => ({ cpuNs: 0, peak: 0, ooms: 0 }));
      await this.close();
      s?.stdin?.destroy();
      return {
        exitCode: status,
        signal: status > 128 ? (SIGNAL_NAMES[status - 128] ?? null) : null,
        timedOut: this.wallTimeHit,
        oomKilled: u.ooms > 0,
        usage: { cpuMs: Math.round(u.cpuNs / 1e6), maxRssBytes: u.peak, wallMs },
      };
    } catch (err) {
      throw toSandboxError(err);
    }
  }
}

/** Sandbox.spawn: make the sandbox with `argv` as its init, its stdio or terminal as asked. */
export function spawnSandbox(argv: readonly string[], o: SpawnOptions): Promise<SpawnedSandbox> {
  return SpawnedSandbox.launch(argv, o);
}

function streamsFor(stdio: SpawnOptions['stdio'], ends: number[], master: number | undefined): Streams {
  if (master !== undefined) {
    if (stdio === 'inherit') return { stdin: null, stdout: null, stderr: null, master, relay: relayTerminal(master) };
    if (stdio === 'pipe') return { ...ptyStreams(master), stderr: null, master };
    return { stdin: null, stdout: null, stderr: null, master };
  }
  if (ends.length === 3) {
    const stdin = new net.Socket({ fd: ends[0]!, readable: false, writable: true });
    stdin.on('error', () => undefined); // EPIPE: the command did not read it all
    return {
      stdin,
      stdout: new net.Socket({ fd: ends[1]!, readable: true, writable: false }),
      stderr: new net.Socket({ fd: ends[2]!, readable: true, writable: false }),
    };
  }
  return { stdin: null, stdout: null, stderr: null };
}

/** A pty master as a readable (until EIO: the command's side closed) and a writable. */
function ptyStreams(master: number): { stdin: Writable; stdout: Readable } {
  let closed = false;
  const close = () => {
    if (!closed) fs.close(master, () => undefined);
    closed = true;
  };
  const buf = Buffer.alloc(16384);
  const stdout = new Readable({
    read() {
      fs.read(master, buf, 0, buf.length, null, (err, n) => {
        if (err || n === 0) {
          this.push(null);
          close();
          return;
        }
        this.push(Buffer.from(buf.subarray(0, n)));
      });
    },
    destroy(err, cb) {
      close();
      cb(err);
    },
  });
  const stdin = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (closed) return cb();
      fs.write(master, chunk, (err) => cb(err && (err as NodeJS.ErrnoException).code !== 'EIO' ? err : null));
    },
  });
  stdin.on('error', () => undefined);
  return { stdin, stdout };
}

