// A minimal /sys: what programs probe before they give up on it. /sys/fs/cgroup (empty: no
// cgroup file system inside the sentry) and /sys/devices/system/cpu/online ("0" for one CPU, or
// "0-N": the machine's CPUs at start, kernel/machine.ts). Mounted read-only.

import { S_IFDIR, S_IFREG } from './constants';
import { TmpFs } from './tmpfs/tmpfs';
import type { MemDir, MemFile } from './tmpfs/inode';
import { cpuRange } from '../kernel/machine';

export const SYSFS_MAGIC = 0x62656572;

const DIRS = ['fs/cgroup', 'devices/system/cpu', 'kernel', 'class', 'bus', 'block', 'dev/char', 'dev/block'];
const CPU_LISTS = ['devices/system/cpu/online', 'devices/system/cpu/possible', 'devices/system/cpu/present'];

function mkdirs(root: MemDir, path: string): MemDir {
  let d = root;
  for (const name of path.split('/')) {
    const c = d.entries.get(name);
    d = (c ?? d.create(null, name, { mode: S_IFDIR | 0o755, uid: 0, gid: 0, rdev: 0, target: '' })) as MemDir;
  }
  return d;
}

export function makeSysFs(cpus = 1): TmpFs {
  const fs = new TmpFs({ mode: 0o555, type: 'sysfs', magic: SYSFS_MAGIC, limit: 1 << 20 });
  for (const p of DIRS) mkdirs(fs.rootDir, p);
  for (const [p, text] of CPU_LISTS.map((f): [string, string] => [f, `${cpuRange(cpus)}\n`])) {
    const slash = p.lastIndexOf('/');
    const dir = mkdirs(fs.rootDir, p.slice(0, slash));
    const f = dir.create(null, p.slice(slash + 1), { mode: S_IFREG | 0o444, uid: 0, gid: 0, rdev: 0, target: '' }) as MemFile;
    f.data.write([Buffer.from(text)], 0);
  }
  return fs;
}
