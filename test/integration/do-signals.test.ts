// A signal to `moat do` ends the sandbox (native and sentry here; the vm in vm.test.ts): SIGTERM,
// SIGINT and SIGHUP are passed to the sandbox's init, and after --grace (or at a second signal) the
// whole sandbox is killed; moat exits 128+signal and leaves nothing. `moat run` and `moat kill`
// keep runc's semantics: the init of a pid namespace ignores a signal it has no handler for.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { makeBundle, moat, waitFor, MOAT } from '../helpers/moat';
import { sentrySuite } from '../sentry/helpers';

let root: string;
sentrySuite((r) => (root = r));

const PLATFORMS = ['native', 'sentry'] as const;

interface Running {
  /** Resolves with moat's exit code (or signal) and the time from `signalled` to its exit. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number; out: string; err: string }>;
  signal(sig: NodeJS.Signals): void;
}

/** `moat do` in the background; resolves once the sandbox printed `ready`. */
async function startDo(flags: string[], script: string): Promise<Running> {
  const child = spawn(MOAT, ['--root', root, 'do', ...flags, '--', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let signalledAt = 0;
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number; out: string; err: string }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, afterMs: Date.now() - signalledAt, out, err }));
  });
  const exitedEarly = done.then((r) => {
    throw new Error(`moat do exited before the sandbox was ready: ${JSON.stringify(r)}`);
  });
  await Promise.race([waitFor('the sandbox to print ready', () => out.includes('ready\n'), 20_000), exitedEarly]);
  exitedEarly.catch(() => undefined);
  return {
    done,
    signal: (sig) => {
      signalledAt ||= Date.now();
      child.kill(sig);
    },
  };
}

function assertNothingLeft(): void {
  assert.deepEqual(fs.readdirSync(root), [], 'no state entry left');
}

for (const platform of PLATFORMS) {
  const iso = `--isolation=${platform}`;

  test(`do (${platform}): SIGTERM, SIGINT, SIGHUP end an init that ignores them after --grace, exit 128+signal`, async () => {
    // `exec sleep`: the init is sleep itself, with no handler (pid 1 of its namespace ignores TERM
    // and HUP). INT is ignored outright: dash -c catches it until the exec, a race for this test.
    const runs = await Promise.all((['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map(async (sig) => ({ sig, run: await startDo([iso, '--grace', '1s'], 'trap "" INT; echo ready; exec sleep 100') })));
    for (const { sig, run } of runs) run.signal(sig);
    for (const { sig, run } of runs) {
      const r = await run.done;
      const expected = 128 + ({ SIGTERM: 15, SIGINT: 2, SIGHUP: 1 } as const)[sig];
      assert.equal(r.code, expected, `${sig}: ${JSON.stringify(r)}`);
      assert.ok(r.afterMs >= 900, `${sig}: the grace period was given (${r.afterMs} ms)`);
      assert.ok(r.afterMs < 6000, `${sig}: killed soon after it (${r.afterMs} ms)`);
    }
    assertNothingLeft();
  });

  test(`do (${platform}): a sandbox that handles SIGTERM ends by itself with its own status`, async () => {
    const run = await startDo([iso, '--grace', '30s'], 'trap "echo cleaned-up; exit 7" TERM; echo ready; while :; do sleep 0.1; done');
    run.signal('SIGTERM');
    const r = await run.done;
    assert.equal(r.code, 7, JSON.stringify(r));
    assert.match(r.out, /cleaned-up/);
    assert.ok(r.afterMs < 5000, `it did not wait for the grace period (${r.afterMs} ms)`);
    assertNothingLeft();
  });

  test(`do (${platform}): a second signal during the grace period kills at once`, async () => {
    const run = await startDo([iso, '--grace', '60s'], 'trap "" TERM INT; echo ready; while :; do sleep 0.1; done');
    run.signal('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    run.signal('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 143, `128 + the first signal: ${JSON.stringify(r)}`);
    assert.ok(r.afterMs < 6000, `not the 60 s grace period (${r.afterMs} ms)`);
    assertNothingLeft();
  });

  test(`do (${platform}): --grace 0 kills at once; timeout(1) ends a never-ending command with the default grace`, async () => {
    const run = await startDo([iso, '--grace', '0'], 'echo ready; exec sleep 100');
    run.signal('SIGTERM');
    const r = await run.done;
    assert.equal(r.code, 143, JSON.stringify(r));
    assert.ok(r.afterMs < 3000, `${r.afterMs} ms`);
    const t0 = Date.now();
    const t = spawnSync('timeout', ['2', MOAT, '--root', root, 'do', iso, '--', 'sleep', '100'], { encoding: 'utf8', timeout: 30_000 });
    const took = Date.now() - t0;
    assert.equal(t.status, 124, `timeout says it timed out: ${t.stderr}`);
    assert.ok(took < 2000 + 3000 + 3000, `returned after the default grace (3 s), not sleep's 100 s: ${took} ms`);
    assertNothingLeft();
  });
}

test('do: --grace is validated, named in the error; --help describes it', () => {
  const bad = moat(root, ['do', '--grace', 'soon', '--', 'true']);
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, 'moat: do: --grace: "soon" is not a duration like 5s or 500ms\n');
  const help = moat(root, ['do', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--grace D\s+on SIGTERM, SIGINT or SIGHUP/);
  assert.match(help.stdout, /Default 3s/);
});

test('run and kill keep runc\'s semantics: TERM to an init without a handler is ignored, KILL ends it (native and sentry)', async () => {
  for (const platform of PLATFORMS) {
    const id = `ignore-${platform}`;
    const b = makeBundle(['sleep', '100']);
    const out = path.join(b.dir, 'out.txt');
    try {
      const fd = fs.openSync(out, 'a');
      const run = spawn(MOAT, ['--root', root, `--isolation=${platform}`, 'run', '--bundle', b.dir, id], { stdio: ['ignore', fd, fd] });
      fs.closeSync(fd);
      const exited = new Promise<number | null>((r) => run.once('exit', (code) => r(code)));
      const status = () => {
        const s = moat(root, ['state', id]);
        return s.status === 0 ? (JSON.parse(s.stdout) as { status: string }).status : 'gone';
      };
      await waitFor(`${id} to run`, () => status() === 'running', 20_000);
      // `moat run` forwards its own SIGTERM; `moat kill` sends one: both ignored by the init.
      run.kill('SIGTERM');
      assert.equal(moat(root, ['kill', id, 'TERM']).status, 0);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(status(), 'running', `${platform}: the init ignored SIGTERM, as under runc`);
      assert.equal(moat(root, ['kill', id, 'KILL']).status, 0);
      assert.equal(await exited, 137, `${platform}: ${fs.readFileSync(out, 'utf8')}`);
    } finally {
      moat(root, ['delete', '--force', id]);
      b.cleanup();
    }
  }
  assertNothingLeft();
});
