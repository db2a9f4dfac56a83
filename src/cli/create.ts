import { loadBundle } from '../spec/bundle';
import { MoatError } from '../util/errors';
import { bool, nonNegativeInt, onePositional, parseArgs, str } from './args';
import type { CommandContext } from './context';

export const usage = 'create --bundle DIR [--pid-file F] [--console-socket S] [--no-pivot] [--preserve-fds N] ID';

export const CREATE_FLAGS = [
  { name: 'bundle', alias: 'b', type: 'string' },
  { name: 'pid-file', type: 'string' },
  { name: 'console-socket', type: 'string' },
  { name: 'no-pivot', type: 'bool' },
  { name: 'no-new-keyring', type: 'bool' },
  { name: 'preserve-fds', type: 'string' },
] as const;

export async function createCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, [...CREATE_FLAGS]);
  const id = onePositional(p, 'container id', 'create');
  const bundle = loadBundle(str(p, 'bundle') ?? '.');
  if (bundle.spec.process.terminal && str(p, 'console-socket') === undefined) {
    throw new MoatError('EUSAGE', 'create: process.terminal is set: a --console-socket is required');
  }
  if (bundle.spec.process.terminal) {
    throw new MoatError('EUSAGE', 'create: process.terminal (a pty for the container) is not supported yet');
  }
  const created = await ctx.runtime().create({
    id,
    bundle,
    mode: 'create',
    noPivot: bool(p, 'no-pivot'),
    preserveFds: nonNegativeInt(p, 'preserve-fds', 0),
    ...(str(p, 'pid-file') !== undefined ? { pidFile: str(p, 'pid-file')! } : {}),
  });
  created.handle.release();
  return 0;
}
