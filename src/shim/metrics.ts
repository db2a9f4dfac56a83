// moat's cgroup statistics (runc's events shape, src/policy/cgroups/stats.ts) as the
// io.containerd.cgroups.v1.Metrics containerd decodes: pids, cpu usage and throttling, memory
// usage/swap entries and the memory.stat counters v1 names (the subset in proto/metrics.proto).

import type { CgroupStats, U64 } from '../policy/cgroups/stats';
import type { Msg } from './proto';

/** protobufjs takes u64 as a number or a decimal string (for values past 2^53). */
const u64 = (v: U64 | undefined): number | string => (typeof v === 'bigint' ? v.toString() : v ?? 0);

const entry = (e: CgroupStats['memory']['usage'] | undefined): Msg => ({ limit: u64(e?.limit), usage: u64(e?.usage), max: u64(e?.max), failcnt: u64(e?.failcnt) });

const RAW: Record<string, string> = {
  cache: 'cache', rss: 'rss', rssHuge: 'rss_huge', mappedFile: 'mapped_file', dirty: 'dirty', writeback: 'writeback',
  pgPgIn: 'pgpgin', pgPgOut: 'pgpgout', pgFault: 'pgfault', pgMajFault: 'pgmajfault',
  inactiveAnon: 'inactive_anon', activeAnon: 'active_anon', inactiveFile: 'inactive_file', activeFile: 'active_file',
  unevictable: 'unevictable', hierarchicalMemoryLimit: 'hierarchical_memory_limit', hierarchicalSwapLimit: 'hierarchical_memsw_limit',
  totalCache: 'total_cache', totalRss: 'total_rss',
};

export function metricsOf(data: unknown): Msg {
  const s = data as Partial<CgroupStats>;
  const raw = s.memory?.raw ?? {};
  const memory: Msg = { usage: entry(s.memory?.usage), swap: entry(s.memory?.swap) };
  for (const [field, key] of Object.entries(RAW)) if (raw[key] !== undefined) memory[field] = u64(raw[key]);
  if (memory.cache === undefined && s.memory?.cache !== undefined) memory.cache = u64(s.memory.cache);
  return {
    pids: { current: u64(s.pids?.current), limit: u64(s.pids?.limit) },
    cpu: {
      usage: { total: u64(s.cpu?.usage.total), kernel: u64(s.cpu?.usage.kernel), user: u64(s.cpu?.usage.user), perCpu: (s.cpu?.usage.percpu ?? []).map(u64) },
      throttling: { periods: u64(s.cpu?.throttling.periods), throttledPeriods: u64(s.cpu?.throttling.throttledPeriods), throttledTime: u64(s.cpu?.throttling.throttledTime) },
    },
    memory,
  };
}
