// The guest kernel: Debian's cloud kernel (linux-image-cloud-amd64) and the modules the guest
// needs from its /lib/modules tree, in load order.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { MoatError } from '../../util/errors';

export interface GuestKernel {
  /** e.g. 6.1.0-56-cloud-amd64 */
  version: string;
  /** /boot/vmlinuz-<version> */
  image: string;
  /** /lib/modules/<version> */
  modulesDir: string;
}

/** Modules the agent needs, by name; their dependencies are added from modules.dep. */
export const GUEST_MODULES = ['virtio_mmio', 'virtio_blk', 'virtio_console', 'virtiofs', 'virtio_net', 'overlay'] as const;

/** The newest /boot/vmlinuz-*-cloud-amd64 (or MOAT_VM_KERNEL=/path/to/vmlinuz-<version>). */
export function findGuestKernel(env: Record<string, string | undefined> = process.env, boot = '/boot'): GuestKernel {
  const explicit = env.MOAT_VM_KERNEL;
  let image: string;
  if (explicit) {
    image = explicit;
    if (!fs.existsSync(image)) throw new MoatError('ESETUP', `MOAT_VM_KERNEL: ${image} does not exist`);
  } else {
    let names: string[] = [];
    try {
      names = fs.readdirSync(boot).filter((n) => /^vmlinuz-.+-cloud-amd64$/.test(n));
    } catch {
      // no /boot
    }
    if (names.length === 0) {
      throw new MoatError('ESETUP', `${boot}/vmlinuz-*-cloud-amd64: no guest kernel; install linux-image-cloud-amd64 (sh scripts/setup.sh run)`);
    }
    names.sort(compareVersions);
    image = path.join(boot, names[names.length - 1]!);
  }
  const version = path.basename(image).replace(/^vmlinuz-/, '');
  const modulesDir = path.join('/lib/modules', version);
  if (!fs.existsSync(path.join(modulesDir, 'modules.dep'))) {
    throw new MoatError('ESETUP', `${modulesDir}/modules.dep: missing; the guest kernel's modules are needed (linux-image-${version})`);
  }
  return { version, image, modulesDir };
}

function compareVersions(a: string, b: string): number {
  const pa = a.match(/\d+/g)?.map(Number) ?? [];
  const pb = b.match(/\d+/g)?.map(Number) ?? [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A module's name from its path in modules.dep: kernel/drivers/virtio/virtio_mmio.ko → virtio_mmio. */
export function moduleName(file: string): string {
  return path.basename(file).replace(/\.ko(\.(xz|gz|zst))?$/, '').replace(/-/g, '_');
}

/**
 * modules.dep text + wanted names → relative module paths in load order (dependencies first).
 * A wanted module that is built in (listed in modules.builtin) is skipped. Pure.
 */
export function resolveModules(modulesDep: string, builtin: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, { file: string; deps: string[] }>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const file = line.slice(0, colon).trim();
    const list = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean);
    deps.set(moduleName(file), { file, deps: list });
  }
  const builtins = new Set(builtin.split('\n').filter(Boolean).map(moduleName));
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, chain: string[]) => {
    if (seen.has(name)) return;
    const entry = deps.get(name);
    if (!entry) {
      if (builtins.has(name)) return;
      throw new MoatError('ESETUP', `guest kernel module ${name}${chain.length ? ` (needed by ${chain.join(' ← ')})` : ''}: not in modules.dep nor built in`);
    }
    seen.add(name);
    // modules.dep lists every dependency (transitively), but not in load order: visit each first.
    for (const d of entry.deps) visit(moduleName(d), [name, ...chain]);
    order.push(entry.file);
  };
  for (const w of wanted) visit(w, []);
  return order;
}
