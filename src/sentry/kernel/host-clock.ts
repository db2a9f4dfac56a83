// The host clocks the application's clocks are (docs/sentry.md, "The vDSO"): the sentry's clock
// syscalls and the vDSO the application calls (platform/vdso.ts, the host's own) read the same
// kernel clocks, so the two agree exactly; glibc reads them in the sentry through its own vDSO.

import { sentrySys } from '../native';

export const CLOCK_REALTIME = 0;
export const CLOCK_MONOTONIC = 1;
export const CLOCK_MONOTONIC_RAW = 4;
export const CLOCK_REALTIME_COARSE = 5;
export const CLOCK_MONOTONIC_COARSE = 6;
export const CLOCK_BOOTTIME = 7;
export const CLOCK_TAI = 11;

/** ns of one of the clocks above (a host clock read cannot fail for them: 0 if it did). */
export function hostClockNs(id: number): bigint {
  // CLOCK_MONOTONIC without the addon's call: Node's hrtime is clock_gettime(CLOCK_MONOTONIC).
  if (id === CLOCK_MONOTONIC) return process.hrtime.bigint();
  return sentrySys().hostClock(id) ?? 0n;
}

/** clock_getres of one of the clocks above: 1 ns for the fine ones, the tick for the coarse ones. */
export function hostClockRes(id: number): bigint {
  return sentrySys().hostClockRes(id) ?? 1n;
}

/** gettimeofday's struct timezone: the host kernel's (what the vDSO's gettimeofday stores). */
export function hostTimezone(): [number, number] {
  return sentrySys().hostTimezone();
}
