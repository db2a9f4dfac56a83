// What the sentry counts of one container of the pod (docs/sentry.md#pods): the figures a cgroup
// would give the shim's Stats (CPU, memory, tasks), from the sentry's own accounting, since the
// pod's sentry is one set of host cgroups (the sandbox's).
//
// * CPU: its processes' host CPU time, as getrusage/times count it (cputime.ts: the stubs' process
//   clocks; the sentry's own time serving their syscalls is not charged, so system time is 0),
//   the live ones' and the exited ones' (kept at each process's end: PodContainer.exitedCpuNs).
// * Memory: the bytes allocated in the memory files of its address spaces (the anonymous and
//   private memory the sentry handed out: what /proc/<pid>/status calls VmRSS), each address
//   space once. Not counted: the pod's shared memory objects (/dev/shm, SysV shm) and the page
//   cache of its files (the gofer's host files), which are the pod's, not one container's.
// * Tasks: its live threads (cgroup v2's pids.current).
// * OOM kills: the sentry has no memory limit per container, so it kills none (0).

import { groupCpuNs } from './cputime';
import type { MemoryManager } from '../mm/mm';
import type { PodContainer } from './pod-container';
import type { ThreadGroup } from './task';

export interface ContainerStats {
  cpuUserNs: bigint;
  cpuSystemNs: bigint;
  memoryBytes: number;
  tasks: number;
  oomKills: number;
}

export function containerStats(groups: Iterable<ThreadGroup>, c: PodContainer): ContainerStats {
  let cpu = c.exitedCpuNs;
  let tasks = 0;
  const spaces = new Set<MemoryManager>();
  for (const tg of groups) {
    if (tg.container !== c || !tg.alive) continue;
    cpu += groupCpuNs(tg);
    for (const t of tg.tasks) {
      if (t.state === 'dead') continue;
      tasks++;
      spaces.add(t.mm);
    }
  }
  let memoryBytes = 0;
  for (const mm of spaces) memoryBytes += mm.sizes().rss;
  return { cpuUserNs: cpu, cpuSystemNs: 0n, memoryBytes, tasks, oomKills: 0 };
}
