// The system-wide files of /proc, describing the sentry's machine (the container's view): its
// memory and CPUs (the container's limits: kernel/machine.ts), its clock, its task table. Nothing
// is read from the host's /proc; only the CPU's model and speed come from the host (os.cpus()).

import { randomUUID } from '../../random';
import { hostFirstCpu } from '../../host-facts';
import { SENTRY_RELEASE } from '../../syscalls/linux/sys_misc';
import type { MemoryManager } from '../../mm/mm';
import type { ProcKernel } from './node';
import { CAP_LAST_CAP, HZ, PID_MAX, groupMm, taskTicks, uptimeMs } from './process';
import { MSG_LIMITS } from '../../ipc/msg';
import { SEM_LIMITS } from '../../ipc/sem';
import { SHM_LIMITS } from '../../ipc/shm';

/** uname's version field. */
export const SENTRY_VERSION = '#1 SMP moat sentry';

/** Address spaces of the live processes, each once (threads share theirs). */
function liveMms(k: ProcKernel): MemoryManager[] {
  const out = new Set<MemoryManager>();
  for (const tg of k.allGroups()) {
    const mm = groupMm(tg);
    if (mm) out.add(mm);
  }
  return [...out];
}

/** Bytes of memory the application's live address spaces hold (each address space once). */
export function memUsed(k: ProcKernel): number {
  let used = 0;
  for (const mm of liveMms(k)) used += mm.file.allocated;
  return used;
}

/** meminfo in Linux 6.1's order, "%-16s%8lu kB" a line (the labels carry their own padding). */
export function meminfoText(k: ProcKernel): string {
  const total = k.machine.size().memBytes;
  const totalKb = Math.floor(total / 1024);
  const usedKb = Math.min(totalKb, Math.ceil(memUsed(k) / 1024));
  const freeKb = totalKb - usedKb;
  const rows: Array<[string, number]> = [
    ['MemTotal', totalKb],
    ['MemFree', freeKb],
    ['MemAvailable', freeKb],
    ['Buffers', 0],
    ['Cached', 0],
    ['SwapCached', 0],
    ['Active', usedKb],
    ['Inactive', 0],
    ['Active(anon)', usedKb],
    ['Inactive(anon)', 0],
    ['Active(file)', 0],
    ['Inactive(file)', 0],
    ['Unevictable', 0],
    ['Mlocked', 0],
    ['SwapTotal', 0],
    ['SwapFree', 0],
    ['Zswap', 0],
    ['Zswapped', 0],
    ['Dirty', 0],
    ['Writeback', 0],
    ['AnonPages', usedKb],
    ['Mapped', usedKb],
    ['Shmem', 0],
    ['KReclaimable', 0],
    ['Slab', 0],
    ['SReclaimable', 0],
    ['SUnreclaim', 0],
    ['KernelStack', 0],
    ['PageTables', 0],
    ['NFS_Unstable', 0],
    ['Bounce', 0],
    ['WritebackTmp', 0],
    ['CommitLimit', totalKb],
    ['Committed_AS', usedKb],
    ['VmallocTotal', 34359738367],
    ['VmallocUsed', 0],
    ['VmallocChunk', 0],
    ['Percpu', 0],
    ['AnonHugePages', 0],
    ['ShmemHugePages', 0],
    ['ShmemPmdMapped', 0],
    ['FileHugePages', 0],
    ['FilePmdMapped', 0],
  ];
  let out = '';
  for (const [name, v] of rows) {
    out += `${(name + ':').padEnd(16)}${String(v).padStart(8)} kB\n`;
    if (name === 'Percpu') out += 'HardwareCorrupted:     0 kB\n'; // "%5lu kB", its own format
  }
  out += 'HugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0\nHugePages_Surp:        0\n';
  out += `${'Hugepagesize:'.padEnd(16)}${'2048'.padStart(8)} kB\n`;
  out += `${'Hugetlb:'.padEnd(16)}${'0'.padStart(8)} kB\n`;
  out += `${'DirectMap4k:'.padEnd(16)}${String(totalKb).padStart(8)} kB\n`;
  return out;
}

/** Features every x86-64 CPU has: listing fewer than the host has only makes programs cautious. */
const BASE_FLAGS = 'fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx lm';

const firstCpu = hostFirstCpu;

/** The machine's processors, each described with the host's first CPU's model and clock (os.cpus()). */
export function cpuinfoText(k: ProcKernel): string {
  let out = '';
  const n = k.machine.size().cpus;
  for (let i = 0; i < n; i++) out += processorText(i, n);
  return out;
}

function processorText(cpu: number, count: number): string {
  const { model, mhz, ids } = firstCpu();
  const vendor = /\bAMD\b/i.test(model) ? 'AuthenticAMD' : /\bIntel\b/i.test(model) ? 'GenuineIntel' : 'unknown';
  const rows: Array<[string, string]> = [
    ['processor', String(cpu)],
    ['vendor_id', vendor],
    ['cpu family', ids['cpu family']],
    ['model', ids.model],
    ['model name', model],
    ['stepping', ids.stepping],
    ['cpu MHz', mhz.toFixed(3)],
    ['cache size', ids['cache size']],
    ['physical id', '0'],
    ['siblings', String(count)],
    ['core id', String(cpu)],
    ['cpu cores', String(count)],
    ['apicid', String(cpu)],
    ['initial apicid', String(cpu)],
    ['fpu', 'yes'],
    ['fpu_exception', 'yes'],
    ['cpuid level', ids['cpuid level']],
    ['wp', 'yes'],
    ['flags', BASE_FLAGS],
    ['bugs', ''],
    ['bogomips', (mhz * 2).toFixed(2)],
    ['clflush size', '64'],
    ['cache_alignment', '64'],
    ['address sizes', '46 bits physical, 48 bits virtual'],
  ];
  // x86's show_cpuinfo: "name\t: value", names shorter than a tab stop padded with a second tab.
  let out = '';
  for (const [name, v] of rows) out += `${name}${name.length < 8 ? '\t\t' : '\t'}:${v === '' ? '' : ' ' + v}\n`;
  return out + 'power management:\n\n';
}

/** Seconds and hundredths, "%lu.%02lu". */
function secs(ms: number): string {
  const cs = Math.max(0, Math.floor(ms / 10));
  return `${Math.floor(cs / 100)}.${String(cs % 100).padStart(2, '0')}`;
}

/**
 * CPU ticks charged to the live tasks, and the idle rest of the uptime. The sentry runs the
 * application on one host CPU at a time: its time is cpu0's, the other CPUs of the machine idle.
 */
function cpuTicks(k: ProcKernel): { user: number; idle: number; uptime: number } {
  const uptime = Math.floor((uptimeMs(k) * HZ) / 1000);
  let user = 0;
  for (const t of k.allTasks()) user += taskTicks(t);
  for (const tg of k.allGroups()) user += tg.childTicks;
  user = Math.min(user, uptime);
  return { user, idle: uptime - user, uptime };
}

export function uptimeText(k: ProcKernel): string {
  const { idle } = cpuTicks(k);
  return `${secs(uptimeMs(k))} ${secs((idle * 1000) / HZ)}\n`;
}

function runnable(k: ProcKernel): number {
  let n = 0;
  for (const t of k.allTasks()) if (t.state === 'running' || t.state === 'ready') n++;
  return n;
}

function liveTaskCount(k: ProcKernel): number {
  let n = 0;
  for (const t of k.allTasks()) if (t.state !== 'dead') n++;
  return n;
}

/** The last pid handed out (approximately: the highest in use). */
function lastPid(k: ProcKernel): number {
  let n = 0;
  for (const t of k.allTasks()) n = Math.max(n, t.tid);
  for (const tg of k.allGroups()) n = Math.max(n, tg.tgid);
  return n;
}

/** Load averages: exponentially damped runnable counts over 1, 5 and 15 minutes, sampled at each read. */
const loads = new WeakMap<object, { at: number; avg: [number, number, number] }>();

export function loadavgText(k: ProcKernel): string {
  const now = performance.now();
  const n = runnable(k);
  const st = loads.get(k) ?? { at: k.bootTime, avg: [0, 0, 0] as [number, number, number] };
  const dt = Math.max(0, now - st.at) / 1000;
  const periods = [60, 300, 900];
  st.avg = st.avg.map((a, i) => {
    const e = Math.exp(-dt / periods[i]);
    return a * e + n * (1 - e);
  }) as [number, number, number];
  st.at = now;
  loads.set(k, st);
  const f = (x: number) => x.toFixed(2);
  return `${f(st.avg[0])} ${f(st.avg[1])} ${f(st.avg[2])} ${n}/${liveTaskCount(k)} ${lastPid(k)}\n`;
}

/** /proc/stat: the times of the machine and of each CPU, the boot time, process counts. */
export function statText(k: ProcKernel): string {
  const { user, idle, uptime } = cpuTicks(k);
  const n = k.machine.size().cpus;
  const times = (u: number, i: number) => `${u} 0 0 ${i} 0 0 0 0 0 0`;
  let cpus = `cpu0 ${times(user, idle)}\n`;
  for (let c = 1; c < n; c++) cpus += `cpu${c} ${times(0, uptime)}\n`;
  const btime = Math.floor((Date.now() - uptimeMs(k)) / 1000);
  return (
    `cpu  ${times(user, idle + (n - 1) * uptime)}\n${cpus}intr 0\nctxt 0\nbtime ${btime}\nprocesses ${lastPid(k)}\n` +
    `procs_running ${runnable(k)}\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n`
  );
}

export function versionText(): string {
  return `Linux version ${SENTRY_RELEASE} (moat@moat) (moat sentry) ${SENTRY_VERSION}\n`;
}

/** The filesystem types the sentry's VFS serves. */
export function filesystemsText(): string {
  return ['sysfs', 'tmpfs', 'proc', 'devtmpfs', 'devpts', 'overlay', '9p'].map((f) => `nodev\t${f}\n`).join('');
}

export function swapsText(): string {
  return 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';
}

/** /proc/sys/kernel/random/boot_id: one per kernel. */
const bootIds = new WeakMap<object, string>();
export function bootId(k: ProcKernel): string {
  let id = bootIds.get(k);
  if (!id) bootIds.set(k, (id = randomUUID()));
  return id;
}

export const SYS_VALUES = {
  ostype: 'Linux',
  osrelease: SENTRY_RELEASE,
  version: SENTRY_VERSION,
  pidMax: String(PID_MAX),
  ngroupsMax: '65536',
  capLastCap: String(CAP_LAST_CAP),
  overcommitMemory: '0',
  maxMapCount: '65530',
  fileMax: '9223372036854775807',
  nrOpen: String(1024 * 1024),
  mmapMinAddr: '65536',
  // System V IPC limits: Linux's defaults, the ones the sentry's IPC namespace applies (ipc/).
  shmmax: String(SHM_LIMITS.shmmax),
  shmall: String(SHM_LIMITS.shmall),
  shmmni: String(SHM_LIMITS.shmmni),
  msgmax: String(MSG_LIMITS.msgmax),
  msgmnb: String(MSG_LIMITS.msgmnb),
  msgmni: String(MSG_LIMITS.msgmni),
  sem: `${SEM_LIMITS.semmsl}\t${SEM_LIMITS.semmns}\t${SEM_LIMITS.semopm}\t${SEM_LIMITS.semmni}`,
  threadsMax: '32768',
  /** The id a uid or gid with no mapping shows as (Linux's default, nobody). */
  overflowId: '65534',
  /** 0: the sentry places stacks, mmaps and PIE images at fixed addresses (no ASLR). */
  randomizeVaSpace: '0',
  // Key quotas: Linux's defaults (the sentry has no keyrings; add_key is ENOSYS).
  keysMaxKeys: '200',
  keysMaxBytes: '20000',
  keysRootMaxKeys: '1000000',
  keysRootMaxBytes: '25000000',
};

/** /proc/cmdline: the sentry's own (it was not booted with one). */
export function cmdlineText(): string {
  return 'BOOT_IMAGE=/vmlinuz-moat-sentry ro\n';
}

/** /proc/devices: the character devices the sentry's /dev offers, and no block devices. */
export function devicesText(): string {
  return 'Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n  5 /dev/tty\n  5 /dev/console\n  5 /dev/ptmx\n136 pts\n\nBlock devices:\n';
}

