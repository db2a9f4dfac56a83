// The code caches of the CLI, of the shim and of the sentry process (src/boot, docs/cli-speed.md,
// docs/sentry.md): used when made for this bundle and this Node; a stale, foreign or damaged one is
// ignored and the program behaves the same, only compiled.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { bundleId, cacheFileFor, cacheHeader, cachePayload, CLI, SENTRY, SENTRY_NODE_FLAGS, SHIM, type BootBundle } from '../../src/boot/code-cache';
import { REPO } from '../helpers/moat';

const ID = `// moat-cli sha256:${'ab'.repeat(32)}`;

test('a cache is taken only for its bundle and its Node', () => {
  assert.equal(bundleId(`${ID}\nvar x;`), ID);
  assert.equal(bundleId('var x;\n'), undefined);
  assert.equal(bundleId(`// moat-cli sha256:abc\n`), undefined);
  // Each loader takes only its own bundle's name.
  const shimId = `// moat-shim sha256:${'ab'.repeat(32)}`;
  assert.equal(bundleId(`${shimId}\nvar x;`, 'moat-shim'), shimId);
  assert.equal(bundleId(`${shimId}\nvar x;`, 'moat-cli'), undefined);
  assert.equal(bundleId(`${ID}\nvar x;`, 'moat-shim'), undefined);
  assert.equal(bundleId(`${shimId}\nvar x;`, 'moat-sentry'), undefined);
  assert.equal(cacheFileFor(SENTRY, ['node', 'sentry.js', '/run/x/sentry.json']), 'moat-sentry.cache');
  // The shim's server has a cache of its own; its start, delete and relays share the other.
  assert.equal(cacheFileFor(SHIM, ['node', 'shim.js', '-id', 'x', '-socket', '/s', 'serve']), 'moat-shim-serve.cache');
  assert.equal(cacheFileFor(SHIM, ['node', 'shim.js', '-id', 'serve', 'start']), 'moat-shim.cache');
  assert.equal(cacheFileFor(CLI, ['node', 'moat.js', 'serve']), 'moat-cli.cache');
  const bytes = Buffer.from([1, 2, 3]);
  const file = Buffer.concat([Buffer.from(cacheHeader(ID, 'v20.20.2')), bytes]);
  assert.deepEqual(cachePayload(file, ID, 'v20.20.2'), bytes);
  assert.equal(cachePayload(file, ID, 'v20.20.3'), undefined);
  assert.equal(cachePayload(file, ID.replace('ab', 'cd'), 'v20.20.2'), undefined);
  assert.equal(cachePayload(file.subarray(0, 10), ID, 'v20.20.2'), undefined);
  assert.equal(cachePayload(Buffer.from(cacheHeader(ID, 'v20.20.2')), ID, 'v20.20.2'), undefined);
  assert.equal(cachePayload(undefined, ID, 'v20.20.2'), undefined);
  assert.equal(cachePayload(file, undefined, 'v20.20.2'), undefined);
});

/** `--version` (`-v` of the shim) from a copy of build/ (its own cache file), and what the loader did with the cache. */
function version(dir: string, b: BootBundle): { out: string; cache: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, MOAT_PROFILE: '1' };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.MOAT_PROFILE_FILE;
  const [loader, flag] = b === SHIM ? ['shim.js', '-v'] : ['moat.js', '--version'];
  const r = spawnSync(process.execPath, [path.join(dir, loader), flag], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return { out: r.stdout, cache: /code cache (\w+)/.exec(r.stderr)?.[1] ?? `none reported: ${r.stderr}` };
}

for (const b of [CLI, SHIM]) {
  test(`${b.name}: the built bundle loads with its cache; a stale or damaged cache is ignored, not used`, () => {
    const build = path.join(REPO, 'build');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-code-cache-'));
    try {
      for (const f of [b === SHIM ? 'shim.js' : 'moat.js', b.bundle, b.cache]) fs.copyFileSync(path.join(build, f), path.join(dir, f));
      const good = version(dir, b);
      assert.equal(good.cache, 'used');
      assert.match(good.out, b === SHIM ? /^containerd-shim-moat-v2:\n {2}Version: / : /^moat version /);
      const cacheFile = path.join(dir, b.cache);
      const cache = fs.readFileSync(cacheFile);
      const nl = cache.indexOf(10);
      // Another bundle (rebuilt without its cache): the header does not match, the cache is not even handed to V8.
      const source = fs.readFileSync(path.join(dir, b.bundle), 'latin1');
      fs.writeFileSync(path.join(dir, b.bundle), source.replace(/sha256:[0-9a-f]{64}/, `sha256:${'0'.repeat(64)}`));
      assert.deepEqual(version(dir, b), { out: good.out, cache: 'none' });
      fs.writeFileSync(path.join(dir, b.bundle), source);
      // Damaged bytes under a right header: V8 refuses them and compiles the source.
      fs.writeFileSync(cacheFile, Buffer.concat([cache.subarray(0, nl + 1), Buffer.alloc(cache.length - nl - 1, 0x5a)]));
      assert.deepEqual(version(dir, b), { out: good.out, cache: 'rejected' });
      fs.rmSync(cacheFile);
      assert.deepEqual(version(dir, b), { out: good.out, cache: 'none' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

/**
 * The sentry process run from a copy of build/ (its loader, bundle and cache) as the platform starts
 * it (its Node flags), sandboxing `/bin/true` over the host's root: its exit status, and what its
 * loader did with the cache.
 */
function sentryStart(dir: string): { status: number | null; cache: string } {
  const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-code-cache-sentry-'));
  try {
    const cfg = { rootfs: '/', readonlyRootfs: true, mounts: [], args: ['/bin/sh', '-c', 'exit 7'], env: ['PATH=/usr/bin:/bin'], cwd: '/', uid: 0, gid: 0, network: { mode: 'new' } };
    fs.writeFileSync(path.join(cfgDir, 'sentry.json'), JSON.stringify(cfg));
    const env: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin', MOAT_PROFILE: '1', MOAT_NATIVE_DIR: path.join(REPO, 'build', 'native') };
    const r = spawnSync(process.execPath, [...SENTRY_NODE_FLAGS, path.join(dir, 'sentry.js'), path.join(cfgDir, 'sentry.json')], { encoding: 'utf8', env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    return { status: r.status, cache: /moat sentry profile: code cache (\w+)/.exec(r.stderr)?.[1] ?? `none reported: ${r.stderr}` };
  } finally {
    fs.rmSync(cfgDir, { recursive: true, force: true });
  }
}

test('moat-sentry: the sentry starts with its cache (trained on a real start); a stale or damaged cache is ignored, not used', { skip: process.getuid?.() !== 0 ? 'the sentry needs root for its network namespace' : false }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-code-cache-'));
  try {
    for (const f of ['sentry.js', SENTRY.bundle, SENTRY.cache]) fs.copyFileSync(path.join(REPO, 'build', f), path.join(dir, f));
    // The application's exit status is the sentry's: the program ran, whatever happened to the cache.
    assert.deepEqual(sentryStart(dir), { status: 7, cache: 'used' });
    const cacheFile = path.join(dir, SENTRY.cache);
    const cache = fs.readFileSync(cacheFile);
    const nl = cache.indexOf(10);
    // The cache was taken after the training start's syscalls: far more than the bundle's top level.
    assert.ok(cache.length > 300_000, `${cache.length} bytes`);
    const source = fs.readFileSync(path.join(dir, SENTRY.bundle), 'latin1');
    fs.writeFileSync(path.join(dir, SENTRY.bundle), source.replace(/sha256:[0-9a-f]{64}/, `sha256:${'0'.repeat(64)}`));
    assert.deepEqual(sentryStart(dir), { status: 7, cache: 'none' });
    fs.writeFileSync(path.join(dir, SENTRY.bundle), source);
    // A cache of another Node: not handed to V8.
    fs.writeFileSync(cacheFile, Buffer.concat([Buffer.from(cache.subarray(0, nl + 1).toString('latin1').replace(process.version, 'v0.0.1'), 'latin1'), cache.subarray(nl + 1)]));
    assert.deepEqual(sentryStart(dir), { status: 7, cache: 'none' });
    fs.writeFileSync(cacheFile, Buffer.concat([cache.subarray(0, nl + 1), Buffer.alloc(cache.length - nl - 1, 0x5a)]));
    assert.deepEqual(sentryStart(dir), { status: 7, cache: 'rejected' });
    fs.rmSync(cacheFile);
    assert.deepEqual(sentryStart(dir), { status: 7, cache: 'none' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the bundles share one namespace object per Node built-in (scripts/build.mjs shareNodeNamespaces)', () => {
  for (const b of [CLI, SHIM]) {
    const file = path.join(REPO, 'build', b.bundle);
    assert.ok(fs.existsSync(file), `${file}: run node scripts/build.mjs`);
    const text = fs.readFileSync(file, 'latin1');
    // esbuild's per-file copy of a built-in's properties is gone (a change of its output's form
    // would leave the rewrite silently undone), and every site goes through the shared one.
    assert.doesNotMatch(text, /__toESM\(require\("node:/, `${b.bundle}: a per-file copy of a built-in is left`);
    assert.ok((text.match(/__moatNodeNamespace\("node:[a-z_/]+"\)/g) ?? []).length > 10, `${b.bundle}: the shared namespaces`);
  }
});
