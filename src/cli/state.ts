import { stateJson } from '../runtime/status';
import { onePositional, parseArgs } from './args';
import type { CommandContext } from './context';
import { writeStdout } from '../util/stdout';

export const usage = 'state ID   print the container state as JSON';

export function stateCommand(ctx: CommandContext): number {
  const id = onePositional(parseArgs(ctx.argv, []), 'container id', 'state');
  const { handle, rec } = ctx.runtime().open(id);
  handle.release();
  writeStdout(JSON.stringify(stateJson(rec), null, 2) + '\n');
  return 0;
}
