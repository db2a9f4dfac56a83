// Which cgroup hierarchies this host has, decided at run time from its mounts: unified (cgroup v2
// at /sys/fs/cgroup), or v1 (one mount per controller set, possibly with a controller-less cgroup2
// at /sys/fs/cgroup/unified: the "hybrid" layout). Pure: the mounts come in as CgroupHierarchy.

import type { CgroupHierarchy } from '../plan/facts';

export const CGROUP_ROOT = '/sys/fs/cgroup';

const V1_CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'hugetlb', 'net_cls', 'net_prio',
  'perf_event', 'rdma', 'misc',
]);

export interface V1Hierarchy {
  /** Directory name under /sys/fs/cgroup, e.g. `memory`, `cpu,cpuacct`, `systemd`. */
  name: string;
  /** Controllers (and `name=…` of a named hierarchy) as /proc/self/cgroup lists them. */
  controllers: string[];
  mountpoint: string;
}

export interface CgroupLayout {
  /** 2: everything on one cgroup2 hierarchy. 1: v1 controllers (hybrid hosts included). */
  version: 1 | 2;
  v1: V1Hierarchy[];
  /** The cgroup2 mount: /sys/fs/cgroup (v2) or /sys/fs/cgroup/unified (hybrid); absent on pure v1. */
  unified?: string;
}

function mountpointOf(name: string): string {
  return name === '' ? CGROUP_ROOT : `${CGROUP_ROOT}/${name}`;
}

export function cgroupLayout(hierarchies: readonly CgroupHierarchy[]): CgroupLayout {
  const v1: V1Hierarchy[] = [];
  let unified: string | undefined;
  for (const h of hierarchies) {
    if (h.type === 'cgroup2') {
      unified = mountpointOf(h.name);
      continue;
    }
    const controllers = h.options.split(',').filter((o) => V1_CONTROLLERS.has(o) || o.startsWith('name='));
    if (controllers.length > 0) v1.push({ name: h.name, controllers, mountpoint: mountpointOf(h.name) });
  }
  const layout: CgroupLayout = { version: v1.length === 0 && unified === CGROUP_ROOT ? 2 : 1, v1 };
  if (unified !== undefined) layout.unified = unified;
  return layout;
}

/** The v1 hierarchy carrying a controller, if mounted. */
export function v1HierarchyOf(layout: CgroupLayout, controller: string): V1Hierarchy | undefined {
  return layout.v1.find((h) => h.controllers.includes(controller));
}

/**
 * /proc/<pid>/cgroup → the cgroup of each hierarchy, keyed by its controller list as the kernel
 * prints it (`memory`, `cpu,cpuacct`, `name=systemd`; `` for cgroup2).
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    out.set(line.slice(first + 1, second), line.slice(second + 1));
  }
  return out;
}

/** A hierarchy's entry in parsed /proc/<pid>/cgroup: same controller set, in any order. */
export function cgroupIn(own: Map<string, string>, controllers: readonly string[]): string | undefined {
  const want = [...controllers].sort().join(',');
  for (const [key, path] of own) {
    if ([...key.split(',')].filter((c) => c !== '').sort().join(',') === want) return path;
  }
  return undefined;
}

/** The cgroup2 mount's name under /sys/fs/cgroup (`` on a unified host, `unified` on a hybrid one). */
export function unifiedName(layout: CgroupLayout): string | undefined {
  if (layout.unified === undefined) return undefined;
  return layout.unified === CGROUP_ROOT ? '' : layout.unified.slice(CGROUP_ROOT.length + 1);
}
