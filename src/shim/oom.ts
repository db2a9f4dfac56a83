// Whether the kernel's OOM killer struck in a container's memory cgroup: the `oom_kill` counter of
// memory.oom_control (v1, Linux ≥ 4.13) or memory.events (v2). Read when the container's init exits,
// before its cgroup goes, so TaskOOM precedes TaskExit as with the runc shim.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupRecord } from '../state/store';

function counter(file: string, key: string): number {
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const [k, v] = line.trim().split(/\s+/);
      if (k === key && v !== undefined && /^\d+$/.test(v)) return Number(v);
    }
  } catch {
    /* no such file: no memory controller, or the cgroup is gone */
  }
  return 0;
}

export function oomKilled(cgroups: CgroupRecord | undefined): boolean {
  if (!cgroups) return false;
  if (cgroups.version === 2) {
    const dir = cgroups.dirs[''];
    return dir !== undefined && counter(path.join(dir, 'memory.events'), 'oom_kill') > 0;
  }
  const dir = cgroups.dirs.memory;
  return dir !== undefined && counter(path.join(dir, 'memory.oom_control'), 'oom_kill') > 0;
}
