// Cgroup statistics in runc's `events` format (types.Stats: cpu, memory, pids, blkio, hugetlb), from
// v1 or v2 files. Pure: files are read through the CgroupFiles passed in.

import type { CgroupRecord } from '../../state/store';

/** A u64 as exactly as JSON can carry it: a number when safe, else a bigint (printed as digits). */
export type U64 = number | bigint;

export const U64_MAX = 18446744073709551615n;

export interface CgroupFiles {
  /** Contents of a file, or undefined if missing or unreadable. */
  read(file: string): string | undefined;
  /** File names in a directory ([] if missing). */
  list(dir: string): string[];
}

export interface MemoryEntry {
  limit: U64;
  usage: U64;
  max: U64;
  failcnt: U64;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: U64;
}

export interface CgroupStats {
  cpu: {
    usage: { total: U64; percpu?: U64[]; kernel: U64; user: U64 };
    throttling: { periods: U64; throttledPeriods: U64; throttledTime: U64 };
  };
  memory: { cache: U64; usage: MemoryEntry; swap: MemoryEntry; raw: Record<string, U64> };
  pids: { current: U64; limit: U64 };
  blkio: { ioServiceBytesRecursive: BlkioEntry[]; ioServicedRecursive: BlkioEntry[] };
  hugetlb: Record<string, { usage: U64; max: U64; failcnt: U64 }>;
}

export function parseU64(text: string | undefined, max: U64 = U64_MAX): U64 {
  const t = (text ?? '').trim();
  if (t === 'max') return max;
  if (!/^\d+$/.test(t)) return 0;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : BigInt(t);
}

/** `key value` lines (memory.stat, cpu.stat, cpuacct.stat). */
export function parseFlatKeyed(text: string | undefined): Record<string, U64> {
  const out: Record<string, U64> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = parseU64(v);
  }
  return out;
}

const times = (v: U64, k: number): U64 => (typeof v === 'bigint' ? v * BigInt(k) : v * k);

/** v1 blkio.throttle.*_recursive: `8:0 Read 4096` lines; the `Total` line is dropped. */
export function parseBlkioV1(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (\S+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: parseU64(m[4]) });
  }
  return out;
}

/** v2 io.stat: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 …` → runc's v1-shaped entries. */
export function parseIoStatV2(text: string | undefined): Pick<CgroupStats['blkio'], 'ioServiceBytesRecursive' | 'ioServicedRecursive'> {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, ...pairs] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const kv = Object.fromEntries(pairs.map((p) => p.split('=') as [string, string]));
    const id = { major: Number(m[1]), minor: Number(m[2]) };
    bytes.push({ ...id, op: 'Read', value: parseU64(kv.rbytes) }, { ...id, op: 'Write', value: parseU64(kv.wbytes) });
    ios.push({ ...id, op: 'Read', value: parseU64(kv.rios) }, { ...id, op: 'Write', value: parseU64(kv.wios) });
  }
  return { ioServiceBytesRecursive: bytes, ioServicedRecursive: ios };
}

function dirWith(rec: CgroupRecord, controller: string): string | undefined {
  const hit = Object.entries(rec.dirs).find(([name]) => name.split(',').includes(controller));
  return hit?.[1];
}

function emptyStats(): CgroupStats {
  const entry = (): MemoryEntry => ({ limit: 0, usage: 0, max: 0, failcnt: 0 });
  return {
    cpu: { usage: { total: 0, kernel: 0, user: 0 }, throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 } },
    memory: { cache: 0, usage: entry(), swap: entry(), raw: {} },
    pids: { current: 0, limit: 0 },
    blkio: { ioServiceBytesRecursive: [], ioServicedRecursive: [] },
    hugetlb: {},
  };
}

const NS_PER_TICK = 10_000_000; // USER_HZ 100

function v1Stats(rec: CgroupRecord, f: CgroupFiles): CgroupStats {
  const s = emptyStats();
  const acct = dirWith(rec, 'cpuacct');
  if (acct) {
    const stat = parseFlatKeyed(f.read(`${acct}/cpuacct.stat`));
    s.cpu.usage = {
      total: parseU64(f.read(`${acct}/cpuacct.usage`)),
      percpu: (f.read(`${acct}/cpuacct.usage_percpu`) ?? '').trim().split(/\s+/).filter((x) => x !== '').map((x) => parseU64(x)),
      kernel: times(stat.system ?? 0, NS_PER_TICK),
      user: times(stat.user ?? 0, NS_PER_TICK),
    };
  }
  const cpu = dirWith(rec, 'cpu');
  if (cpu) {
    const st = parseFlatKeyed(f.read(`${cpu}/cpu.stat`));
    s.cpu.throttling = { periods: st.nr_periods ?? 0, throttledPeriods: st.nr_throttled ?? 0, throttledTime: st.throttled_time ?? 0 };
  }
  const mem = dirWith(rec, 'memory');
  if (mem) {
    const entry = (prefix: string): MemoryEntry => ({
      limit: parseU64(f.read(`${mem}/${prefix}.limit_in_bytes`)),
      usage: parseU64(f.read(`${mem}/${prefix}.usage_in_bytes`)),
      max: parseU64(f.read(`${mem}/${prefix}.max_usage_in_bytes`)),
      failcnt: parseU64(f.read(`${mem}/${prefix}.failcnt`)),
    });
    const raw = parseFlatKeyed(f.read(`${mem}/memory.stat`));
    s.memory = { cache: raw.total_cache ?? raw.cache ?? 0, usage: entry('memory'), swap: entry('memory.memsw'), raw };
  }
  const pids = dirWith(rec, 'pids');
  if (pids) s.pids = { current: parseU64(f.read(`${pids}/pids.current`)), limit: parseU64(f.read(`${pids}/pids.max`), 0) };
  const blkio = dirWith(rec, 'blkio');
  if (blkio) {
    s.blkio = {
      ioServiceBytesRecursive: parseBlkioV1(f.read(`${blkio}/blkio.throttle.io_service_bytes_recursive`)),
      ioServicedRecursive: parseBlkioV1(f.read(`${blkio}/blkio.throttle.io_serviced_recursive`)),
    };
  }
  const huge = dirWith(rec, 'hugetlb');
  if (huge) s.hugetlb = hugetlbStats(huge, f, 'usage_in_bytes', 'max_usage_in_bytes', 'failcnt');
  return s;
}

function hugetlbStats(dir: string, f: CgroupFiles, usage: string, max: string, failcnt: string): CgroupStats['hugetlb'] {
  const out: CgroupStats['hugetlb'] = {};
  for (const name of f.list(dir)) {
    const m = /^hugetlb\.([^.]+)\.(?:usage_in_bytes|current)$/.exec(name);
    if (!m) continue;
    const size = m[1]!;
    const events = parseFlatKeyed(f.read(`${dir}/hugetlb.${size}.events`));
    out[size] = {
      usage: parseU64(f.read(`${dir}/hugetlb.${size}.${usage}`)),
      max: parseU64(f.read(`${dir}/hugetlb.${size}.${max}`)),
      failcnt: failcnt === 'events' ? (events.max ?? 0) : parseU64(f.read(`${dir}/hugetlb.${size}.${failcnt}`)),
    };
  }
  return out;
}

export function v2Stats(dir: string, f: CgroupFiles): CgroupStats {
  const s = emptyStats();
  const cpu = parseFlatKeyed(f.read(`${dir}/cpu.stat`));
  s.cpu = {
    usage: { total: times(cpu.usage_usec ?? 0, 1000), kernel: times(cpu.system_usec ?? 0, 1000), user: times(cpu.user_usec ?? 0, 1000) },
    throttling: { periods: cpu.nr_periods ?? 0, throttledPeriods: cpu.nr_throttled ?? 0, throttledTime: times(cpu.throttled_usec ?? 0, 1000) },
  };
  const raw = parseFlatKeyed(f.read(`${dir}/memory.stat`));
  const events = parseFlatKeyed(f.read(`${dir}/memory.events`));
  s.memory = {
    cache: raw.file ?? 0,
    usage: {
      limit: parseU64(f.read(`${dir}/memory.max`)),
      usage: parseU64(f.read(`${dir}/memory.current`)),
      max: parseU64(f.read(`${dir}/memory.peak`)),
      failcnt: events.max ?? 0,
    },
    swap: {
      limit: parseU64(f.read(`${dir}/memory.swap.max`)),
      usage: parseU64(f.read(`${dir}/memory.swap.current`)),
      max: parseU64(f.read(`${dir}/memory.swap.peak`)),
      failcnt: parseFlatKeyed(f.read(`${dir}/memory.swap.events`)).max ?? 0,
    },
    raw,
  };
  s.pids = { current: parseU64(f.read(`${dir}/pids.current`)), limit: parseU64(f.read(`${dir}/pids.max`), 0) };
  s.blkio = parseIoStatV2(f.read(`${dir}/io.stat`));
  s.hugetlb = hugetlbStats(dir, f, 'current', 'max', 'events');
  return s;
}

export function collectStats(rec: CgroupRecord, files: CgroupFiles): CgroupStats {
  if (rec.version === 2) return v2Stats(rec.dirs['']!, files);
  return v1Stats(rec, files);
}

/** JSON with bigints printed as plain digits (runc prints u64 max as 18446744073709551615). */
export function statsJson(value: unknown): string {
  const marked = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0000${v.toString()}\u0000` : v));
  return marked.replace(/"\\u0000(\d+)\\u0000"/g, '$1');
}
