// The real-application harness: one cached Debian rootfs (scripts/apps-rootfs.sh), shared
// read-only by every case; each case's bundle is a config.json in a temp dir whose root.path is
// that rootfs with `readonly: true`, and tmpfs mounts where the programs write. The same bundle
// runs under native moat, the sentry and runsc (ptrace, --network=none), timed.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { specTemplate } from '../../src/spec/default';
import { MOAT, REPO } from '../helpers/moat';
import { killTagged } from '../sentry/helpers';
import type { AppCase } from './cases';

export type Runtime = 'native' | 'sentry' | 'runsc';
export const RUNTIMES: Runtime[] = ['native', 'sentry', 'runsc'];

export interface CaseResult {
  case: string;
  runtime: Runtime;
  pass: boolean;
  seconds: number;
  /** Why it failed: the first lines of stderr, or the missing output. */
  error?: string;
}

/** Writable places every case gets (the rootfs itself is read-only). */
const COMMON_TMPFS = ['/tmp', '/run', '/root', '/var/log'];
const DEFAULT_TIMEOUT = 45;
const DOCKER_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE'].map((c) => `CAP_${c}`);

/** The cached rootfs, built on first use (a progress message on stderr). */
export function appsRootfs(): string {
  const r = spawnSync('sh', [path.join(REPO, 'scripts', 'apps-rootfs.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 30 * 60_000 });
  const dir = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !dir || !fs.existsSync(path.join(dir, 'usr', 'bin', 'python3'))) {
    throw new Error(`scripts/apps-rootfs.sh failed (status ${r.status}): ${r.error?.message ?? ''}`);
  }
  return dir;
}

/** A bundle for the case: config.json only; the rootfs is the shared cache, read-only. */
export function caseBundle(c: AppCase, rootfs: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-apps-'));
  fs.chmodSync(dir, 0o755);
  const cfg = specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }) as Record<string, any>;
  cfg.root = { path: rootfs, readonly: true };
  cfg.hostname = 'apps';
  cfg.process.terminal = false;
  cfg.process.args = ['/bin/sh', '-c', c.script];
  cfg.process.cwd = '/root';
  // Docker's default capabilities, as users run these programs (nginx chowns its temp directories).
  for (const set of ['bounding', 'effective', 'permitted']) cfg.process.capabilities[set] = DOCKER_CAPS;
  cfg.process.env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', 'TERM=dumb'];
  for (const dest of [...COMMON_TMPFS, ...(c.tmpfs ?? [])]) {
    const size = dest === '/tmp' ? 'size=512m' : 'size=64m';
    cfg.mounts.push({ destination: dest, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', dest === '/tmp' ? 'mode=1777' : 'mode=755', size] });
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  return dir;
}

let serial = 0;

/** Run a case under one runtime: pass = exit 0 and every expected line in the output. */
export function runCase(c: AppCase, runtime: Runtime, rootfs: string, stateRoot: string): CaseResult {
  const bundle = caseBundle(c, rootfs);
  const id = `apps-${process.pid}-${++serial}`;
  const timeoutMs = (c.timeout ?? DEFAULT_TIMEOUT) * 1000;
  const start = performance.now();
  let r: Ran;
  try {
    r = runtime === 'runsc' ? runsc(bundle, id, stateRoot, timeoutMs) : moatRun(stateRoot, bundle, id, runtime === 'sentry', timeoutMs);
  } finally {
    fs.rmSync(bundle, { recursive: true, force: true });
  }
  const seconds = (performance.now() - start) / 1000;
  const out = r.stdout;
  const missing = c.expect.filter((re) => !re.test(out));
  const pass = r.status === 0 && missing.length === 0;
  const res: CaseResult = { case: c.name, runtime, pass, seconds };
  if (!pass) {
    const lines = r.stderr.trim().split('\n').filter((l) => l.trim() !== '');
    const telling = lines.filter((l) => /error|Error|ENOSYS|not implemented|unreachable|failed|timed out/.test(l));
    const err = (telling.length ? telling : lines).slice(-3).map((l) => l.trim()).join(' / ');
    res.error = `exit ${r.status}${err ? `: ${err}` : ''}${missing.length && r.status === 0 ? `; missing ${missing.map(String).join(', ')} in ${JSON.stringify(out.slice(0, 200))}` : ''}`;
  }
  return res;
}

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** What runLogged saw: status (null when killed at its time limit), its output, whether it timed out. */
export interface Logged extends Ran {
  timedOut: boolean;
}

/**
 * Run a runtime's CLI with stdin from an empty file and stdout/stderr into files, as a shell
 * redirect or a container manager's log files give them (node's own pipes are socketpairs, which a
 * program in the sandbox would see as its stdout). Not /dev/null: runsc (Debian's) chowns its
 * stdio to the container's user, and that would be the host's /dev/null. At the time limit:
 * SIGKILL, then `cleanup`. The apps benchmark (bench/apps.ts) runs its commands through it too.
 */
export function runLogged(cmd: string, args: string[], timeoutMs: number, cleanup: () => void, env: NodeJS.ProcessEnv = process.env): Logged {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-apps-out-'));
  fs.writeFileSync(path.join(dir, 'in'), '');
  const inp = fs.openSync(path.join(dir, 'in'), 'r');
  const out = fs.openSync(path.join(dir, 'out'), 'w+');
  const err = fs.openSync(path.join(dir, 'err'), 'w+');
  try {
    const r = spawnSync(cmd, args, { stdio: [inp, out, err], env, timeout: timeoutMs, killSignal: 'SIGKILL' });
    const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
    if (r.error && !timedOut) throw r.error;
    if (timedOut) cleanup();
    const stderr = fs.readFileSync(path.join(dir, 'err'), 'utf8');
    return {
      status: timedOut ? null : r.status,
      stdout: fs.readFileSync(path.join(dir, 'out'), 'utf8'),
      stderr: `${stderr}${timedOut ? `\n(timed out after ${timeoutMs / 1000} s: killed)` : ''}`,
      timedOut,
    };
  } finally {
    fs.closeSync(inp);
    fs.closeSync(out);
    fs.closeSync(err);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function moatRun(stateRoot: string, bundle: string, id: string, sentry: boolean, timeoutMs: number): Ran {
  const args = ['--root', stateRoot, ...(sentry ? ['--isolation=sentry'] : []), 'run', '--bundle', bundle, id];
  return runLogged(MOAT, args, timeoutMs, () => {
    killTagged();
    spawnSync(MOAT, ['--root', stateRoot, 'delete', '--force', id], { stdio: 'ignore', timeout: 20_000, killSignal: 'SIGKILL' });
  });
}

/** runsc --platform=ptrace --network=none, with a state root of its own under stateRoot. */
function runsc(bundle: string, id: string, stateRoot: string, timeoutMs: number): Ran {
  const root = path.join(stateRoot, 'runsc');
  fs.mkdirSync(root, { recursive: true });
  const base = ['--root', root, '--platform=ptrace', '--network=none'];
  const r = runLogged('runsc', [...base, 'run', '--bundle', bundle, id], timeoutMs, () => {
    spawnSync('runsc', [...base, 'delete', '--force', id], { stdio: 'ignore', timeout: 20_000 });
  });
  spawnSync('runsc', [...base, 'delete', '--force', id], { stdio: 'ignore', timeout: 20_000 });
  return r;
}

/**
 * Run a shell script in the apps rootfs under one runtime (a case's bundle and run, without the
 * checks): for benchmarks (bench/net.ts) that read what the script prints.
 */
export function runScript(runtime: Runtime, script: string, rootfs: string, stateRoot: string, timeoutSec = DEFAULT_TIMEOUT): Ran {
  const bundle = caseBundle({ name: 'script', script, expect: [] }, rootfs);
  const id = `apps-${process.pid}-${++serial}`;
  try {
    return runtime === 'runsc' ? runsc(bundle, id, stateRoot, timeoutSec * 1000) : moatRun(stateRoot, bundle, id, runtime === 'sentry', timeoutSec * 1000);
  } finally {
    fs.rmSync(bundle, { recursive: true, force: true });
  }
}

/** The sentry's known-passing cases (test/apps/sentry-expected.json). */
export const EXPECTED_FILE = path.join(REPO, 'test', 'apps', 'sentry-expected.json');

export function expectedSentryPasses(): string[] {
  return (JSON.parse(fs.readFileSync(EXPECTED_FILE, 'utf8')) as { pass: string[] }).pass;
}

/** Results of a run, for the doc script (build/apps/results.json). */
export function saveResults(results: CaseResult[]): void {
  const dir = path.join(REPO, 'build', 'apps');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(results, null, 2));
}
