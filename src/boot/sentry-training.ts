// The sentry's code cache (build/moat-sentry.cache), made by scripts/build.mjs through
// produce-cache.js: V8 caches the bytecode of the functions compiled so far, so the cache is taken
// at the end of a real start — `/bin/true` sandboxed over the host's root, configured as `moat do
// --isolation=sentry /bin/true` configures it (the same tmpfs mounts, a network namespace of its
// own, the control socket, the confinement) — and holds what every start runs: the modules' top
// levels, the kernel's construction, the first stub, exec, the ELF loader, the first syscalls.
//
// The training runs in a child process started with the sentry's own Node flags (V8 refuses a cache
// made under other flags). The sentry confines itself before its first instruction (no open, no
// rename), so the child writes the cache to a file it opened before the start, from its exit
// handler; this parent renames it into place and removes the scratch directory. A start that fails
// (a build without root: no network namespace, no ptrace of another uid) still leaves the bytecode
// compiled until then; none at all leaves no cache, and the sentry compiles its bundle at each start.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Script } from 'node:vm';
import { bundleId, cacheHeader, SENTRY, SENTRY_NODE_FLAGS, type BundleFunction } from './code-cache';

/** Set in the training child's environment: the scratch directory (config, cache file). */
const TRAINING_ENV = 'MOAT_SENTRY_CACHE_TRAINING';
const TRAINING_TIMEOUT_MS = 60_000;

/** `moat do --isolation=sentry /bin/true`'s configuration, without the state directory's parts. */
function trainingConfig(scratch: string): Record<string, unknown> {
  const tmpfs = (destination: string, mode: number, extra: Record<string, unknown> = {}) => ({
    destination, type: 'tmpfs', readonly: false, nosuid: true, nodev: true, noexec: false, options: `mode=${mode.toString(8)}`, mode, ...extra,
  });
  return {
    rootfs: '/',
    readonlyRootfs: false,
    mounts: [tmpfs('/dev/shm', 0o1777, { noexec: true, size: 64 << 20 }), tmpfs('/tmp', 0o1777), tmpfs('/run', 0o755)],
    args: ['/bin/true'],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'],
    cwd: '/',
    uid: 0,
    gid: 0,
    groups: [],
    caps: { bounding: 'a80425fb', effective: 'a80425fb', permitted: 'a80425fb', inheritable: '0', ambient: '0' },
    noNewPrivs: true,
    hostname: 'moat',
    rlimits: [],
    strace: false,
    network: { mode: 'new' },
    logFile: path.join(scratch, 'sentry-events.jsonl'),
    controlSocket: path.join(scratch, 'sentry.sock'),
  };
}

/** Make `dir`/moat-sentry.cache (the parent), or be the training start (the child). */
export function trainSentryCache(dir: string): void {
  const scratch = process.env[TRAINING_ENV];
  if (scratch) {
    trainingStart(dir, scratch);
    return;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-sentry-cache-'));
  try {
    fs.writeFileSync(path.join(work, 'sentry.json'), JSON.stringify(trainingConfig(work)));
    const env: NodeJS.ProcessEnv = { ...process.env, [TRAINING_ENV]: work };
    for (const k of ['MOAT_PROFILE', 'MOAT_PROFILE_FILE', 'MOAT_SENTRY_CPU_PROF', 'MOAT_SENTRY_SECCOMP', 'MOAT_SENTRY_TEST_FORBIDDEN']) delete env[k];
    const r = spawnSync(process.execPath, [...SENTRY_NODE_FLAGS, process.argv[1]!, dir, SENTRY.name], {
      env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: TRAINING_TIMEOUT_MS, killSignal: 'SIGKILL',
    });
    const cache = path.join(work, 'cache');
    const made = fs.existsSync(cache) && fs.statSync(cache).size > 0;
    if (r.status !== 0) {
      const why = r.error?.message ?? ((r.stderr ?? '').trim().split('\n').find((l) => l.trim()) || `exit status ${r.status ?? r.signal}`);
      process.stderr.write(`moat build: the sentry's code-cache training start failed (${why}): ${made ? 'its cache holds what was compiled until then' : 'no cache, the sentry compiles at each start'}\n`);
    }
    if (made) fs.renameSync(cache, path.join(dir, SENTRY.cache));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function trainingStart(dir: string, scratch: string): void {
  const file = path.join(dir, SENTRY.bundle);
  const source = fs.readFileSync(file, 'latin1');
  const id = bundleId(source, SENTRY.name);
  if (!id) throw new Error(`${file}: no \`// ${SENTRY.name} sha256:\` first line`);
  const script = new Script(source, { filename: file });
  // Opened now: once confined, the sentry opens nothing.
  const out = fs.openSync(path.join(scratch, 'cache'), 'w', 0o600);
  process.once('exit', () => {
    const data = Buffer.concat([Buffer.from(cacheHeader(id, process.version), 'latin1'), script.createCachedData()]);
    for (let off = 0; off < data.length;) off += fs.writeSync(out, data, off);
    fs.closeSync(out);
  });
  const mod = { exports: {} as { sentryMain?: (argv: string[]) => void } };
  (script.runInThisContext() as BundleFunction).call(mod.exports, mod.exports, require, mod, file, dir);
  mod.exports.sentryMain!([path.join(scratch, 'sentry.json')]);
}
