// getpriority/setpriority: a nice value per task (the sentry schedules nothing by it, but the
// value and Linux's rules are kept): changing another user's process needs a matching uid or
// CAP_SYS_NICE (EPERM); lowering the value needs RLIMIT_NICE to allow it or CAP_SYS_NICE (EACCES).
// sched_setaffinity/sched_getaffinity: a CPU mask per task, of the CPUs the machine shows (the
// container's CPU limit), inherited by clone and kept by exec; the same ownership rule as
// setpriority. The sentry places no thread by it: the mask is what the application asked for.

import { EACCES, EFAULT, EINVAL, EPERM, ESRCH } from '../../abi/errno';
import { CAP_SYS_NICE, capable } from '../../kernel/creds';
import type { Task } from '../../kernel/task';

const PRIO_PROCESS = 0;
const PRIO_PGRP = 1;
const PRIO_USER = 2;
const RLIMIT_NICE = 13;

/** The tasks `which`/`who` name (who 0: the caller's own process, group or user). */
function targets(t: Task, which: number, who: number): Task[] {
  const all = [...t.pidns.tasks.values()].filter((x) => x.state !== 'dead');
  if (which === PRIO_PROCESS) {
    const x = who === 0 ? t : t.pidns.tasks.get(who);
    return x && x.state !== 'dead' ? [x] : [];
  }
  if (which === PRIO_PGRP) {
    const pgid = who === 0 ? t.tg.pgid : who;
    return all.filter((x) => x.tg.pgid === pgid);
  }
  const uid = who === 0 ? t.creds.uid : who;
  return all.filter((x) => x.creds.uid === uid);
}

function getpriority(t: Task): number {
  const which = t.argInt(0);
  if (which < PRIO_PROCESS || which > PRIO_USER) return -EINVAL;
  const xs = targets(t, which, t.argInt(1));
  if (xs.length === 0) return -ESRCH;
  return Math.max(...xs.map((x) => 20 - x.nice));
}

function setOne(t: Task, x: Task, nice: number): number {
  const c = t.creds;
  if (x.creds.uid !== c.euid && x.creds.euid !== c.euid && !capable(c, CAP_SYS_NICE)) return -EPERM;
  const rlim = x.tg.rlimits.get(RLIMIT_NICE)?.cur ?? 0;
  if (nice < x.nice && 20 - nice > rlim && !capable(c, CAP_SYS_NICE)) return -EACCES;
  x.nice = nice;
  return 0;
}

function setpriority(t: Task): number {
  const which = t.argInt(0);
  if (which < PRIO_PROCESS || which > PRIO_USER) return -EINVAL;
  const nice = Math.min(19, Math.max(-20, t.argInt(2)));
  let err = -ESRCH;
  for (const x of targets(t, which, t.argInt(1))) {
    const r = setOne(t, x, nice);
    if (r < 0) err = r;
    else if (err === -ESRCH) err = 0;
  }
  return err;
}

/** The task a sched_* pid names (0: the caller); undefined if none is alive. */
function schedTarget(t: Task, pid: number): Task | undefined {
  if (pid < 0) return undefined;
  const x = pid === 0 ? t : t.pidns.tasks.get(pid);
  return x && x.state !== 'dead' ? x : undefined;
}

/** The bytes of a mask of `cpus` bits: whole longs, as Linux's cpumask_size(). */
const maskBytes = (cpus: number) => Math.ceil(cpus / 64) * 8;

/** A task's mask over the machine's CPUs now: every CPU if it set none, or none of its CPUs is left. */
function effectiveMask(x: Task, cpus: number): Uint8Array {
  const b = new Uint8Array(maskBytes(cpus));
  let any = false;
  for (let c = 0; c < cpus; c++) {
    if (x.affinity && !((x.affinity[c >> 3] ?? 0) & (1 << (c & 7)))) continue;
    b[c >> 3]! |= 1 << (c & 7);
    any = true;
  }
  if (!any) for (let c = 0; c < cpus; c++) b[c >> 3]! |= 1 << (c & 7);
  return b;
}

/**
 * sched_getaffinity(pid, len, mask): Linux's checks: the buffer must hold a bit per CPU and be a
 * whole number of longs (EINVAL); it returns the bytes of the mask it wrote.
 */
function schedGetaffinity(t: Task): number {
  const len = t.arg(1);
  const cpus = t.kernel.machine.size().cpus;
  if (len * 8 < cpus || len & 7) return -EINVAL;
  const x = schedTarget(t, t.argInt(0));
  if (!x) return -ESRCH;
  const b = effectiveMask(x, cpus);
  return t.mm.write(t.arg(2), b) ? b.length : -EFAULT;
}

/**
 * sched_setaffinity(pid, len, mask): a shorter mask is zero-extended, a longer one cut to the
 * machine's CPUs; another user's task needs CAP_SYS_NICE (EPERM); a mask with none of the
 * machine's CPUs is EINVAL.
 */
function schedSetaffinity(t: Task): number {
  const cpus = t.kernel.machine.size().cpus;
  const size = maskBytes(cpus);
  const len = Math.min(t.arg(1), size);
  const user = len > 0 ? t.mm.read(t.arg(2), len) : new Uint8Array();
  if (!user) return -EFAULT;
  const x = schedTarget(t, t.argInt(0));
  if (!x) return -ESRCH;
  const c = t.creds;
  if (x.creds.uid !== c.euid && x.creds.euid !== c.euid && !capable(c, CAP_SYS_NICE)) return -EPERM;
  const mask = new Uint8Array(size);
  let any = false;
  for (let cpu = 0; cpu < cpus; cpu++) {
    if (!((user[cpu >> 3] ?? 0) & (1 << (cpu & 7)))) continue;
    mask[cpu >> 3]! |= 1 << (cpu & 7);
    any = true;
  }
  if (!any) return -EINVAL;
  x.affinity = mask;
  return 0;
}

export const sysPrio = { getpriority, setpriority, sched_getaffinity: schedGetaffinity, sched_setaffinity: schedSetaffinity };
