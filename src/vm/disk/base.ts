// The base image cache (docs/vm.md#root-filesystem-a-virtio-blk-ext4-image): one read-only ext4 image per root
// filesystem content, shared by every container of it, each of which writes to an overlay of its own
// (overlay.ts). An image is named `<digest>.img` by the digest of its tree's manifest (manifest.ts)
// and of how it is built; names from the bundle never make a path here. Built once, by mkfs.ext4 -d
// (rootfs.ts) into a private temporary name, made 0444, and published by an atomic rename under the
// cache's lock; nothing but that rename ever writes a published image. Pruned after a build (least
// recently used first, beyond KEEP_IMAGES or IMAGE_BYTES): a VM using a pruned image holds it open
// (moat passes QEMU an fd), so unlinking it takes nothing away from it; its blocks are freed when
// the last such VM ends.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sys } from '../../sys';
import { MoatError } from '../../util/errors';
import { debugLog, logRecord } from '../../util/log';
import { buildRootfsImage, checkRootfsDir, imageSize } from '../rootfs';
import { treeManifest } from './manifest';

/** Bumped when how an image is built changes (mkfs options, layout): every image is rebuilt. */
export const IMAGE_FORMAT = 1;
export const DEFAULT_IMAGE_ROOT = '/var/lib/moat/vm-images';
/** Images kept: the least recently used beyond this many, or beyond IMAGE_BYTES in all, go. */
export const KEEP_IMAGES = 8;
export const IMAGE_BYTES = 8 * 2 ** 30;
/** How long a create waits for another moat building the cache's next image. */
const LOCK_TIMEOUT_MS = 10 * 60_000;

/** Where base images live: MOAT_VM_IMAGES (an absolute directory), else /var/lib/moat/vm-images as root, else the state root's vm cache. */
export function imageRoot(cacheDir: string, root: boolean, env = process.env): string {
  const v = env.MOAT_VM_IMAGES;
  if (v !== undefined && v !== '') {
    if (!path.isAbsolute(v)) throw new MoatError('EUSAGE', `MOAT_VM_IMAGES: ${JSON.stringify(v)} is not an absolute path`);
    return v;
  }
  return root ? DEFAULT_IMAGE_ROOT : path.join(cacheDir, 'images');
}

export interface BaseImage {
  path: string;
  /** The image opened read-only: what QEMU gets (a prune after this takes nothing from it). */
  fd: number;
  /** Its size: the overlay's. */
  bytes: number;
  /** Whether this call built it. */
  built: boolean;
}

/** The image's name for a manifest (pure). */
export function imageKey(manifestDigest: string): string {
  return crypto.createHash('sha256').update(`moat-vm-image ${IMAGE_FORMAT} ${manifestDigest}`).digest('hex').slice(0, 32);
}

/**
 * The base image of `rootfs`, built now if the cache has none for its content. Throws (leaving no
 * temporary image behind) if it cannot be built or the tree keeps changing while it is copied.
 */
export async function acquireBase(rootfs: string, root: string): Promise<BaseImage> {
  checkRootfsDir(rootfs);
  let m = treeManifest(rootfs);
  const found = openImage(root, imageKey(m.digest), imageSize(m.bytes, m.files).bytes);
  if (found) return found;
  const lock = await lockCache(root);
  try {
    for (let attempt = 0; ; attempt++) {
      const key = imageKey(m.digest);
      const bytes = imageSize(m.bytes, m.files).bytes;
      const again = openImage(root, key, bytes);
      if (again) return again;
      const tmp = path.join(root, `.build-${key}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
      try {
        const t0 = Date.now();
        buildRootfsImage(rootfs, tmp, m);
        // A tree changed while it was copied is not what its name says: not published.
        const after = treeManifest(rootfs);
        if (after.digest !== m.digest) {
          fs.rmSync(tmp, { force: true });
          if (attempt >= 1) throw new MoatError('EBUNDLE', `root.path: ${rootfs} changed while its image was being built (twice); try again once it is still`);
          m = after;
          continue;
        }
        fs.chmodSync(tmp, 0o444);
        // Whole seconds: its atime is set on each use with its mtime kept, exactly (utimes has no ns).
        const now = Math.floor(Date.now() / 1000);
        fs.utimesSync(tmp, now, now);
        const fd = fs.openSync(tmp, fs.constants.O_RDONLY);
        try {
          fs.fsyncSync(fd);
          const final = path.join(root, `${key}.img`);
          fs.renameSync(tmp, final);
          logRecord('info', `vm: base image ${final} built from ${rootfs} in ${Date.now() - t0} ms`);
          prune(root, final);
          return { path: final, fd, bytes, built: true };
        } catch (err) {
          fs.closeSync(fd);
          throw err;
        }
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
      }
    }
  } finally {
    fs.closeSync(lock);
  }
}

/**
 * A published image opened read-only, or undefined if there is none (or it was pruned meanwhile:
 * then it is built again). One that is not what this cache makes (a regular file, root's when moat
 * runs as root, mode 0444, the size its manifest gives) is removed and built again.
 */
function openImage(root: string, key: string, bytes: number): BaseImage | undefined {
  const file = path.join(root, `${key}.img`);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile() || (st.mode & 0o7777) !== 0o444 || st.size !== bytes || st.uid !== (process.getuid?.() ?? 0)) {
    fs.closeSync(fd);
    debugLog(() => `vm: ${file} is not a base image this cache made (mode ${(st.mode & 0o7777).toString(8)}, ${st.size} bytes, uid ${st.uid}): built again`);
    fs.rmSync(file, { force: true });
    return undefined;
  }
  // Recently used, for pruning: its atime (its mtime stays the build's).
  try {
    fs.utimesSync(file, Date.now() / 1000, Math.floor(st.mtimeMs / 1000));
  } catch {
    // pruned meanwhile: the fd is still good
  }
  return { path: file, fd, bytes, built: false };
}

/** The cache's lock (one builder at a time; polled, so the event loop keeps running). */
async function lockCache(root: string): Promise<number> {
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(root);
  if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? 0)) throw new MoatError('EVM', `${root}: not a directory of this user's (the vm base image cache)`);
  // Created 0700 above; one made before by someone else's umask is made private again.
  if ((st.mode & 0o077) !== 0) fs.chmodSync(root, 0o700);
  const fd = fs.openSync(path.join(root, 'lock'), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  while (!sys().flock(fd, 'ex', true)) {
    if (Date.now() > deadline) {
      fs.closeSync(fd);
      throw new MoatError('EVM', `${root}/lock: another moat has been building a base image for more than ${LOCK_TIMEOUT_MS / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return fd;
}

/**
 * Under the lock: temporary images of a moat killed while building (nobody else builds now), and
 * the least recently used images beyond KEEP_IMAGES or IMAGE_BYTES (allocated), `keep` excepted.
 */
export function prune(root: string, keep: string, keepImages = KEEP_IMAGES, budget = IMAGE_BYTES): void {
  const images: { file: string; atime: number; bytes: number }[] = [];
  for (const name of fs.readdirSync(root)) {
    const file = path.join(root, name);
    if (name.startsWith('.build-')) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (!/^[0-9a-f]{32}\.img$/.test(name) || file === keep) continue;
    try {
      const st = fs.lstatSync(file);
      if (st.isFile()) images.push({ file, atime: st.atimeMs, bytes: st.blocks * 512 });
    } catch {
      // gone meanwhile
    }
  }
  images.sort((a, b) => b.atime - a.atime);
  let total = fs.statSync(keep).blocks * 512;
  images.forEach((img, i) => {
    total += img.bytes;
    if (i + 1 < keepImages && total <= budget) return;
    // A running VM has it open: it keeps its copy until it ends.
    fs.rmSync(img.file, { force: true });
    debugLog(() => `vm: base image ${img.file} pruned`);
  });
}
