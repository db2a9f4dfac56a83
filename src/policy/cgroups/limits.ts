// The limits a container's cgroups put on it, read back from v1 or v2 files: the machine a
// container-aware view shows (the sentry's /proc/meminfo, sysinfo, nproc). Pure: files are read
// through the CgroupFiles passed in.

import type { CgroupRecord } from '../../state/store';
import type { CgroupFiles } from './stats';

export interface CgroupLimits {
  /** memory.limit_in_bytes / memory.max; undefined when unlimited. */
  memoryBytes?: number;
  /** min(ceil(quota / period), the cpuset's size); undefined when neither limits it. */
  cpus?: number;
}

/** v1 "unlimited" is PAGE_COUNTER_MAX pages: anything this big is no limit. */
const UNLIMITED_FLOOR = 2 ** 62;

/** Count of CPUs in a cpuset list (`0-3,8`); undefined if empty or it does not parse. */
export function cpuListCount(list: string): number | undefined {
  const t = list.trim();
  if (t === '') return undefined;
  let n = 0;
  for (const part of t.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (hi < lo || hi > 1 << 16) return undefined;
    n += hi - lo + 1;
  }
  return n > 0 ? n : undefined;
}

function bytes(text: string | undefined): number | undefined {
  const t = (text ?? '').trim();
  if (!/^\d+$/.test(t)) return undefined; // "max", missing
  const n = Number(t);
  return n > 0 && n < UNLIMITED_FLOOR ? n : undefined;
}

function quotaCpus(quota: number, period: number): number | undefined {
  return quota > 0 && period > 0 ? Math.max(1, Math.ceil(quota / period)) : undefined;
}

/** The directory of a v1 controller (its own mount, or a co-mount like `cpu,cpuacct`). */
function v1Dir(rec: CgroupRecord, controller: string): string | undefined {
  const hit = Object.entries(rec.dirs).find(([name]) => name.split(',').includes(controller));
  return hit?.[1];
}

export function cgroupLimits(rec: CgroupRecord, files: CgroupFiles): CgroupLimits {
  const v2 = rec.dirs[''] ?? rec.dirs.unified;
  const out: CgroupLimits = {};
  const cpuCandidates: number[] = [];
  // On a hybrid host (version 1 with a unified mount) the controllers are v1's.
  if (rec.version === 1) {
    const mem = v1Dir(rec, 'memory');
    if (mem) out.memoryBytes = bytes(files.read(`${mem}/memory.limit_in_bytes`));
    const cpu = v1Dir(rec, 'cpu');
    if (cpu) {
      const q = Number((files.read(`${cpu}/cpu.cfs_quota_us`) ?? '').trim());
      const p = Number((files.read(`${cpu}/cpu.cfs_period_us`) ?? '').trim());
      const n = Number.isFinite(q) && Number.isFinite(p) ? quotaCpus(q, p) : undefined;
      if (n !== undefined) cpuCandidates.push(n);
    }
    const cpuset = v1Dir(rec, 'cpuset');
    const set = cpuset ? cpuListCount(files.read(`${cpuset}/cpuset.cpus`) ?? '') : undefined;
    if (set !== undefined) cpuCandidates.push(set);
  } else if (v2 !== undefined) {
    out.memoryBytes = bytes(files.read(`${v2}/memory.max`));
    const [q, p] = (files.read(`${v2}/cpu.max`) ?? '').trim().split(/\s+/);
    const n = q !== undefined && /^\d+$/.test(q) && p !== undefined && /^\d+$/.test(p) ? quotaCpus(Number(q), Number(p)) : undefined;
    if (n !== undefined) cpuCandidates.push(n);
    const set = cpuListCount(files.read(`${v2}/cpuset.cpus.effective`) ?? '');
    if (set !== undefined) cpuCandidates.push(set);
  }
  if (out.memoryBytes === undefined) delete out.memoryBytes;
  if (cpuCandidates.length > 0) out.cpus = Math.min(...cpuCandidates);
  return out;
}
