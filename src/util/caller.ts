// Who a command runs for. In the CLI that is this process: its cwd, environment, stdio, signals.
// In `moat service` (src/service/) one process serves many commands at once, each for a caller on
// the other end of a socket: the command runs inside `withCaller`, and the few places that touch
// the caller's world (relative paths, output, log config, the caller's env, its signals, where the
// executor is forked) ask `caller()` instead of `process`. Nothing here changes the CLI's behaviour.

import { AsyncLocalStorage } from 'node:async_hooks';
import type { EventEmitter } from 'node:events';
import * as path from 'node:path';
import type { LogConfig } from './log';
import type { Spawner } from '../native/spawner';
import type { RequestProfile } from './profile';

export interface Caller {
  /** The caller's cwd (absolute): every relative path of the command is resolved against it. */
  cwd: string;
  env: Record<string, string>;
  /** The command's output, the same bytes it would write to fd 1 or 2. */
  write(fd: 1 | 2, data: string | Uint8Array): void;
  /** --log, --log-format, --debug of this command. */
  log: LogConfig;
  /** Emits 'signal' (a number) for each signal the caller forwards while a `run` waits. */
  signals: EventEmitter;
  /** Forks the executor in the caller's process (its descendants are the caller's). */
  spawner: Spawner;
  /** The caller's MOAT_PROFILE=1: this command's marks (src/util/profile.ts). */
  profile?: RequestProfile;
}

const store = new AsyncLocalStorage<Caller>();

export function withCaller<T>(c: Caller, fn: () => T): T {
  return store.run(c, fn);
}

/** The remote caller of this command, or undefined in the CLI. */
export function caller(): Caller | undefined {
  return store.getStore();
}

/**
 * A path flag as the caller meant it: relative to the caller's cwd. The CLI keeps the path as
 * given (the kernel resolves it against the cwd, as before), so its messages stay the same.
 */
export function callerPath(p: string): string {
  const c = store.getStore();
  return c ? path.resolve(c.cwd, p) : p;
}

/** An environment variable of the caller. */
export function callerEnv(name: string): string | undefined {
  const c = store.getStore();
  return c ? c.env[name] : process.env[name];
}
