// The container's root filesystem: containerd hands a v2 shim the snapshot's mounts (overlay, or a
// bind for a one-layer view) to carry out on <bundle>/rootfs, and takes them back at delete. Done
// with mount(2)/umount2(2) through moat's addon (src/sys), as containerd's runc shim does in Go: a
// mount(8) process per container and one or two umount(8) cost a fork of the server (a Node
// process of 50+ MB) and an exec each. The options are read as the OCI spec's mounts are
// (parseMountOptions: flags, propagation, the rest as the filesystem's data), as mount(8) reads them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { MS } from '../policy/plan/constants';
import { parseMountOptions } from '../policy/plan/mounts';
import { sys } from '../sys';
import { ConfigError, MoatError } from '../util/errors';
import type { Msg } from './proto';
import { ownMounts } from '../util/mountinfo';

const TYPE_RE = /^[a-z0-9._-]{1,32}$/;
const MNT_DETACH = 2;

/** One of containerd's mounts on target; bind mounts are told by their options, not a type. */
function mountOne(m: Msg, target: string, field: string): void {
  const type = String(m.type ?? '');
  const options = (m.options ?? []).map(String) as string[];
  if (!TYPE_RE.test(type)) throw new MoatError('EUSAGE', `${field}.type: invalid mount type ${JSON.stringify(type)}`);
  for (const o of options) if (o.includes('\0') || o.includes('\n')) throw new MoatError('EUSAGE', `${field}.options: invalid option`);
  const source = String(m.source ?? '');
  if (source === '' || source.startsWith('-')) throw new MoatError('EUSAGE', `${field}.source: invalid source ${JSON.stringify(source)}`);
  const o = parseMountOptions(options, `${field}.options`);
  const s = sys();
  if (type === 'bind' || type === 'rbind' || o.bind) {
    s.mount(source, target, '', MS.BIND | (o.recursive || type === 'rbind' ? MS.REC : 0), '');
    // A bind takes no flags of its own: `ro` and the like are a remount of it (as mount(8) does).
    if (o.flags) s.mount('', target, '', MS.REMOUNT | MS.BIND | o.flags, '');
  } else {
    s.mount(source, target, type, o.flags, o.data);
  }
  for (const p of o.propagation) s.mount('', target, '', p, '');
}

export async function mountRootfs(bundle: string, mounts: Msg[]): Promise<void> {
  if (mounts.length === 0) return;
  const target = path.join(bundle, 'rootfs');
  fs.mkdirSync(target, { recursive: true, mode: 0o711 });
  for (const [i, m] of mounts.entries()) {
    try {
      mountOne(m, target, `rootfs[${i}]`);
    } catch (err) {
      await unmountRootfs(bundle);
      if (err instanceof ConfigError) throw new MoatError('EUSAGE', `${err.field}: ${err.problem}`);
      if (err instanceof MoatError && err.code === 'EUSAGE') throw err;
      throw new MoatError('ESETUP', `rootfs[${i}]: mounting ${String(m.type)} on ${target} failed: ${(err as Error).message}`);
    }
  }
}

function isMountPoint(p: string): boolean {
  return ownMounts().some((m) => m.mountPoint === p);
}

/** Detach whatever is mounted on <bundle>/rootfs (every layer of it); nothing mounted is fine. */
export async function unmountRootfs(bundle: string): Promise<void> {
  const target = path.join(bundle, 'rootfs');
  for (let i = 0; i < 16 && isMountPoint(target); i++) {
    try {
      sys().umount2(target, 0);
    } catch {
      try {
        sys().umount2(target, MNT_DETACH); // busy: detach it, as `umount -l`
      } catch {
        /* gone meanwhile, or not ours to take: mountinfo says on the next turn */
      }
    }
  }
}
