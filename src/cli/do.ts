import { runForeground } from '../runtime/foreground';
import { doSpec } from '../runtime/do-spec';
import { DO_PREFIX } from '../runtime/sweep';
import { createSandbox } from '../runtime/sandbox';
import { callerWindowSize, foregroundConsoleEndpoint } from '../runtime/terminal';
import { MoatError } from '../util/errors';
import { DEFAULT_GRACE_MS, SandboxEnder } from '../runtime/ending';
import type { Runtime } from '../runtime/lifecycle';
import { parseDuration } from '../util/duration';
import { bool, parseArgs, str } from './args';
import type { CommandContext } from './context';

export const usage = 'do [--isolation P] [--hostname H] [--grace D] [--userns auto|host] [--] CMD [ARGS...]   run CMD sandboxed over a read-only view of the host';

const HELP = `usage: moat do [flags] [--] CMD [ARGS...]

Run CMD sandboxed: fresh pid, mount, uts, ipc and network namespaces (lo up), a read-only view of
the host's / with an in-memory writable layer (native: under Docker's default seccomp profile);
nothing is left behind. Exits with CMD's exit status.

flags:
  --isolation P   native (default), sentry or vm
  --hostname H    the sandbox's hostname (default moat)
  --grace D       on SIGTERM, SIGINT or SIGHUP, moat passes the signal to CMD and waits D for the
                  sandbox to end; then (or at a second such signal) it kills the whole sandbox and
                  exits with 128+signal. A duration like 3s, 500ms or 10 (seconds); 0 kills at once.
                  Default ${DEFAULT_GRACE_MS / 1000}s.
  --userns M      native, run as root: auto (default) gives the sandbox a user namespace of its own,
                  its root mapped to 65536 host ids nothing else uses (its files look as on the host
                  through an idmapped mount); host runs it as the host's root, confined by
                  capabilities, seccomp and namespaces only.
`;

export async function doCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(
    ctx.argv,
    [
      { name: 'isolation', type: 'string' },
      { name: 'hostname', type: 'string' },
      { name: 'grace', type: 'string' },
      { name: 'userns', type: 'string' },
      { name: 'help', alias: 'h', type: 'bool' },
    ],
    { stopAtPositional: true },
  );
  if (bool(p, 'help')) {
    process.stdout.write(HELP);
    return 0;
  }
  const graceText = str(p, 'grace');
  const graceMs = graceText === undefined ? DEFAULT_GRACE_MS : parseDuration(graceText, 'do: --grace', { allowZero: true, bareSeconds: true });
  if (p.positionals.length === 0) throw new MoatError('EUSAGE', 'do: name a command to run, e.g. moat do -- sh -c "echo hi"');
  const isolation = str(p, 'isolation');
  if (isolation !== undefined) ctx.global.isolation = isolation;
  const userns = str(p, 'userns') ?? 'auto';
  if (userns !== 'auto' && userns !== 'host') throw new MoatError('EUSAGE', `do: --userns takes auto or host, got ${JSON.stringify(userns)}`);
  const rt = ctx.runtime();
  // From here on a SIGTERM/SIGINT/SIGHUP must not kill moat halfway through: it ends the sandbox.
  const ender = new SandboxEnder(graceMs).install();
  try {
    // Only root can map a range of other ids; a rootless moat runs in the caller's own namespace.
    const ownUserns = userns === 'auto' && (process.getuid?.() ?? 0) === 0;
    return await runSandbox(rt, p.positionals, str(p, 'hostname'), ownUserns, ender);
  } finally {
    ender.dispose();
  }
}

async function runSandbox(rt: Runtime, args: string[], hostname: string | undefined, userns: boolean, ender: SandboxEnder): Promise<number> {
  const spec = doSpec({ args, env: process.env, cwd: process.cwd(), userns, ...(hostname ? { hostname } : {}) });
  // At a terminal, the sandbox gets a pty of its own, relayed by moat: never the caller's terminal
  // itself, which a sandboxed process could push keystrokes into (TIOCSTI) or reconfigure. (In a
  // vm: a pty in the guest, relayed through a host pty moat makes.)
  const endpoint = process.stdin.isTTY && process.stdout.isTTY ? foregroundConsoleEndpoint() : undefined;
  if (endpoint) spec.process.terminal = true;
  let created;
  let terminal: number | undefined;
  try {
    // The SDK's sandboxes are made by the same core (src/runtime/sandbox.ts).
    created = await createSandbox(rt, { prefix: DO_PREFIX, spec, ...(endpoint ? { console: { handoff: endpoint.handoff, ...callerWindowSize() } } : {}) });
    terminal = endpoint?.receiveMaster();
  } finally {
    endpoint?.close();
  }
  return runForeground(rt, created, terminal, { ender });
}
