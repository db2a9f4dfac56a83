// OCI hooks (runtime-spec config.md#posix-platform-hooks). Each hook gets the container state JSON
// on stdin, exactly its own args and env (nothing inherited from moat), and is killed after its
// timeout. Which failures abort what is the spec's rule, kept here in one place.

import type { ContainerStateJson, Hook, Hooks } from '../spec/types';
import { MoatError } from '../util/errors';
import { logWarning } from '../util/log';

export type HookKind = keyof Hooks;

/** prestart/createRuntime/createContainer/startContainer failures abort; poststart/poststop only warn. */
export function hookFailureIsFatal(kind: HookKind): boolean {
  return kind !== 'poststart' && kind !== 'poststop';
}

export interface HookResult {
  ok: boolean;
  message: string;
}

/** Run one hook in moat's (the runtime's) namespaces. */
export function runHostHook(hook: Hook, state: ContainerStateJson): HookResult {
  const args = hook.args && hook.args.length > 0 ? hook.args : [hook.path];
  const env: Record<string, string> = {};
  for (const e of hook.env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  // Loaded here: child_process (with net and streams) costs every command that runs no hook (docs/cli-speed.md).
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const r = spawnSync(hook.path, args.slice(1), {
    argv0: args[0]!,
    env,
    input: JSON.stringify(state),
    timeout: hook.timeout !== undefined ? hook.timeout * 1000 : undefined,
    killSignal: 'SIGKILL',
    stdio: ['pipe', 'pipe', 'pipe'],
    maxBuffer: 1 << 20,
  });
  const output = `${r.stderr?.toString() ?? ''}${r.stdout?.toString() ?? ''}`.trim().split('\n').slice(-3).join(' | ');
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    return { ok: false, message: `timed out after ${hook.timeout}s` };
  }
  // A hook need not read the state: one that exits first makes the write fail with EPIPE, which
  // is not its failure (as with runc, whose Go exec ignores EPIPE on stdin); its exit status counts.
  const epipe = (r.error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE' && (r.status !== null || r.signal !== null);
  if (r.error && !epipe) return { ok: false, message: (r.error as Error).message };
  if (r.signal) return { ok: false, message: `killed by ${r.signal}${output ? `: ${output}` : ''}` };
  if (r.status !== 0) return { ok: false, message: `exit status ${r.status}${output ? `: ${output}` : ''}` };
  return { ok: true, message: '' };
}

/**
 * Run every hook of one kind in order. A fatal kind stops at the first failure and throws; the
 * others log a warning per failure and go on.
 */
export function runHooks(kind: HookKind, hooks: Hooks | undefined, state: ContainerStateJson, run: (h: Hook) => HookResult = (h) => runHostHook(h, state)): void {
  for (const [i, hook] of (hooks?.[kind] ?? []).entries()) {
    const r = run(hook);
    if (r.ok) continue;
    const what = `${kind} hook ${i} (${hook.path}) failed: ${r.message}`;
    if (hookFailureIsFatal(kind)) throw new MoatError('ESETUP', `container ${JSON.stringify(state.id)}: ${what}`);
    logWarning(`container ${JSON.stringify(state.id)}: ${what}`);
  }
}
