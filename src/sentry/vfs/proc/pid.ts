// /proc/<pid>/ and /proc/<pid>/task/<tid>/: one directory per process (and per thread), its files
// generated from the task's state when read.

import type { Task, ThreadGroup } from '../../kernel/task';
import { fdDirNode, fdinfoDirNode } from './fd';
import { limitsText } from './limits';
import { mapsText } from './maps';
import { auxvBytes, cmdlineBytes, environBytes } from './memory';
import { mountinfoText, mountsText } from './mounts';
import { netDir } from './net';
import { DIR_MODE, type ProcDir, type ProcKernel, type ProcNode, bytesFile, parseId, symlink, textFile } from './node';
import { groupMm, liveTask, taskMm, threadsOf } from './process';
import { statText, statmText } from './stat';
import { statusText } from './status';

/** AUDIT_UID_UNSET / AUDIT_SID_UNSET: no login session. */
const UNSET = '4294967295';

/**
 * The directory of a process (whole: /proc/<pid>, with task/) or of one of its threads
 * (/proc/<pid>/task/<tid>). t is the task the directory is named by: the leader for a process.
 */
export function pidDir(k: ProcKernel, tg: ThreadGroup, t: Task, whole: boolean): ProcDir {
  // The task whose fd table, cwd and exe the files show: t while it lives; for a process whose
  // leader has exited, another live thread (the process still has them).
  const owner = (): Task | undefined => {
    if (tg.reaped) return undefined;
    if (t.state !== 'dead') return t;
    return whole ? liveTask(tg) : undefined;
  };
  const mm = () => (tg.reaped ? undefined : whole ? groupMm(tg) : taskMm(t));
  const text = (gen: () => string) => textFile(() => (tg.reaped ? '' : gen()));
  /** A link that exists only while someone lives to have it (a zombie's exe, cwd, root: ENOENT). */
  const liveLink = (target: (o: Task) => string) => (): ProcNode | undefined => {
    const o = owner();
    return o ? symlink(() => target(owner() ?? o)) : undefined;
  };

  const entries: Record<string, () => ProcNode | undefined> = {
    auxv: () => bytesFile(() => auxvBytes(mm())),
    cgroup: () => text(() => '0::/\n'),
    cmdline: () => bytesFile(() => cmdlineBytes(mm())),
    comm: () => text(() => t.comm + '\n'),
    cwd: liveLink((o) => o.fs.cwd),
    environ: () => bytesFile(() => environBytes(mm())),
    exe: () => {
      const m = mm();
      return m && m.exePath !== '' ? symlink(() => mm()?.exePath ?? m.exePath) : undefined;
    },
    fd: () => fdDirNode(owner),
    fdinfo: () => fdinfoDirNode(owner),
    limits: () => text(() => limitsText(tg)),
    loginuid: () => text(() => UNSET),
    maps: () => text(() => mapsText(mm())),
    mountinfo: () => text(() => mountinfoText(k)),
    mounts: () => text(() => mountsText(k)),
    net: () => netDir(),
    oom_adj: () => text(() => '0\n'),
    oom_score: () => text(() => '0\n'),
    oom_score_adj: () => text(() => '0\n'),
    root: liveLink(() => '/'),
    sessionid: () => text(() => UNSET),
    stat: () => text(() => statText(k, tg, t, whole)),
    statm: () => text(() => statmText(mm())),
    status: () => text(() => statusText(k, tg, t, whole)),
  };
  if (whole) entries.task = () => taskDir(k, tg);
  const names = Object.keys(entries).sort();
  return {
    kind: 'dir',
    mode: DIR_MODE,
    list: () => [...names],
    lookup: (name) => (Object.prototype.hasOwnProperty.call(entries, name) ? entries[name]() : undefined),
  };
}

/** /proc/<pid>/task/: a directory per thread. */
export function taskDir(k: ProcKernel, tg: ThreadGroup): ProcDir {
  return {
    kind: 'dir',
    mode: DIR_MODE,
    list: () => (tg.reaped ? [] : threadsOf(tg).map((t) => String(t.tid))),
    lookup(name) {
      const tid = parseId(name);
      if (tid === undefined || tg.reaped) return undefined;
      const t = threadsOf(tg).find((x) => x.tid === tid);
      return t ? pidDir(k, tg, t, false) : undefined;
    },
  };
}
