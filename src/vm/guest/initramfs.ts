// The guest's initramfs: the agent as /init, moat-exec, and the kernel modules it loads.
// Built once per content (agent, executor, module bytes) and cached under the state root.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeCpio, type CpioEntry } from './cpio';
import { GUEST_MODULES, moduleName, resolveModules, type GuestKernel } from './kernel';

export interface InitramfsInput {
  agent: string;
  executor: string;
  kernel: GuestKernel;
}

/** The archive's entries. Pure given the file contents (read through `read`). */
export function initramfsEntries(input: InitramfsInput, read: (file: string) => Buffer): CpioEntry[] {
  const dep = read(path.join(input.kernel.modulesDir, 'modules.dep')).toString('utf8');
  let builtin = '';
  try {
    builtin = read(path.join(input.kernel.modulesDir, 'modules.builtin')).toString('utf8');
  } catch {
    // no modules.builtin: every module must then be in modules.dep
  }
  const mods = resolveModules(dep, builtin, GUEST_MODULES);
  const entries: CpioEntry[] = [
    { name: 'init', kind: 'file', mode: 0o755, data: read(input.agent) },
    { name: 'moat-exec', kind: 'file', mode: 0o755, data: read(input.executor) },
    { name: 'modules', kind: 'dir', mode: 0o755 },
  ];
  for (const m of mods) {
    if (!m.endsWith('.ko')) throw new Error(`${m}: compressed modules are not supported (the agent uses finit_module without decompression)`);
    entries.push({ name: `modules/${moduleName(m)}.ko`, kind: 'file', mode: 0o644, data: read(path.join(input.kernel.modulesDir, m)) });
  }
  entries.push({ name: 'modules/order', kind: 'file', mode: 0o644, data: Buffer.from(mods.map((m) => `${moduleName(m)}\n`).join('')) });
  return entries;
}

/** Path of the cached initramfs for this content, building it if needed (atomic rename). */
export function ensureInitramfs(input: InitramfsInput, cacheDir: string): string {
  const archive = writeCpio(initramfsEntries(input, (f) => fs.readFileSync(f)));
  const digest = crypto.createHash('sha256').update(archive).digest('hex').slice(0, 32);
  const file = path.join(cacheDir, `initramfs-${input.kernel.version}-${digest}.cpio`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, archive, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return file;
}
