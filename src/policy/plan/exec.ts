// `moat exec`: a new process inside a running container. The executor joins the init's
// namespaces (user first, mount last), forks into them, then sets the process up exactly like
// the init's (capabilities, user, no_new_privs, the container's seccomp filter) and execs.

import type { Linux, NamespaceType, Process } from '../../spec/types';
import { NAMESPACE_CLONE_FLAG } from './constants';
import type { ExecutorPlan, ParentOp } from './ops';
import { planProcess } from './process';
import { consoleOp, type ConsolePlan } from './container';

const NS_FILE: Record<NamespaceType, string> = {
  user: 'user', ipc: 'ipc', uts: 'uts', network: 'net', pid: 'pid', cgroup: 'cgroup', time: 'time', mount: 'mnt',
};
const JOIN_ORDER: NamespaceType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

export interface ExecPlanInput {
  initPid: number;
  /** The container's namespaces (from its spec): the ones to join. */
  namespaces: readonly NamespaceType[];
  process: Process;
  /** The container's linux section: its seccomp filter applies to exec'd processes too. */
  linux: Linux | undefined;
  preserveFds: number;
  /** Extra parent ops before the fork (joining the container's cgroups). */
  parentPrelude?: ParentOp[];
  /** Run exactly this path instead of searching PATH for args[0] (hooks). */
  executable?: string;
  /** --tty: the executor's fd number of the console socket, and the window size. */
  console?: ConsolePlan;
  /** The caller is not root and joins a user namespace it made: setgroups is denied there. */
  setgroupsDenied?: boolean;
  /**
   * The container's process.oomScoreAdj: exec'd processes get it too, as runc's do (kubelet's exec
   * probes and `kubectl exec` count against the container's QoS class, not the shim's score).
   */
  oomScoreAdj?: number;
}

export function planExec(input: ExecPlanInput): ExecutorPlan {
  const joins: ParentOp[] = JOIN_ORDER.filter((t) => input.namespaces.includes(t)).map((t) => ({
    op: 'setns',
    path: `/proc/${input.initPid}/ns/${NS_FILE[t]}`,
    nstype: NAMESPACE_CLONE_FLAG[t],
  }));
  // Written by the executor for itself while /proc/self is still the host's (before the mount
  // namespace join), inherited by the process it forks: runc's nsexec does the same.
  const oom: ParentOp[] = input.oomScoreAdj !== undefined ? [{ op: 'write', path: '/proc/self/oom_score_adj', data: String(input.oomScoreAdj) }] : [];
  return {
    parent: [...oom, ...(input.parentPrelude ?? []), ...joins],
    cloneFlags: 0,
    afterClone: [],
    child: [
      { op: 'umask', mode: 0 },
      // A controlling terminal needs a session of its own.
      ...(input.console ? [{ op: 'setsid' } as const, consoleOp(input.console, input.process)] : []),
      ...planProcess(input.process, input.linux, {
        setgroupsDenied: input.setgroupsDenied === true,
        preserveFds: input.preserveFds,
        waitForStart: false,
        ...(input.executable !== undefined ? { executable: input.executable } : {}),
      }),
    ],
  };
}
