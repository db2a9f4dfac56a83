// Images the client tests build themselves, from Debian's busybox-static: a plain rootfs tarball
// (`docker import`, `podman import`) and an OCI image archive (`ctr images import`).

import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeRootfs } from '../../helpers/moat';

/** The busybox rootfs as an uncompressed tar at `out` (built in `work`). */
export function busyboxTarball(work: string, out: string): string {
  const rootfs = path.join(work, 'image-rootfs');
  makeRootfs(rootfs);
  const r = spawnSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', out, '.'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  fs.rmSync(rootfs, { recursive: true, force: true });
  return out;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * An OCI image archive (oci-layout, index.json, blobs/) holding one layer, the rootfs tarball, named
 * `ref` (org.opencontainers.image.ref.name), for linux/amd64.
 */
export function ociArchive(layerTar: string, ref: string, work: string, out: string, cmd: string[] = ['sh']): string {
  const dir = path.join(work, 'oci-layout');
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer | string) => {
    const digest = sha256(data);
    fs.writeFileSync(path.join(blobs, digest), data);
    return { digest: `sha256:${digest}`, size: Buffer.byteLength(data) };
  };
  const layer = put(fs.readFileSync(layerTar));
  const config = put(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: cmd },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  }));
  const manifest = put(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  }));
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...manifest,
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: { 'org.opencontainers.image.ref.name': ref },
    }],
  }));
  const r = spawnSync('tar', ['-C', dir, '-cf', out, 'oci-layout', 'index.json', 'blobs'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}
