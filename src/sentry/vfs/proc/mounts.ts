// /proc/<pid>/mounts and mountinfo. The mount table is the VFS's: it offers mountsText() in
// /proc/mounts format ("source target fstype options 0 0" a line, fields escaped \040-style),
// and may offer mountinfoText() (its real mount ids, which fdinfo's mnt_id names); without it,
// mountinfo is derived from the mounts text.

import type { ProcKernel } from './node';

/** Whose mount table: the VFS of the process the file is of (its container's, in a pod). */
export type MountSource = Pick<ProcKernel, 'vfs'>;

interface MountTable {
  mountsText?: () => string;
  mountinfoText?: () => string;
}

function table(k: MountSource): MountTable | undefined {
  return typeof k.vfs === 'object' && k.vfs !== null ? (k.vfs as MountTable) : undefined;
}

function lines(text: string): string {
  return text === '' || text.endsWith('\n') ? text : text + '\n';
}

export function mountsText(k: MountSource): string {
  return lines(table(k)?.mountsText?.() ?? '');
}

/** Options that belong to the mount (shown before " - " in mountinfo); the rest are the superblock's. */
const PER_MOUNT = new Set(['rw', 'ro', 'nosuid', 'nodev', 'noexec', 'relatime', 'noatime', 'nodiratime', 'strictatime', 'nosymfollow']);

function isUnder(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(dir + '/');
}

/** "%i %i %u:%u %s %s %s %s - %s %s %s": mount id, parent id, dev, root, mount point, options, fstype, source, super options. */
export function mountinfoText(k: MountSource): string {
  const own = table(k)?.mountinfoText?.();
  if (own !== undefined) return lines(own);
  const mounts = mountsText(k).split('\n').filter((l) => l.trim() !== '');
  const seen: Array<{ id: number; target: string }> = [];
  let out = '';
  mounts.forEach((line, i) => {
    const [source = 'none', target = '/', fstype = 'none', options = 'rw'] = line.split(' ');
    const id = 20 + i;
    let parent = 1;
    for (let j = seen.length - 1; j >= 0; j--) {
      if (isUnder(target, seen[j].target)) {
        parent = seen[j].id;
        break;
      }
    }
    seen.push({ id, target });
    const opts = options.split(',');
    const mnt = opts.filter((o) => PER_MOUNT.has(o));
    if (!mnt.includes('rw') && !mnt.includes('ro')) mnt.unshift('rw');
    const sb = [mnt.includes('ro') ? 'ro' : 'rw', ...opts.filter((o) => !PER_MOUNT.has(o))];
    out += `${id} ${parent} 0:${id} / ${target} ${mnt.join(',')} - ${fstype} ${source} ${sb.join(',')}\n`;
  });
  return out;
}
