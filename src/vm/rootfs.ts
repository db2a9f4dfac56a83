// An ext4 image built from a directory with `mkfs.ext4 -d` (no mount, no loop device): the
// read-only base image of a root filesystem (disk/base.ts), which each container of it sees
// through a copy-on-write overlay of its own (disk/overlay.ts). Nothing is written back to the bundle.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MoatError } from '../util/errors';

export interface ImageSize {
  bytes: number;
  inodes: number;
}

/** Room for the tree plus working space: twice its size + 64 MiB (sparse: unused space costs nothing). Pure. */
export function imageSize(usedBytes: number, files: number): ImageSize {
  const mib = 1 << 20;
  const bytes = Math.ceil((usedBytes * 2 + 64 * mib) / mib) * mib;
  return { bytes, inodes: Math.max(4096, files * 2 + 1024) };
}

/** Bytes and entries under dir (not following symlinks, not leaving its filesystem). */
export function treeUsage(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const rootDev = fs.lstatSync(dir).dev;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      files++;
      bytes += Math.ceil(st.size / 4096) * 4096;
      if (st.isDirectory() && st.dev === rootDev) walk(p);
    }
  };
  walk(dir);
  return { bytes, files };
}

/** Throws unless `rootfs` is a directory (the field named as the bundle has it). */
export function checkRootfsDir(rootfs: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(rootfs);
  } catch {
    throw new MoatError('EBUNDLE', `root.path: ${rootfs} does not exist`);
  }
  if (!st.isDirectory()) throw new MoatError('EBUNDLE', `root.path: ${rootfs} is not a directory`);
}

/** Build `image` (sparse) holding a copy of `rootfs`, whose usage is `usage` (treeUsage, or the manifest's). */
export function buildRootfsImage(rootfs: string, image: string, usage = treeUsage(rootfs)): void {
  checkRootfsDir(rootfs);
  const size = imageSize(usage.bytes, usage.files);
  fs.writeFileSync(image, '', { mode: 0o600 });
  fs.truncateSync(image, size.bytes);
  try {
    // No journal: the image is written once, here; a container's writes go to its overlay.
    execFileSync('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-b', '4096', '-N', String(size.inodes), '-E', 'root_owner=0:0', '-d', rootfs, image], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    fs.rmSync(image, { force: true });
    const e = err as { stderr?: Buffer; code?: string; message: string };
    if (e.code === 'ENOENT') throw new MoatError('EVM', 'mkfs.ext4: not found; install e2fsprogs');
    throw new MoatError('EVM', `mkfs.ext4 -d ${rootfs}: ${(e.stderr?.toString() || e.message).trim().split('\n').pop()}`);
  }
}
