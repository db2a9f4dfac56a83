// The shape of moat's /proc: a tree of nodes the VFS mounts at /proc. Every file's contents are
// generated when read (the VFS calls read() at open), so a reader sees one consistent snapshot
// per open, as with Linux's seq_file.

import type { Kernel } from '../../kernel/kernel';
import type { Task } from '../../kernel/task';

export type ProcNode = (
  | { kind: 'file'; mode: number; read(): Uint8Array; /** A /proc/sys file: its mode binds root too. */ sysctl?: boolean }
  | { kind: 'symlink'; target(): string }
  | { kind: 'dir'; mode: number; list(): string[]; lookup(name: string): ProcNode | undefined }
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
export type ProcKernel = Pick<Kernel, 'tasks' | 'groups' | 'bootTime' | 'hostname' | 'domainname'> & {
  /** The VFS; /proc asks it for the mount table (mountsText) if it offers one. */
  readonly vfs: unknown;
};

/** The task doing the lookup (for /proc/self and /proc/thread-self). */
export type SelfFn = () => Task;

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

export function symlink(target: () => string): ProcSymlink {
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
