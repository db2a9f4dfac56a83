// Facts about the host that Node reads from files (libuv opens /proc/meminfo for os.totalmem()
// and /proc/cpuinfo for os.cpus(), ICU /etc/localtime): read once, before the sentry confines itself to an empty root
// where no path can be opened (confine/), then served from here.

import * as fs from 'node:fs';
import * as os from 'node:os';

let memTotal: number | undefined;
/** The host's first CPU: model name, clock in MHz, and its identification lines of /proc/cpuinfo. */
export interface HostCpu {
  model: string;
  mhz: number;
  ids: Record<string, string>;
}
let cpu: HostCpu | undefined;

/** The host's memory in bytes (os.totalmem()), asked once. */
export function hostTotalMem(): number {
  if (memTotal === undefined) memTotal = os.totalmem();
  return memTotal;
}

/** The host's first CPU, asked of Node once: its model name and clock in MHz. */
export function hostFirstCpu(): HostCpu {
  if (!cpu) {
    const c = os.cpus()[0];
    cpu = { model: c && c.model.trim() !== '' ? c.model.trim() : 'unknown', mhz: c ? c.speed : 0, ids: hostCpuIds() };
  }
  return cpu;
}

/**
 * The host's first processor's identification (family, model, stepping, cpuid level, cache size)
 * from its /proc/cpuinfo, digits and short text only; zeros if it cannot be read.
 */
function hostCpuIds(): Record<string, string> {
  const ids: Record<string, string> = { 'cpu family': '0', model: '0', stepping: '0', 'cache size': '0 KB', 'cpuid level': '0' };
  let text = '';
  try {
    text = fs.readFileSync('/proc/cpuinfo', 'latin1').split('\n\n')[0] ?? '';
  } catch {
    return ids;
  }
  for (const line of text.split('\n')) {
    const m = /^([a-z ]+?)\s*:\s*(.*)$/.exec(line);
    if (m && Object.prototype.hasOwnProperty.call(ids, m[1]) && /^[0-9A-Za-z. ]{1,32}$/.test(m[2]!)) ids[m[1]!] = m[2]!;
  }
  return ids;
}

/**
 * Read them all now; also the time zone, which V8 and ICU look up (/etc/localtime) on the first
 * local-time use and keep. (Whether the host maps the vsyscall page, kernel/vsyscall.ts, is read
 * beside this by main.ts: importing the kernel from here pulled the syscall table into moat's CLI,
 * whose sentry platform reads hostTotalMem — ~19 ms of CPU per create, profiled.)
 */
export function readHostFacts(): void {
  hostTotalMem();
  hostHasRtc();
  hostFirstCpu();
  new Date().getTimezoneOffset();
  Intl.DateTimeFormat().resolvedOptions();
}

let rtc: boolean | undefined;
/**
 * Whether the host has a real-time clock device (/sys/class/rtc/rtc*): without one, Linux has no
 * alarm timers (timer_create of a CLOCK_*_ALARM clock is EOPNOTSUPP), and the sentry answers alike.
 */
export function hostHasRtc(): boolean {
  if (rtc === undefined) {
    try {
      rtc = fs.readdirSync('/sys/class/rtc').some((n) => n.startsWith('rtc'));
    } catch {
      rtc = false;
    }
  }
  return rtc;
}
