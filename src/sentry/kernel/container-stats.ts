// What the sentry counts of one container of the pod (docs/sentry.md#pods): the figures a cgroup
// would give the shim's Stats (CPU, memory, tasks), from the sentry's own accounting, since the
// pod's sentry is one set of host cgroups (the sandbox's).
//
// * CPU: its processes' host CPU time, as getrusage/times count it (cputime.ts: the stubs' process
//   clocks; the sentry's own time serving their syscalls is not charged, so system time is 0),
//   the live ones' and the exited ones' (kept at each process's end: PodContainer.exitedCpuNs).
// * Memory: the pages present in the memory files of its address spaces, each address space once
//   (an fstat's st_blocks of each memfd: what the host charges for it, as a memory cgroup would;
//   the sentry allocates ranges whole at mmap — an 8 MB stack each — but the host makes a page
//   only when it is touched). Not counted: the pod's shared memory objects (/dev/shm, SysV shm)
//   and its files' host pages (mapped by reference, the gofer's), which are the pod's.
// * Tasks: its live threads (cgroup v2's pids.current).
// * OOM kills: the sentry has no memory limit per container, so it kills none (0).

import * as fs from 'node:fs';
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
  for (const mm of spaces) memoryBytes += residentBytes(mm);
  return { cpuUserNs: cpu, cpuSystemNs: 0n, memoryBytes, tasks, oomKills: 0 };
}

/** The touched pages of an address space's memory file (never more than the sentry allocated). */
function residentBytes(mm: MemoryManager): number {
  const allocated = mm.sizes().rss;
  try {
    return Math.min(fs.fstatSync(mm.file.fd).blocks * 512, allocated);
  } catch {
    return allocated; // (a memory file without a host fd of its own: what the sentry handed out)
  }
}
