// `moat service` and the native front-end (docs/cli-speed.md): the same commands give the same
// bytes and exit codes through the service as without it; the container's init is the caller's
// descendant (a subreaper gets it); a stopped service means Node runs the command; hostile bytes
// on the socket neither crash the service nor leave anything in it.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { MOAT, REPO, containerSuite, makeBundle, moat, waitFor, type MoatResult } from '../helpers/moat';

let root: string;
let sockDir: string;
let sock: string;
let service: ChildProcess | undefined;
let serviceLog = '';

containerSuite((r) => (root = r), () => {
  stopService();
  fs.rmSync(sockDir, { recursive: true, force: true });
});

const served = (): NodeJS.ProcessEnv => ({ ...process.env, MOAT_SERVICE_SOCKET: sock });
const daemonless = (): NodeJS.ProcessEnv => ({ ...process.env, MOAT_SERVICE_SOCKET: '' });

async function startService(): Promise<void> {
  serviceLog = '';
  const child = spawn(MOAT, ['--debug', 'service', '--socket', sock], { env: daemonless(), stdio: ['ignore', 'ignore', 'pipe'] });
  service = child;
  child.stderr!.on('data', (d: Buffer) => (serviceLog += d.toString()));
  await waitFor('the service to listen', () => serviceLog.includes('listening on'), 20_000);
}

function stopService(): void {
  if (!service || service.exitCode !== null || service.signalCode !== null) return;
  const pid = service.pid!;
  service.kill('SIGTERM');
  const end = Date.now() + 10_000;
  // Synchronously (the leak check follows): until its /proc entry is gone or a zombie.
  while (Date.now() < end) {
    try {
      const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (st.slice(st.lastIndexOf(')') + 2).startsWith('Z')) break;
    } catch {
      break;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

before(async () => {
  sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-svc-'));
  sock = path.join(sockDir, 'run', 'service.sock');
  await startService();
});

after(() => {
  stopService();
  fs.rmSync(sockDir, { recursive: true, force: true });
});

function run(env: NodeJS.ProcessEnv, args: string[], cwd?: string): MoatResult {
  const r = spawnSync(MOAT, ['--root', root, ...args], { encoding: 'utf8', env, timeout: 30_000, input: '', ...(cwd ? { cwd } : {}) });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The same command both ways: the same status, stdout and stderr; `id` stands for either id. */
function both(args: (id: string) => string[], cwd?: string): MoatResult {
  const a = run(served(), args('svc'), cwd);
  const b = run(daemonless(), args('cli'), cwd);
  const norm = (s: string, id: string) => s.replaceAll(`"${id}"`, '"ID"').replace(/"created": "[^"]*"/g, '"created": T').replace(/"pid": \d+/g, '"pid": P');
  assert.deepEqual(
    { status: a.status, stdout: norm(a.stdout, 'svc'), stderr: norm(a.stderr, 'svc') },
    { status: b.status, stdout: norm(b.stdout, 'cli'), stderr: norm(b.stderr, 'cli') },
    `moat ${args('ID').join(' ')}`,
  );
  return a;
}

/** How many commands the service says it served (its stderr is read when the test yields: await it). */
async function servedCount(what: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 200));
  return serviceLog.split('\n').filter((l) => l.includes(`service: serving: ${what}`)).length;
}

function serviceFds(): number {
  return fs.readdirSync(`/proc/${service!.pid}/fd`).length;
}

test('the lifecycle through the service: same output and exit codes, relative --pid-file and --bundle, init not the service\'s', async () => {
  const b = makeBundle(['sh', '-c', 'trap "exit 42" TERM; while true; do sleep 0.05; done']);
  try {
    const sub = path.join(b.dir, 'sub');
    fs.mkdirSync(sub);
    const before = await servedCount('--root');
    const fdsBefore = serviceFds();
    for (const [env, id] of [[served(), 'svc'], [daemonless(), 'cli']] as const) {
      const out = fs.openSync(path.join(b.dir, `out-${id}`), 'w');
      const c = spawnSync(MOAT, ['--root', root, 'create', '--bundle', '..', '--pid-file', `${id}.pid`, id], { cwd: sub, env, stdio: ['ignore', out, out], timeout: 30_000 });
      fs.closeSync(out);
      assert.equal(c.status, 0, fs.readFileSync(path.join(b.dir, `out-${id}`), 'utf8'));
    }
    const svcPid = Number(fs.readFileSync(path.join(sub, 'svc.pid'), 'utf8'));
    assert.ok(svcPid > 0);
    // The init is not the service's child: the front-end forked the executor, which has exited.
    const ppid = Number(/PPid:\s*(\d+)/.exec(fs.readFileSync(`/proc/${svcPid}/status`, 'utf8'))![1]);
    assert.notEqual(ppid, service!.pid);
    const s = both((id) => ['state', id]);
    assert.equal(JSON.parse(s.stdout).bundle, b.dir);
    assert.equal(JSON.parse(s.stdout).pid, svcPid);
    both((id) => ['start', id]);
    both((id) => ['start', id]); // the second fails, with the same words
    both((id) => ['delete', id]); // running: refused
    both((id) => ['pause', id]);
    both((id) => ['resume', id]);
    both((id) => ['kill', id, 'TERM']);
    await waitFor('both to stop', () => ['svc', 'cli'].every((id) => JSON.parse(moat(root, ['state', id]).stdout).status === 'stopped'));
    both((id) => ['state', id]);
    both((id) => ['kill', id, 'KILL']); // not running
    both((id) => ['kill', '--all', id, 'KILL']);
    both((id) => ['delete', id]);
    both((id) => ['state', id]); // gone
    assert.ok((await servedCount('--root')) - before >= 12, serviceLog);
    await waitFor('the service to close what the commands used', () => serviceFds() <= fdsBefore, 5000);
  } finally {
    b.cleanup();
  }
});

test('errors through the service are the daemonless ones, word for word', async () => {
  const b = makeBundle(['true']);
  try {
    both((id) => ['state', id]);
    both((id) => ['kill', id]);
    both((id) => ['delete', id]);
    both((id) => ['delete', '--force', id]);
    both((id) => ['start', id]);
    both((id) => ['create', '--bundle', '/nonexistent/bundle', id]);
    fs.writeFileSync(path.join(b.dir, 'config.json'), '{"ociVersion": "1.2.0", "process": {');
    both((id) => ['create', '--bundle', b.dir, id]);
    fs.writeFileSync(path.join(b.dir, 'config.json'), JSON.stringify({ ...b.config, process: { ...b.config.process, args: [] } }));
    both((id) => ['run', '--bundle', b.dir, id]);
    both((id) => ['state', '--bogus', id]);
    both(() => ['nosuchcommand']);
    both(() => ['list']);
    both(() => ['list', '--format', 'json']);
    assert.ok((await servedCount('--root')) >= 10, serviceLog);
    assert.deepEqual(fs.readdirSync(root), []);
    // MOAT_PROFILE=1 of the caller: its own command's marks, after its output.
    const p = run({ ...served(), MOAT_PROFILE: '1' }, ['state', 'nope']);
    assert.equal(p.status, 1);
    assert.match(p.stderr, /^moat: container "nope" does not exist\nmoat profile \(moat service[^\n]*\n(moat profile: [^\n]*\n)*moat profile: answered /);
  } finally {
    b.cleanup();
  }
});

test('run through the service: the container\'s output and exit status, on the caller\'s stdio', () => {
  const b = makeBundle(['sh', '-c', 'echo out; echo err >&2; exit 7']);
  try {
    const r = both((id) => ['run', '--bundle', b.dir, id]);
    assert.equal(r.status, 7);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    // --preserve-fds: the caller's fd 3 reaches the container as fd 3 (through the front-end's fork).
    const file = path.join(b.dir, 'fd3');
    b.config.process.args = ['sh', '-c', 'echo through-3 >&3'];
    b.save();
    const fd = fs.openSync(file, 'w');
    const p = spawnSync(MOAT, ['--root', root, 'run', '--preserve-fds', '1', '--bundle', b.dir, 'fd3'], { env: served(), stdio: ['ignore', 'pipe', 'pipe', fd], encoding: 'utf8', timeout: 30_000 });
    fs.closeSync(fd);
    assert.equal(p.status, 0, p.stderr);
    assert.equal(fs.readFileSync(file, 'utf8'), 'through-3\n');
    assert.deepEqual(fs.readdirSync(root), []);
  } finally {
    b.cleanup();
  }
});

test('--console-socket relative to the caller\'s cwd gets the terminal', async () => {
  const b = makeBundle(['sh', '-c', 'sleep 10'], (c) => (c.process.terminal = true));
  const server = net.createServer();
  const got = new Promise<Buffer>((resolve) => server.on('connection', (s) => s.once('data', resolve)));
  await new Promise<void>((r) => server.listen(path.join(b.dir, 'console.sock'), r));
  try {
    const r = run(served(), ['create', '--console-socket', 'console.sock', 'tty'], b.dir);
    assert.equal(r.status, 0, r.stderr);
    const data = await got;
    assert.match(data.toString(), /^\/dev\/pts\/\d+$/);
    const missing = both((id) => ['create', '--console-socket', 'nope.sock', id], b.dir);
    assert.match(missing.stderr, /--console-socket nope\.sock: connect ENOENT nope\.sock/);
  } finally {
    moat(root, ['delete', '--force', 'tty']);
    server.close();
    b.cleanup();
  }
});

test('a subreaper above the caller gets the init when create exits, as with runc create', async () => {
  const b = makeBundle(['sleep', '10']);
  try {
    // A child Node that is a subreaper runs `moat create` through the service and reports the init's parent.
    const script = `
      const { spawnSync } = require('node:child_process');
      require(${JSON.stringify(path.join(REPO, 'build', 'native', 'moat_native.node'))}).setChildSubreaper();
      const c = spawnSync(${JSON.stringify(MOAT)}, ['--root', ${JSON.stringify(root)}, 'create', '--bundle', ${JSON.stringify(b.dir)}, '--pid-file', 'pid', 'reaped'], { cwd: ${JSON.stringify(b.dir)}, stdio: 'ignore' });
      const pid = require('node:fs').readFileSync(${JSON.stringify(path.join(b.dir, 'pid'))}, 'utf8');
      const ppid = /PPid:\\s*(\\d+)/.exec(require('node:fs').readFileSync('/proc/' + pid + '/status', 'utf8'))[1];
      spawnSync(${JSON.stringify(MOAT)}, ['--root', ${JSON.stringify(root)}, 'delete', '--force', 'reaped']);
      process.stdout.write(JSON.stringify({ status: c.status, me: process.pid, ppid: Number(ppid) }));`;
    const r = spawnSync(process.execPath, ['-e', script], { env: served(), encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const o = JSON.parse(r.stdout) as { status: number; me: number; ppid: number };
    assert.equal(o.status, 0);
    assert.equal(o.ppid, o.me);
    assert.ok((await servedCount(`--root ${root} create`)) >= 1, serviceLog);
  } finally {
    moat(root, ['delete', '--force', 'reaped']);
    b.cleanup();
  }
});

/**
 * One command through the service, asynchronously (many at once reach the service together). Its
 * output goes to files: a created container keeps create's stdio, a pipe would never end.
 */
function servedAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-svc-io-'));
  const out = fs.openSync(path.join(dir, 'out'), 'w');
  const err = fs.openSync(path.join(dir, 'err'), 'w');
  return new Promise((resolve) => {
    const c = spawn(MOAT, ['--root', root, ...args], { env: served(), stdio: ['ignore', out, err] });
    fs.closeSync(out);
    fs.closeSync(err);
    c.on('exit', (status) => {
      const r = { status, stdout: fs.readFileSync(path.join(dir, 'out'), 'utf8'), stderr: fs.readFileSync(path.join(dir, 'err'), 'utf8') };
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(r);
    });
  });
}

test('many commands on the same containers at once: the service serialises them by the state lock, without stalling or deadlocking', async () => {
  const b = makeBundle(['sleep', '30']);
  try {
    const ids = Array.from({ length: 6 }, (_, i) => `many${i}`);
    const all = async (args: (id: string) => string[]) => {
      const rs = await Promise.all(ids.flatMap((id) => [servedAsync(args(id)), servedAsync(['state', id])]));
      return rs.filter((_, i) => i % 2 === 0);
    };
    for (const r of await all((id) => ['create', '--bundle', b.dir, id])) assert.equal(r.status, 0, r.stderr);
    for (const r of await all((id) => ['start', id])) assert.equal(r.status, 0, r.stderr);
    const states = await Promise.all(ids.map((id) => servedAsync(['state', id])));
    for (const s of states) assert.equal(JSON.parse(s.stdout).status, 'running');
    for (const r of await all((id) => ['kill', id, 'KILL'])) assert.equal(r.status, 0, r.stderr);
    for (const r of await all((id) => ['delete', '--force', id])) assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(root), []);
  } finally {
    for (const i of [0, 1, 2, 3, 4, 5]) moat(root, ['delete', '--force', `many${i}`]);
    b.cleanup();
  }
});

test('a front-end killed while its run waits: the service ends the run as if the container was killed, and deletes it', async () => {
  const b = makeBundle(['sleep', '60']);
  try {
    const fdsBefore = serviceFds();
    const p = spawn(MOAT, ['--root', root, 'run', '--bundle', b.dir, 'abandoned'], { env: served(), stdio: 'ignore' });
    await waitFor('the container to run', () => moat(root, ['state', 'abandoned']).stdout.includes('"running"'), 20_000);
    p.kill('SIGKILL');
    await waitFor('the service to delete it', () => moat(root, ['state', 'abandoned']).status === 1, 20_000);
    assert.deepEqual(fs.readdirSync(root), []);
    await waitFor('the service to close what the run used', () => serviceFds() <= fdsBefore, 5000);
  } finally {
    moat(root, ['delete', '--force', 'abandoned']);
    b.cleanup();
  }
});

test('the service listens only in a private directory of its own, and never changes one it did not make', () => {
  const open = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-svc-open-'));
  try {
    fs.chmodSync(open, 0o755);
    const r = spawnSync(MOAT, ['service', '--socket', path.join(open, 's.sock')], { env: daemonless(), encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /not a directory of uid 0 with mode 0700 .*refusing to listen there/);
    assert.equal(fs.statSync(open).mode & 0o7777, 0o755);
    fs.writeFileSync(path.join(open, 'file'), 'x');
    fs.chmodSync(open, 0o700);
    const f = spawnSync(MOAT, ['service', '--socket', path.join(open, 'file')], { env: daemonless(), encoding: 'utf8', timeout: 30_000 });
    assert.equal(f.status, 2);
    assert.match(f.stderr, /exists and is not a socket: refusing to replace it/);
    assert.equal(fs.readFileSync(path.join(open, 'file'), 'utf8'), 'x');
    // The running service's own directory and socket.
    assert.equal(fs.statSync(path.dirname(sock)).mode & 0o777, 0o700);
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
  } finally {
    fs.rmSync(open, { recursive: true, force: true });
  }
});

/** Send raw bytes to the service; resolves to what it answered before closing. */
function raw(bytes: Buffer, closeAfterMs = 2000): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = net.connect(sock);
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    s.on('error', () => undefined);
    s.on('connect', () => {
      if (bytes.length) s.write(bytes);
    });
    const t = setTimeout(() => s.destroy(), closeAfterMs);
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(got));
    });
  });
}

function request(argv: string[], env: string[] = [], cwd = '/', counts?: [number, number]): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(counts?.[0] ?? argv.length, 0);
  head.writeUInt32LE(counts?.[1] ?? env.length, 4);
  const body = Buffer.concat([head, ...[cwd, ...argv, ...env].map((s) => Buffer.from(s + '\0'))]);
  const f = Buffer.alloc(5);
  f.writeUInt32LE(body.length + 1, 0);
  f[4] = 0x52;
  return Buffer.concat([f, body]);
}

test('hostile bytes on the socket: refused, the service stays up and keeps no fds', async () => {
  const fdsBefore = serviceFds();
  const big = Buffer.alloc(5);
  big.writeUInt32LE(0xfffffff0, 0);
  big[4] = 0x52;
  const answers = await Promise.all([
    raw(big),
    raw(Buffer.from([1, 0, 0, 0, 0x57])), // not a request
    raw(Buffer.from([0, 0, 0, 0, 0])), // an empty frame
    raw(request(['state', 'x'], [], '/', [5, 0])), // counts that do not match
    raw(request(['state', 'x'], ['NOEQUALS'])),
    raw(request(['state', 'x'], [], 'relative/cwd')),
    raw(Buffer.concat([request(['state', 'x']).subarray(0, 7)]), 300), // half a request, then gone
    raw(Buffer.alloc(0), 300), // connects, says nothing, goes
    raw(Buffer.concat([request(['--root', '/tmp', 'state', 'x']), Buffer.from([9, 0, 0, 0, 0x50, 1, 2, 3, 4, 5, 6, 7, 8])])), // a stray frame after
    raw(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff))),
  ]);
  for (const a of answers.slice(0, 6)) assert.match(a.toString('latin1'), /moat: service: bad request: /);
  // Many front-ends that go away mid-request, and many that finish.
  await Promise.all(Array.from({ length: 40 }, (_, i) => raw(request(['--root', root, 'state', `x${i}`]).subarray(0, 20 + i), 200)));
  for (let i = 0; i < 40; i++) assert.equal(run(served(), ['state', `y${i}`]).status, 1);
  await waitFor('the service to close every connection', () => serviceFds() <= fdsBefore, 10_000);
  // Still answering, the same way.
  both((id) => ['state', id]);
  assert.equal(service!.exitCode, null);
});

test('the service gone: a stale socket and no socket fall back to Node; one that dies mid-command is reported', async () => {
  const b = makeBundle(['sleep', '30']);
  try {
    // Dies while a run waits: the front-end says so, non-zero.
    const p = spawn(MOAT, ['--root', root, 'run', '--bundle', b.dir, 'orphan'], { env: served(), stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor('the container to run', () => moat(root, ['state', 'orphan']).stdout.includes('"running"'), 20_000);
    service!.kill('SIGKILL');
    // 'close', not 'exit': its stderr is read to the end first.
    const code = await new Promise<number | null>((r) => p.on('close', (c) => r(c)));
    assert.equal(code, 125);
    assert.match(err, /the moat service closed the connection before answering/);
    // The socket file is left behind by the killed service: nobody listens, Node runs the command.
    assert.ok(fs.existsSync(sock));
    const del = run(served(), ['delete', '--force', 'orphan']);
    assert.equal(del.status, 0, del.stderr);
    fs.rmSync(sock);
    both((id) => ['state', id]);
    // And a new service replaces a stale socket.
    await startService();
    both((id) => ['state', id]);
  } finally {
    moat(root, ['delete', '--force', 'orphan']);
    b.cleanup();
  }
});
