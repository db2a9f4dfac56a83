// HostFacts read from the running machine.

import * as fs from 'node:fs';
import { parseMountinfo } from '../util/mountinfo';
import type { CgroupHierarchy, HostFacts, HostPathKind } from './plan/facts';

export function parseCgroupMounts(mountinfo: string): CgroupHierarchy[] {
  const out: CgroupHierarchy[] = [];
  for (const { fstype, mountPoint: mountpoint, superOptions } of parseMountinfo(mountinfo)) {
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    if (!mountpoint.startsWith('/sys/fs/cgroup')) continue;
    const name = mountpoint === '/sys/fs/cgroup' ? '' : mountpoint.slice('/sys/fs/cgroup/'.length);
    if (name.includes('/')) continue;
    const options = superOptions
      .split(',')
      .filter((o) => o !== 'rw' && o !== 'ro' && o !== '')
      .join(',');
    out.push({ name, type: fstype, options });
  }
  return out;
}

export function realHostFacts(): HostFacts {
  let cgroups: CgroupHierarchy[] | undefined;
  return {
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    pathKind(path: string): HostPathKind {
      try {
        return fs.statSync(path).isDirectory() ? 'dir' : 'file';
      } catch {
        return 'missing';
      }
    },
    cgroupHierarchies(): CgroupHierarchy[] {
      cgroups ??= parseCgroupMounts(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
      return cgroups;
    },
  };
}
