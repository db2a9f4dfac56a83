// `moat service [--socket PATH]`: run the resident service in the foreground (for systemd, or a
// test) until SIGTERM or SIGINT. docs/cli-speed.md has the design and a unit file.

import { parseArgs, str } from './args';
import type { CommandContext } from './context';
import { MoatError } from '../util/errors';
import { logError } from '../util/log';

export const usage = 'service [--socket PATH]   serve the CLI\'s commands from one resident process (opt-in)';

export async function serviceCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, [{ name: 'socket', type: 'string' }]);
  if (p.positionals.length > 0) throw new MoatError('EUSAGE', 'service: no arguments expected');
  const { defaultSocketPath, startService } = require('../service/serve') as typeof import('../service/serve'); // eslint-disable-line @typescript-eslint/no-require-imports
  const socketPath = str(p, 'socket') ?? defaultSocketPath();
  if (socketPath === undefined) throw new MoatError('EUSAGE', 'service: no socket path: give --socket, or set XDG_RUNTIME_DIR');
  let service;
  try {
    service = await startService(socketPath, (msg) => logError(`service: ${msg}`));
  } catch (err) {
    throw new MoatError('EUSAGE', `service: ${(err as Error).message}`);
  }
  // One command's stray promise or callback must not take down the others under way: said, not fatal.
  process.on('unhandledRejection', (err) => logError(`service: unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
  process.on('uncaughtException', (err) => logError(`service: uncaught exception: ${err.stack ?? err.message}`));
  process.stderr.write(`moat: service: listening on ${socketPath}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await service.close();
  return 0;
}
