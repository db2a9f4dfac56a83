// `moat exec` into a sandbox whose processes are not host children (sentry, vm): a relay process of
// moat's (`moat sentry-exec-relay`, `moat vm-exec-relay`) starts the process through the platform's
// channel and lives as long as it does, exiting with its status, so that its host pid stands for
// the process (the pid file containerd's shim waits on, signals, the exit code), as runc's exec'd
// process would. This file is the part both platforms share:
//   startRelay  (in moat exec)   spawns the relay, hands it the request on fd 3, and waits for the
//                                one line it reports on fd 4: `ok` once the process runs, or
//                                `error <message>`;
//   relayMain   (in the relay)   reads the request, runs the platform's relay, reports once, and
//                                exits with the process's status;
//   forwardSignals               the signals sent to the relay go to the process in the sandbox.
// Each platform supplies only how to reach its sandbox (src/sentry/container.ts, src/vm/exec.ts).

import { spawn, type IOType, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { MoatError } from '../util/errors';
import { logError } from '../util/log';
import { readReportLine } from '../util/report-line';

export const RELAY_REQUEST_FD = 3;
export const RELAY_REPORT_FD = 4;
/** The relay's status when its process's sandbox went away under it (as a SIGKILL'd process). */
export const RELAY_GONE_STATUS = 128 + 9;
/** The relay's status when it never started a process (the parent reports the error). */
const RELAY_FAILED_STATUS = 127;

/** One of the relay's fds 0-2: one of ours, or what spawn makes of a word. */
type RelayFd = number | IOType;

export interface RelayStart {
  /** The relay's subcommand (moat's CLI and the shim both dispatch it). */
  command: 'sentry-exec-relay' | 'vm-exec-relay';
  /** JSON, written to the relay's fd 3. */
  request: unknown;
  /** The relay's fds 0-2. */
  stdio: readonly [RelayFd, RelayFd, RelayFd];
  /** Further fds from 5 on (a console socket). */
  extra?: readonly number[];
  /** exec --detach: moat exec returns once the process runs; the relay stays behind it. */
  detach: boolean;
  /** The error for a relay's `error <message>` line. */
  failure: (message: string) => MoatError;
}

let relayEntry: string | undefined;

/**
 * The script a relay runs as (`node SCRIPT <relay command>`): moat's CLI bundle. The CLI is that
 * script itself (process.argv[1]); a program using the SDK names it here (src/sdk finds build/moat.js).
 */
export function setRelayEntry(script: string): void {
  relayEntry = script;
}

/** Starts the relay; resolves once the process runs in the sandbox (or throws the relay's error). */
export async function startRelay(o: RelayStart): Promise<{ pid: number; exited: Promise<number>; sandboxPid?: number }> {
  const entry = relayEntry ?? process.argv[1];
  if (!entry) throw new MoatError('EINTERNAL', `${o.command}: cannot find moat to start the relay`);
  const stdio: StdioOptions = [...o.stdio, 'pipe', 'pipe', ...(o.extra ?? [])];
  // Its own session, like the executor natively: the caller's terminal signals reach moat, which
  // forwards them to the relay, which forwards them into the sandbox.
  const child = spawn(process.execPath, [entry, o.command], { stdio, detached: true });
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0)));
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new MoatError('EEXEC', `cannot start the exec relay: ${err.message}`)));
  });
  spawnError.catch(() => undefined);
  const request = child.stdio[RELAY_REQUEST_FD] as Writable;
  request.on('error', () => undefined);
  request.end(JSON.stringify(o.request));
  const line = await Promise.race([readReportLine(child.stdio[RELAY_REPORT_FD] as Readable, exited, (code) => `error the exec relay exited (status ${code}) without reporting`), spawnError]);
  // `ok`, or `ok <pid>`: the process's pid in the sandbox (a vm relay reports it).
  const ok = /^ok(?: (\d{1,7}))?$/.exec(line);
  if (ok) {
    if (o.detach) {
      child.unref();
      for (const s of [child.stdio[RELAY_REQUEST_FD], child.stdio[RELAY_REPORT_FD]]) (s as unknown as { unref?: () => void } | null)?.unref?.();
    }
    return { pid: child.pid!, exited, ...(ok[1] !== undefined ? { sandboxPid: Number(ok[1]) } : {}) };
  }
  await exited;
  throw o.failure(line.startsWith('error ') ? line.slice(6) : line);
}

/**
 * The relay process: `run` gets the request and calls `started()` once the process runs (moat exec
 * then returns); it resolves with the process's exit status. An error before `started()` is
 * reported to moat exec; one after it means the sandbox went away.
 */
export async function relayMain<R>(what: string, run: (request: R, started: (sandboxPid?: number) => void) => Promise<number>): Promise<number> {
  let request: R;
  try {
    request = JSON.parse(fs.readFileSync(RELAY_REQUEST_FD, 'utf8')) as R;
    fs.closeSync(RELAY_REQUEST_FD);
  } catch (err) {
    logError(`${what}: no request on fd ${RELAY_REQUEST_FD}: ${(err as Error).message}`);
    return 2;
  }
  let reported = false;
  const report = (line: string) => {
    if (reported) return;
    reported = true;
    try {
      fs.writeSync(RELAY_REPORT_FD, `${line.replace(/\n/g, ' ')}\n`);
      fs.closeSync(RELAY_REPORT_FD);
    } catch {
      // moat exec has gone
    }
  };
  try {
    return await run(request, (sandboxPid) => report(sandboxPid !== undefined ? `ok ${sandboxPid}` : 'ok'));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (!reported) {
      report(`error ${msg}`);
      return RELAY_FAILED_STATUS;
    }
    logError(`${what}: ${msg}`);
    return RELAY_GONE_STATUS;
  }
}

/** Sends each of `signals` this process gets on to `send`; returns the undo. */
export function forwardSignals(signals: readonly NodeJS.Signals[], send: (signal: number) => void): () => void {
  const handlers = signals.map((name) => {
    const h = () => send(os.constants.signals[name]);
    process.on(name, h);
    return () => process.off(name, h);
  });
  return () => handlers.forEach((undo) => undo());
}
