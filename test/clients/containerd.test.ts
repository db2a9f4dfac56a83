// containerd 1.6 drives moat unchanged: `ctr` with the runc v2 shim pointed at the runtime binary
// (`--runc-binary`), against a containerd of the test's own; every operation with runc and with moat,
// and with moat's own shim (`--runtime io.containerd.moat.v2`, docs/shim.md) where ctr allows it.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before } from 'node:test';
import { MOAT } from '../helpers/moat';
import * as path from 'node:path';
import { Matrix, RUNTIMES, type RuntimeName } from './helpers/compat';
import { Containerd, CONTAINERD, CTR, CTR_IMAGE, RUNC } from './helpers/containerd';
import { spawn } from 'node:child_process';
import { processesMentioning, run, waitFor } from './helpers/daemons';
import { cgroupDir } from './helpers/cri';

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
const runtimeFlags = (rt: RuntimeName, configPath?: string) =>
  rt === 'moat-shim'
    ? ['--runtime', 'io.containerd.moat.v2', ...(configPath ? ['--runtime-config-path', configPath] : [])]
    : ['--runtime', 'io.containerd.runc.v2', '--runc-binary', binary(rt)];
/** runc, moat behind the runc shim, moat's own shim. */
const ALL: readonly RuntimeName[] = [...RUNTIMES, 'moat-shim'];
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
}, ALL);

matrix.case('ctr run -t: a terminal through the console socket', (rt) => {
  const r = c.ctrOnTty(['run', '--rm', '-t', ...runtimeFlags(rt), CTR_IMAGE, `${rt}-${++seq}`, 'sh', '-c', 'sleep 0.5; tty; exit 4']);
  assert.equal(r.status, 4, r.all);
  assert.match(r.stdout, /\/dev\/pts\/\d+\r\r?\n/);
}, ALL);

matrix.case('task exec: output and exit code', (rt) =>
  withTask(rt, (id) => {
    const r = c.ctr(['task', 'exec', '--exec-id', 'e1', id, 'sh', '-c', 'echo in-exec; test -t 0 || echo no-tty; exit 5']);
    assert.equal(r.status, 5, r.all);
    assert.equal(r.stdout, 'in-exec\nno-tty\n');
  }), ALL);

matrix.case('task exec -t: a terminal', (rt) =>
  withTask(rt, (id) => {
    const r = c.ctrOnTty(['task', 'exec', '-t', '--exec-id', 'e2', id, 'sh', '-c', 'sleep 0.5; tty; exit 6']);
    assert.equal(r.status, 6, r.all);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
  }), ALL);

matrix.case('task ps, pause / resume, metrics', (rt) =>
  withTask(rt, (id) => {
    const pids = ok(['task', 'ps', id]).trim().split('\n').slice(1);
    assert.ok(pids.length >= 1, pids.join('\n'));
    ok(['task', 'pause', id]);
    assert.equal(taskStatus(id), 'PAUSED');
    ok(['task', 'resume', id]);
    assert.equal(taskStatus(id), 'RUNNING');
    assert.match(ok(['task', 'metrics', id]), /memory\.usage_in_bytes\s+\d+/);
  }), ALL);

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
}, ALL);

matrix.case('task delete --force of a running task, container rm', (rt) =>
  withTask(rt, (id) => {
    ok(['task', 'delete', '--force', id]);
    assert.equal(taskStatus(id), undefined);
    ok(['containers', 'rm', id]);
    assert.doesNotMatch(ok(['containers', 'ls', '-q']), new RegExp(`^${id}$`, 'm'));
  }), ALL);

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

// ---- moat's own shim only: what the runc shim has no counterpart for ----

/** The shim servers of this containerd (their -address names its temp dir) serving container `id`. */
const shimServers = (id: string) =>
  processesMentioning(c.daemon.dir).filter((pid) => {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.some((a) => a.endsWith('build/shim.js')) && args.includes('serve') && args[args.indexOf('-id') + 1] === id;
  });

function moatConfig(name: string, body: object): string {
  const file = path.join(c.daemon.dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(body));
  return file;
}

matrix.case('the handler config picks the sentry (--runtime-config-path), and what annotations may not change', (rt) => {
  const sentry = moatConfig('sentry', { isolation: 'sentry' });
  const r = c.ctr(['run', '--rm', ...runtimeFlags(rt, sentry), CTR_IMAGE, `${rt}-${++seq}`, 'sh', '-c', 'echo on; uname -r; exit 7'], { timeoutMs: 90_000 });
  assert.equal(r.status, 7, r.all);
  assert.equal(r.stdout, 'on\n6.1.0-moat-sentry\n');
  // The config does not allow dev.moat.isolation to pick native: the create is refused, by name.
  const id = `${rt}-${++seq}`;
  const refused = c.ctr(['run', '--rm', '--annotation', 'dev.moat.isolation=native', ...runtimeFlags(rt, sentry), CTR_IMAGE, id, 'true']);
  c.ctr(['containers', 'rm', id]);
  assert.notEqual(refused.status, 0, refused.all);
  assert.match(refused.stderr, /dev\.moat\.isolation: "native" is not allowed by this runtime handler's moat config/);
}, ['moat-shim']);

matrix.case('task checkpoint is refused with a clear error', (rt) =>
  withTask(rt, (id) => {
    const r = c.ctr(['task', 'checkpoint', id]);
    assert.notEqual(r.status, 0, r.all);
    assert.match(r.stderr, /checkpoint is not supported by moat/);
    assert.equal(taskStatus(id), 'RUNNING');
  }), ['moat-shim']);

matrix.case('an OOM kill is published as TaskOOM (ctr events), before the exit', async (rt) => {
  const id = `${rt}-${++seq}-oom`;
  const events = c.ctrAsync(['events']);
  try {
    // 16 MiB of memory; the shell tries to hold 256 MiB in a variable.
    const r = c.ctr(['run', '--rm', '--memory-limit', String(16 << 20), ...runtimeFlags(rt), CTR_IMAGE, id, 'sh', '-c', 'x=$(head -c 268435456 /dev/zero | tr "\\0" a); echo survived'], { timeoutMs: 90_000 });
    assert.notEqual(r.status, 0, r.all);
    assert.doesNotMatch(r.stdout, /survived/);
  } finally {
    c.ctr(['containers', 'rm', id]);
    await new Promise((res) => setTimeout(res, 1000));
    for (const pid of processesMentioning(c.socket)) {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('events')) process.kill(pid, 'SIGTERM');
    }
  }
  const out = (await events).stdout;
  const oom = out.split('\n').findIndex((l) => l.includes('/tasks/oom') && l.includes(id));
  const exit = out.split('\n').findIndex((l) => l.includes('/tasks/exit') && l.includes(id));
  assert.ok(oom >= 0, `no /tasks/oom for ${id}:\n${out}`);
  assert.ok(exit > oom, 'TaskOOM before TaskExit');
}, ['moat-shim']);

for (const isolation of ['native', 'sentry'] as const) {
  matrix.case(`a SIGKILLed shim (${isolation}): containerd's delete leaves nothing`, async (rt) => {
    const id = `${rt}-${++seq}-kill9-${isolation}`;
    const marker = `moat-kill9-${process.pid}-${seq}`;
    ok(['run', '-d', ...runtimeFlags(rt, moatConfig(isolation, { isolation })), CTR_IMAGE, id, 'sh', '-c', `sleep 1000; : ${marker}`]);
    try {
      await waitFor('the task to run', () => taskStatus(id) === 'RUNNING');
      const [server] = shimServers(id);
      assert.ok(server, 'the shim server of the task');
      if (isolation === 'native') assert.ok(processesMentioning(marker).length > 0, 'the container process');
      process.kill(server, 'SIGKILL');
      // containerd sees the connection drop and runs `containerd-shim-moat-v2 delete` for the task.
      await waitFor('containerd to drop the task', () => taskStatus(id) === undefined, 30_000);
      c.ctr(['task', 'delete', id]);
      ok(['containers', 'rm', id]);
      // containerd runs the delete action in the background: give it the time it may take.
      await waitFor('the container processes to be gone', () => processesMentioning(marker).length === 0, 10_000);
      await waitFor('the shim state of the container to be gone', () => !fs.existsSync(`/run/moat-shim/${c.namespace}/${id}`), 20_000);
      const cpu = cgroupDir('cpu') ?? cgroupDir('pids');
      if (cpu) assert.ok(!fs.existsSync(path.join(cpu, c.namespace, id)), 'the container cgroup');
      await waitFor('the rootfs mount to be gone', () => !fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(`/${id}/rootfs`), 20_000);
    } finally {
      c.ctr(['task', 'delete', '--force', id]);
      c.ctr(['containers', 'rm', id]);
    }
  }, ['moat-shim']);
}

// The exit status is kept by what outlives the server: the executor (native), the sentry, the
// vm's agent (src/runtime/exit-record.ts); the shim's delete reports it.
for (const isolation of ['native', 'sentry', 'vm'] as const) {
  matrix.case(`a container that ends while its shim server is down (${isolation}) is reported with its own exit status`, async (rt) => {
    const id = `${rt}-${++seq}-downexit-${isolation}`;
    const events = spawn(CTR, ['--address', c.socket, '--namespace', c.namespace, 'events'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    events.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exitLine = () => out.split('\n').find((l) => l.includes('/tasks/exit') && l.includes(`"${id}"`));
    let server: number | undefined;
    try {
      ok(['run', '-d', ...runtimeFlags(rt, moatConfig(isolation, { isolation })), CTR_IMAGE, id, 'sh', '-c', 'sleep 2; exit 7']);
      await waitFor('the task to run', () => taskStatus(id) === 'RUNNING');
      [server] = shimServers(id);
      assert.ok(server, 'the shim server of the task');
      // The server stops before the container ends and is killed after: nothing of it sees the exit.
      process.kill(server, 'SIGSTOP');
      await new Promise((res) => setTimeout(res, 5000));
      process.kill(server, 'SIGKILL');
      server = undefined;
      // containerd sees the connection drop, runs the shim's delete and publishes its answer.
      await waitFor('containerd to publish the exit', () => exitLine() !== undefined, 30_000);
      assert.match(exitLine()!, /"exit_status":7[,}]/, 'the exit status of the container, not 137');
    } finally {
      if (server) process.kill(server, 'SIGKILL');
      events.kill('SIGTERM');
      c.ctr(['task', 'delete', '--force', id]);
      c.ctr(['containers', 'rm', id]);
      await waitFor('the shim state of the container to be gone', () => !fs.existsSync(`/run/moat-shim/${c.namespace}/${id}`), 20_000);
      // The vm platform's cache of guest images is kept per state root (src/vm/builder.ts), for
      // the namespace's later VMs: this test's namespace has none.
      if (isolation === 'vm') fs.rmSync(`/run/moat-shim/${c.namespace}/@vm`, { recursive: true, force: true });
    }
  }, ['moat-shim']);
}
