// The process part of a plan, shared by a container's init and by `exec`: rlimits, capabilities
// around the user switch, umask, cwd, no_new_privs, seccomp, then the hand-over and execve.

import { DEFAULT_PATH_ENV } from '../../spec/default';
import type { Linux, Process } from '../../spec/types';
import { ConfigError } from '../../util/errors';
import { capabilitySets, planCapabilities } from '../capabilities';
import { planSeccomp, type ContainerIdentity } from '../seccomp';
import { RLIMIT } from './constants';
import type { ChildOp } from './ops';

export interface ProcessPlanOptions {
  /** Caller fds 3.. handed to the process. */
  preserveFds: number;
  /** Block in wait-start (the create/start split) before execve. */
  waitForStart: boolean;
  /** Run exactly this path (hooks) instead of searching PATH for args[0]. */
  executable?: string;
  /** The container, for a seccomp profile with SCMP_ACT_NOTIFY (its listener gets the state). */
  seccompContainer?: ContainerIdentity;
  /** A rootless caller's user namespace has setgroups denied: no supplementary groups possible. */
  setgroupsDenied?: boolean;
}

export function execCandidates(args0: string, env: readonly string[]): string[] {
  if (args0.includes('/')) return [args0];
  const pathEnv = [...env].reverse().find((e) => e.startsWith('PATH=')) ?? DEFAULT_PATH_ENV;
  const dirs = pathEnv.slice(5).split(':').filter((d) => d.startsWith('/'));
  return [...new Set(dirs)].map((d) => `${d.replace(/\/+$/, '')}/${args0}`);
}

function userSwitchOps(p: Process, setgroupsDenied: boolean): ChildOp[] {
  const { uid, gid, additionalGids } = p.user;
  if (setgroupsDenied && additionalGids.length > 0) {
    throw new ConfigError('process.user.additionalGids', 'a rootless container cannot have supplementary groups (setgroups is denied in its user namespace)');
  }
  return [
    ...(setgroupsDenied ? [] : [{ op: 'setgroups', gids: additionalGids } as const]),
    { op: 'setresgid', r: gid, e: gid, s: gid },
    { op: 'setresuid', r: uid, e: uid, s: uid },
  ];
}

export function rlimitOps(p: Process): ChildOp[] {
  return p.rlimits.map((rl, i) => {
    const resource = RLIMIT[rl.type];
    if (resource === undefined) throw new ConfigError(`process.rlimits[${i}].type`, `unknown rlimit ${rl.type}`);
    return { op: 'rlimit', resource, soft: rl.soft, hard: rl.hard };
  });
}

export function planProcess(p: Process, linux: Linux | undefined, opts: ProcessPlanOptions): ChildOp[] {
  const ops: ChildOp[] = [...rlimitOps(p)];
  const seccomp = planSeccomp(linux, opts.seccompContainer);
  // Without no_new_privs loading a filter needs CAP_SYS_ADMIN: load it before the capabilities are
  // dropped, as runc does (the filter must then allow the user switch and capset too).
  if (!p.noNewPrivileges) ops.push(...seccomp);
  ops.push(...planCapabilities(capabilitySets(p.capabilities), userSwitchOps(p, opts.setgroupsDenied === true)));
  ops.push({ op: 'umask', mode: p.user.umask ?? 0o022 });
  ops.push({ op: 'chdir', path: p.cwd });
  const candidates = opts.executable !== undefined ? [opts.executable] : execCandidates(p.args[0]!, p.env);
  // A missing program fails create (runc's behaviour), not the started container.
  ops.push({ op: 'check-exec', argv0: p.args[0]!, candidates });
  if (p.noNewPrivileges) ops.push({ op: 'no-new-privs' });
  // Last before ready: a failure is still reported to moat; the filter must allow wait-start and exec.
  if (p.noNewPrivileges) ops.push(...seccomp);
  ops.push({ op: 'ready' });
  if (opts.waitForStart) ops.push({ op: 'wait-start' });
  ops.push({ op: 'exec', keep: opts.preserveFds, candidates, argv: p.args, env: p.env });
  return ops;
}
