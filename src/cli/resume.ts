import { onePositional, parseArgs } from './args';
import type { CommandContext } from './context';

export const usage = 'resume ID   thaw a paused container';

export function resumeCommand(ctx: CommandContext): number {
  const id = onePositional(parseArgs(ctx.argv, []), 'container id', 'resume');
  const rt = ctx.runtime();
  const { handle, rec } = rt.open(id);
  try {
    rt.setPaused(handle, rec, false);
  } finally {
    handle.release();
  }
  return 0;
}
