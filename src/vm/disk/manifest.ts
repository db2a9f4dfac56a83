// The manifest of a root filesystem tree: what names its base image (base.ts). One walk with
// lstat (no file is read): each entry's relative path, type, mode, owner, size, mtime in ns, link
// count and symlink target, in a fixed (sorted) order, hashed as it goes; the size the image needs
// comes from the same walk. Any change a writer makes through the file system — content (size or
// mtime), a chmod, a chown, a rename, an added or removed file — is a new manifest, hence a new image.
// Not seen: content rewritten in place with the same size and the old mtime restored (`touch -d`),
// as rsync's quick check and make do not see it; the bundle is the caller's own.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

export interface TreeManifest {
  /** Hex SHA-256 of the manifest. */
  digest: string;
  /** Bytes in 4 KiB blocks and entries, as treeUsage (rootfs.ts) counts them. */
  bytes: number;
  files: number;
}

/** Entries under `dir` (not following symlinks, not leaving its file system), hashed. */
export function treeManifest(dir: string): TreeManifest {
  const h = crypto.createHash('sha256');
  let bytes = 0;
  let files = 0;
  const top = fs.lstatSync(dir, { bigint: true });
  // The root's own mode and owner (its mtime changes with every entry added in it, as the upper
  // directory of an overlay mount does per container: left out, its entries say it all).
  h.update(`.\0${top.mode}\0${top.uid}\0${top.gid}\n`);
  // Sync calls (≈ 10 µs an entry here; the async API is slower still), one hash update per directory.
  const walk = (d: string, rel: string): void => {
    const names = fs.readdirSync(d).sort();
    const lines: string[] = [];
    const dirs: [string, string][] = [];
    for (const name of names) {
      const p = `${d}/${name}`;
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = fs.lstatSync(p, { bigint: true });
      files++;
      bytes += Math.ceil(Number(st.size) / 4096) * 4096;
      const mode = Number(st.mode) & fs.constants.S_IFMT;
      const target = mode === fs.constants.S_IFLNK ? fs.readlinkSync(p) : mode === fs.constants.S_IFCHR || mode === fs.constants.S_IFBLK ? String(st.rdev) : '';
      // The type is in the mode. NUL cannot be in a name or a link target: fields cannot run together.
      lines.push(`${r}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.mtimeNs}\0${st.nlink}\0${target}\n`);
      if (mode === fs.constants.S_IFDIR && st.dev === top.dev) dirs.push([p, r]);
    }
    h.update(lines.join(''));
    for (const [p, r] of dirs) walk(p, r);
  };
  walk(dir, '');
  return { digest: h.digest('hex'), bytes, files };
}
