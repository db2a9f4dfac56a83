// `moat do`: a thin CLI over the SDK's Sandbox.spawn (src/sdk/spawn.ts) — the command is the
// sandbox's init, over a read-only view of the host's root. What is the CLI's own: its flags, the
// caller's environment and cwd, the caller's terminal (relayed by the SDK), and its signals: an
// ending signal (SIGTERM, SIGINT, SIGHUP) is passed to the command and ends the sandbox after
// --grace (src/runtime/ending.ts); SIGQUIT, SIGUSR1, SIGUSR2 are passed on.

import { constants } from 'node:os';
import { commandEnvironment } from '../runtime/do-spec';
import { DEFAULT_GRACE_MS, SandboxEnder } from '../runtime/ending';
import { Sandbox, type Isolation, type NetworkOption, type SpawnedSandbox, type SpawnOptions } from '../sdk';
import { MoatError } from '../util/errors';
import { parseDuration } from '../util/duration';
import { bool, parseArgs, str } from './args';
import type { CommandContext } from './context';

export const usage = 'do [--isolation P] [--network N] [--memory M] [--cpus C] [--pids N] [--hostname H] [--grace D] [--userns auto|host] [--] CMD [ARGS...]   run CMD sandboxed over a read-only view of the host';

const HELP = `usage: moat do [flags] [--] CMD [ARGS...]

Run CMD sandboxed: fresh pid, mount, uts, ipc and network namespaces (lo up), a read-only view of
the host's / with an in-memory writable layer (native: under Docker's default seccomp profile);
nothing is left behind. Exits with CMD's exit status. (The SDK's Sandbox.spawn, docs/sdk.md.)

flags:
  --isolation P   native (default), sentry or vm
  --network N     loopback or none: a namespace of its own with lo up (the default; the sentry's
                  none refuses even loopback), or, under the sentry only, egress rules: the host's
                  network, each connection checked, e.g. 10.0.0.0/8,192.168.1.5:443 (docs/sentry.md)
  --memory M      the sandbox's memory (e.g. 512m, 2g; swap off); default none of its own
  --cpus C        CPUs as a quota (e.g. 0.5); default none
  --pids N        tasks; default none of its own
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

/** Signals passed on to the command as they are (the ending ones go through the ender). */
const PASSED_ON: readonly NodeJS.Signals[] = ['SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export async function doCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(
    ctx.argv,
    [
      { name: 'isolation', type: 'string' },
      { name: 'network', type: 'string' },
      { name: 'memory', type: 'string' },
      { name: 'cpus', type: 'string' },
      { name: 'pids', type: 'string' },
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
  const userns = str(p, 'userns') ?? 'auto';
  if (userns !== 'auto' && userns !== 'host') throw new MoatError('EUSAGE', `do: --userns takes auto or host, got ${JSON.stringify(userns)}`);
  const g = ctx.global;
  const isolation = str(p, 'isolation') ?? g.isolation;
  const hostname = str(p, 'hostname');
  const opts: SpawnOptions = {
    ...(isolation !== undefined ? { isolation: isolation as Isolation } : {}),
    hostRoot: true,
    root: g.root,
    ...(g.vmAccel !== undefined ? { vmAccel: g.vmAccel } : {}),
    ...(g.systemdCgroup ? { systemdCgroup: true } : {}),
    ...(g.strace ? { strace: true } : {}),
    userns,
    idPrefix: 'do-',
    ...(hostname ? { hostname } : {}),
    ...networkOption(str(p, 'network')),
    limits: limitsOf(str(p, 'memory'), str(p, 'cpus'), str(p, 'pids')),
    env: commandEnvironment(process.env),
    cwd: process.cwd(),
    stdio: 'inherit',
    // At a terminal the sandbox gets a pty of its own, relayed by the SDK: never the caller's
    // terminal itself, which a sandboxed process could push keystrokes into (TIOCSTI).
    terminal: process.stdin.isTTY === true && process.stdout.isTTY === true,
  };
  // From here on a SIGTERM/SIGINT/SIGHUP must not kill moat halfway through: it ends the sandbox;
  // one that comes while the sandbox is made aborts it (removed unstarted).
  const ender = new SandboxEnder(graceMs).install();
  const made = new AbortController();
  ender.beforeAttach = () => made.abort();
  try {
    let sb: SpawnedSandbox;
    try {
      sb = await Sandbox.spawn(p.positionals, { ...opts, signal: made.signal });
    } catch (err) {
      if (!made.signal.aborted) throw err;
      ender.killed = true;
      return ender.exitCode(0);
    }
    const stop = passOn(sb);
    ender.attach({ forward: (signal) => sb.kill(signal), kill: () => void sb.close() });
    try {
      return ender.exitCode((await sb.result).exitCode);
    } finally {
      stop();
      ender.detach();
    }
  } finally {
    ender.dispose();
  }
}

function passOn(sb: SpawnedSandbox): () => void {
  const handlers = PASSED_ON.map((sig) => {
    const h = () => sb.kill(constants.signals[sig]);
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => handlers.forEach(([sig, h]) => process.off(sig, h));
}

function networkOption(v: string | undefined): { network?: NetworkOption } {
  if (v === undefined) return {};
  if (v === 'none' || v === 'loopback') return { network: v };
  return { network: v.split(',') };
}

function limitsOf(memory: string | undefined, cpus: string | undefined, pids: string | undefined): NonNullable<SpawnOptions['limits']> {
  const num = (flag: string, v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new MoatError('EUSAGE', `do: --${flag} takes a number, got ${JSON.stringify(v)}`);
    return n;
  };
  return {
    // `moat do` sets no task limit of its own unless asked (the SDK's default is 1024).
    pids: pids === undefined ? 'max' : num('pids', pids),
    ...(memory !== undefined ? { memory } : {}),
    ...(cpus !== undefined ? { cpus: num('cpus', cpus) } : {}),
  };
}
