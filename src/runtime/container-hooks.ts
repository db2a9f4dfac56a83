// Hooks that run in the container's namespaces (createContainer, startContainer).

import { platformFor, type CreatedInit } from '../platform';
import type { ContainerStateJson, Process, Spec } from '../spec/types';
import { readProcStat } from '../state/process';
import type { ContainerRecord } from '../state/store';
import { runHooks, type HookResult } from './hooks';
import { killAndWait } from './processes';

/**
 * Hooks that run in the container's namespaces: through the platform's exec, with the
 * container process's credentials, like runc's init runs them. The path is the one the
 * container sees (moat runs them after pivot_root; see docs/hooks.md).
 */
export async function runContainerHooks(kind: 'createContainer' | 'startContainer', rec: ContainerRecord, spec: Spec, state: ContainerStateJson): Promise<void> {
  const hooks = spec.hooks?.[kind] ?? [];
  if (hooks.length === 0 || !spec.process) return;
  const platform = await platformFor(rec.platform);
  const results: HookResult[] = [];
  for (const hook of hooks) {
    const process: Process = { ...spec.process, args: hook.args && hook.args.length > 0 ? hook.args : [hook.path], env: hook.env ?? [], terminal: false };
    const started = await platform.exec({ record: rec, spec, process, mode: 'run', preserveFds: 0, stdin: Buffer.from(JSON.stringify(state)), executable: hook.path });
    results.push(await waitHook(started, hook.timeout));
    if (!results.at(-1)!.ok) break;
  }
  let i = 0;
  runHooks(kind, { [kind]: hooks.slice(0, results.length) }, state, () => results[i++]!);
}

/** Wait for an in-container hook, killing it after its timeout. */
async function waitHook(started: CreatedInit, timeoutSec: number | undefined): Promise<HookResult> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    if (timeoutSec !== undefined) timer = setTimeout(() => resolve('timeout'), timeoutSec * 1000);
  });
  const r = await Promise.race([started.exited, timedOut]);
  if (timer) clearTimeout(timer);
  if (r === 'timeout') {
    const st = readProcStat(started.pid);
    if (st) killAndWait(started.pid, st.startTime);
    await started.exited;
    return { ok: false, message: `timed out after ${timeoutSec}s` };
  }
  return r === 0 ? { ok: true, message: '' } : { ok: false, message: `exit status ${r}` };
}
