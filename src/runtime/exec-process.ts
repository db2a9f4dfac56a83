// The Process an `exec` runs: either a whole process.json, or the container's own process with the
// command line's overrides (runc's rules). Pure: unit-tested.

import type { Process, Spec } from '../spec/types';
import { MoatError } from '../util/errors';
import { parseUidGid } from '../util/ids';

export interface ExecOverrides {
  args: string[];
  env: string[];
  cwd?: string;
  /** `uid[:gid]` */
  user?: string;
  additionalGids: number[];
  caps: string[];
  noNewPrivs: boolean;
  tty: boolean;
}

function parseUser(text: string): { uid: number; gid?: number } {
  const u = parseUidGid(text);
  if (u === 'syntax') throw new MoatError('EUSAGE', `exec: --user takes uid[:gid] as numbers, got ${JSON.stringify(text)}`);
  if (u === 'range') throw new MoatError('EUSAGE', `exec: --user ${text}: id out of range`);
  return u;
}

/** Later KEY=VALUE entries replace earlier ones with the same KEY, keeping the first position. */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out = [...base];
  for (const e of overrides) {
    if (!e.includes('=')) throw new MoatError('EUSAGE', `exec: --env ${JSON.stringify(e)} is not KEY=VALUE`);
    const key = e.slice(0, e.indexOf('=') + 1);
    const i = out.findIndex((x) => x.startsWith(key));
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

export function execProcessFromFlags(spec: Spec, o: ExecOverrides): Process {
  const base = spec.process;
  if (!base) throw new MoatError('ESTATE', 'the container has no process to take defaults from');
  if (o.args.length === 0) throw new MoatError('EUSAGE', 'exec: name a command, or give --process FILE');
  const user = o.user !== undefined ? parseUser(o.user) : undefined;
  const caps = base.capabilities ?? {};
  const add = (set: string[] | undefined) => [...new Set([...(set ?? []), ...o.caps])];
  const p: Process = {
    ...base,
    args: o.args,
    env: mergeEnv(base.env, o.env),
    cwd: o.cwd ?? base.cwd,
    terminal: o.tty,
    user: {
      ...base.user,
      uid: user?.uid ?? base.user.uid,
      gid: user?.gid ?? (user ? 0 : base.user.gid),
      additionalGids: o.additionalGids.length > 0 ? o.additionalGids : base.user.additionalGids,
    },
    capabilities: o.caps.length === 0 ? caps : { ...caps, bounding: add(caps.bounding), effective: add(caps.effective), permitted: add(caps.permitted) },
    noNewPrivileges: o.noNewPrivs || base.noNewPrivileges === true,
  };
  if (p.cwd === '' || !p.cwd.startsWith('/')) throw new MoatError('EUSAGE', `exec: --cwd must be absolute, got ${JSON.stringify(p.cwd)}`);
  return p;
}
