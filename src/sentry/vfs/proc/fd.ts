// /proc/<pid>/fd/ (a symlink per open fd to what it names) and /proc/<pid>/fdinfo/ (its offset
// and flags), read from the task's fd table when listed or opened.

import type { Task } from '../../kernel/task';
import { DIR_MODE, type ProcDir, type ProcNode, type ProcSymlink, parseId, textFile } from './node';

/** One fd table entry ({ file, cloexec }), as the task's table holds it. */
export type FdEntry = Task['files']['fds'] extends Map<number, infer E> ? E : never;

const O_CLOEXEC = 0o2000000;

/**
 * fd/N: a symlink whose target is for readlink; opening it reaches the open file itself (Linux's
 * "magic link": /dev/stdin → /proc/self/fd/0 of a pipe works), which fdFile() gives the VFS.
 */
export interface ProcFdLink extends ProcSymlink {
  /** The file (undefined: ENOENT), or -errno (root and cwd of a process self may not look into). */
  fdFile(self?: Task): FdEntry['file'] | number | undefined;
}

export function isFdLink(n: ProcNode): n is ProcFdLink {
  return n.kind === 'symlink' && typeof (n as Partial<ProcFdLink>).fdFile === 'function';
}

/** What fd/N points at: the description's displayPath ("/etc/passwd", "pipe:[1234]", …). */
export function fdTarget(e: FdEntry): string {
  const p = e.file.displayPath;
  return p !== '' ? p : 'anon_inode:[unknown]';
}

/** fdinfo/N: "pos:\t%lli\nflags:\t0%o\nmnt_id:\t%i\nino:\t%lu\n"; the flags with O_CLOEXEC from the fd. */
export function fdinfoText(e: FdEntry): string {
  const f = e.file;
  const flags = (f.flags | (e.cloexec ? O_CLOEXEC : 0)) >>> 0;
  return `pos:\t${f.offset}\nflags:\t0${flags.toString(8)}\nmnt_id:\t${f.mntId}\nino:\t${f.ino}\n`;
}

/** A directory with an entry per open fd of task() (none once it has exited). */
function fdDir(task: () => Task | undefined, make: (t: Task, e: FdEntry, fd: number) => ProcNode): ProcDir {
  return {
    kind: 'dir',
    mode: DIR_MODE,
    list() {
      const t = task();
      if (!t) return [];
      return [...t.files.fds.keys()].sort((a, b) => a - b).map(String);
    },
    lookup(name) {
      const t = task();
      const fd = parseId(name);
      if (!t || fd === undefined) return undefined;
      const e = t.files.fds.get(fd);
      return e ? make(t, e, fd) : undefined;
    },
  };
}

export function fdDirNode(task: () => Task | undefined): ProcDir {
  // Resolved again when used: the fd may have been closed or reused since the lookup.
  return fdDir(task, (t, e, fd): ProcFdLink => ({
    kind: 'symlink',
    target: () => fdTarget(t.files.fds.get(fd) ?? e),
    fdFile: () => t.files.fds.get(fd)?.file,
  }));
}

export function fdinfoDirNode(task: () => Task | undefined): ProcDir {
  return fdDir(task, (t, e, fd) => textFile(() => fdinfoText(t.files.fds.get(fd) ?? e)));
}
