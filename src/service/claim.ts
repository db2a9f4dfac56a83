// Which commands `moat service` runs, decided before it does anything: the rest is answered "not
// mine" and the front-end runs it with Node, as without a service. Served: what is fast and
// touches nothing but the state directory, cgroups and the executor — the lifecycle of a native
// container (create, start, run without a relayed terminal, kill, delete, pause, resume, ps) and
// state and list of any. Not served: exec, do, events, update, spec, features, every command with a
// sentry or vm container, a foreground terminal (`run` relaying a pty), lxcfs (a daemon it would
// start as its own child), and any command line the CLI itself would refuse (Node says it).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, str } from '../cli/args';
import { GLOBAL_FLAGS } from '../cli/main';
import { selectPlatform } from '../platform/types';
import { defaultRoot } from '../state/default-root';
import type { Request } from './wire';
import { withCaller, type Caller } from '../util/caller';

const ANY_PLATFORM = new Set(['state', 'list']);
const NATIVE_ONLY = new Set(['start', 'kill', 'delete', 'pause', 'resume', 'ps']);
const CREATING = new Set(['create', 'run']);

/** Whether the service runs this request. Reads files only (the bundle's config, a state.json). */
export function serves(req: Request): boolean {
  let g;
  try {
    g = parseArgs(req.argv, [...GLOBAL_FLAGS], { stopAtPositional: true });
  } catch {
    return false;
  }
  for (const f of ['version', 'help', 'strace', 'vm-accel', 'criu', 'rootless']) if (g.flags.has(f)) return false;
  const isolation = str(g, 'isolation');
  if (isolation !== undefined && isolation !== 'native') return false;
  const [name, ...rest] = g.positionals;
  if (name === undefined) return false;
  const root = path.resolve(req.cwd, str(g, 'root') ?? defaultRootFor(req.env));
  if (ANY_PLATFORM.has(name)) return true;
  if (NATIVE_ONLY.has(name)) {
    const id = firstPositional(rest, name === 'ps' ? ['--format', '-format', '-f'] : []);
    return id === undefined || platformOf(root, id) !== false;
  }
  if (CREATING.has(name)) return createServed(req, rest, isolation);
  return false;
}

function defaultRootFor(env: Record<string, string>): string {
  // defaultRoot() reads the caller's env through caller(), which is not set yet here.
  return withCaller({ env } as Caller, defaultRoot);
}

function firstPositional(args: string[], valued: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return args[i + 1];
    if (valued.includes(a)) {
      i++;
      continue;
    }
    if (!a.startsWith('-') || a === '-') return a;
  }
  return undefined;
}

/** false: a container of another platform; true: native, or nothing readable (the command says why). */
function platformOf(root: string, id: string): boolean {
  if (id.includes('/') || id === '.' || id === '..') return true;
  try {
    const rec = JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as { platform?: unknown };
    return rec.platform === undefined || rec.platform === 'native';
  } catch {
    return true;
  }
}

function createServed(req: Request, args: string[], isolation: string | undefined): boolean {
  let p;
  try {
    p = parseArgs(args, [
      { name: 'bundle', alias: 'b', type: 'string' }, { name: 'pid-file', type: 'string' }, { name: 'console-socket', type: 'string' },
      { name: 'no-pivot', type: 'bool' }, { name: 'no-new-keyring', type: 'bool' }, { name: 'preserve-fds', type: 'string' },
      { name: 'detach', alias: 'd', type: 'bool' }, { name: 'keep', type: 'bool' }, { name: 'tty', alias: 't', type: 'bool' },
    ]);
  } catch {
    return true; // the command's own parsing says what is wrong, the same words
  }
  if (req.env.MOAT_LXCFS !== undefined) return false;
  let spec: { annotations?: Record<string, string>; process?: { terminal?: boolean } };
  try {
    spec = JSON.parse(fs.readFileSync(path.resolve(req.cwd, str(p, 'bundle') ?? '.', 'config.json'), 'utf8')) as typeof spec;
    if (typeof spec !== 'object' || spec === null) return true;
  } catch {
    return true; // a missing or bad bundle: the same error from the same code
  }
  const annotations = spec.annotations && typeof spec.annotations === 'object' ? spec.annotations : {};
  try {
    if (selectPlatform(isolation, annotations) !== 'native') return false;
  } catch {
    return true;
  }
  if (annotations['dev.moat.lxcfs'] !== undefined && annotations['dev.moat.lxcfs'] !== 'false') return false;
  const terminal = spec.process?.terminal === true || p.flags.has('tty');
  // A foreground `run` with a terminal relays the pty through moat's own stdio: not here.
  if (terminal && p.flags.get('console-socket') === undefined && !p.flags.has('detach')) return false;
  return true;
}
