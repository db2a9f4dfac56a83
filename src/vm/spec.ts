// What of a spec the vm platform can run (milestone 1), and the facts the planner sees in the
// guest. Pure.

import { createHash } from 'node:crypto';
import { cgroupLayout, joinOps, parseResources, planCgroups, type Resources } from '../policy/cgroups';
import type { HostFacts } from '../policy/plan';
import type { HostPathKind } from '../policy/plan/facts';
import type { ParentOp } from '../policy/plan/ops';
import type { Process, Spec } from '../spec/types';
import { ConfigError } from '../util/errors';

/** Guest paths the agent sets up (docs/vm.md#guest). */
export const GUEST_ROOTFS = '/rootfs';
export const GUEST_START_FIFO = '/start.fifo';
/** The container's cgroup in the guest: the agent makes it (empty), the plan fills and joins it. */
export const GUEST_CGROUP_NAME = 'container';
/**
 * A pod member's name for the agent (native/agent/cgroup.c): its id when that is a plain word of at
 * most 128 characters (CRI's ids are), else a hash of it. Its group is /sys/fs/cgroup/member-<name>.
 */
export function memberKey(id: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id) ? id : `h${createHash('sha256').update(id).digest('hex').slice(0, 40)}`;
}
/** The console socket's fd number in moat-exec, in the guest (the native convention with no preserved fds). */
export const GUEST_CONSOLE_FD = 5;

/**
 * The guest as the planner sees it: root, a cgroup2 hierarchy, and of paths only the volumes the
 * agent mounts (`/vol/N`, see volumes.ts), never a host path.
 */
export function guestFacts(volumes: ReadonlyMap<string, HostPathKind> = new Map()): HostFacts {
  return {
    uid: 0,
    gid: 0,
    pathKind: (p) => volumes.get(p) ?? 'missing',
    cgroupHierarchies: () => [{ name: '', type: 'cgroup2', options: '' }],
  };
}

/** Refuse, naming the field, what needs the host inside the guest (not possible, or not yet). */
export function checkVmSpec(spec: Spec & { process: Process }, preserveFds: number): void {
  if (preserveFds > 0) throw new ConfigError('--preserve-fds', 'host fds cannot be passed into a vm');
  // Bind mounts are shared into the guest (volumes.ts), which validates them.
  (spec.linux?.namespaces ?? []).forEach((ns, i) => {
    // A network namespace is joined by the VMM (its interfaces become the guest's: network.ts).
    if (ns.path !== undefined && ns.type !== 'network') throw new ConfigError(`linux.namespaces[${i}].path`, `a vm container cannot join a host ${ns.type} namespace`);
  });
  if (spec.linux?.seccomp?.['listenerPath'] !== undefined) throw new ConfigError('linux.seccomp.listenerPath', 'a seccomp agent on the host is not reachable from a vm');
  for (const kind of ['createContainer', 'startContainer'] as const) {
    if ((spec.hooks?.[kind] ?? []).length > 0) throw new ConfigError(`hooks.${kind}`, 'hooks inside the container are not supported by the vm platform yet');
  }
}

/** What an exec into a vm container may ask for. */
export function checkVmExec(preserveFds: number): void {
  if (preserveFds > 0) throw new ConfigError('--preserve-fds', 'host fds cannot be passed into a vm');
}

export interface GuestCgroup {
  /** Parent ops of the container's plan: enable the controllers, write the limits, join. */
  create: ParentOp[];
  /** Parent ops of an exec's plan: join. */
  join: ParentOp[];
  dirs: Record<string, string>;
  /** What of linux.resources is not applied in the guest, and why. */
  ignored: string[];
}

/**
 * linux.resources applied inside the guest's cgroup v2 (the VM itself is sized by vmSize): the
 * native platform's own compiler (src/policy/cgroups), against the guest's fixed layout. Pure.
 */
export function guestCgroup(spec: Spec, group = GUEST_CGROUP_NAME, resourcesIn: unknown = spec.linux?.resources): GuestCgroup {
  const resources = parseResources(resourcesIn);
  const dirs = { '': `/sys/fs/cgroup/${group}` };
  const plan = planCgroups({
    layout: cgroupLayout([{ name: '', type: 'cgroup2', options: '' }]),
    own: new Map(),
    path: { kind: 'absolute', path: `/${group}` },
    resources,
    linuxDevices: spec.linux?.devices ?? [],
    withDevices: false,
    dirs,
  });
  const ignored = [...plan.ignored];
  if (resources.devices.length > 0) {
    ignored.push('linux.resources.devices: not enforced in the guest (the guest has only its own few devices)');
  }
  // The VM's vCPUs and memory nodes are the cpuset (vmSize); host CPU numbers mean nothing in it.
  const writes = plan.writes.filter((w) => {
    if (w.file !== 'cpuset.cpus' && w.file !== 'cpuset.mems') return true;
    ignored.push(`${w.field}: applied as the VM's vCPU count, not inside the guest`);
    return false;
  });
  const controllers = [...new Set(['cpu', 'memory', 'pids', ...writes.map((w) => w.controller)])].filter((c) => c !== '');
  const join = joinOps(dirs);
  return {
    create: [
      ...controllers.map((c): ParentOp => ({ op: 'write', path: '/sys/fs/cgroup/cgroup.subtree_control', data: `+${c}` })),
      ...writes.map((w): ParentOp => ({ op: 'write', path: w.path, data: w.value })),
      ...join,
    ],
    join,
    dirs,
    ignored,
  };
}

/** Guest memory (MiB) and vCPUs when the spec sets no limits; TCG touches only what the guest uses. */
export const VM_MEMORY_MIB = 256;
export const VM_CPUS = 1;
/** What the guest needs besides the container's memory limit: its kernel, the agent, page cache. */
export const VM_GUEST_OVERHEAD_MIB = 128;

/** Count of CPUs in a cpuset list (`0-3,8`); undefined if it does not parse. */
export function cpusetCount(list: string): number | undefined {
  let n = 0;
  for (const part of list.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (hi < lo) return undefined;
    n += hi - lo + 1;
  }
  return n > 0 ? n : undefined;
}

/**
 * The VM's size from linux.resources: memory = the container's limit + the guest's overhead (at
 * least VM_MEMORY_MIB, at most the host's memory); vCPUs = ceil(quota/period) or the cpuset's
 * size, whichever is smaller (at least 1, at most the host's CPUs). Pure.
 */
export function vmSize(r: Resources, host: { cpus: number; memoryMiB: number }): { memoryMiB: number; cpus: number } {
  let memoryMiB = VM_MEMORY_MIB;
  const limit = r.memory?.limit;
  if (limit !== undefined && limit > 0) {
    memoryMiB = Math.max(VM_MEMORY_MIB, Math.ceil(limit / (1 << 20)) + VM_GUEST_OVERHEAD_MIB);
  }
  memoryMiB = Math.min(memoryMiB, Math.max(VM_MEMORY_MIB, host.memoryMiB));
  const candidates: number[] = [];
  const { quota, period } = r.cpu ?? {};
  if (quota !== undefined && quota > 0) candidates.push(Math.ceil(quota / (period !== undefined && period > 0 ? period : 100_000)));
  const set = r.cpu?.cpus !== undefined && r.cpu.cpus !== '' ? cpusetCount(r.cpu.cpus) : undefined;
  if (set !== undefined) candidates.push(set);
  const cpus = candidates.length > 0 ? Math.min(...candidates) : VM_CPUS;
  return { memoryMiB, cpus: Math.max(1, Math.min(cpus, Math.max(1, host.cpus))) };
}
