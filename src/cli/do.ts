import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { runForeground } from '../runtime/foreground';
import { doSpec } from '../runtime/do-spec';
import { callerWindowSize, foregroundConsoleEndpoint } from '../runtime/terminal';
import { MoatError } from '../util/errors';
import { parseArgs, str } from './args';
import type { CommandContext } from './context';

export const usage = 'do [--isolation P] [--hostname H] [--] CMD [ARGS...]   run CMD sandboxed over a read-only view of the host';

export async function doCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(
    ctx.argv,
    [
      { name: 'isolation', type: 'string' },
      { name: 'hostname', type: 'string' },
    ],
    { stopAtPositional: true },
  );
  if (p.positionals.length === 0) throw new MoatError('EUSAGE', 'do: name a command to run, e.g. moat do -- sh -c "echo hi"');
  const isolation = str(p, 'isolation');
  if (isolation !== undefined) ctx.global.isolation = isolation;
  const rt = ctx.runtime();
  const id = `do-${crypto.randomBytes(6).toString('hex')}`;
  const scratch = path.join(rt.store.dir(id), 'scratch');
  const spec = doSpec({ args: p.positionals, env: process.env, cwd: process.cwd(), ...(str(p, 'hostname') ? { hostname: str(p, 'hostname')! } : {}) });
  // At a terminal, the sandbox gets a pty of its own, relayed by moat: never the caller's terminal
  // itself, which a sandboxed process could push keystrokes into (TIOCSTI) or reconfigure. (In a
  // vm: a pty in the guest, relayed through a host pty moat makes.)
  const endpoint = process.stdin.isTTY && process.stdout.isTTY ? foregroundConsoleEndpoint() : undefined;
  if (endpoint) spec.process.terminal = true;
  let created;
  let terminal: number | undefined;
  try {
    created = await rt.create({
      id,
      bundle: { dir: rt.store.dir(id), spec, rootfs: path.join(scratch, 'merged') },
      mode: 'run',
      noPivot: false,
      preserveFds: 0,
      hostRootOverlay: { scratch },
      ...(endpoint ? { console: { handoff: endpoint.handoff, ...callerWindowSize() } } : {}),
    });
    terminal = endpoint?.receiveMaster();
  } finally {
    endpoint?.close();
  }
  return runForeground(rt, created, terminal);
}
