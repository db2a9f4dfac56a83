import { bool, onePositional, parseArgs } from './args';
import type { CommandContext } from './context';

export const usage = 'delete [--force] ID   remove a stopped (or, with --force, any) container';

export function deleteCommand(ctx: CommandContext): number {
  const p = parseArgs(ctx.argv, [{ name: 'force', alias: 'f', type: 'bool' }]);
  const id = onePositional(p, 'container id', 'delete');
  const rt = ctx.runtime();
  let opened;
  try {
    opened = rt.open(id);
  } catch (err) {
    // runc: `delete --force` of a container that does not exist succeeds.
    if (bool(p, 'force') && (err as { code?: string }).code === 'ENOTFOUND') return 0;
    throw err;
  }
  try {
    rt.delete(opened.handle, opened.rec, bool(p, 'force'));
  } finally {
    opened.handle.release();
  }
  return 0;
}
