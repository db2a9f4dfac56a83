// The machine the sentry shows the application: its memory and its CPU count, as /proc/meminfo,
// /proc/cpuinfo, /proc/stat, /sys/devices/system/cpu, sysinfo(2) and sched_getaffinity(2) report
// them. The container's limits when it has some (its cgroups' memory limit, CPU quota or cpuset,
// which the platform writes to a small JSON file the sentry keeps open: `moat update` rewrites it
// in place), else a fixed small machine: 2 GiB and one CPU.

import * as fs from 'node:fs';

export interface MachineSize {
  memBytes: number;
  cpus: number;
}

export const DEFAULT_MACHINE: Readonly<MachineSize> = { memBytes: 2 * 1024 * 1024 * 1024, cpus: 1 };
/** Bounds of what a machine file may say (a larger cpu count would not fit an affinity mask we hand out). */
export const MIN_MEM_BYTES = 1 << 20;
export const MAX_MEM_BYTES = 2 ** 50;
export const MAX_CPUS = 1024;
/** How long a size read from the file is used before the file is read again. */
const REFRESH_MS = 200;
const MAX_FILE = 4096;

/**
 * The machine file's text ({"memoryBytes"?: N, "cpus"?: N}, both optional) → a size, missing
 * fields from the default; undefined if it is not such an object (a half-written file: keep the last).
 */
export function parseMachine(text: string): MachineSize | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const out: MachineSize = { ...DEFAULT_MACHINE };
  if (r.memoryBytes !== undefined) {
    if (typeof r.memoryBytes !== 'number' || !Number.isSafeInteger(r.memoryBytes)) return undefined;
    out.memBytes = Math.min(MAX_MEM_BYTES, Math.max(MIN_MEM_BYTES, r.memoryBytes));
  }
  if (r.cpus !== undefined) {
    if (typeof r.cpus !== 'number' || !Number.isSafeInteger(r.cpus)) return undefined;
    out.cpus = Math.min(MAX_CPUS, Math.max(1, r.cpus));
  }
  return out;
}

export class Machine {
  private current: MachineSize;
  private readAt = -Infinity;

  /** fd: the machine file, open for reading (kept for the sentry's life); none: the default. */
  constructor(private readonly fd?: number) {
    this.current = { ...DEFAULT_MACHINE };
    this.size();
  }

  size(): MachineSize {
    if (this.fd === undefined) return this.current;
    const now = performance.now();
    if (now - this.readAt < REFRESH_MS) return this.current;
    this.readAt = now;
    const buf = Buffer.alloc(MAX_FILE);
    let n = 0;
    try {
      n = fs.readSync(this.fd, buf, 0, MAX_FILE, 0);
    } catch {
      return this.current;
    }
    const parsed = parseMachine(buf.subarray(0, n).toString('utf8'));
    if (parsed) this.current = parsed;
    return this.current;
  }
}

/** `0`, `0-3`: a cpu list of n CPUs numbered from 0 (sysfs's online/possible/present). */
export function cpuRange(n: number): string {
  return n <= 1 ? '0' : `0-${n - 1}`;
}
