// Resources → cgroup v1 file writes, in the order they must be made. Pure.

import { v1DeviceWrites } from './devices';
import { UNLIMITED, type BlockIoResources, type CpuResources, type DeviceRate, type MemoryResources, type Resources, type DeviceRule } from './resources';
import type { ResourceWrite } from './writes';

const num = (v: number) => (v === UNLIMITED ? '-1' : String(v));

function memoryWrites(m: MemoryResources, f: string): ResourceWrite[] {
  const w: ResourceWrite[] = [];
  const put = (file: string, value: string, key: string) => w.push({ controller: 'memory', file, value, field: `${f}.memory.${key}` });
  // limit before memsw (memsw must stay >= limit): the applier retries a refused write after the
  // others, which covers raising both past the current memsw limit.
  if (m.limit !== undefined) put('memory.limit_in_bytes', num(m.limit), 'limit');
  if (m.swap !== undefined) put('memory.memsw.limit_in_bytes', num(m.swap), 'swap');
  if (m.reservation !== undefined) put('memory.soft_limit_in_bytes', num(m.reservation), 'reservation');
  if (m.swappiness !== undefined) put('memory.swappiness', String(m.swappiness), 'swappiness');
  if (m.disableOOMKiller !== undefined) put('memory.oom_control', m.disableOOMKiller ? '1' : '0', 'disableOOMKiller');
  return w;
}

function cpuWrites(c: CpuResources, f: string): ResourceWrite[] {
  const w: ResourceWrite[] = [];
  const put = (controller: string, file: string, value: string, key: string) => w.push({ controller, file, value, field: `${f}.cpu.${key}` });
  if (c.shares !== undefined) put('cpu', 'cpu.shares', String(c.shares), 'shares');
  if (c.period !== undefined) put('cpu', 'cpu.cfs_period_us', String(c.period), 'period');
  if (c.quota !== undefined) put('cpu', 'cpu.cfs_quota_us', num(c.quota), 'quota');
  if (c.burst !== undefined) put('cpu', 'cpu.cfs_burst_us', String(c.burst), 'burst');
  if (c.realtimePeriod !== undefined) put('cpu', 'cpu.rt_period_us', String(c.realtimePeriod), 'realtimePeriod');
  if (c.realtimeRuntime !== undefined) put('cpu', 'cpu.rt_runtime_us', num(c.realtimeRuntime), 'realtimeRuntime');
  if (c.idle !== undefined) put('cpu', 'cpu.idle', String(c.idle), 'idle');
  if (c.cpus !== undefined) put('cpuset', 'cpuset.cpus', c.cpus, 'cpus');
  if (c.mems !== undefined) put('cpuset', 'cpuset.mems', c.mems, 'mems');
  return w;
}

function rateWrites(rates: DeviceRate[], file: string, field: string): ResourceWrite[] {
  return rates.map((r, i) => ({ controller: 'blkio', file, value: `${r.major}:${r.minor} ${r.rate}`, field: `${field}[${i}]` }));
}

function blkioWrites(b: BlockIoResources, f: string): ResourceWrite[] {
  const base = `${f}.blockIO`;
  const w: ResourceWrite[] = [];
  if (b.weight !== undefined) w.push({ controller: 'blkio', file: 'blkio.weight', value: String(b.weight), field: `${base}.weight` });
  if (b.leafWeight !== undefined) w.push({ controller: 'blkio', file: 'blkio.leaf_weight', value: String(b.leafWeight), field: `${base}.leafWeight` });
  b.weightDevice.forEach((d, i) => {
    const id = `${d.major}:${d.minor}`;
    if (d.weight !== undefined) w.push({ controller: 'blkio', file: 'blkio.weight_device', value: `${id} ${d.weight}`, field: `${base}.weightDevice[${i}].weight` });
    if (d.leafWeight !== undefined) w.push({ controller: 'blkio', file: 'blkio.leaf_weight_device', value: `${id} ${d.leafWeight}`, field: `${base}.weightDevice[${i}].leafWeight` });
  });
  w.push(...rateWrites(b.throttleReadBpsDevice, 'blkio.throttle.read_bps_device', `${base}.throttleReadBpsDevice`));
  w.push(...rateWrites(b.throttleWriteBpsDevice, 'blkio.throttle.write_bps_device', `${base}.throttleWriteBpsDevice`));
  w.push(...rateWrites(b.throttleReadIOPSDevice, 'blkio.throttle.read_iops_device', `${base}.throttleReadIOPSDevice`));
  w.push(...rateWrites(b.throttleWriteIOPSDevice, 'blkio.throttle.write_iops_device', `${base}.throttleWriteIOPSDevice`));
  return w;
}

/**
 * Every write for cgroup v1. `devices` is the full ordered rule list (containerDeviceRules) or
 * undefined to leave the devices cgroup alone (an update without devices).
 */
export function v1Writes(r: Resources, devices: readonly DeviceRule[] | undefined, f = 'linux.resources'): ResourceWrite[] {
  const w: ResourceWrite[] = [];
  if (r.memory) w.push(...memoryWrites(r.memory, f));
  if (r.cpu) w.push(...cpuWrites(r.cpu, f));
  if (r.pidsLimit !== undefined) {
    w.push({ controller: 'pids', file: 'pids.max', value: r.pidsLimit === UNLIMITED ? 'max' : String(r.pidsLimit), field: `${f}.pids.limit` });
  }
  if (r.blockIO) w.push(...blkioWrites(r.blockIO, f));
  r.hugepageLimits.forEach((h, i) => {
    w.push({ controller: 'hugetlb', file: `hugetlb.${h.pageSize}.limit_in_bytes`, value: num(h.limit), field: `${f}.hugepageLimits[${i}]` });
  });
  if (devices) w.push(...v1DeviceWrites(devices, `${f}.devices`));
  return w;
}
