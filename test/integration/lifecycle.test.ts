// The create/start split, state, kill and delete, as runc's callers (containerd, Docker) drive them.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, moatDetached, waitFor } from '../helpers/moat';

let root: string;
containerSuite((r) => (root = r));

function state(id: string): Record<string, any> {
  const r = moat(root, ['state', id]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('creating → created → running → stopped, then delete', async () => {
  const b = makeBundle(['sh', '-c', 'trap "echo got TERM; exit 42" TERM; echo started; while true; do sleep 0.05; done'], (c) => {
    c.annotations = { 'org.example/owner': 'tests' };
  });
  const out = path.join(b.dir, 'out');
  const pidFile = path.join(b.dir, 'pid');
  try {
    const c = moatDetached(root, ['create', '--bundle', b.dir, '--pid-file', pidFile, 'life'], out);
    assert.equal(c.status, 0, c.stderr);
    const s1 = state('life');
    assert.equal(s1.status, 'created');
    assert.equal(s1.id, 'life');
    assert.equal(s1.bundle, b.dir);
    assert.equal(s1.ociVersion, '1.2.0');
    assert.deepEqual(s1.annotations, { 'org.example/owner': 'tests' });
    assert.ok(!Number.isNaN(Date.parse(s1.created)));
    assert.equal(Number(fs.readFileSync(pidFile, 'utf8')), s1.pid);
    // The init exists with its namespaces ready, but has not run the process yet.
    assert.notEqual(fs.readlinkSync(`/proc/${s1.pid}/ns/pid`), fs.readlinkSync('/proc/self/ns/pid'));
    assert.notEqual(fs.readlinkSync(`/proc/${s1.pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'));
    assert.equal(fs.readFileSync(out, 'utf8'), '');
    assert.equal(moat(root, ['start', 'life']).status, 0);
    assert.equal(state('life').status, 'running');
    await waitFor('the process to start', () => fs.readFileSync(out, 'utf8').includes('started'));
    const again = moat(root, ['start', 'life']);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /cannot be started: it is running/);
    const del = moat(root, ['delete', 'life']);
    assert.equal(del.status, 1);
    assert.match(del.stderr, /is running: stop it first or use delete --force/);
    assert.equal(moat(root, ['kill', 'life', 'TERM']).status, 0);
    await waitFor('the container to stop', () => state('life').status === 'stopped');
    assert.equal(fs.readFileSync(out, 'utf8'), 'started\ngot TERM\n');
    assert.equal(state('life').pid, 0);
    const k = moat(root, ['kill', 'life', 'KILL']);
    assert.equal(k.status, 1);
    // runc's words, which containerd's shim takes for "already gone" (test/clients/cri.test.ts).
    assert.equal(k.stderr, 'moat: cannot signal container "life": container not running (stopped)\n');
    // --all reaches what is left in the cgroup, as runc's does: nothing left is no error.
    const all = moat(root, ['kill', '--all', 'life', 'KILL']);
    assert.equal(all.status, 0, all.stderr);
    assert.equal(moat(root, ['delete', 'life']).status, 0);
    const gone = moat(root, ['state', 'life']);
    assert.equal(gone.status, 1);
    assert.equal(gone.stderr, 'moat: container "life" does not exist\n');
  } finally {
    moat(root, ['delete', '--force', 'life']);
    b.cleanup();
  }
});

test('list shows containers with their status, as a table and as JSON', () => {
  const b = makeBundle(['sleep', '30']);
  const out = path.join(b.dir, 'out');
  try {
    assert.equal(moatDetached(root, ['create', '--bundle', b.dir, 'l1'], out).status, 0);
    assert.equal(moatDetached(root, ['run', '--detach', '--bundle', b.dir, 'l2'], out).status, 0);
    const json = JSON.parse(moat(root, ['list', '--format', 'json']).stdout) as { id: string; status: string }[];
    assert.deepEqual(json.map((s) => [s.id, s.status]), [['l1', 'created'], ['l2', 'running']]);
    const table = moat(root, ['list']).stdout.split('\n');
    assert.match(table[0]!, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
    assert.match(table[1]!, /^l1\s+\d+\s+created\s/);
  } finally {
    assert.equal(moat(root, ['delete', '--force', 'l1']).status, 0);
    assert.equal(moat(root, ['delete', '--force', 'l2']).status, 0);
    b.cleanup();
  }
});

test('kill --all reaches every process of the container; delete of a created container', async () => {
  const b = makeBundle(['sh', '-c', 'sleep 100 & sleep 100 & wait']);
  const out = path.join(b.dir, 'out');
  try {
    assert.equal(moatDetached(root, ['run', '-d', '--bundle', b.dir, 'all'], out).status, 0);
    const pid = state('all').pid;
    const ns = fs.readlinkSync(`/proc/${pid}/ns/pid`);
    const members = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return fs.readlinkSync(`/proc/${p}/ns/pid`) === ns && !fs.readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z ');
      } catch {
        return false;
      }
    });
    await waitFor('both sleeps', () => members().length === 3);
    assert.equal(moat(root, ['kill', '--all', 'all', 'KILL']).status, 0);
    await waitFor('every process to be gone', () => members().length === 0);
    assert.equal(state('all').status, 'stopped');
    assert.equal(moat(root, ['delete', 'all']).status, 0);

    assert.equal(moatDetached(root, ['create', '--bundle', b.dir, 'created-then-deleted'], out).status, 0);
    const initPid = state('created-then-deleted').pid;
    assert.equal(moat(root, ['delete', 'created-then-deleted']).status, 0);
    await waitFor('the init to be gone', () => !fs.existsSync(`/proc/${initPid}`) || fs.readFileSync(`/proc/${initPid}/stat`, 'utf8').includes(') Z '));
  } finally {
    moat(root, ['delete', '--force', 'all']);
    moat(root, ['delete', '--force', 'created-then-deleted']);
    b.cleanup();
  }
});

test('run exits 128+signal when the container is killed', async () => {
  const b = makeBundle(['sleep', '60']);
  try {
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const child = spawn(path.resolve(__dirname, '../../../../bin/moat'), ['--root', root, 'run', '--bundle', b.dir, 'sig'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitFor('the container to run', () => moat(root, ['state', 'sig']).stdout.includes('"running"'));
    assert.equal(moat(root, ['kill', 'sig', '9']).status, 0);
    assert.equal(await exited, 137);
    assert.equal(moat(root, ['state', 'sig']).status, 1, 'run deletes its container after exit');
  } finally {
    b.cleanup();
  }
});

test('run forwards the signals it receives to the container', async () => {
  const b = makeBundle(['sh', '-c', 'trap "exit 7" USR1; while true; do sleep 0.05; done']);
  try {
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const child = spawn(path.resolve(__dirname, '../../../../bin/moat'), ['--root', root, 'run', '--bundle', b.dir, 'fwd'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitFor('the container to run', () => moat(root, ['state', 'fwd']).stdout.includes('"running"'));
    child.kill('SIGUSR1');
    assert.equal(await exited, 7);
  } finally {
    b.cleanup();
  }
});
