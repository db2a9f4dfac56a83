// `moat exec` into a running container: its namespaces, its rootfs, its privileges.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { assertNoLeaks, makeBundle, makeStateRoot, moat, moatDetached, snapshot, type HostSnapshot, type TestBundle } from '../helpers/moat';

let root: string;
let host: HostSnapshot;
let bundle: TestBundle;
before(() => {
  root = makeStateRoot();
  host = snapshot();
  bundle = makeBundle(['sleep', '60'], (c) => {
    c.hostname = 'exec-box';
    c.process.env.push('FROM_SPEC=yes');
    c.process.oomScoreAdj = 500;
    c.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: [] });
  });
  const r = moatDetached(root, ['run', '--detach', '--bundle', bundle.dir, 'ex'], path.join(bundle.dir, 'out'));
  assert.equal(r.status, 0, r.stderr);
});
after(async () => {
  moat(root, ['delete', '--force', 'ex']);
  bundle.cleanup();
  await assertNoLeaks(host, root);
  fs.rmSync(root, { recursive: true, force: true });
});

test('exec joins the container: its pid namespace, hostname, rootfs, env; exit code returns', () => {
  const r = moat(root, ['exec', 'ex', 'sh', '-c', 'echo $$; hostname; ps -o comm | sed -n 2p; echo $FROM_SPEC; ls /work 2>&1; exit 9']);
  assert.equal(r.status, 9, r.stderr);
  const [pid, hostname, init, env, work] = r.stdout.trim().split('\n');
  assert.ok(Number(pid) > 1 && Number(pid) < 50, `pid ${pid} inside the container's namespace`);
  assert.equal(hostname, 'exec-box');
  assert.equal(init, 'sleep', 'pid 1 is the container init');
  assert.equal(env, 'yes');
  assert.equal(work, 'ls: /work: No such file or directory');
});

test("exec'd processes get the container's oomScoreAdj, as runc's do", () => {
  const r = moat(root, ['exec', 'ex', 'sh', '-c', 'cat /proc/1/oom_score_adj /proc/self/oom_score_adj']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '500\n500\n');
});

test('exec shares the container filesystem: a file written by one exec is read by the next', () => {
  assert.equal(moat(root, ['exec', 'ex', 'sh', '-c', 'echo shared > /tmp/f']).status, 0);
  assert.equal(moat(root, ['exec', 'ex', 'cat', '/tmp/f']).stdout, 'shared\n');
});

test('exec overrides: --user, --cwd, --env, --cap; privileges as the spec says', () => {
  const r = moat(root, ['exec', '--user', '1000:100', '--cwd', '/tmp', '--env', 'FROM_SPEC=override', '--env', 'NEW=1', 'ex',
    'sh', '-c', 'id -u; id -g; pwd; echo $FROM_SPEC $NEW; grep CapBnd /proc/self/status | tr -s "\\t" " "']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['1000', '100', '/tmp', 'override 1', 'CapBnd: 0000000020000420']);
  const cap = moat(root, ['exec', '--cap', 'CAP_CHOWN', 'ex', 'sh', '-c', 'grep CapEff /proc/self/status | tr -s "\\t" " "']);
  assert.equal(cap.stdout.trim(), 'CapEff: 0000000020000421');
  const nnp = moat(root, ['exec', 'ex', 'grep', 'NoNewPrivs', '/proc/self/status']);
  assert.equal(nnp.stdout.trim(), 'NoNewPrivs:\t1', 'the spec\'s noNewPrivileges applies to exec too');
});

test('exec --process FILE, and its validation errors name the file and field', () => {
  const file = path.join(bundle.dir, 'process.json');
  fs.writeFileSync(file, JSON.stringify({ args: ['sh', '-c', 'echo $A; id -u'], env: ['A=b'], cwd: '/', user: { uid: 7, gid: 7 } }));
  const r = moat(root, ['exec', '--process', file, 'ex']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'b\n7\n');
  fs.writeFileSync(file, JSON.stringify({ args: 'sh', cwd: '/', user: { uid: 0, gid: 0 } }));
  const bad = moat(root, ['exec', '--process', file, 'ex']);
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, `moat: ${file}: process.args: expected an array, got string\n`);
});

test('exec --detach with --pid-file, and a missing program', async () => {
  const pidFile = path.join(bundle.dir, 'exec.pid');
  const r = moatDetached(root, ['exec', '--detach', '--pid-file', pidFile, 'ex', 'sleep', '30'], path.join(bundle.dir, 'out2'));
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.equal(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'sleep');
  const init = JSON.parse(moat(root, ['state', 'ex']).stdout).pid;
  assert.equal(fs.readlinkSync(`/proc/${pid}/ns/pid`), fs.readlinkSync(`/proc/${init}/ns/pid`));
  const missing = moat(root, ['exec', 'ex', '/nope']);
  assert.equal(missing.status, 127);
  assert.equal(missing.stderr, 'moat: exec: "/nope": stat /nope: no such file or directory\n');
});

test('exec into a stopped or unknown container fails clearly', () => {
  const b = makeBundle(['true']);
  try {
    assert.equal(moatDetached(root, ['run', '-d', '--bundle', b.dir, 'done'], path.join(b.dir, 'out')).status, 0);
    let status = '';
    for (let i = 0; i < 100 && status !== 'stopped'; i++) status = JSON.parse(moat(root, ['state', 'done']).stdout).status;
    const r = moat(root, ['exec', 'done', 'true']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'moat: container "done" is stopped: cannot exec in it\n');
    assert.equal(moat(root, ['exec', 'ghost', 'true']).stderr, 'moat: container "ghost" does not exist\n');
  } finally {
    moat(root, ['delete', '--force', 'done']);
    b.cleanup();
  }
});
