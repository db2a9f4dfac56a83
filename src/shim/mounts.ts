// The container's root filesystem: containerd hands a v2 shim the snapshot's mounts (overlay, or a
// bind for a one-layer view) to carry out on <bundle>/rootfs, and takes them back at delete.
// mount(8) runs asynchronously: a spawnSync in the long-lived server loses the exit of children
// spawned meanwhile (the event publisher's), as Node's synchronous loop reaps behind its back.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MoatError } from '../util/errors';
import type { Msg } from './proto';

const TYPE_RE = /^[a-z0-9._-]{1,32}$/;

/** mount(8) for one of containerd's mounts; bind mounts are told by their options, not a type. */
function mountArgs(m: Msg, target: string, field: string): string[] {
  const type = String(m.type ?? '');
  const options = (m.options ?? []).map(String) as string[];
  if (!TYPE_RE.test(type)) throw new MoatError('EUSAGE', `${field}.type: invalid mount type ${JSON.stringify(type)}`);
  for (const o of options) if (o.includes('\0') || o.includes('\n')) throw new MoatError('EUSAGE', `${field}.options: invalid option`);
  const source = String(m.source ?? '');
  if (source === '' || source.startsWith('-')) throw new MoatError('EUSAGE', `${field}.source: invalid source ${JSON.stringify(source)}`);
  const bind = type === 'bind' || type === 'rbind' || options.includes('bind') || options.includes('rbind');
  return [...(bind ? [] : ['-t', type]), ...(options.length ? ['-o', options.join(',')] : []), '--', source, target];
}

function run(cmd: string, args: string[]): Promise<{ ok: boolean; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 30_000 }, (err, _stdout, stderr) => resolve({ ok: !err, stderr: stderr || (err?.message ?? '') }));
  });
}

export async function mountRootfs(bundle: string, mounts: Msg[]): Promise<void> {
  if (mounts.length === 0) return;
  const target = path.join(bundle, 'rootfs');
  fs.mkdirSync(target, { recursive: true, mode: 0o711 });
  for (const [i, m] of mounts.entries()) {
    const r = await run('mount', mountArgs(m, target, `rootfs[${i}]`));
    if (!r.ok) {
      await unmountRootfs(bundle);
      throw new MoatError('ESETUP', `rootfs[${i}]: mounting ${m.type} on ${target} failed: ${r.stderr.trim()}`);
    }
  }
}

function isMountPoint(p: string): boolean {
  const escaped = p.replace(/ /g, '\\040');
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === escaped);
}

/** Detach whatever is mounted on <bundle>/rootfs (every layer of it); nothing mounted is fine. */
export async function unmountRootfs(bundle: string): Promise<void> {
  const target = path.join(bundle, 'rootfs');
  for (let i = 0; i < 16 && isMountPoint(target); i++) {
    if (!(await run('umount', [target])).ok) await run('umount', ['-l', target]);
  }
}
