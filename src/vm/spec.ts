// What of a spec the vm platform can run (milestone 1), and the facts the planner sees in the
// guest. Pure.

import type { HostFacts } from '../native/plan';
import type { Process, Spec } from '../spec/types';
import { ConfigError } from '../util/errors';

/** Guest paths the agent sets up (docs/vm.md#guest). */
export const GUEST_ROOTFS = '/rootfs';
export const GUEST_START_FIFO = '/start.fifo';

/** The guest as the planner sees it: root, a cgroup2 hierarchy, no host paths at all. */
export function guestFacts(): HostFacts {
  return {
    uid: 0,
    gid: 0,
    pathKind: () => 'missing',
    cgroupHierarchies: () => [{ name: '', type: 'cgroup2', options: '' }],
  };
}

/** Refuse, naming the field, what needs the host inside the guest (not possible, or not yet). */
export function checkVmSpec(spec: Spec & { process: Process }, preserveFds: number): void {
  if (spec.process.terminal) throw new ConfigError('process.terminal', 'a terminal is not supported by the vm platform yet');
  if (preserveFds > 0) throw new ConfigError('--preserve-fds', 'host fds cannot be passed into a vm');
  (spec.mounts ?? []).forEach((m, i) => {
    const bind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    if (bind) throw new ConfigError(`mounts[${i}].source`, `bind mount of host path ${JSON.stringify(m.source ?? '')}: not supported by the vm platform yet (the guest cannot see host paths)`);
  });
  (spec.linux?.namespaces ?? []).forEach((ns, i) => {
    if (ns.path !== undefined) throw new ConfigError(`linux.namespaces[${i}].path`, 'a vm container cannot join a host namespace');
  });
  if (spec.linux?.seccomp?.['listenerPath'] !== undefined) throw new ConfigError('linux.seccomp.listenerPath', 'a seccomp agent on the host is not reachable from a vm');
  for (const kind of ['createContainer', 'startContainer'] as const) {
    if ((spec.hooks?.[kind] ?? []).length > 0) throw new ConfigError(`hooks.${kind}`, 'hooks inside the container are not supported by the vm platform yet');
  }
}

/** `moat do` in a vm: the same spec, but its cwd is the host's, which the guest rootfs lacks. */
export function doSpecForVm<S extends Spec & { process: Process }>(spec: S): S {
  return { ...spec, process: { ...spec.process, cwd: '/' } };
}
