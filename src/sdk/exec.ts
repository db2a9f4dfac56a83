// One process in a sandbox: its stdio as Node streams over socket pairs (the far ends handed to the
// platform: the executor natively, the sentry over its control socket, the vm's exec relay), its
// end as a result with the sandbox's resource usage over its lifetime, its timeout and abort.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { constants } from 'node:os';
import { Readable, type Writable } from 'node:stream';
import type { CreatedInit } from '../platform';
import { readProcStat, signalVerified } from '../state/process';
import { sys } from '../sys';
import { toSandboxError } from './errors';

export interface ExecOptions {
  /** Given to the process on stdin: data, a stream, or 'pipe' (write to `handle.stdin`). Default: empty. */
  stdin?: string | Buffer | Readable | 'pipe';
  /** Absolute; default '/'. */
  cwd?: string;
  /** Added to (and overriding) the sandbox's environment. */
  env?: Record<string, string>;
  /** uid or 'uid:gid' (default: the sandbox's user). */
  user?: number | string;
  /** ms: the process is killed after this (result.timedOut). */
  timeout?: number;
  /** Aborting kills the process; the result rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface Usage {
  /** CPU time of the sandbox while the process ran (its cgroup: every process of the sandbox, the sentry's own included). */
  cpuMs: number;
  /** The sandbox's peak memory (its cgroup's high-water mark since it was made). */
  maxRssBytes: number;
  wallMs: number;
}

export interface ExecResult {
  /** The exit status as a shell says it: the code, or 128+N for a signal N. */
  exitCode: number;
  /** The signal's name when the status says one (exitCode > 128), else null. */
  signal: NodeJS.Signals | null;
  /** Killed because `timeout` passed. */
  timedOut: boolean;
  /** The sandbox's memory limit was hit and the kernel killed a process in it meanwhile. */
  oomKilled: boolean;
  /** The whole sandbox died while the process ran (closed, its wall time, the sentry OOM-killed). */
  sandboxDied: boolean;
  usage: Usage;
}

/** What the sandbox gives an exec: how to start it, how to measure it. */
export interface ExecHost {
  start(stdio: readonly [number, number, number]): Promise<CreatedInit>;
  /** CPU ns, peak bytes and OOM kills of the sandbox so far (zeros where not known). */
  usage(): Promise<{ cpuNs: number; peak: number; ooms: number }>;
  /** Whether the whole sandbox has died (waiting briefly for its init's end to be seen). */
  died(): Promise<boolean>;
  /** Forget this exec (the sandbox's list of running ones). */
  done(): void;
}

const SIGNAL_NAMES = Object.fromEntries(Object.entries(constants.signals).map(([k, v]) => [v, k])) as Record<number, NodeJS.Signals>;
/** After the process has exited, how long its stdout/stderr may stay open (a child it left holding them). */
const DRAIN_MS = 2000;

export class ExecHandle {
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** With stdin: 'pipe', the process's stdin; else null. */
  readonly stdin: Writable | null;
  readonly result: Promise<ExecResult>;
  private started: CreatedInit | undefined;
  private startTime = '';
  private timedOut = false;
  private ended = false;

  constructor(host: ExecHost, opts: ExecOptions) {
    const pairs: [number, number][] = [];
    const pair = () => {
      const p = sys().socketpair();
      pairs.push(p);
      return p;
    };
    const [ourOut, theirOut] = pair();
    const [ourErr, theirErr] = pair();
    const wantsStdin = opts.stdin !== undefined && opts.stdin !== '';
    const [ourIn, theirIn] = wantsStdin ? pair() : [-1, fs.openSync('/dev/null', 'r')];
    this.stdout = new net.Socket({ fd: ourOut, readable: true, writable: false });
    this.stderr = new net.Socket({ fd: ourErr, readable: true, writable: false });
    const stdinSock = wantsStdin ? new net.Socket({ fd: ourIn, readable: false, writable: true }) : null;
    stdinSock?.on('error', () => undefined); // EPIPE: the process did not read it all
    this.stdin = opts.stdin === 'pipe' ? stdinSock : null;
    if (stdinSock && opts.stdin !== 'pipe') {
      if (opts.stdin instanceof Readable) {
        // A failing source (copyIn's tar check refusing an entry) ends the process's stdin with it.
        opts.stdin.once('error', () => stdinSock.destroy());
        opts.stdin.pipe(stdinSock);
      }
      else stdinSock.end(opts.stdin as string | Buffer);
    }
    const theirs = [theirIn, theirOut, theirErr] as const;
    this.result = this.follow(host, theirs, opts, stdinSock);
    this.result.catch(() => undefined); // the caller may only read the streams
  }

  /** Send a signal to the process (not to others it started). */
  kill(signal: NodeJS.Signals | number = 'SIGKILL'): void {
    if (this.ended || !this.started) return;
    const n = typeof signal === 'number' ? signal : constants.signals[signal];
    if (this.started.signal) this.started.signal(n);
    else if (this.startTime) signalVerified(this.started.pid, this.startTime, n);
  }

  private async follow(host: ExecHost, theirs: readonly [number, number, number], opts: ExecOptions, stdinSock: net.Socket | null): Promise<ExecResult> {
    const t0 = Date.now();
    const before = await host.usage();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      opts.signal?.throwIfAborted();
      try {
        this.started = await host.start(theirs);
      } finally {
        for (const fd of theirs) fs.closeSync(fd);
      }
      this.startTime = readProcStat(this.started.pid)?.startTime ?? '';
      if (opts.timeout !== undefined) {
        timer = setTimeout(() => {
          this.timedOut = true;
          this.kill('SIGKILL');
        }, opts.timeout);
      }
      if (opts.signal) {
        onAbort = () => this.kill('SIGKILL');
        opts.signal.addEventListener('abort', onAbort, { once: true });
        if (opts.signal.aborted) onAbort();
      }
      let status = await this.started.exited;
      this.ended = true;
      // The sandbox died under the process (the sentry chosen by the OOM killer, the VM gone, its
      // wall time): the process was killed with it, whatever its relay could say (127, 137).
      // (Asked once: died() waits up to 300 ms for an init that is still alive.)
      const died = (status === 127 || status === 137) && (await host.died());
      if (died) status = 128 + 9;
      await drained([this.stdout, this.stderr], DRAIN_MS);
      opts.signal?.throwIfAborted();
      const after = await host.usage();
      return {
        exitCode: status,
        signal: status > 128 ? (SIGNAL_NAMES[status - 128] ?? null) : null,
        timedOut: this.timedOut,
        oomKilled: after.ooms > before.ooms,
        sandboxDied: died,
        usage: { cpuMs: Math.max(0, Math.round((after.cpuNs - before.cpuNs) / 1e6)), maxRssBytes: after.peak, wallMs: Date.now() - t0 },
      };
    } catch (err) {
      this.stdout.destroy();
      this.stderr.destroy();
      throw toSandboxError(err);
    } finally {
      this.ended = true;
      if (timer) clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
      stdinSock?.destroy();
      host.done();
    }
  }
}

/** Wait for the streams to end (their writers gone), at most `ms`; then let go of them. */
export async function drained(streams: Readable[], ms: number): Promise<void> {
  const ends = streams.map((s) => (s.readableEnded || s.destroyed ? Promise.resolve() : new Promise<void>((r) => { s.once('end', r); s.once('close', r); })));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(ends), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
  for (const s of streams) if (!s.readableEnded) s.destroy();
}
