import { consoleSocketEndpoint, type ConsoleEndpoint } from '../runtime/terminal';
import { loadBundle } from '../spec/bundle';
import type { Process } from '../spec/types';
import { MoatError } from '../util/errors';
import { bool, nonNegativeInt, onePositional, parseArgs, str } from './args';
import type { CommandContext } from './context';
import { mark } from '../util/profile';

export const usage = 'create --bundle DIR [--pid-file F] [--console-socket S] [--no-pivot] [--preserve-fds N] ID';

export const CREATE_FLAGS = [
  { name: 'bundle', alias: 'b', type: 'string' },
  { name: 'pid-file', type: 'string' },
  { name: 'console-socket', type: 'string' },
  { name: 'no-pivot', type: 'bool' },
  { name: 'no-new-keyring', type: 'bool' },
  { name: 'preserve-fds', type: 'string' },
] as const;

/** The console request for a process with a terminal whose master goes to --console-socket. */
export function consoleRequest(endpoint: ConsoleEndpoint, p: Process, fallback = { rows: 0, cols: 0 }) {
  return { handoff: endpoint.handoff, rows: p.consoleSize?.height ?? fallback.rows, cols: p.consoleSize?.width ?? fallback.cols };
}

export async function createCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, [...CREATE_FLAGS]);
  const id = onePositional(p, 'container id', 'create');
  const bundle = loadBundle(str(p, 'bundle') ?? '.');
  mark('bundle config read');
  const socketPath = str(p, 'console-socket');
  if (bundle.spec.process.terminal && socketPath === undefined) {
    throw new MoatError('EUSAGE', 'create: process.terminal is set: a --console-socket is required');
  }
  const endpoint = bundle.spec.process.terminal && socketPath !== undefined ? await consoleSocketEndpoint(socketPath) : undefined;
  try {
    const created = await ctx.runtime().create({
      id,
      bundle,
      mode: 'create',
      noPivot: bool(p, 'no-pivot'),
      noNewKeyring: bool(p, 'no-new-keyring'),
      preserveFds: nonNegativeInt(p, 'preserve-fds', 0),
      ...(str(p, 'pid-file') !== undefined ? { pidFile: str(p, 'pid-file')! } : {}),
      ...(endpoint ? { console: consoleRequest(endpoint, bundle.spec.process) } : {}),
    });
    created.handle.release();
  } finally {
    endpoint?.close();
  }
  return 0;
}
