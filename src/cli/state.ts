import { stateJson } from '../runtime/status';
import { onePositional, parseArgs } from './args';
import type { CommandContext } from './context';

export const usage = 'state ID   print the container state as JSON';

export function stateCommand(ctx: CommandContext): number {
  const id = onePositional(parseArgs(ctx.argv, []), 'container id', 'state');
  const { handle, rec } = ctx.runtime().open(id);
  handle.release();
  process.stdout.write(JSON.stringify(stateJson(rec), null, 2) + '\n');
  return 0;
}
