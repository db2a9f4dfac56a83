// Where the executor is forked. The CLI forks it itself (child_process); `moat service` asks the
// caller's front-end to fork it (src/service/remote-spawner.ts), so that the executor and the
// container's init are the caller's descendants, as with runc: containerd's shim, Docker and
// Podman are subreapers that expect the init once `create` has exited. launcher.ts is the one
// user, the same for both.

import type { Readable, Writable } from 'node:stream';

export interface SpawnRequest {
  /** The executor's path and arguments. */
  file: string;
  args: string[];
  mode: 'create' | 'run';
  /** Caller fds 3..3+preserveFds-1 are handed to the container. */
  preserveFds: number;
  /** A pipe for the process's stdin instead of the caller's (hooks get the state JSON). */
  stdinPipe: boolean;
  /** A connected unix socket handed over after the report pipe (consoleFd()). */
  console?: number | import('node:net').Socket;
  /** stdin, stdout, stderr instead of the caller's own (the shim's FIFOs). */
  stdio?: readonly [number, number, number];
}

export interface SpawnedExecutor {
  pid: number;
  /** The plan goes in here; the report comes out of there. */
  plan: Writable;
  report: Readable;
  stdin?: Writable;
  /** Its exit status (code, or 128+signal). */
  exited: Promise<number>;
  /** Rejects if it could not be started at all. */
  failed: Promise<never>;
}

export interface Spawner {
  spawn(req: SpawnRequest): Promise<SpawnedExecutor>;
}

/** This process forks it (the CLI). */
export const localSpawner: Spawner = {
  async spawn(req) {
    const { spawn } = require('node:child_process') as typeof import('node:child_process'); // eslint-disable-line @typescript-eslint/no-require-imports
    const { constants } = require('node:os') as typeof import('node:os'); // eslint-disable-line @typescript-eslint/no-require-imports
    const { MoatError } = require('../util/errors') as typeof import('../util/errors'); // eslint-disable-line @typescript-eslint/no-require-imports
    const planFd = 3 + req.preserveFds;
    const given: readonly (number | 'inherit')[] = req.stdio ?? ['inherit', 'inherit', 'inherit'];
    const stdio: (number | 'inherit' | 'pipe' | import('node:net').Socket)[] = [req.stdinPipe ? 'pipe' : given[0]!, given[1]!, given[2]!];
    for (let i = 0; i < req.preserveFds; i++) stdio.push(3 + i);
    stdio.push('pipe', 'pipe');
    if (req.console !== undefined) stdio.push(req.console);
    const child = spawn(req.file, req.args, {
      stdio,
      // Its own session: terminal signals reach moat, which forwards them; never twice.
      detached: true,
    });
    const exited = new Promise<number>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? ((constants.signals as Record<string, number>)[signal] ?? 0) : 0)));
    });
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new MoatError('ENATIVE', `cannot run ${req.file}: ${err.message}`)));
    });
    failed.catch(() => undefined);
    return {
      pid: child.pid ?? 0,
      plan: child.stdio[planFd] as Writable,
      report: child.stdio[planFd + 1] as Readable,
      ...(req.stdinPipe && child.stdin ? { stdin: child.stdin } : {}),
      exited,
      failed,
    };
  },
};
