// Resources → cgroup v2 file writes (devices are an eBPF program instead: bpf.ts). Pure.
// Conversions follow runc/crun so that a spec means the same on both kinds of host.

import { ConfigError } from '../../util/errors';
import { UNLIMITED, type BlockIoResources, type CpuResources, type DeviceRate, type MemoryResources, type Resources } from './resources';
import type { ResourceWrite } from './writes';

/** cpu.shares [2, 262144] → cpu.weight [1, 10000] (runc's linear map; 1024 → 39). */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  const s = Math.min(Math.max(shares, 2), 262144);
  return 1 + Math.floor(((s - 2) * 9999) / 262142);
}

/** cpu.weight → cpu.shares, the inverse map (for reporting a v2 weight in v1 terms). */
export function weightToShares(weight: number): number {
  if (weight === 0) return 0;
  const w = Math.min(Math.max(weight, 1), 10000);
  return 2 + Math.floor(((w - 1) * 262142) / 9999);
}

/** blkio.weight [10, 1000] → io.weight [1, 10000] (runc). */
export function blkioWeightToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** OCI swap is memory+swap; memory.swap.max is swap alone (runc's ConvertMemorySwapToCgroupV2Value). */
export function swapMaxValue(swap: number | undefined, limit: number | undefined, field: string): string | undefined {
  if (limit === UNLIMITED && swap === undefined) return 'max';
  if (swap === undefined) return undefined;
  if (swap === UNLIMITED) return 'max';
  if (limit === undefined || limit === UNLIMITED) throw new ConfigError(field, 'a swap limit needs a memory limit');
  return String(swap - limit);
}

const max = (v: number) => (v === UNLIMITED ? 'max' : String(v));

function memoryWrites(m: MemoryResources, f: string, ignored: string[]): ResourceWrite[] {
  const w: ResourceWrite[] = [];
  const put = (file: string, value: string, key: string) => w.push({ controller: 'memory', file, value, field: `${f}.memory.${key}` });
  const swap = swapMaxValue(m.swap, m.limit, `${f}.memory.swap`);
  if (swap !== undefined) put('memory.swap.max', swap, 'swap');
  if (m.limit !== undefined) put('memory.max', max(m.limit), 'limit');
  if (m.reservation !== undefined) put('memory.low', max(m.reservation), 'reservation');
  if (m.swappiness !== undefined) ignored.push(`${f}.memory.swappiness: cgroup v2 has no per-cgroup swappiness; not applied`);
  if (m.disableOOMKiller) ignored.push(`${f}.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer; not applied`);
  return w;
}

/** cpu.max: `<quota|max> [period]`, only the parts the spec gives (runc). */
export function cpuMaxValue(c: CpuResources): string | undefined {
  if (c.quota === undefined && c.period === undefined) return undefined;
  const quota = c.quota !== undefined && c.quota > 0 ? String(c.quota) : 'max';
  return c.period !== undefined ? `${quota} ${c.period}` : quota;
}

function cpuWrites(c: CpuResources, f: string): ResourceWrite[] {
  const w: ResourceWrite[] = [];
  const put = (controller: string, file: string, value: string, key: string) => w.push({ controller, file, value, field: `${f}.cpu.${key}` });
  if (c.realtimePeriod !== undefined || c.realtimeRuntime !== undefined) {
    const key = c.realtimeRuntime !== undefined ? 'realtimeRuntime' : 'realtimePeriod';
    throw new ConfigError(`${f}.cpu.${key}`, 'cgroup v2 has no realtime scheduling limits');
  }
  if (c.shares !== undefined) put('cpu', 'cpu.weight', String(sharesToWeight(c.shares)), 'shares');
  const cpuMax = cpuMaxValue(c);
  if (cpuMax !== undefined) put('cpu', 'cpu.max', cpuMax, c.quota !== undefined ? 'quota' : 'period');
  if (c.burst !== undefined) put('cpu', 'cpu.max.burst', String(c.burst), 'burst');
  if (c.idle !== undefined) put('cpu', 'cpu.idle', String(c.idle), 'idle');
  if (c.cpus !== undefined) put('cpuset', 'cpuset.cpus', c.cpus, 'cpus');
  if (c.mems !== undefined) put('cpuset', 'cpuset.mems', c.mems, 'mems');
  return w;
}

function ioMaxWrites(rates: DeviceRate[], key: string, field: string): ResourceWrite[] {
  return rates.map((r, i) => ({ controller: 'io', file: 'io.max', value: `${r.major}:${r.minor} ${key}=${r.rate}`, field: `${field}[${i}]` }));
}

function ioWrites(b: BlockIoResources, f: string, ignored: string[]): ResourceWrite[] {
  const base = `${f}.blockIO`;
  const w: ResourceWrite[] = [];
  if (b.weight !== undefined) w.push({ controller: 'io', file: 'io.weight', value: `default ${blkioWeightToIoWeight(b.weight)}`, field: `${base}.weight` });
  if (b.leafWeight !== undefined) ignored.push(`${base}.leafWeight: cgroup v2 has no leaf weight; not applied`);
  b.weightDevice.forEach((d, i) => {
    if (d.weight !== undefined) {
      w.push({ controller: 'io', file: 'io.weight', value: `${d.major}:${d.minor} ${blkioWeightToIoWeight(d.weight)}`, field: `${base}.weightDevice[${i}].weight` });
    }
  });
  w.push(...ioMaxWrites(b.throttleReadBpsDevice, 'rbps', `${base}.throttleReadBpsDevice`));
  w.push(...ioMaxWrites(b.throttleWriteBpsDevice, 'wbps', `${base}.throttleWriteBpsDevice`));
  w.push(...ioMaxWrites(b.throttleReadIOPSDevice, 'riops', `${base}.throttleReadIOPSDevice`));
  w.push(...ioMaxWrites(b.throttleWriteIOPSDevice, 'wiops', `${base}.throttleWriteIOPSDevice`));
  return w;
}

/** Every file write for cgroup v2; `ignored` collects fields v2 cannot express. `unified` goes last. */
export function v2Writes(r: Resources, f = 'linux.resources', ignored: string[] = []): ResourceWrite[] {
  const w: ResourceWrite[] = [];
  if (r.memory) w.push(...memoryWrites(r.memory, f, ignored));
  if (r.cpu) w.push(...cpuWrites(r.cpu, f));
  if (r.pidsLimit !== undefined) w.push({ controller: 'pids', file: 'pids.max', value: max(r.pidsLimit), field: `${f}.pids.limit` });
  if (r.blockIO) w.push(...ioWrites(r.blockIO, f, ignored));
  r.hugepageLimits.forEach((h, i) => {
    w.push({ controller: 'hugetlb', file: `hugetlb.${h.pageSize}.max`, value: max(h.limit), field: `${f}.hugepageLimits[${i}]` });
  });
  for (const [file, value] of Object.entries(r.unified)) {
    w.push({ controller: file.slice(0, file.indexOf('.')), file, value, field: `${f}.unified.${file}` });
  }
  return w;
}
