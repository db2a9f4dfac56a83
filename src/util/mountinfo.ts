// /proc/<pid>/mountinfo, parsed once for everyone (proc(5)): the fields moat looks at, with the
// kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) undone.

import * as fs from 'node:fs';

export interface MountEntry {
  /** Where it is mounted, as a path. */
  mountPoint: string;
  /** The mounted directory of its file system (a bind's source within it). */
  root: string;
  fstype: string;
  source: string;
  /** Per-superblock options (`rw,size=…`, a cgroup v1 hierarchy's controllers). */
  superOptions: string;
}

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The entries of a mountinfo text; malformed lines are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    // id parent maj:min root mountpoint opts [optional fields...] - fstype source superopts
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const [fstype, source, superOptions] = line.slice(sep + 3).split(' ');
    if (left.length < 6 || fstype === undefined) continue;
    out.push({ mountPoint: unescape(left[4]!), root: unescape(left[3]!), fstype, source: unescape(source ?? ''), superOptions: superOptions ?? '' });
  }
  return out;
}

/** This process's mounts; [] if /proc cannot be read. */
export function ownMounts(): MountEntry[] {
  try {
    return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return [];
  }
}
