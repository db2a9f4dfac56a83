// Facts about the host that Node reads from files (libuv opens /proc/meminfo for os.totalmem()
// and /proc/cpuinfo for os.cpus(), ICU /etc/localtime): read once, before the sentry confines itself to an empty root
// where no path can be opened (confine/), then served from here.

import * as os from 'node:os';

let memTotal: number | undefined;
let cpu: { model: string; mhz: number } | undefined;

/** The host's memory in bytes (os.totalmem()), asked once. */
export function hostTotalMem(): number {
  if (memTotal === undefined) memTotal = os.totalmem();
  return memTotal;
}

/** The host's first CPU, asked of Node once: its model name and clock in MHz. */
export function hostFirstCpu(): { model: string; mhz: number } {
  if (!cpu) {
    const c = os.cpus()[0];
    cpu = { model: c && c.model.trim() !== '' ? c.model.trim() : 'unknown', mhz: c ? c.speed : 0 };
  }
  return cpu;
}

/** Read them all now; also the time zone, which V8 and ICU look up (/etc/localtime) on the first
 * local-time use and keep. */
export function readHostFacts(): void {
  hostTotalMem();
  hostFirstCpu();
  new Date().getTimezoneOffset();
  Intl.DateTimeFormat().resolvedOptions();
}
