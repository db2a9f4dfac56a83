// What the planner needs to know about the host. The real implementation reads the machine
// (src/policy/host-facts.ts); unit tests pass a fixed double.

export type HostPathKind = 'dir' | 'file' | 'missing';

export interface CgroupHierarchy {
  /** Directory name under /sys/fs/cgroup, e.g. `cpu,cpuacct`, `systemd`, `unified`. */
  name: string;
  type: 'cgroup' | 'cgroup2';
  /** Mount data for a v1 hierarchy: its controllers or `name=…`. */
  options: string;
}

export interface HostFacts {
  /** Kind of a host path (a bind-mount source). Symlinks are followed, as mount(2) does. */
  pathKind(path: string): HostPathKind;
  cgroupHierarchies(): CgroupHierarchy[];
  /** The uid and gid of moat's caller; non-root means a rootless container. */
  uid: number;
  gid: number;
}
