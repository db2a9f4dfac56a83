import { onePositional, parseArgs } from './args';
import type { CommandContext } from './context';

export const usage = 'start ID   let a created container run its process';

export async function startCommand(ctx: CommandContext): Promise<number> {
  const id = onePositional(parseArgs(ctx.argv, []), 'container id', 'start');
  const rt = ctx.runtime();
  const { handle, rec } = rt.open(id);
  try {
    await rt.start(handle, rec);
  } finally {
    handle.release();
  }
  return 0;
}
