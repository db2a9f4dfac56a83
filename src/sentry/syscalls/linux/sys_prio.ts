// getpriority/setpriority: a nice value per task (the sentry schedules nothing by it, but the
// value and Linux's rules are kept): changing another user's process needs a matching uid or
// CAP_SYS_NICE (EPERM); lowering the value needs RLIMIT_NICE to allow it or CAP_SYS_NICE (EACCES).

import { EACCES, EINVAL, EPERM, ESRCH } from '../../abi/errno';
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

export const sysPrio = { getpriority, setpriority };
