import * as fs from 'node:fs';
import { execProcessFromFlags } from '../runtime/exec-process';
import { parseProcess } from '../spec/validate';
import type { Process } from '../spec/types';
import { ConfigError, MoatError } from '../util/errors';
import { bool, list, nonNegativeInt, parseArgs, str } from './args';
import type { CommandContext } from './context';
import { forwardSignals, waitWithTerminal } from '../runtime/foreground';
import { callerWindowSize, consoleSocketEndpoint, foregroundConsoleEndpoint, type ConsoleEndpoint } from '../runtime/terminal';
import { consoleRequest } from './create';

export const usage = 'exec [--process F | --cwd D --env K=V --user U[:G] --cap C --tty] [--detach] [--pid-file F] ID [COMMAND ARGS...]';

export async function execCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(
    ctx.argv,
    [
      { name: 'process', alias: 'p', type: 'string' },
      { name: 'console-socket', type: 'string' },
      { name: 'cwd', type: 'string' },
      { name: 'env', alias: 'e', type: 'string', multiple: true },
      { name: 'tty', alias: 't', type: 'bool' },
      { name: 'user', alias: 'u', type: 'string' },
      { name: 'additional-gids', alias: 'g', type: 'string', multiple: true },
      { name: 'cap', alias: 'c', type: 'string', multiple: true },
      { name: 'no-new-privs', type: 'bool' },
      { name: 'detach', alias: 'd', type: 'bool' },
      { name: 'pid-file', type: 'string' },
      { name: 'preserve-fds', type: 'string' },
      { name: 'process-label', type: 'string' },
      { name: 'apparmor', type: 'string' },
      { name: 'cgroup', type: 'string' },
      { name: 'ignore-paused', type: 'bool' },
    ],
    { stopAtPositional: true },
  );
  const [id, ...args] = p.positionals;
  if (id === undefined) throw new MoatError('EUSAGE', 'exec: expected a container id');
  const rt = ctx.runtime();
  const { handle, rec } = rt.open(id);
  let started;
  let endpoint: ConsoleEndpoint | undefined;
  let terminal: number | undefined;
  try {
    const processFile = str(p, 'process');
    let proc: Process;
    if (processFile !== undefined) {
      if (args.length > 0) throw new MoatError('EUSAGE', 'exec: give either --process FILE or a command, not both');
      proc = readProcessFile(processFile);
    } else {
      const gids = list(p, 'additional-gids').map((g) => {
        if (!/^\d+$/.test(g)) throw new MoatError('EUSAGE', `exec: --additional-gids takes numbers, got ${JSON.stringify(g)}`);
        return Number(g);
      });
      proc = execProcessFromFlags(rt.savedSpec(handle), {
        args,
        env: list(p, 'env'),
        ...(str(p, 'cwd') !== undefined ? { cwd: str(p, 'cwd')! } : {}),
        ...(str(p, 'user') !== undefined ? { user: str(p, 'user')! } : {}),
        additionalGids: gids,
        caps: list(p, 'cap'),
        noNewPrivs: bool(p, 'no-new-privs'),
        tty: bool(p, 'tty'),
      });
    }
    const detach = bool(p, 'detach');
    const socketPath = str(p, 'console-socket');
    if (proc.terminal) {
      if (socketPath !== undefined) endpoint = await consoleSocketEndpoint(socketPath);
      else if (detach) throw new MoatError('EUSAGE', 'exec: a detached process with a terminal needs a --console-socket');
      else endpoint = foregroundConsoleEndpoint();
    }
    started = await rt.exec(handle, rec, proc, {
      mode: detach ? 'create' : 'run',
      preserveFds: nonNegativeInt(p, 'preserve-fds', 0),
      ...(str(p, 'pid-file') !== undefined ? { pidFile: str(p, 'pid-file')! } : {}),
      ...(endpoint ? { console: consoleRequest(endpoint, proc, callerWindowSize()) } : {}),
    });
    terminal = endpoint?.receiveMaster();
    if (detach) return 0;
  } finally {
    endpoint?.close();
    handle.release();
  }
  const stop = forwardSignals(started.pid);
  try {
    return await waitWithTerminal(started.exited, terminal);
  } finally {
    stop();
  }
}

function readProcessFile(file: string): Process {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file === '-' ? 0 : file, 'utf8'));
  } catch (err) {
    throw new MoatError('ECONFIG', `${file}: cannot read a process JSON: ${(err as Error).message}`);
  }
  try {
    return parseProcess(raw, 'process');
  } catch (err) {
    if (err instanceof ConfigError) throw err.from(file);
    throw err;
  }
}
