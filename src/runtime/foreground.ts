// Running a container in the foreground (`run`, `do`): start it, forward the caller's signals to
// its init, wait for its exit status, then delete it.

import { readProcStat, signalVerified } from '../state/process';
import { relayTerminal } from './terminal';
import type { ContainerRecord } from '../state/store';
import type { Created, Runtime } from './lifecycle';
import { killAndWait } from './processes';
import { loadPlatform } from '../platform';

// SIGINT/SIGQUIT from a terminal in raw mode arrive as bytes on the pty instead; SIGWINCH is
// handled by the terminal relay (it resizes the pty, and the kernel tells the container).
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

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
  const platform = loadPlatform(record.platform);
  const stop = platform.kill ? forwardToPlatform(record, platform.kill.bind(platform)) : forwardSignals(record.pid, record.pidStartTime);
  let code: number;
  try {
    code = await waitWithTerminal(created.exited, terminal);
  } finally {
    stop();
  }
  cleanupAfterExit(rt, record);
  return code;
}

/** Forward the caller's signals through the platform (vm: to the init inside the guest); returns the undo. */
function forwardToPlatform(rec: ContainerRecord, kill: (rec: ContainerRecord, signal: number, all: boolean) => Promise<void>): () => void {
  const { constants } = require('node:os') as typeof import('node:os');
  const handlers = FORWARDED.map((sig) => {
    const h = () => {
      kill(rec, (constants.signals as Record<string, number>)[sig]!, false).catch(() => undefined);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => handlers.forEach(([sig, h]) => process.off(sig, h));
}

/** Forward the caller's signals to a process (verified by start time); returns the undo. */
export function forwardSignals(pid: number, startTime?: string): () => void {
  const { constants } = require('node:os') as typeof import('node:os');
  const st = startTime ?? readProcStat(pid)?.startTime ?? '';
  const handlers = FORWARDED.map((sig) => {
    const h = () => {
      signalVerified(pid, st, (constants.signals as Record<string, number>)[sig]!);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => handlers.forEach(([sig, h]) => process.off(sig, h));
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
