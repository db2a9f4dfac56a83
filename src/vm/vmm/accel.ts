// Acceleration: `--vm-accel=auto|kvm|tcg`. `auto` proves KVM with one real boot of the guest kernel
// (a kernel whose /dev/kvm cannot run it, like this machine's paravirtual kvm_pvm, fails there), caches
// the verdict under the state root, and otherwise falls back to TCG with a one-line notice.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MoatError } from '../../util/errors';
import type { Accel } from './types';
import { QEMU_BINARY } from './qemu';

export type AccelChoice = 'auto' | Accel;

export function parseAccel(value: string | undefined, source: string): AccelChoice {
  const v = value ?? 'auto';
  if (v === 'auto' || v === 'kvm' || v === 'tcg') return v;
  throw new MoatError('EUSAGE', `${source}: unknown vm acceleration ${JSON.stringify(v)} (one of auto, kvm, tcg)`);
}

export interface AccelVerdict {
  accel: Accel;
  /** Why not KVM (empty when KVM). */
  reason: string;
}

interface CachedVerdict extends AccelVerdict {
  kernel: string;
  kernelMtime: number;
}

/** One real boot under KVM: the kernel must reach its "no init" panic (then -no-reboot exits). */
export function probeKvm(kernel: string, scratchDir: string): AccelVerdict {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch (err) {
    return { accel: 'tcg', reason: `/dev/kvm: ${(err as { code?: string }).code === 'ENOENT' ? 'not present' : 'not accessible'}` };
  }
  fs.mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
  const log = path.join(scratchDir, `kvm-probe.${process.pid}.log`);
  try {
    const r = spawnSync(QEMU_BINARY, [
      '-M', 'microvm,x-option-roms=off,rtc=off,isa-serial=on', '-accel', 'kvm', '-cpu', 'host', '-m', '128', '-smp', '1',
      '-nodefaults', '-no-user-config', '-nographic', '-no-reboot', '-kernel', kernel,
      '-append', 'console=ttyS0 panic=-1 rdinit=/moat-no-init reboot=t', '-serial', `file:${log}`,
    ], { timeout: 20_000, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const out = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
    if (r.status === 0 && /Kernel panic|No working init|Run \/moat-no-init/.test(out)) return { accel: 'kvm', reason: '' };
    const why = (r.stderr ?? '').trim().split('\n').find((l) => l.length > 0) ?? (r.error ? r.error.message : `exit status ${r.status}`);
    return { accel: 'tcg', reason: `KVM cannot boot the guest kernel here (${why.replace(/^qemu-system-x86_64: /, '')})` };
  } finally {
    fs.rmSync(log, { force: true });
  }
}

/** The acceleration to use; `auto` consults (or fills) the cache and tells `notice` when it falls back. */
export function resolveAccel(choice: AccelChoice, kernel: string, cacheDir: string, notice: (line: string, fresh: boolean) => void): Accel {
  if (choice !== 'auto') return choice;
  const file = path.join(cacheDir, 'accel.json');
  const mtime = fs.statSync(kernel).mtimeMs;
  let verdict: AccelVerdict | undefined;
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<CachedVerdict>;
    if (c.kernel === kernel && c.kernelMtime === mtime && (c.accel === 'kvm' || c.accel === 'tcg') && typeof c.reason === 'string') {
      verdict = { accel: c.accel, reason: c.reason };
    }
  } catch {
    // no cache yet
  }
  let fresh = false;
  if (!verdict) {
    fresh = true;
    verdict = probeKvm(kernel, cacheDir);
    const cached: CachedVerdict = { ...verdict, kernel, kernelMtime: mtime };
    fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(cached));
    fs.renameSync(tmp, file);
  }
  // Said once, when probed (the verdict is cached); `--vm-accel=tcg` silences it for good.
  if (verdict.accel === 'tcg') notice(`vm: using TCG (software emulation, slow): ${verdict.reason}`, fresh);
  return verdict.accel;
}
