import { parseSignal } from '../runtime/signals';
import { MoatError } from '../util/errors';
import { bool, parseArgs } from './args';
import type { CommandContext } from './context';

export const usage = 'kill [--all] ID [SIGNAL]   send a signal (default TERM) to the container';

export async function killCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, [{ name: 'all', alias: 'a', type: 'bool' }]);
  if (p.positionals.length < 1 || p.positionals.length > 2) {
    throw new MoatError('EUSAGE', 'kill: expected a container id and an optional signal');
  }
  const [id, sigText] = p.positionals as [string, string | undefined];
  const signal = parseSignal(sigText ?? 'SIGTERM');
  const rt = ctx.runtime();
  const { handle, rec } = rt.open(id);
  try {
    await rt.signal(rec, signal, bool(p, 'all'));
  } finally {
    handle.release();
  }
  return 0;
}
