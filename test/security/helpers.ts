// Helpers for the escape battery: attack programs compiled from test/security/attacks/*.c, run
// inside containers of the real bin/moat, and checks that the host was not touched.

import { spawnSync } from 'node:child_process';
import { test, type TestContext, type TestOptions } from 'node:test';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { doSpec } from '../../src/runtime/do-spec';
import { CAPABILITIES } from '../../src/policy/capabilities';
import { makeBundle, moat, REPO, type MoatResult, type TestBundle } from '../helpers/moat';

export const ATTACK_SRC = path.join(REPO, 'test', 'security', 'attacks');

/**
 * The battery runs every attack twice on the native platform: as the host's root confined by
 * capabilities, seccomp and namespaces (`host`), and in a user namespace of its own whose root is
 * an unprivileged host id range (`auto`: dev.moat.userns=auto, `moat do --userns=auto`).
 * MOAT_BATTERY_USERNS=host|auto runs one of them only.
 */
export type UsernsMode = 'host' | 'auto';
export const USERNS_MODES: readonly UsernsMode[] = (() => {
  const only = process.env.MOAT_BATTERY_USERNS;
  if (only === undefined || only === '') return ['host', 'auto'] as const;
  if (only !== 'host' && only !== 'auto') throw new Error(`MOAT_BATTERY_USERNS must be host or auto, got ${JSON.stringify(only)}`);
  return [only];
})();

let currentUserns: UsernsMode = 'host';

/** The mode of the battery test running now. */
export function usernsMode(): UsernsMode {
  return currentUserns;
}

type BatteryFn = (t: TestContext, mode: UsernsMode) => void | Promise<void>;

/** A battery test, declared once per user-namespace mode: "<name> [userns=<mode>]". */
export function battery(name: string, optsOrFn: TestOptions | BatteryFn, maybeFn?: BatteryFn): void {
  const opts = typeof optsOrFn === 'function' ? {} : optsOrFn;
  const fn = typeof optsOrFn === 'function' ? optsOrFn : maybeFn!;
  for (const mode of USERNS_MODES) {
    test(`${name} [userns=${mode}]`, opts, async (t) => {
      currentUserns = mode;
      try {
        await fn(t, mode);
      } finally {
        currentUserns = 'host';
      }
    });
  }
}

/** makeBundle, in the current mode's user namespace. */
export function batteryBundle(args: string[], mutate: (c: Record<string, any>) => void = () => undefined): TestBundle {
  return makeBundle(args, (c) => {
    if (currentUserns === 'auto') c.annotations = { ...(c.annotations ?? {}), 'dev.moat.userns': 'auto' };
    mutate(c);
  });
}

let attackDir: string | undefined;

/**
 * The directory the attack binaries are compiled into (once per test file). Under /var/tmp, not
 * /tmp: `moat do` puts a fresh tmpfs on /tmp, and its commands must still find them on the host.
 */
export function attacksDir(): string {
  attackDir ??= fs.mkdtempSync('/var/tmp/moat-attacks-');
  return attackDir;
}

export function removeAttacks(): void {
  if (attackDir !== undefined) fs.rmSync(attackDir, { recursive: true, force: true });
  attackDir = undefined;
}

/** `gcc -static -O2` of attacks/NAME.c (once); returns the binary's host path. */
export function attack(name: string): string {
  const out = path.join(attacksDir(), name);
  if (!fs.existsSync(out)) {
    const r = spawnSync('gcc', ['-static', '-O2', '-Wall', '-Werror', '-o', out, path.join(ATTACK_SRC, `${name}.c`)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gcc ${name}.c failed:\n${r.stderr}`);
  }
  return out;
}

/** Parse the attack programs' "<step> ok|ERRNO" lines. Unknown lines are kept under their first word. */
export function steps(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) m.set(line.slice(0, sp), line.slice(sp + 1));
  }
  return m;
}

/** Every step named must have been refused (not "ok"), with one of `errnos` if given. */
export function assertRefused(out: Map<string, string>, names: string[], errnos?: string[], context = ''): void {
  for (const n of names) {
    const got = out.get(n);
    if (got === undefined) throw new Error(`step ${n} did not run${context ? `: ${context}` : ''}`);
    if (got === 'ok' || (errnos !== undefined && !errnos.includes(got))) {
      throw new Error(`step ${n}: the attack got "${got}", expected it refused${errnos ? ` with ${errnos.join('|')}` : ''}${context ? `\n${context}` : ''}`);
    }
  }
}

export interface AttackRun extends MoatResult {
  steps: Map<string, string>;
}

/**
 * `moat run` a container from a default-spec bundle (moat spec's template) with the named attack
 * binaries copied into its rootfs at /attacks/NAME.
 */
export function runAttack(root: string, args: string[], opts: {
  attacks?: string[];
  mutate?: (c: Record<string, any>) => void;
  prepare?: (b: TestBundle) => void;
  id?: string;
} = {}): AttackRun {
  const b = batteryBundle(args, opts.mutate);
  try {
    installAttacks(b.rootfs, opts.attacks ?? []);
    opts.prepare?.(b);
    const r = moat(root, ['run', '--bundle', b.dir, opts.id ?? `sec-${process.hrtime.bigint()}`]);
    return { ...r, steps: steps(r.stdout) };
  } finally {
    b.cleanup();
  }
}

export function installAttacks(rootfs: string, names: string[]): void {
  fs.mkdirSync(path.join(rootfs, 'attacks'), { recursive: true });
  for (const n of names) {
    const dst = path.join(rootfs, 'attacks', n);
    fs.copyFileSync(attack(n), dst);
    fs.chmodSync(dst, 0o755);
  }
}

/** Grant extra capabilities (names without CAP_) in every set, for "a root holding more" tests. */
export function grantCaps(c: Record<string, any>, caps: string[]): void {
  const names = caps.map((x) => (x.startsWith('CAP_') ? x : `CAP_${x}`));
  for (const n of names) if (!CAPABILITIES.includes(n)) throw new Error(`unknown capability ${n}`);
  for (const set of ['bounding', 'effective', 'permitted']) {
    c.process.capabilities[set] = [...new Set([...(c.process.capabilities[set] ?? []), ...names])];
  }
}

export function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Host files an attack must not change, with their contents (or hashes for binaries). */
export function fileState(files: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of files) {
    try {
      m.set(f, sha256(f));
    } catch (e) {
      m.set(f, `unreadable: ${(e as NodeJS.ErrnoException).code}`);
    }
  }
  return m;
}

/**
 * The default seccomp profile `moat do` applies, if this build has one (the seccomp work is in
 * flight); tests that need it are `todo` until it exists, then enforced automatically.
 */
export function doSeccompProfile(): unknown {
  const spec = doSpec({ args: ['true'], env: {}, cwd: '/' }) as { linux?: { seccomp?: unknown } };
  return spec.linux?.seccomp;
}

export const SECCOMP_TODO: string | undefined = doSeccompProfile() === undefined
  ? 'seccomp (work in flight): `moat do` has no default profile yet, so keyctl/unshare are not filtered'
  : undefined;

/** `moat do` of a host command (the attack binaries are visible at their host paths). */
export function moatDo(root: string, args: string[]): AttackRun {
  const r = moat(root, ['do', `--userns=${currentUserns}`, '--', ...args]);
  return { ...r, steps: steps(r.stdout) };
}

/** The host's block device behind `/`, from its mountinfo: "major:minor". */
export function rootDevice(): { major: number; minor: number } {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] === '/') {
      const [major, minor] = f[2]!.split(':').map(Number);
      return { major: major!, minor: minor! };
    }
  }
  throw new Error('no / in /proc/self/mountinfo');
}

/**
 * The agent files (cgroupAgentFiles) whose contents differ from `before`. A cgroup that went away
 * meanwhile (other software on the host removes its own: ENOENT now) is not a write an escape made;
 * the hierarchy roots, whose release_agent is what CVE-2022-0492 writes, never go away.
 */
export function changedAgentFiles(before: Map<string, string>): string[] {
  const after = fileState([...before.keys()]);
  return [...before].filter(([f, v]) => after.get(f) !== v && !(after.get(f) === 'unreadable: ENOENT' && !fs.existsSync(path.dirname(f)))).map(([f]) => f);
}

/** Files of the host's cgroup v1 hierarchies that a release_agent escape writes (roots and the first level). */
export function cgroupAgentFiles(): string[] {
  const base = '/sys/fs/cgroup';
  const out: string[] = [];
  const visit = (dir: string, depth: number) => {
    for (const f of ['release_agent', 'notify_on_release']) {
      if (fs.existsSync(path.join(dir, f))) out.push(path.join(dir, f));
    }
    if (depth === 0) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      // moat's own per-container cgroups are the container's to play with, and come and go.
      if (e.isDirectory() && e.name !== 'moat') visit(path.join(dir, e.name), depth - 1);
    }
  };
  for (const h of fs.readdirSync(base, { withFileTypes: true })) {
    if (h.isDirectory()) visit(path.join(base, h.name), 2);
  }
  return out;
}
