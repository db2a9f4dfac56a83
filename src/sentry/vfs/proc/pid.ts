// /proc/<pid>/ and /proc/<pid>/task/<tid>/: one directory per process (and per thread), its files
// generated from the task's state when read.

import type { Task, ThreadGroup } from '../../kernel/task';
import { fdDirNode, fdinfoDirNode } from './fd';
import { limitsText } from './limits';
import { mapsText } from './maps';
import { auxvBytes, cmdlineBytes, environBytes } from './memory';
import { mountinfoText, mountsText } from './mounts';
import { netDir } from './net';
import { DIR_MODE, type ProcDir, type ProcKernel, type ProcNode, bytesFile, parseId, staticDir, symlink, textFile } from './node';
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
    ns: () => nsDir(),
    net: () => netDir(k),
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
  // As in Linux, everything in the directory belongs to the process's effective uid and gid (to
  // root once it is not dumpable), and what exposes its memory or its files is for its owner
  // only (or CAP_DAC_OVERRIDE).
  const ids = () => (tg.dumpable ? { uid: t.creds.euid, gid: t.creds.egid } : { uid: 0, gid: 0 });
  return {
    kind: 'dir',
    mode: DIR_MODE,
    owner: ids,
    list: () => [...names],
    lookup: (name) => (Object.prototype.hasOwnProperty.call(entries, name) ? owned(entries[name](), name, ids) : undefined),
  };
}

/** Modes Linux gives the entries that are private to a process's owner. */
const PRIVATE_MODES: Record<string, number> = { auxv: 0o400, environ: 0o400, fd: 0o500, mem: 0o600 };

function owned(n: ProcNode | undefined, name: string, owner: () => { uid: number; gid: number }): ProcNode | undefined {
  if (!n) return n;
  const mode = PRIVATE_MODES[name];
  return n.kind !== 'symlink' && mode !== undefined ? { ...n, mode, owner } : { ...n, owner };
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

/**
 * The sandbox has one set of namespaces, the sentry's: every process's /proc/pid/ns links name the
 * same ones (with the numbers Linux gives its initial namespaces).
 */
const NAMESPACES: Record<string, string> = {
  cgroup: 'cgroup:[4026531835]',
  ipc: 'ipc:[4026531839]',
  mnt: 'mnt:[4026531841]',
  net: 'net:[4026531840]',
  pid: 'pid:[4026531836]',
  pid_for_children: 'pid:[4026531836]',
  time: 'time:[4026531834]',
  time_for_children: 'time:[4026531834]',
  user: 'user:[4026531837]',
  uts: 'uts:[4026531838]',
};

function nsDir(): ProcNode {
  return staticDir(Object.fromEntries(Object.entries(NAMESPACES).map(([k, v]) => [k, () => symlink(() => v)])));
}
