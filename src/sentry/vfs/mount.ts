// Mounts and the mount table: a Location is (mount, dentry), gVisor's VirtualDentry. Crossing
// into a mount happens where a dentry is a mount point; ".." at a mount's root climbs to the mount
// point in the parent mount.

import type { Dentry } from './dentry';
import { now, type FileSystem } from './inode';

export interface MountFlags {
  readonly: boolean;
  nosuid: boolean;
  nodev: boolean;
  noexec: boolean;
}

export interface Location {
  readonly mount: Mount;
  readonly dentry: Dentry;
}

let nextMountId = 1;

export class Mount {
  readonly id = nextMountId++;
  /** Mounts on dentries of this mount. */
  readonly children = new Map<Dentry, Mount>();

  constructor(
    readonly fs: FileSystem,
    readonly root: Dentry,
    readonly parent: Mount | null,
    readonly point: Dentry | null,
    readonly flags: MountFlags,
    /** What /proc/mounts shows as the source. */
    readonly source: string,
    /** Extra options for /proc/mounts (size=…, mode=…). */
    readonly options = '',
  ) {}
}

export const RW: MountFlags = { readonly: false, nosuid: false, nodev: false, noexec: false };

export function location(mount: Mount, dentry: Dentry): Location {
  return { mount, dentry };
}

export function sameLocation(a: Location, b: Location): boolean {
  return a.mount === b.mount && a.dentry === b.dentry;
}

/** Where l really is: the root of the top-most mount stacked on it, if any. */
export function enterMounts(l: Location): Location {
  let { mount, dentry } = l;
  while (dentry.mounts > 0) {
    const m = mount.children.get(dentry);
    if (!m) break;
    mount = m;
    dentry = m.root;
  }
  return mount === l.mount ? l : { mount, dentry };
}

/** The parent of l, stopping at root; crosses up out of mounts. */
export function parentOf(l: Location, root: Location): Location {
  let { mount, dentry } = l;
  for (;;) {
    if (mount === root.mount && dentry === root.dentry) return l;
    if (dentry !== mount.root) break;
    if (!mount.parent || !mount.point) return l; // the top of the tree: ".." stays
    dentry = mount.point;
    mount = mount.parent;
  }
  return { mount, dentry: dentry.parent ?? dentry };
}

/**
 * The absolute path of l as seen from root, as getcwd and /proc/pid/fd give it; null if l is not
 * under root (getcwd's "(unreachable)").
 */
export function pathOf(l: Location, root: Location): string | null {
  const names: string[] = [];
  let { mount, dentry } = l;
  for (;;) {
    if (mount === root.mount && dentry === root.dentry) break;
    if (dentry === mount.root) {
      if (!mount.parent || !mount.point) return null;
      dentry = mount.point;
      mount = mount.parent;
      continue;
    }
    names.push(dentry.name);
    if (!dentry.parent) return null;
    dentry = dentry.parent;
  }
  if (names.length === 0) return '/';
  let s = '';
  for (let i = names.length - 1; i >= 0; i--) s += '/' + names[i];
  return s;
}

/** Every mount under m, m first (the order of /proc/mounts). */
export function allMounts(m: Mount, out: Mount[] = []): Mount[] {
  out.push(m);
  for (const c of [...m.children.values()].sort((a, b) => a.id - b.id)) allMounts(c, out);
  return out;
}

/** /proc/mounts escapes blanks and backslashes in paths as octal. */
function escapeMountPath(p: string): string {
  return p.replace(/[ \t\n\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'));
}

/** One line of /proc/mounts for m, its path computed from root. */
export function mountLine(m: Mount, root: Location): string | null {
  const p = pathOf({ mount: m, dentry: m.root }, root);
  if (p === null) return null;
  const f = m.flags;
  let opts = f.readonly ? 'ro' : 'rw';
  if (f.nosuid) opts += ',nosuid';
  if (f.nodev) opts += ',nodev';
  if (f.noexec) opts += ',noexec';
  opts += ',relatime';
  if (m.options) opts += ',' + m.options;
  return `${escapeMountPath(m.source)} ${escapeMountPath(p)} ${m.fs.type} ${opts} 0 0`;
}

/** touch_atime: an access through l moves the inode's atime, unless the mount is read-only. */
export function touchAtime(l: Location): void {
  if (!l.mount.flags.readonly) l.dentry.inode.accessed(now());
}
