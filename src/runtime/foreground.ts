// Running a container in the foreground (`run`): start it, forward the caller's signals to its
// init, wait for its exit status, then delete it. It only forwards (runc's semantics: the init of a
// pid namespace ignores a signal it has no handler for). `moat do` is the SDK's Sandbox.spawn
// (src/sdk/spawn.ts), which takes signalSender and killSandbox from here, and ends the sandbox on
// SIGTERM/SIGINT/SIGHUP after a grace period (ending.ts).

import { loadPlatform } from '../platform';
import { readProcStat, signalVerified } from '../state/process';
import type { ContainerRecord } from '../state/store';
import type { Created, Runtime } from './lifecycle';
import { killAndWait } from './processes';
import { relayTerminal } from './terminal';
import { mark } from '../util/profile';
import { caller } from '../util/caller';

// SIGINT/SIGQUIT from a terminal in raw mode arrive as bytes on the pty instead; SIGWINCH is
// handled by the terminal relay (it resizes the pty, and the kernel tells the container).
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Wait for the exit status; with a terminal, relay it meanwhile and drain its output. */
export async function waitWithTerminal(exited: Promise<number>, terminal: number | undefined): Promise<number> {
  if (terminal === undefined) return exited;
  const relay = relayTerminal(terminal);
  try {
    const code = await exited;
    // Every holder of the pty's other end is gone with the container: the relay sees EIO soon.
    await Promise.race([relay.done, new Promise((r) => setTimeout(r, 2000).unref())]);
    return code;
  } finally {
    relay.stop();
  }
}

export async function runForeground(rt: Runtime, created: Created, terminal?: number): Promise<number> {
  const { handle, record } = created;
  try {
    await rt.start(handle, record);
  } catch (err) {
    killAndWait(record.pid, record.pidStartTime);
    handle.destroy();
    throw err;
  }
  handle.release();
  const stop = forwardSignalsWith(FORWARDED, signalSender(record));
  let code: number;
  try {
    code = await waitWithTerminal(created.exited, terminal);
    mark('exited');
  } finally {
    stop();
  }
  cleanupAfterExit(rt, record);
  return code;
}

/** How a signal reaches the container's init: through the platform (vm: the init inside the guest), or to the host process. */
export function signalSender(rec: ContainerRecord): (signal: number) => void {
  const platform = loadPlatform(rec.platform);
  if (platform.kill) {
    const kill = platform.kill.bind(platform);
    return (signal) => void kill(rec, signal, false).catch(() => undefined);
  }
  return (signal) => void signalVerified(rec.pid, rec.pidStartTime, signal);
}

/**
 * Kill the whole sandbox at once: a vm's VMM (the guest and all in it go with it; no request to a
 * guest that may not answer), else every process of the container (its pid namespace, its cgroup,
 * the init; the sentry process, whose stubs and gofer die with it). The container's `exited` then
 * resolves and the usual clean-up removes the rest.
 */
export function killSandbox(rt: Runtime, rec: ContainerRecord): void {
  if (rec.vm) {
    signalVerified(rec.vm.vmmPid, rec.vm.vmmStartTime, 9);
    return;
  }
  rt.signal(rec, 9, true).catch(() => undefined);
  signalVerified(rec.pid, rec.pidStartTime, 9);
}

/** Forward the given signals of the caller with `send`; returns the undo. */
function forwardSignalsWith(signals: readonly NodeJS.Signals[], send: (signal: number) => void): () => void {
  const { constants } = require('node:os') as typeof import('node:os');
  const remote = caller();
  if (remote) {
    // moat service: the caller's front-end forwards the signals it gets (native/front/moat-front.c).
    const wanted = new Set(signals.map((sig) => (constants.signals as Record<string, number>)[sig]!));
    const h = (n: number) => {
      if (wanted.has(n)) send(n);
    };
    remote.signals.on('signal', h);
    return () => remote.signals.off('signal', h);
  }
  const handlers = signals.map((sig) => {
    const h = () => send((constants.signals as Record<string, number>)[sig]!);
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => handlers.forEach(([sig, h]) => process.off(sig, h));
}

/** Forward the caller's signals to a process (verified by start time); returns the undo. */
export function forwardSignals(pid: number, startTime?: string): () => void {
  const st = startTime ?? readProcStat(pid)?.startTime ?? '';
  return forwardSignalsWith(FORWARDED, (signal) => void signalVerified(pid, st, signal));
}

function cleanupAfterExit(rt: Runtime, rec: ContainerRecord): void {
  try {
    const { handle, rec: current } = rt.open(rec.id);
    rt.delete(handle, current, true);
  } catch (err) {
    // Someone deleted it already (moat delete --force while we waited): nothing left to do.
    if ((err as { code?: string }).code !== 'ENOTFOUND') throw err;
  }
}
