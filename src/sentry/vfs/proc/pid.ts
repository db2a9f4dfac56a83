// /proc/<pid>/ and /proc/<pid>/task/<tid>/: one directory per process (and per thread), its files
// generated from the task's state when read.

import { EACCES, EINVAL, ENOENT, ESRCH } from '../../abi/errno';
import type { IoAccounting, Task, ThreadGroup } from '../../kernel/task';
import { fdDirNode, fdinfoDirNode, type ProcFdLink } from './fd';
import { anonStat, FileDescription, type StatInfo } from '../file';
import { O_PATH, O_RDONLY, S_IFREG } from '../constants';
import { limitsText } from './limits';
import { mapsText, smapsText } from './maps';
import { mayRead, openMem } from './mem';
import { auxvBytes, cmdlineBytes, environBytes } from './memory';
import { mountinfoText, mountsText } from './mounts';
import { netDir } from './net';
import { DIR_MODE, latin1, type ProcDir, type ProcFile, type ProcOpener, type ProcKernel, type ProcNode, bytesFile, parseId, staticDir, symlink, textFile } from './node';
import { PathFile } from '../regular-file';
import type { Location } from '../mount';
import { groupMm, isZombie, liveTask, taskMm, threadsOf } from './process';
import { statText, statmText } from './stat';
import { statusText } from './status';

/**
 * uid_map, gid_map, projid_map: the sandbox has one user namespace, shown as Linux shows its
 * initial one (every id maps to itself).
 */
const IDENTITY_MAP = '         0          0 4294967295\n';

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
  // A file opened while the process lived and read once it is reaped: ESRCH, as Linux's.
  const text = (gen: () => string): ProcFile => ({ ...textFile(gen), read: () => (tg.reaped ? -ESRCH : latin1(gen())) });
  const bytes = (gen: () => Uint8Array): ProcFile => ({ ...bytesFile(gen), read: () => (tg.reaped ? -ESRCH : gen()) });
  /**
   * root and cwd (a zombie's: ENOENT, as its exe): magic links, as Linux's (proc_root_link, proc_cwd_link): following one reaches
   * that directory of the process's own tree — in a pod, another container's, which Linux allows a
   * process sharing its PID namespace when it may ptrace-read it (proc_fd_access_allowed).
   */
  const dirLink = (path: (o: Task) => string, loc: (o: Task) => Location) => (): ProcNode | undefined => {
    const o = owner();
    if (!o) return undefined;
    const link: ProcFdLink = {
      kind: 'symlink',
      target: () => path(owner() ?? o),
      fdFile: (me?: Task) => {
        const now = owner();
        if (!now) return undefined;
        if (me && mayRead(me, now) < 0) return -EACCES;
        return new PathFile(loc(now), O_PATH);
      },
    };
    return link;
  };

  // Its container's mount tree (each container of a pod has its own: Linux's mount namespace).
  const mountsOf = () => ({ vfs: tg.container?.vfs ?? k.vfs });

  const entries: Record<string, () => ProcNode | undefined> = {
    auxv: () => bytes(() => auxvBytes(mm())),
    cgroup: () => text(() => '0::/\n'),
    cmdline: () => bytes(() => cmdlineBytes(mm())),
    coredump_filter: () => text(() => '00000033\n'),
    comm: () => ({ ...text(() => t.comm + '\n'), mode: 0o644, write: (w, data) => commWrite(w, tg, t, data) }),
    cwd: dirLink((o) => o.fs.cwd, (o) => o.fs.cwdLoc),
    environ: () => bytes(() => environBytes(mm())),
    exe: () => {
      // Looked up in the directory of a process reaped since it was opened: ESRCH, as Linux's.
      if (tg.reaped) return symlink(() => -ESRCH);
      const m = mm();
      return m && m.exePath !== '' ? symlink(() => mm()?.exePath ?? m.exePath) : undefined;
    },
    fd: () => fdDirNode(owner),
    gid_map: () => textFile(() => IDENTITY_MAP),
    fdinfo: () => fdinfoDirNode(owner),
    io: () => ({ ...text(() => ioText(whole ? groupIo(tg) : t.io)), mayOpen: (o) => mayRead(o, owner() ?? t) }),
    limits: () => text(() => limitsText(tg)),
    loginuid: () => text(() => UNSET),
    maps: () => ({ ...text(() => mapsText(mm())), mayOpen: (o) => mayRead(o, owner() ?? t) }),
    mem: () => ({ ...bytesFile(() => new Uint8Array(0)), open: (o, flags, loc) => openMem(o, owner() ?? t, mm(), flags, loc) }),
    mountinfo: () => text(() => mountinfoText(mountsOf())),
    smaps: () => ({ ...text(() => smapsText(mm())), mayOpen: (o) => mayRead(o, owner() ?? t) }),
    mounts: () => text(() => mountsText(mountsOf())),
    ns: () => nsDir(tg),
    net: () => netDir(k),
    oom_adj: () => text(() => '0\n'),
    projid_map: () => textFile(() => IDENTITY_MAP),
    oom_score: () => text(() => '0\n'),
    oom_score_adj: () => text(() => '0\n'),
    root: dirLink(() => '/', (o) => o.fs.root),
    sessionid: () => text(() => UNSET),
    setgroups: () => textFile(() => 'allow\n'),
    stat: () => text(() => statText(k, tg, t, whole)),
    statm: () => text(() => statmText(mm())),
    status: () => text(() => statusText(k, tg, t, whole)),
    uid_map: () => textFile(() => IDENTITY_MAP),
  };
  if (whole) entries.task = () => taskDir(k, tg);
  else entries.children = () => text(() => childrenText(tg, t));
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
    gone: () => tg.reaped,
  };
}

/** Modes Linux gives the entries that are private to a process's owner. */
const PRIVATE_MODES: Record<string, number> = { auxv: 0o400, environ: 0o400, fd: 0o500, io: 0o400, mem: 0o600 };

/**
 * comm_write: a thread of the same process renames t to the first 15 bytes written (up to a NUL);
 * another process may open the file (its owner's) but not rename: EINVAL.
 */
function commWrite(w: ProcOpener, tg: ThreadGroup, t: Task, data: Uint8Array): number {
  if (w.tg?.tgid !== tg.tgid) return -EINVAL;
  let b = data.subarray(0, 15);
  const nul = b.indexOf(0);
  if (nul >= 0) b = b.subarray(0, nul);
  t.comm = Buffer.from(b).toString('latin1');
  return data.length;
}

/**
 * task/<tid>/children: the pids of the processes this thread forked (its children whose forking
 * thread has exited count as the first live thread's, as Linux reparents them), each followed by a
 * space, in order.
 */
function childrenText(tg: ThreadGroup, t: Task): string {
  const threads = threadsOf(tg).filter((x) => x.state !== 'dead');
  const mine = (c: ThreadGroup) => c.parentThread === t.tid || (threads[0] === t && !threads.some((x) => x.tid === c.parentThread));
  return [...tg.children].filter(mine).map((c) => c.tgid).sort((a, b) => a - b).map((p) => `${p} `).join('');
}

/** A process's I/O: its live threads' and its exited threads'. */
function groupIo(tg: ThreadGroup): IoAccounting {
  const sum = { ...tg.deadIo };
  for (const x of threadsOf(tg)) for (const k of ['rchar', 'wchar', 'syscr', 'syscw'] as const) sum[k] += x.io[k];
  return sum;
}

/** proc_pid_io_accounting's layout; no block I/O is accounted (the sentry has no page cache). */
function ioText(io: IoAccounting): string {
  return `rchar: ${io.rchar}\nwchar: ${io.wchar}\nsyscr: ${io.syscr}\nsyscw: ${io.syscw}\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n`;
}

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
    gone: () => tg.reaped,
    nlink: () => 2 + (tg.reaped ? 0 : threadsOf(tg).length),
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

/**
 * An nsfs file, what following a /proc/pid/ns link opens (setns takes it, stat shows its inode):
 * a pathless file whose inode number is the namespace's.
 */
class NsFile extends FileDescription {
  constructor(private readonly nsIno: number, private readonly name?: string) {
    super(O_RDONLY);
  }
  override stat(): StatInfo {
    return anonStat(S_IFREG | 0o444, this.nsIno);
  }
  /** open() through the link: a file of the namespace (what setns(2) would take). */
  override reopen(flags: number): FileDescription {
    const f = new NsFile(this.nsIno, this.name);
    f.flags = flags;
    return f;
  }
  override get displayPath(): string {
    if (this.name) return this.name;
    const e = Object.entries(NAMESPACES).find(([, v]) => v.endsWith(`[${this.nsIno}]`));
    return e ? e[1] : `[${this.nsIno}]`;
  }
}

function nsDir(tg: ThreadGroup): ProcNode {
  // An exited process has no namespaces any more (ENOENT); a reaped one is no process (ESRCH).
  const gone = () => (tg.reaped ? -ESRCH : isZombie(tg) ? -ENOENT : 0);
  const link = (v: string): ProcFdLink => {
    const ino = Number(/\[(\d+)\]/.exec(v)?.[1] ?? 0);
    // A magic link, as Linux's: readlink gives "type:[inode]", following it reaches the namespace.
    return { kind: 'symlink', target: () => gone() || v, fdFile: () => (gone() ? undefined : new NsFile(ino, v)) };
  };
  // A pod's containers (kernel/pod-container.ts): a PID namespace and a mount tree each, or shared.
  const own: Record<string, string> = { ...NAMESPACES };
  if (tg.pidns) own.pid = own.pid_for_children = `pid:[${tg.pidns.ino}]`;
  if (tg.container?.mntIno) own.mnt = `mnt:[${tg.container.mntIno}]`;
  return staticDir(Object.fromEntries(Object.entries(own).map(([k, v]) => [k, () => link(v)])));
}
