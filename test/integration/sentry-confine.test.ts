// The sentry confines itself as runsc's does (docs/sentry.md, "The sentry's own confinement"):
// while a container runs, its /proc status shows a seccomp filter and no_new_privs, its root is an
// empty directory in a mount namespace of its own, and its stubs are filtered too. A sentry that
// attempts a forbidden host call (the test hook MOAT_SENTRY_TEST_FORBIDDEN) is killed by the
// kernel: the container is reported stopped and delete leaves nothing; a refused open lets the
// sandbox run on.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { makeBundle, moat, moatDetached, waitFor } from '../helpers/moat';
import { sentrySuite } from '../sentry/helpers';

let root: string;
sentrySuite((r) => (root = r));

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      kids.push(...fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      /* the thread went */
    }
  }
  return kids;
}

test('a running sentry is under its seccomp filter with no_new_privs, over an empty root, and so are its stubs', async () => {
  const b = makeBundle(['sleep', '30']);
  const out = path.join(os.tmpdir(), `moat-confine-${process.pid}.log`);
  try {
    const c = moatDetached(root, ['--isolation=sentry', 'run', '--detach', '--bundle', b.dir, 'confined'], out);
    assert.equal(c.status, 0, c.stderr);
    const pid = JSON.parse(moat(root, ['state', 'confined']).stdout).pid as number;
    // The application's first stub exists once the sentry has confined itself.
    await waitFor('the first stub', () => childrenOf(pid).some((k) => status(k).Name === 'moat-stub'));
    const s = status(pid);
    assert.equal(s.Seccomp, '2', 'the sentry is in seccomp filter mode');
    assert.equal(s.NoNewPrivs, '1');
    assert.equal(s.CapEff, '0000000000000400', 'only CAP_NET_BIND_SERVICE is left');
    assert.equal(s.CapBnd, '0000000000000400');
    // The gofer was confined already (docs/sentry-gofer.md): its own filter, no_new_privs, an empty root.
    const goferPid = Number(/MOAT_GOFER_PID=(\d+)/.exec(fs.readFileSync(`/proc/${pid}/environ`, 'latin1'))?.[1]);
    assert.ok(goferPid > 0, 'the gofer is named in the sentry\'s environment');
    assert.equal(status(goferPid).Seccomp, '2');
    assert.equal(status(goferPid).NoNewPrivs, '1');
    assert.deepEqual(fs.readdirSync(`/proc/${goferPid}/root`), []);
    assert.deepEqual(fs.readdirSync(`/proc/${pid}/root`), [], 'the sentry\'s root is empty');
    assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'), 'a mount namespace of its own');
    for (const k of childrenOf(pid)) {
      const ks = status(k);
      if (ks.Name === 'moat-stub') assert.equal(ks.Seccomp, '2', `stub ${k} is filtered`);
    }
    assert.equal(moat(root, ['delete', '--force', 'confined']).status, 0);
  } finally {
    b.cleanup();
    fs.rmSync(out, { force: true });
  }
});

for (const call of ['execve', 'socket-packet']) {
  test(`a sentry that attempts a forbidden ${call} is killed: the container is stopped, delete leaves nothing`, async () => {
    const b = makeBundle(['echo', 'never printed']);
    const out = path.join(os.tmpdir(), `moat-confine-${process.pid}-${call}.log`);
    const id = `forbidden-${call}`;
    process.env.MOAT_SENTRY_TEST_FORBIDDEN = call;
    try {
      assert.equal(moatDetached(root, ['--isolation=sentry', 'create', '--bundle', b.dir, id], out).status, 0);
      const pid = JSON.parse(moat(root, ['state', id]).stdout).pid as number;
      assert.equal(moat(root, ['start', id]).status, 0);
      await waitFor('the sentry to die', () => !fs.existsSync(`/proc/${pid}`) || status(pid).State.startsWith('Z'));
      await waitFor('the container to be reported stopped', () => JSON.parse(moat(root, ['state', id]).stdout).status === 'stopped');
      assert.doesNotMatch(fs.readFileSync(out, 'utf8'), /never printed/);
      const del = moat(root, ['delete', id]);
      assert.equal(del.status, 0, del.stderr);
      assert.equal(moat(root, ['state', id]).status, 1);
    } finally {
      delete process.env.MOAT_SENTRY_TEST_FORBIDDEN;
      b.cleanup();
      fs.rmSync(out, { force: true });
    }
  });
}

test('moat run of a sentry killed by its filter exits 159 (SIGSYS) and leaves nothing', () => {
  const b = makeBundle(['echo', 'never printed']);
  try {
    const r = moat(root, ['--isolation=sentry', 'run', '--bundle', b.dir, 'forbidden-run'], { env: { ...process.env, MOAT_SENTRY_TEST_FORBIDDEN: 'execve' } });
    assert.equal(r.status, 128 + 31, r.stderr);
    assert.doesNotMatch(r.stdout, /never printed/);
    assert.equal(moat(root, ['state', 'forbidden-run']).status, 1, 'run removed the container');
  } finally {
    b.cleanup();
  }
});

test('an open of a host path is refused (EACCES) without killing: the sandbox runs on', () => {
  const b = makeBundle(['echo', 'ran']);
  try {
    const r = moat(root, ['--isolation=sentry', 'run', '--bundle', b.dir, 'open-refused'], { env: { ...process.env, MOAT_SENTRY_TEST_FORBIDDEN: 'openat' } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ran\n');
  } finally {
    b.cleanup();
  }
});
