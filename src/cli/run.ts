import { runForeground } from '../runtime/foreground';
import { loadBundle } from '../spec/bundle';
import { MoatError } from '../util/errors';
import { bool, nonNegativeInt, onePositional, parseArgs, str } from './args';
import type { CommandContext } from './context';
import { CREATE_FLAGS } from './create';

export const usage = 'run [--bundle DIR] [--detach] [--pid-file F] ID   create and start; exits with the container\'s code';

export async function runCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, [...CREATE_FLAGS, { name: 'detach', alias: 'd', type: 'bool' }, { name: 'keep', type: 'bool' }]);
  const id = onePositional(p, 'container id', 'run');
  const bundle = loadBundle(str(p, 'bundle') ?? '.');
  if (bundle.spec.process.terminal) {
    throw new MoatError('EUSAGE', 'run: process.terminal (a pty for the container) is not supported yet; set it to false');
  }
  const detach = bool(p, 'detach');
  const rt = ctx.runtime();
  const created = await rt.create({
    id,
    bundle,
    mode: detach ? 'create' : 'run',
    noPivot: bool(p, 'no-pivot'),
    preserveFds: nonNegativeInt(p, 'preserve-fds', 0),
    ...(str(p, 'pid-file') !== undefined ? { pidFile: str(p, 'pid-file')! } : {}),
  });
  if (detach) {
    try {
      await rt.start(created.handle, created.record);
    } finally {
      created.handle.release();
    }
    return 0;
  }
  return runForeground(rt, created);
}
