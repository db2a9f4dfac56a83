// OCI LinuxResources (untrusted JSON) → typed, validated Resources. Every error names the field
// (`linux.resources.memory.limit: …`). Pure.

import { JsonReader } from '../../spec/reader';
import { ConfigError } from '../../util/errors';

/** A value the kernel takes as "no limit" (-1 in the spec; JSON's 2^63-1 rounds above 2^53). */
export const UNLIMITED = -1;

export interface MemoryResources {
  limit?: number;
  reservation?: number;
  /** memory+swap, as in cgroup v1 (runc's convention). */
  swap?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
}

export interface CpuResources {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface DeviceWeight {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

export interface DeviceRate {
  major: number;
  minor: number;
  rate: number;
}

export interface BlockIoResources {
  weight?: number;
  leafWeight?: number;
  weightDevice: DeviceWeight[];
  throttleReadBpsDevice: DeviceRate[];
  throttleWriteBpsDevice: DeviceRate[];
  throttleReadIOPSDevice: DeviceRate[];
  throttleWriteIOPSDevice: DeviceRate[];
}

export interface HugepageLimit {
  pageSize: string;
  limit: number;
}

export interface DeviceRule {
  allow: boolean;
  /** `a` = every device (the whole list is reset, as in the kernel's v1 devices cgroup). */
  type: 'a' | 'c' | 'b';
  /** -1 = any (`*`). */
  major: number;
  minor: number;
  /** Subset of `rwm`, in that order. */
  access: string;
}

export interface Resources {
  memory?: MemoryResources;
  cpu?: CpuResources;
  /** > 0: the limit; -1: no limit. */
  pidsLimit?: number;
  blockIO?: BlockIoResources;
  hugepageLimits: HugepageLimit[];
  devices: DeviceRule[];
  unified: Record<string, string>;
  /** Fields accepted but not applied, with the reason (for --debug). */
  ignored: string[];
}

const U64 = 2 ** 64;
const I64 = 2 ** 63;

/** A limit in bytes: -1 (or 2^63-1 as JSON rounds it) is unlimited; 0 means "not set", as in runc. */
function optLimit(r: JsonReader, key: string): number | undefined {
  const v = r.optInt(key, -1, U64);
  if (v === undefined || v === 0) return undefined;
  return v > Number.MAX_SAFE_INTEGER ? UNLIMITED : v;
}

function readMemory(r: JsonReader, ignored: string[]): MemoryResources | undefined {
  if (!r.isPresent()) return undefined;
  r.object();
  const m: MemoryResources = {};
  const limit = optLimit(r, 'limit');
  if (limit !== undefined) m.limit = limit;
  const reservation = optLimit(r, 'reservation');
  if (reservation !== undefined) m.reservation = reservation;
  const swap = optLimit(r, 'swap');
  if (swap !== undefined) m.swap = swap;
  const swappiness = r.optInt('swappiness', 0, U64);
  if (swappiness !== undefined) {
    if (swappiness > 100) r.field('swappiness').reject(`${swappiness} is out of range [0, 100]`);
    m.swappiness = swappiness;
  }
  const noOom = r.optBoolean('disableOOMKiller');
  if (noOom !== undefined) m.disableOOMKiller = noOom;
  for (const k of ['kernel', 'kernelTCP']) {
    if (r.has(k)) ignored.push(`${r.path}.${k}: kernel memory limits are deprecated (cgroup v1) or absent (v2); not applied`);
  }
  if (m.swap !== undefined && m.swap !== UNLIMITED && m.limit !== undefined && m.limit !== UNLIMITED && m.swap < m.limit) {
    r.field('swap').reject(`${m.swap} is below memory.limit ${m.limit} (swap is memory+swap, as in runc)`);
  }
  return m;
}

const CPU_LIST = /^(\d+(-\d+)?)(,\d+(-\d+)?)*$/;

function optCpuList(r: JsonReader, key: string): string | undefined {
  const v = r.optString(key);
  if (v === undefined || v === '') return undefined;
  if (!CPU_LIST.test(v)) r.field(key).reject(`${JSON.stringify(v)} is not a list like 0-3,5`);
  return v;
}

function readCpu(r: JsonReader): CpuResources | undefined {
  if (!r.isPresent()) return undefined;
  r.object();
  const c: CpuResources = {};
  const shares = r.optInt('shares', 0, U64);
  if (shares) c.shares = shares;
  const quota = r.optInt('quota', -1, I64);
  if (quota) c.quota = quota;
  const burst = r.optInt('burst', 0, U64);
  if (burst !== undefined) c.burst = burst;
  const period = r.optInt('period', 0, U64);
  if (period) {
    if (period < 1000 || period > 1_000_000) r.field('period').reject(`${period} is out of range [1000, 1000000] (microseconds)`);
    c.period = period;
  }
  if (c.quota !== undefined && c.quota !== -1 && c.quota < 1000) r.field('quota').reject(`${c.quota} is below 1000 (microseconds); use -1 for no limit`);
  const rtRuntime = r.optInt('realtimeRuntime', -1, I64);
  if (rtRuntime) c.realtimeRuntime = rtRuntime;
  const rtPeriod = r.optInt('realtimePeriod', 0, U64);
  if (rtPeriod) c.realtimePeriod = rtPeriod;
  const cpus = optCpuList(r, 'cpus');
  if (cpus !== undefined) c.cpus = cpus;
  const mems = optCpuList(r, 'mems');
  if (mems !== undefined) c.mems = mems;
  const idle = r.optInt('idle', 0, 1);
  if (idle !== undefined) c.idle = idle;
  return c;
}

function readPids(r: JsonReader): number | undefined {
  if (!r.isPresent()) return undefined;
  const limit = r.field('limit').int(-(2 ** 63), I64);
  if (limit === 0) return undefined;
  return limit < 0 ? UNLIMITED : limit;
}

function readWeight(r: JsonReader, key: string, min: number): number | undefined {
  const w = r.optInt(key, 0, 1000);
  if (w === undefined || w === 0) return undefined;
  if (w < min) r.field(key).reject(`${w} is out of range [${min}, 1000]`);
  return w;
}

function readDeviceId(r: JsonReader): { major: number; minor: number } {
  return { major: r.field('major').int(0, 0xfff), minor: r.field('minor').int(0, 0xfffff) };
}

function readRates(r: JsonReader, key: string): DeviceRate[] {
  if (!r.has(key)) return [];
  return r.field(key).array().map((e) => ({ ...readDeviceId(e), rate: e.field('rate').int(0, Number.MAX_SAFE_INTEGER) }));
}

function readBlockIo(r: JsonReader): BlockIoResources | undefined {
  if (!r.isPresent()) return undefined;
  r.object();
  const b: BlockIoResources = {
    weightDevice: [],
    throttleReadBpsDevice: readRates(r, 'throttleReadBpsDevice'),
    throttleWriteBpsDevice: readRates(r, 'throttleWriteBpsDevice'),
    throttleReadIOPSDevice: readRates(r, 'throttleReadIOPSDevice'),
    throttleWriteIOPSDevice: readRates(r, 'throttleWriteIOPSDevice'),
  };
  const weight = readWeight(r, 'weight', 10);
  if (weight !== undefined) b.weight = weight;
  const leaf = readWeight(r, 'leafWeight', 10);
  if (leaf !== undefined) b.leafWeight = leaf;
  if (r.has('weightDevice')) {
    b.weightDevice = r.field('weightDevice').array().map((e) => {
      const d: DeviceWeight = readDeviceId(e);
      const w = readWeight(e, 'weight', 10);
      if (w !== undefined) d.weight = w;
      const lw = readWeight(e, 'leafWeight', 10);
      if (lw !== undefined) d.leafWeight = lw;
      return d;
    });
  }
  return b;
}

function readHugepages(r: JsonReader): HugepageLimit[] {
  if (!r.isPresent()) return [];
  return r.array().map((e) => {
    const pageSize = e.field('pageSize').string();
    if (!/^\d+[KMG]B$/.test(pageSize)) e.field('pageSize').reject(`${JSON.stringify(pageSize)} is not a size like 2MB or 1GB`);
    const limit = e.field('limit').int(0, U64);
    return { pageSize, limit: limit > Number.MAX_SAFE_INTEGER ? UNLIMITED : limit };
  });
}

function readDeviceRule(r: JsonReader): DeviceRule {
  r.object();
  const allow = r.field('allow').boolean();
  const type = r.optString('type') ?? 'a';
  if (type !== 'a' && type !== 'c' && type !== 'b') r.field('type').reject(`${JSON.stringify(type)} is not one of a, c, b`);
  const access = r.optString('access') ?? 'rwm';
  if (!/^[rwm]*$/.test(access)) r.field('access').reject(`${JSON.stringify(access)} is not a combination of r, w, m`);
  const normalised = ['r', 'w', 'm'].filter((c) => access.includes(c)).join('') || 'rwm';
  const major = r.optInt('major', -1, 0xfff) ?? -1;
  const minor = r.optInt('minor', -1, 0xfffff) ?? -1;
  if (type === 'a' && (major !== -1 || minor !== -1 || normalised !== 'rwm')) {
    // The kernel reads any `a` rule as "every device, every access": refuse one that looks narrower.
    r.reject('a rule of type a covers every device with rwm; major, minor or a narrower access would be ignored');
  }
  return { allow, type: type as DeviceRule['type'], major, minor, access: normalised };
}

function readUnified(r: JsonReader): Record<string, string> {
  if (!r.isPresent()) return {};
  const map = r.stringMap();
  for (const key of Object.keys(map)) {
    if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/.test(key) || key.startsWith('cgroup.')) {
      throw new ConfigError(`${r.path}.${key}`, 'not a cgroup2 controller file name (cgroup.* files are moat\'s)');
    }
  }
  return map;
}

/** Parse a LinuxResources object; `field` is where it sits (`linux.resources`, or the update file). */
export function parseResources(raw: unknown, field = 'linux.resources'): Resources {
  const r = new JsonReader(raw ?? {}, field);
  r.object();
  const ignored: string[] = [];
  const out: Resources = {
    hugepageLimits: readHugepages(r.field('hugepageLimits')),
    devices: r.has('devices') ? r.field('devices').array().map(readDeviceRule) : [],
    unified: readUnified(r.field('unified')),
    ignored,
  };
  const memory = readMemory(r.field('memory'), ignored);
  if (memory) out.memory = memory;
  const cpu = readCpu(r.field('cpu'));
  if (cpu) out.cpu = cpu;
  const pids = readPids(r.field('pids'));
  if (pids !== undefined) out.pidsLimit = pids;
  const blockIO = readBlockIo(r.field('blockIO'));
  if (blockIO) out.blockIO = blockIO;
  for (const k of ['network', 'rdma']) if (r.has(k)) ignored.push(`${field}.${k}: not supported by moat; not applied`);
  return out;
}
