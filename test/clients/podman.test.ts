// Podman 4.3 (rootful) drives moat unchanged: `podman --runtime <binary>` on storage of the test's
// own; every operation with runc and with moat.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { MOAT } from '../helpers/moat';
import { Matrix, type RuntimeName } from './helpers/compat';
import { RUNC } from './helpers/containerd';
import { run, waitFor } from './helpers/daemons';
import { Podman, PODMAN, PODMAN_IMAGE } from './helpers/podman';

const matrix = new Matrix('podman', () => run(PODMAN, ['--version']).stdout.trim());
let p: Podman;
let seq = 0;

before(() => {
  if (!fs.existsSync(PODMAN) || !fs.existsSync('/usr/bin/conmon')) {
    matrix.unavailable = 'podman is not installed (sh scripts/setup.sh test)';
    return;
  }
  p = new Podman();
  p.start();
});

after(async () => {
  matrix.write();
  if (p) await p.stop();
});

const rtFlags = (rt: RuntimeName) => ['--runtime', rt === 'moat' ? MOAT : RUNC];
/** `podman --runtime X run <common flags>`: no network set-up (CNI/netavark) unless asked. */
const runArgs = (rt: RuntimeName, ...flags: string[]) => [...rtFlags(rt), 'run', '--cgroup-parent', `/${p.cgroupParent}`, ...(flags.some((f) => f.startsWith('--network')) ? [] : ['--network', 'none']), ...flags];
const ok = (args: readonly string[]) => {
  const r = p.podman(args);
  assert.equal(r.status, 0, `podman ${args.join(' ')}: ${r.all}`);
  return r.stdout;
};
const inspect = (c: string, format: string) => ok(['inspect', '-f', format, c]).trim();

async function withContainer(rt: RuntimeName, fn: (c: string) => Promise<void> | void): Promise<void> {
  const c = `${rt}-${++seq}`;
  ok([...runArgs(rt, '-d', '--name', c), PODMAN_IMAGE, 'sh', '-c', 'trap "exit 0" TERM; echo started; while true; do sleep 0.1; done']);
  try {
    await waitFor('the container to log', () => p.podman(['logs', c]).stdout.includes('started'), 10_000);
    await fn(c);
  } finally {
    p.podman([...rtFlags(rt), 'rm', '--force', '--time', '0', c]);
  }
}

matrix.case('run --rm: output and exit code', (rt) => {
  const r = p.podman([...runArgs(rt, '--rm'), PODMAN_IMAGE, 'sh', '-c', 'echo hello; echo oops >&2; exit 3']);
  assert.equal(r.status, 3, r.all);
  assert.equal(r.stdout, 'hello\n');
  assert.equal(r.stderr, 'oops\n');
});

matrix.case('run -it: a terminal through the console socket', (rt) => {
  const r = p.podmanOnTty([...runArgs(rt, '--rm', '-it'), PODMAN_IMAGE, 'sh', '-c', 'sleep 0.5; tty; exit 4']);
  assert.equal(r.status, 4, r.all);
  assert.match(r.stdout, /\/dev\/pts\/\d+\r\n/);
});

matrix.case('run -d, logs', (rt) =>
  withContainer(rt, (c) => {
    assert.equal(inspect(c, '{{.State.Status}}'), 'running');
    assert.equal(ok(['logs', c]), 'started\n');
  }));

matrix.case('exec, with and without -t', (rt) =>
  withContainer(rt, (c) => {
    const r = p.podman([...rtFlags(rt), 'exec', c, 'sh', '-c', 'echo in-exec; exit 5']);
    assert.equal(r.status, 5, r.all);
    assert.equal(r.stdout, 'in-exec\n');
    const t = p.podmanOnTty([...rtFlags(rt), 'exec', '-t', c, 'sh', '-c', 'sleep 0.5; tty; exit 6']);
    assert.equal(t.status, 6, t.all);
    assert.match(t.stdout, /\/dev\/pts\/\d+/);
  }));

matrix.case('stop, start, kill', (rt) =>
  withContainer(rt, async (c) => {
    ok([...rtFlags(rt), 'stop', c]);
    assert.equal(inspect(c, '{{.State.Status}} {{.State.ExitCode}}'), 'exited 0');
    ok([...rtFlags(rt), 'start', c]);
    await waitFor('the second start', () => p.podman(['logs', c]).stdout === 'started\nstarted\n');
    ok([...rtFlags(rt), 'kill', c]);
    await waitFor('the container to exit', () => inspect(c, '{{.State.Status}}') === 'exited');
    assert.equal(inspect(c, '{{.State.ExitCode}}'), '137');
  }));

matrix.case('pause / unpause, top, stats --no-stream', (rt) =>
  withContainer(rt, (c) => {
    ok([...rtFlags(rt), 'pause', c]);
    assert.equal(inspect(c, '{{.State.Status}}'), 'paused');
    ok([...rtFlags(rt), 'unpause', c]);
    assert.equal(inspect(c, '{{.State.Status}}'), 'running');
    assert.match(ok([...rtFlags(rt), 'top', c]), /trap "exit 0" TERM/);
    const stats = ok([...rtFlags(rt), 'stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', c]).trim();
    assert.match(stats, new RegExp(`^${c} [1-9]\\d*$`));
  }));

matrix.case('restart', (rt) =>
  withContainer(rt, async (c) => {
    const pid = inspect(c, '{{.State.Pid}}');
    ok([...rtFlags(rt), 'restart', c]);
    assert.equal(inspect(c, '{{.State.Status}}'), 'running');
    assert.notEqual(inspect(c, '{{.State.Pid}}'), pid);
    await waitFor('the second start', () => p.podman(['logs', c]).stdout === 'started\nstarted\n');
  }));

matrix.case('-v, --read-only, --user', (rt) => {
  const dir = fs.mkdtempSync(path.join(p.daemon.dir, 'vol-'));
  fs.chmodSync(dir, 0o755); // readable by the container's nobody
  fs.writeFileSync(path.join(dir, 'in'), 'from-host\n');
  const r = p.podman([...runArgs(rt, '--rm', '--read-only', '--read-only-tmpfs=false', '-v', `${dir}:/data`, '--user', 'nobody'), PODMAN_IMAGE, 'sh', '-c', 'cat /data/in; id -u; touch /x 2>&1; true']);
  assert.equal(r.status, 0, r.all);
  assert.equal(r.stdout, 'from-host\n65534\ntouch: /x: Read-only file system\n');
});

matrix.case('--cap-drop / --cap-add, --pids-limit, --memory', (rt) => {
  const r = p.podman([...runArgs(rt, '--rm', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', '--pids-limit', '9', '--memory', '32m'), PODMAN_IMAGE, 'sh', '-c',
    'grep CapEff /proc/self/status; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes']);
  assert.equal(r.status, 0, r.all);
  assert.equal(r.stdout, `CapEff:\t0000000000001000\n9\n${32 * 2 ** 20}\n`);
});

matrix.case('--network host', (rt) => {
  const host = run('ip', ['-o', 'link']).stdout.trim().split('\n').map((l) => l.split(':')[1]!.trim().split('@')[0]);
  const out = ok([...runArgs(rt, '--rm', '--network', 'host'), PODMAN_IMAGE, 'ip', '-o', 'link']);
  assert.deepEqual(out.trim().split('\n').map((l) => l.split(':')[1]!.trim().split('@')[0]), host);
});

matrix.case('bad input: --runtime-flag the runtime does not know', (rt) => {
  const started = Date.now();
  const r = p.podman(['--runtime-flag', 'no-such-flag', ...runArgs(rt, '--rm'), PODMAN_IMAGE, 'true'], { timeoutMs: 30_000 });
  assert.equal(r.status, 126, r.all);
  assert.ok(Date.now() - started < 20_000, 'took too long');
  assert.match(r.stderr, /Error: OCI runtime error: .*(flag provided but not defined: -no-such-flag|moat: unknown flag --no-such-flag)/, r.all);
  if (rt === 'moat') assert.match(r.stderr, /Error: OCI runtime error: \S+\/bin\/moat: moat: unknown flag --no-such-flag\n/);
});
