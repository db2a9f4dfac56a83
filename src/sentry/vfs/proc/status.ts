// /proc/<pid>/status and /proc/<pid>/task/<tid>/status, in Linux 6.1's order and layout
// (proc_pid_status: task_name, task_state, task_mem, task_sig, task_cap, task_seccomp, cpus, mems,
// context switches).

import type { Task, ThreadGroup } from '../../kernel/task';
import { mmStats, pteBytes } from './mmstats';
import type { ProcKernel } from './node';
import {
  STATE_NAMES, dispositions, groupMm, groupStateLetter, isZombie, pendingSet, ppidOf, rlimText, rlimit,
  sigHex, taskMm, taskStateLetter, threadCount,
} from './process';

const RLIMIT_SIGPENDING = 11;

/** comm as status prints it: "\n" and "\\" escaped (seq_escape_str with "\n\\"). */
function escapeComm(comm: string): string {
  return comm.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Umask as "%#04o". */
function umaskText(u: number): string {
  const o = u === 0 ? '0' : '0' + u.toString(8);
  return o.padStart(4, '0');
}

/** FDSize: the fd table's capacity as Linux would have grown it (64, then multiples of 128 by powers of two). */
export function fdSize(maxFd: number): number {
  if (maxFd < 64) return 64;
  let n = Math.floor(maxFd / 128) + 1;
  let p = 1;
  while (p < n) p *= 2;
  n = p;
  return n * 128;
}

const kb = (label: string, bytes: number) => `${label}:\t${String(Math.floor(bytes / 1024)).padStart(8)} kB\n`;

export function statusText(_k: ProcKernel, tg: ThreadGroup, t: Task, whole: boolean): string {
  const zombie = isZombie(tg);
  const dead = zombie || t.state === 'dead';
  const mm = whole ? groupMm(tg) : taskMm(t);
  const c = t.creds;
  const state = whole ? groupStateLetter(tg) : taskStateLetter(t);
  const pid = t.tid;
  let out = `Name:\t${escapeComm(t.comm)}\n`;
  if (!dead) out += `Umask:\t${umaskText(t.fs.umask)}\n`;
  out += `State:\t${STATE_NAMES[state]}\n`;
  out += `Tgid:\t${tg.tgid}\nNgid:\t0\nPid:\t${pid}\nPPid:\t${ppidOf(tg)}\nTracerPid:\t0\n`;
  out += `Uid:\t${c.uid}\t${c.euid}\t${c.suid}\t${c.fsuid}\n`;
  out += `Gid:\t${c.gid}\t${c.egid}\t${c.sgid}\t${c.fsgid}\n`;
  let maxFd = -1;
  if (!dead) for (const fd of t.files.fds.keys()) maxFd = Math.max(maxFd, fd);
  out += `FDSize:\t${dead ? 0 : fdSize(maxFd + 1)}\n`;
  out += `Groups:\t${c.groups.join(' ')} \n`;
  out += `NStgid:\t${tg.tgid}\nNSpid:\t${pid}\nNSpgid:\t${tg.pgid}\nNSsid:\t${tg.sid}\n`;
  if (mm) {
    const s = mmStats(mm);
    out += kb('VmPeak', s.peakVsize) + kb('VmSize', s.vsize) + kb('VmLck', 0) + kb('VmPin', 0);
    out += kb('VmHWM', s.peakRss) + kb('VmRSS', s.rss);
    out += kb('RssAnon', s.rssAnon) + kb('RssFile', s.rssFile) + kb('RssShmem', s.rssShmem);
    out += kb('VmData', s.data) + kb('VmStk', s.stack) + kb('VmExe', s.exe) + kb('VmLib', s.lib);
    out += kb('VmPTE', pteBytes(s)) + kb('VmSwap', 0) + kb('HugetlbPages', 0);
    out += 'CoreDumping:\t0\nTHP_enabled:\t1\n';
  }
  const queued = t.pending.length + tg.pending.length;
  const { ignored, caught } = dispositions(tg);
  out += `Threads:\t${threadCount(tg)}\n`;
  out += `SigQ:\t${queued}/${rlimText(rlimit(tg, RLIMIT_SIGPENDING).cur)}\n`;
  out += `SigPnd:\t${sigHex(pendingSet(t.pending))}\n`;
  out += `ShdPnd:\t${sigHex(pendingSet(tg.pending))}\n`;
  out += `SigBlk:\t${sigHex(t.sigmask)}\n`;
  out += `SigIgn:\t${sigHex(ignored)}\n`;
  out += `SigCgt:\t${sigHex(caught)}\n`;
  out += `CapInh:\t${sigHex(c.capInheritable)}\nCapPrm:\t${sigHex(c.capPermitted)}\nCapEff:\t${sigHex(c.capEffective)}\n`;
  out += `CapBnd:\t${sigHex(c.capBounding)}\nCapAmb:\t${sigHex(c.capAmbient)}\n`;
  out += `NoNewPrivs:\t${c.noNewPrivs ? 1 : 0}\nSeccomp:\t0\nSeccomp_filters:\t0\n`;
  out += 'Speculation_Store_Bypass:\tunknown\nSpeculationIndirectBranch:\tunknown\n';
  out += 'Cpus_allowed:\t1\nCpus_allowed_list:\t0\n';
  out += 'Mems_allowed:\t00000000,00000001\nMems_allowed_list:\t0\n';
  out += 'voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n';
  return out;
}
