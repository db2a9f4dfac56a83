// /proc/<pid>/stat, /proc/<pid>/task/<tid>/stat and statm, field for field as Linux 6.1's
// do_task_stat and proc_pid_statm print them.

import type { Task, ThreadGroup } from '../../kernel/task';
import { mmStats } from './mmstats';
import type { ProcKernel } from './node';
import {
  PAGE_SIZE, dispositions, groupMm, groupStateLetter, groupTicks, isZombie, pendingSet, ppidOf, rlimText, rlimit,
  startTicks, taskMm, taskStateLetter, taskTicks, threadCount,
} from './process';

/** PF_RANDOMIZE, and PF_EXITING once the task has gone. */
const PF_RANDOMIZE = 0x400000;
const PF_EXITING = 0x4;
const RLIMIT_RSS = 5;

/**
 * The 52 fields of stat. whole: the process's line (/proc/<pid>/stat: states and times summed
 * over its threads); otherwise the thread t's (/proc/<pid>/task/<tid>/stat).
 */
export function statText(k: ProcKernel, tg: ThreadGroup, t: Task, whole: boolean): string {
  const zombie = isZombie(tg);
  const mm = whole ? groupMm(tg) : taskMm(t);
  const ms = mm ? mmStats(mm) : undefined;
  const state = whole ? groupStateLetter(tg) : taskStateLetter(t);
  const dead = zombie || t.state === 'dead';
  const { ignored, caught } = dispositions(tg);
  const low31 = (s: bigint) => (s & 0x7fffffffn).toString();
  const pending = pendingSet(t.pending) | (whole ? pendingSet(tg.pending) : 0n);
  const utime = whole ? groupTicks(tg) : taskTicks(t);
  const f: string[] = [
    String(t.tid), // 1 pid
    `(${t.comm})`, // 2 comm
    state, // 3 state
    String(ppidOf(tg)), // 4 ppid
    String(tg.pgid), // 5 pgrp
    String(tg.sid), // 6 session
    '0', // 7 tty_nr
    '-1', // 8 tpgid
    String(dead ? PF_RANDOMIZE | PF_EXITING : PF_RANDOMIZE), // 9 flags
    '0', // 10 minflt
    '0', // 11 cminflt
    '0', // 12 majflt
    '0', // 13 cmajflt
    String(utime), // 14 utime
    '0', // 15 stime
    String(whole ? tg.childTicks : 0), // 16 cutime
    '0', // 17 cstime
    '20', // 18 priority
    '0', // 19 nice
    String(threadCount(tg)), // 20 num_threads
    '0', // 21 itrealvalue
    String(startTicks(k, tg)), // 22 starttime
    String(ms ? ms.vsize : 0), // 23 vsize
    String(ms ? ms.rss / PAGE_SIZE : 0), // 24 rss
    rlimText(rlimit(tg, RLIMIT_RSS).cur), // 25 rsslim
    String(ms ? ms.startCode : 0), // 26 startcode
    String(ms ? ms.endCode : 0), // 27 endcode
    String(ms ? ms.startStack : 0), // 28 startstack
    '0', // 29 kstkesp
    '0', // 30 kstkeip
    low31(pending), // 31 signal
    low31(t.sigmask), // 32 blocked
    low31(ignored), // 33 sigignore
    low31(caught), // 34 sigcatch
    state === 'S' ? '1' : '0', // 35 wchan
    '0', // 36 nswap
    '0', // 37 cnswap
    String(t === tg.leader ? tg.exitSignal : -1), // 38 exit_signal
    '0', // 39 processor
    '0', // 40 rt_priority
    '0', // 41 policy
    '0', // 42 delayacct_blkio_ticks
    '0', // 43 guest_time
    '0', // 44 cguest_time
  ];
  if (mm && ms) {
    f.push(
      String(ms.startData), // 45 start_data
      String(ms.endData), // 46 end_data
      String(mm.brkStart), // 47 start_brk
      String(mm.argStart), // 48 arg_start
      String(mm.argEnd), // 49 arg_end
      String(mm.envStart), // 50 env_start
      String(mm.envEnd), // 51 env_end
    );
  } else {
    f.push('0', '0', '0', '0', '0', '0', '0');
  }
  f.push(String(zombie ? tg.exitStatus ?? 0 : dead ? t.exitCode : 0)); // 52 exit_code
  return f.join(' ') + '\n';
}

/** statm: size resident shared text lib data dt, in pages. */
export function statmText(mm: ReturnType<typeof groupMm>): string {
  if (!mm) return '0 0 0 0 0 0 0\n';
  const s = mmStats(mm);
  const pages = (b: number) => String(Math.floor(b / PAGE_SIZE));
  return [pages(s.vsize), pages(s.rss), pages(s.rssFile + s.rssShmem), pages(s.exe), '0', pages(s.data + s.stack), '0'].join(' ') + '\n';
}
