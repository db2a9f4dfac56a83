import { onePositional, parseArgs } from './args';
import type { CommandContext } from './context';

export const usage = 'pause ID   freeze every process of the container (cgroup freezer); state shows paused';

export function pauseCommand(ctx: CommandContext): number {
  const id = onePositional(parseArgs(ctx.argv, []), 'container id', 'pause');
  const rt = ctx.runtime();
  const { handle, rec } = rt.open(id);
  try {
    rt.setPaused(handle, rec, true);
  } finally {
    handle.release();
  }
  return 0;
}
