// The shape of moat's /proc: a tree of nodes the VFS mounts at /proc. Every file's contents are
// generated at the first read after an open and kept for that open, so a reader sees one
// consistent snapshot, as with Linux's seq_file (opened while a process ran and read once it is a
// zombie, cmdline is empty, as Linux's).

import type { Kernel } from '../../kernel/kernel';
import type { Task } from '../../kernel/task';
import type { FileDescription } from '../file';
import type { Location } from '../mount';

export type { ProcOpener } from '../inode';
import type { ProcOpener } from '../inode';

export type ProcNode = (
  | {
      kind: 'file';
      mode: number;
      /** Its contents, made at the first read after open (-errno: the process is gone, ESRCH). */
      read(): Uint8Array | number;
      /** A file that is not a snapshot of text (/proc/pid/mem): its own open, with its own checks. */
      open?(opener: ProcOpener, flags: number, loc: Location): FileDescription | number;
      /** A check at open beyond the mode bits (maps: ptrace-read permission): 0 or -errno. */
      mayOpen?(opener: ProcOpener): number;
      /** A writable file (comm): one write(2)'s bytes, by the process that opened it; count or -errno. */
      write?(writer: ProcOpener, data: Uint8Array): number;
      /** A /proc/sys file: its mode binds root too. */
      sysctl?: boolean;
    }
  /**
   * target(): the link's text, or -errno (an ns link of a process that has exited). self, here and
   * in list and lookup: the task doing the call (what /proc/self names; undefined: the sentry's own).
   */
  | { kind: 'symlink'; target(self?: Task): string | number }
  | {
      kind: 'dir';
      mode: number;
      list(self?: Task): string[];
      lookup(name: string, self?: Task): ProcNode | undefined;
      /** The process it is of was reaped: reading it is ENOENT. */
      gone?(): boolean;
      /** Its link count, when not 2 (task/: 2 + its threads). */
      nlink?(): number;
    }
) & {
  /** The owner shown and checked (a process's files belong to its effective ids); root if absent. */
  owner?: () => { uid: number; gid: number };
};

export type ProcDir = Extract<ProcNode, { kind: 'dir' }>;
export type ProcFile = Extract<ProcNode, { kind: 'file' }>;
export type ProcSymlink = Extract<ProcNode, { kind: 'symlink' }>;

/**
 * What /proc reads of the kernel. A Kernel is one; the narrower type keeps /proc honest about
 * its dependencies (the task table, the thread groups, the clock, the names, the mount table).
 */
export type ProcKernel = Pick<Kernel, 'pidns' | 'allTasks' | 'allGroups' | 'bootTime' | 'hostname' | 'domainname' | 'machine'> & {
  /** The VFS; /proc asks it for the mount table (mountsText) if it offers one. */
  readonly vfs: unknown;
};

/** Permission bits only: the VFS adds the file type. */
export const DIR_MODE = 0o555;
export const FILE_MODE = 0o444;
export const LINK_MODE = 0o777;

const encoder = new TextEncoder();

/** A file whose text is generated at each read. latin1 keeps comm and paths byte-exact. */
export function textFile(gen: () => string): ProcFile {
  return { kind: 'file', mode: FILE_MODE, read: () => latin1(gen()) };
}

export function bytesFile(gen: () => Uint8Array): ProcFile {
  return { kind: 'file', mode: FILE_MODE, read: gen };
}

export function symlink(target: (self?: Task) => string | number): ProcSymlink {
  return { kind: 'symlink', target };
}

/** Text made of code points < 256 as bytes (paths and comms are byte strings in the sentry). */
export function latin1(s: string): Uint8Array {
  // Plain ASCII is by far the common case; TextEncoder is faster there and identical.
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return Uint8Array.from(Buffer.from(s, 'latin1'));
  }
  return encoder.encode(s);
}

/** A directory of fixed entries, each made when looked up. */
export function staticDir(entries: Record<string, () => ProcNode>): ProcDir {
  const names = Object.keys(entries);
  return {
    kind: 'dir',
    mode: DIR_MODE,
    list: () => [...names],
    lookup: (name) => (Object.prototype.hasOwnProperty.call(entries, name) ? entries[name]() : undefined),
  };
}

/** A decimal name ("123") as a number; undefined for anything else ("0123", "+1", "1e3"). */
export function parseId(name: string): number | undefined {
  if (!/^[1-9][0-9]{0,9}$/.test(name) && name !== '0') return undefined;
  const n = Number(name);
  return n <= 0x7fffffff ? n : undefined;
}
