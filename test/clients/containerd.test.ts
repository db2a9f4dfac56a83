// containerd 1.6 drives moat unchanged: `ctr` with the runc v2 shim pointed at the runtime binary
// (`--runc-binary`), against a containerd of the test's own; every operation with runc and with moat.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before } from 'node:test';
import { MOAT } from '../helpers/moat';
import { Matrix, type RuntimeName } from './helpers/compat';
import { Containerd, CONTAINERD, CTR_IMAGE, RUNC } from './helpers/containerd';
import { run, waitFor } from './helpers/daemons';

const matrix = new Matrix('containerd', () => run(CONTAINERD, ['--version']).stdout.trim());
let c: Containerd;
let seq = 0;

before(async () => {
  if (!fs.existsSync(CONTAINERD) || !fs.existsSync('/usr/bin/containerd-shim-runc-v2')) {
    matrix.unavailable = 'containerd is not installed (sh scripts/setup.sh test)';
    return;
  }
  c = new Containerd();
  await c.start();
});

after(async () => {
  matrix.write();
  if (c) await c.stop();
});

const binary = (rt: RuntimeName) => (rt === 'moat' ? MOAT : RUNC);
const runtimeFlags = (rt: RuntimeName) => ['--runtime', 'io.containerd.runc.v2', '--runc-binary', binary(rt)];
const ok = (args: readonly string[]) => {
  const r = c.ctr(args);
  assert.equal(r.status, 0, `ctr ${args.join(' ')}: ${r.all}`);
  return r.stdout;
};
const taskStatus = (id: string) => {
  const line = c.ctr(['task', 'ls']).stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
  return line?.trim().split(/\s+/)[2];
};

/** A detached task that exits 0 on TERM; task and container removed after fn. */
async function withTask(rt: RuntimeName, fn: (id: string) => Promise<void> | void): Promise<void> {
  const id = `${rt}-${++seq}`;
  ok(['run', '-d', ...runtimeFlags(rt), CTR_IMAGE, id, 'sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done']);
  try {
    await waitFor('the task to run', () => taskStatus(id) === 'RUNNING');
    await fn(id);
  } finally {
    c.ctr(['task', 'delete', '--force', id]);
    c.ctr(['containers', 'rm', id]);
  }
}

matrix.case('ctr run --rm: output and exit code', (rt) => {
  const r = c.ctr(['run', '--rm', ...runtimeFlags(rt), CTR_IMAGE, `${rt}-${++seq}`, 'sh', '-c', 'echo hello; echo oops >&2; exit 3']);
  assert.equal(r.status, 3, r.all);
  assert.equal(r.stdout, 'hello\n');
  assert.equal(r.stderr, 'oops\n');
});

matrix.case('ctr run -t: a terminal through the console socket', (rt) => {
  const r = c.ctrOnTty(['run', '--rm', '-t', ...runtimeFlags(rt), CTR_IMAGE, `${rt}-${++seq}`, 'sh', '-c', 'sleep 0.5; tty; exit 4']);
  assert.equal(r.status, 4, r.all);
  assert.match(r.stdout, /\/dev\/pts\/\d+\r\r?\n/);
});

matrix.case('task exec: output and exit code', (rt) =>
  withTask(rt, (id) => {
    const r = c.ctr(['task', 'exec', '--exec-id', 'e1', id, 'sh', '-c', 'echo in-exec; test -t 0 || echo no-tty; exit 5']);
    assert.equal(r.status, 5, r.all);
    assert.equal(r.stdout, 'in-exec\nno-tty\n');
  }));

matrix.case('task exec -t: a terminal', (rt) =>
  withTask(rt, (id) => {
    const r = c.ctrOnTty(['task', 'exec', '-t', '--exec-id', 'e2', id, 'sh', '-c', 'sleep 0.5; tty; exit 6']);
    assert.equal(r.status, 6, r.all);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
  }));

matrix.case('task ps, pause / resume, metrics', (rt) =>
  withTask(rt, (id) => {
    const pids = ok(['task', 'ps', id]).trim().split('\n').slice(1);
    assert.ok(pids.length >= 1, pids.join('\n'));
    ok(['task', 'pause', id]);
    assert.equal(taskStatus(id), 'PAUSED');
    ok(['task', 'resume', id]);
    assert.equal(taskStatus(id), 'RUNNING');
    assert.match(ok(['task', 'metrics', id]), /memory\.usage_in_bytes\s+\d+/);
  }));

matrix.case('task kill (TERM; KILL --all) and the exit status', async (rt) => {
  for (const [signal, all, code] of [['TERM', false, 0], ['KILL', true, 137]] as const) {
    const id = `${rt}-${++seq}`;
    // With --all, a second process (not the init) must die too. (Not `task exec -d`: ctr leaves
    // that exec's fifos in /run/containerd/fifo.)
    const fg = c.ctrAsync(['run', '--rm', ...runtimeFlags(rt), CTR_IMAGE, id, 'sh', '-c', `${all ? 'sleep 1000 & ' : ''}trap "exit 0" TERM; while true; do sleep 0.1; done`]);
    try {
      await waitFor('the task to run', () => taskStatus(id) === 'RUNNING');
      if (all) await waitFor('the second process', () => ok(['task', 'ps', id]).trim().split('\n').length >= 3);
      ok(['task', 'kill', '--signal', signal, ...(all ? ['--all'] : []), id]);
      const r = await fg;
      assert.equal(r.status, code, r.all);
    } finally {
      c.ctr(['task', 'delete', '--force', id]);
      c.ctr(['containers', 'rm', id]);
      await fg;
    }
  }
});

matrix.case('task delete --force of a running task, container rm', (rt) =>
  withTask(rt, (id) => {
    ok(['task', 'delete', '--force', id]);
    assert.equal(taskStatus(id), undefined);
    ok(['containers', 'rm', id]);
    assert.doesNotMatch(ok(['containers', 'ls', '-q']), new RegExp(`^${id}$`, 'm'));
  }));

matrix.case('bad input: --systemd-cgroup where systemd is not running', (rt) => {
  const id = `${rt}-${++seq}`;
  const started = Date.now();
  const r = c.ctr(['run', '--rm', '--runc-systemd-cgroup', '--cgroup', `system.slice:moattest:${id}`, ...runtimeFlags(rt), CTR_IMAGE, id, 'true'], { timeoutMs: 30_000 });
  c.ctr(['containers', 'rm', id]);
  assert.notEqual(r.status, 0, r.all);
  assert.ok(Date.now() - started < 20_000, 'took too long');
  assert.match(r.stderr, /OCI runtime create failed: .*systemd/, r.all);
  if (rt === 'moat') assert.match(r.stderr, /OCI runtime create failed: --systemd-cgroup: systemd is not running on this host/);
});
