import { runForeground } from '../runtime/foreground';
import { callerWindowSize, consoleSocketEndpoint, foregroundConsoleEndpoint, type ConsoleEndpoint } from '../runtime/terminal';
import { loadBundle } from '../spec/bundle';
import { MoatError } from '../util/errors';
import { bool, nonNegativeInt, onePositional, parseArgs, str } from './args';
import type { CommandContext } from './context';
import { mark } from '../util/profile';
import { consoleRequest, CREATE_FLAGS } from './create';

export const usage = 'run [--bundle DIR] [--detach] [--pid-file F] [--console-socket S] [--tty] ID   create and start; exits with the container\'s code';

export async function runCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, [...CREATE_FLAGS, { name: 'detach', alias: 'd', type: 'bool' }, { name: 'keep', type: 'bool' }, { name: 'tty', alias: 't', type: 'bool' }]);
  const id = onePositional(p, 'container id', 'run');
  const bundle = loadBundle(str(p, 'bundle') ?? '.');
  mark('bundle config read');
  // --tty (moat's, not runc's): process.terminal without editing config.json.
  if (bool(p, 'tty')) bundle.spec.process.terminal = true;
  const detach = bool(p, 'detach');
  const socketPath = str(p, 'console-socket');
  let endpoint: ConsoleEndpoint | undefined;
  if (bundle.spec.process.terminal) {
    if (socketPath !== undefined) endpoint = await consoleSocketEndpoint(socketPath);
    else if (detach) throw new MoatError('EUSAGE', 'run: a detached container with process.terminal needs a --console-socket');
    else endpoint = foregroundConsoleEndpoint();
  }
  const rt = ctx.runtime();
  let terminal: number | undefined;
  let created;
  try {
    created = await rt.create({
      id,
      bundle,
      mode: detach ? 'create' : 'run',
      noPivot: bool(p, 'no-pivot'),
      noNewKeyring: bool(p, 'no-new-keyring'),
      preserveFds: nonNegativeInt(p, 'preserve-fds', 0),
      ...(str(p, 'pid-file') !== undefined ? { pidFile: str(p, 'pid-file')! } : {}),
      ...(endpoint ? { console: consoleRequest(endpoint, bundle.spec.process, callerWindowSize()) } : {}),
    });
    terminal = endpoint?.receiveMaster();
  } finally {
    endpoint?.close();
  }
  if (detach) {
    try {
      await rt.start(created.handle, created.record);
    } finally {
      created.handle.release();
    }
    return 0;
  }
  return runForeground(rt, created, terminal);
}
