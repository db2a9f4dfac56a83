// RLIMIT_CPU, as Linux's check_process_timers: once the process's CPU time reaches the soft limit
// it gets SIGXCPU, and the soft limit goes up by a second (so a process that handles SIGXCPU gets
// one each second of CPU); at the hard limit, SIGKILL. The process's CPU clock is read when the
// kernel's deadline list calls (no host timer), as the CPU-clock timers' (posix-timers.ts
// cpuPollDelay): CPU time runs at most a few times faster than wall time.

import { SIGKILL, SIGXCPU } from '../abi/signals';
import { groupCpuNs } from './cputime';
import { cpuPollDelay } from './posix-timers';
import { sendSignalToGroup } from './signals';
import type { ThreadGroup } from './task';

const RLIMIT_CPU = 0;
/** Limits at or above 2^63 are RLIM_INFINITY. */
const INFINITE = 2 ** 63;
const SI_KERNEL = 0x80;

interface Deadline {
  deadline: number;
  fire: () => void;
  /** The CPU time (s) at this look and the wait to the next (ms). */
  cpuS: number;
  delay: number;
}
const watches = new WeakMap<ThreadGroup, Deadline>();

/** Look at the process's RLIMIT_CPU (after setrlimit/prlimit, fork, the container's start). */
export function watchCpuLimit(tg: ThreadGroup): void {
  const k = tg.leader.kernel;
  const old = watches.get(tg);
  if (old) k.timerDeadlines.delete(old);
  watches.delete(tg);
  const lim = tg.rlimits.get(RLIMIT_CPU);
  if (!lim || lim.cur >= INFINITE || !tg.alive || tg.exiting !== undefined) return;
  const cpuS = Number(groupCpuNs(tg)) / 1e9;
  const hard = lim.max >= INFINITE ? Infinity : lim.max;
  if (cpuS >= hard) {
    sendSignalToGroup(tg, { signo: SIGKILL, code: SI_KERNEL });
    return;
  }
  if (cpuS >= lim.cur) {
    sendSignalToGroup(tg, { signo: SIGXCPU, code: SI_KERNEL });
    if (lim.cur < hard) lim.cur += 1;
  }
  const next = Math.min(lim.cur >= cpuS ? lim.cur : Infinity, hard);
  if (next === Infinity) return;
  const delay = cpuPollDelay((next - cpuS) * 1000, old && old.cpuS === cpuS ? old.delay : 0);
  const d: Deadline = {
    cpuS,
    delay,
    deadline: performance.now() + delay,
    fire: () => {
      if (watches.get(tg) === d) watchCpuLimit(tg);
    },
  };
  watches.set(tg, d);
  k.timerDeadlines.add(d);
}
