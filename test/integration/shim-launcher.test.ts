// containerd-shim-moat-v2 is a small C program (native/shim-launcher/, docs/shim.md "Start-up"):
// `start` and `delete` after a normal end run there, everything else is the Node shim. These tests
// hold it to the TypeScript it replaced: the same socket for the same pod (address.ts socketPath and
// groupOf), the same DeleteResponse bytes (delete.ts deleteResponse), config.json read strictly and
// never crashing on hostile bytes, a stale socket replaced, and nothing left behind.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { bundleAnnotations, groupOf, socketPath } from '../../src/shim/address';
import { deleteResponse } from '../../src/shim/delete';
import { decode, encode } from '../../src/shim/proto';
import { TtrpcClient } from '../../src/shim/ttrpc/client';
import { REPO } from '../helpers/moat';
import { shimServersOf } from '../helpers/shim-servers';

const SHIM = path.join(REPO, 'bin', 'containerd-shim-moat-v2');
const NS = 'moat-shim-launcher-test';
const root = process.getuid?.() !== 0 && 'needs root';

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

function shim(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(SHIM, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.setEncoding('latin1').on('data', (s: string) => (out += s));
    c.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    c.on('close', (status, signal) => resolve({ status, signal, out, err }));
  });
}

const start = (bundle: string, id: string, address: string) => shim(['-namespace', NS, '-address', address, '-publish-binary', '', '-id', id, 'start'], bundle);


async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
}

/** Ask a server to shut down (no task: it exits and removes its socket). */
async function shutdown(sock: string): Promise<void> {
  const c = await TtrpcClient.connect(sock);
  await c.call('containerd.task.v2.Task', 'Shutdown', encode('containerd.task.v2.ShutdownRequest', { id: 'x' }));
  c.close();
}

function bundle(dir: string, name: string, config: string | Buffer): string {
  const b = path.join(dir, name);
  fs.mkdirSync(b, { recursive: true });
  fs.writeFileSync(path.join(b, 'config.json'), config);
  return b;
}

test('launcher start: one pod started twice (at once, then again) has one server at the socket address.ts names; Shutdown leaves nothing', { skip: root }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-launcher-'));
  const address = path.join(dir, 'containerd.sock');
  const spec = JSON.stringify({ ociVersion: '1.0.2', annotations: { 'io.kubernetes.cri.sandbox-id': 'pod-a' } });
  const sock = socketPath(address, NS, 'pod-a');
  try {
    const [a, b] = await Promise.all([start(bundle(dir, 'pause', spec), 'pause', address), start(bundle(dir, 'app', spec), 'app', address)]);
    assert.equal(a.status, 0, a.err);
    assert.equal(b.status, 0, b.err);
    assert.equal(a.out, `unix://${sock}`, 'the socket of the TypeScript scheme');
    assert.equal(b.out, a.out);
    assert.equal(fs.readFileSync(path.join(dir, 'pause', 'address'), 'utf8'), a.out);
    assert.equal((fs.statSync(path.join(dir, 'app', 'address')).mode & 0o777).toString(8), '600');
    assert.equal(shimServersOf(address).length, 1, 'one server');
    const [pid] = shimServersOf(address);
    // A later container of the pod finds it.
    const c = await start(bundle(dir, 'third', spec), 'third', address);
    assert.equal(c.status, 0, c.err);
    assert.equal(c.out, a.out);
    assert.deepEqual(shimServersOf(address), [pid]);
    // The server is in a session of its own, its cwd /, its fd 0-2 not containerd's pipes.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    assert.equal(stat[3], pid, 'its own session');
    assert.equal(fs.readlinkSync(`/proc/${pid}/cwd`), '/');
    assert.equal(fs.readlinkSync(`/proc/${pid}/fd/0`), '/dev/null');
    assert.deepEqual(fs.readdirSync(`/proc/${pid}/fd`).map(Number).filter((fd) => fd <= 3).sort(), [0, 1, 2], 'the ready pipe closed once it listens');
    await shutdown(sock);
    await until(() => shimServersOf(address).length === 0 && !fs.existsSync(sock));
    assert.equal(shimServersOf(address).length, 0, 'the server exited');
    assert.ok(!fs.existsSync(sock), 'its socket is gone');
  } finally {
    for (const p of shimServersOf(address)) process.kill(Number(p), 'SIGKILL');
    fs.rmSync(sock, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('launcher start: a stale socket file (its server SIGKILLed, nobody listening) is replaced by a new server, with MOAT_SHIM_NODE_FLAGS', { skip: root }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-launcher-'));
  const address = path.join(dir, 'containerd.sock');
  const sock = socketPath(address, NS, 'lonely');
  try {
    // A socket file nobody listens on: bound, then the listener gone without unlinking it.
    fs.mkdirSync(path.dirname(sock), { recursive: true });
    const r = spawnSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.ok(fs.statSync(sock).isSocket());
    // MOAT_SHIM_NODE_FLAGS reaches the server's Node (flags only: a word without `--` is dropped).
    const env = { ...process.env, MOAT_SHIM_NODE_FLAGS: '--stack-size=900 serve --max-semi-space-size=8' };
    const s = await shim(['-namespace', NS, '-address', address, '-publish-binary', '', '-id', 'lonely', 'start'], bundle(dir, 'lonely', '{"ociVersion":"1.0.2"}'), env);
    assert.equal(s.status, 0, s.err);
    assert.equal(s.out, `unix://${sock}`);
    assert.equal(shimServersOf(address).length, 1);
    const argv = fs.readFileSync(`/proc/${shimServersOf(address)[0]}/cmdline`, 'utf8').split('\0').filter(Boolean);
    assert.deepEqual(argv.slice(1, 3), ['--stack-size=900', '--max-semi-space-size=8']);
    assert.equal(argv.filter((a) => a === 'serve').length, 1, 'the stray word dropped');
    assert.equal(argv.at(-1), 'serve');
    const c = await TtrpcClient.connect(sock);
    const conn = decode('containerd.task.v2.ConnectResponse', await c.call('containerd.task.v2.Task', 'Connect', encode('containerd.task.v2.ConnectRequest', { id: 'lonely' })));
    c.close();
    assert.equal(String(conn.shimPid), shimServersOf(address)[0]);
    await shutdown(sock);
    await until(() => shimServersOf(address).length === 0 && !fs.existsSync(sock));
    assert.ok(!fs.existsSync(sock));
  } finally {
    for (const p of shimServersOf(address)) process.kill(Number(p), 'SIGKILL');
    fs.rmSync(sock, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Where `start` sends a container with this config.json, without forking a server: a listener
 * stands at the socket of the group the TypeScript picks (groupOf(bundleAnnotations)), so a
 * launcher that agrees prints it at once; one that disagrees would fork a server (killed after).
 */
class Listeners {
  private readonly servers = new Map<string, net.Server>();
  constructor(readonly address: string) {}
  async at(group: string): Promise<string> {
    const sock = socketPath(this.address, NS, group);
    if (!this.servers.has(sock)) {
      fs.mkdirSync(path.dirname(sock), { recursive: true });
      fs.rmSync(sock, { force: true });
      const srv = net.createServer((c) => c.destroy());
      await new Promise<void>((r) => srv.listen(sock, r));
      this.servers.set(sock, srv);
    }
    return sock;
  }
  async close(): Promise<void> {
    for (const [sock, srv] of this.servers) {
      await new Promise((r) => srv.close(r));
      fs.rmSync(sock, { force: true });
    }
    for (const p of shimServersOf(this.address)) process.kill(Number(p), 'SIGKILL');
  }
}

const withAnnotations = (a: string) => `{"ociVersion":"1.0.2","process":{"args":["true"]},"annotations":${a}}`;

test('launcher start: config.json groups as JSON.parse and groupOf do, or fails naming the file and byte; hostile bytes never crash it', { skip: root }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-launcher-'));
  const l = new Listeners(path.join(dir, 'containerd.sock'));
  try {
    const grouped: [string, string | Buffer][] = [
      ['plain', withAnnotations('{"io.kubernetes.cri.sandbox-id":"pod1"}')],
      ['no annotations', '{"ociVersion":"1.0.2"}'],
      ['annotations null', withAnnotations('null')],
      ['annotations an array', withAnnotations('["io.kubernetes.cri.sandbox-id","pod1"]')],
      ['id a number', withAnnotations('{"io.kubernetes.cri.sandbox-id":12}')],
      ['id an object', withAnnotations('{"io.kubernetes.cri.sandbox-id":{"a":"pod1"}}')],
      ['id empty', withAnnotations('{"io.kubernetes.cri.sandbox-id":""}')],
      ['id with a slash', withAnnotations('{"io.kubernetes.cri.sandbox-id":"../pod1"}')],
      ['id non-ASCII', withAnnotations('{"io.kubernetes.cri.sandbox-id":"pod\u00e9"}')],
      ['id escaped non-ASCII', withAnnotations('{"io.kubernetes.cri.sandbox-id":"pod\\u00e9"}')],
      ['id with \\u0000', withAnnotations('{"io.kubernetes.cri.sandbox-id":"pod\\u0000"}')],
      ['id 1024 chars', withAnnotations(`{"io.kubernetes.cri.sandbox-id":"${'p'.repeat(1024)}"}`)],
      ['id 1025 chars', withAnnotations(`{"io.kubernetes.cri.sandbox-id":"${'p'.repeat(1025)}"}`)],
      ['id of 4 MiB', withAnnotations(`{"io.kubernetes.cri.sandbox-id":"${'p'.repeat(4 << 20)}"}`)],
      ['key and id escaped', withAnnotations('{"io.kubernetes.cri.sandbox\\u002did":"p\\u006fd2"}')],
      ['id repeated: the last counts', withAnnotations('{"io.kubernetes.cri.sandbox-id":"pod1","io.kubernetes.cri.sandbox-id":"pod2"}')],
      ['annotations repeated: the last counts', '{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1"},"annotations":{}}'],
      ['the key nested, not an annotation', '{"process":{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1"}},"x":[{"annotations":{"io.kubernetes.cri.sandbox-id":"pod3"}}]}'],
      ['the top level an array', '[{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1"}}]'],
      ['the top level null', 'null'],
      ['numbers and literals', '{"a":[-0,1.5e+3,2E-7,0.25,true,false,null,"\\b\\f\\n\\r\\t\\"\\\\"],"annotations":{"io.kubernetes.cri.sandbox-id":"pod1"}}'],
      ['invalid UTF-8 in other strings', Buffer.concat([Buffer.from('{"env":"'), Buffer.from([0xff, 0xc0, 0x80, 0xed, 0xa0, 0x80]), Buffer.from('","annotations":{"io.kubernetes.cri.sandbox-id":"pod1"}}')])],
      ['nested 200 deep', `{"a":${'['.repeat(200)}${']'.repeat(200)},"annotations":{"io.kubernetes.cri.sandbox-id":"pod1"}}`],
      ['whitespace everywhere', ' \n\t{ "annotations" :\r{ "io.kubernetes.cri.sandbox-id" : "pod1" } } \n'],
    ];
    for (const [name, config] of grouped) {
      const id = `c-${name.replace(/[^a-z0-9]/gi, '')}`.slice(0, 60);
      const b = bundle(dir, id, config);
      const group = groupOf(id, bundleAnnotations(b));
      const sock = await l.at(group);
      const r = await start(b, id, l.address);
      assert.equal(r.status, 0, `${name}: ${r.err}`);
      assert.equal(r.out, `unix://${sock}`, `${name}: grouped by ${group}`);
    }
    const refused: [string, string | Buffer, RegExp][] = [
      ['empty', '', /expected a value at byte 0/],
      ['truncated', withAnnotations('{"io.kubernetes.cri.sandbox-id":"pod1"'), /expected ',' or '}' at byte \d+/],
      ['bad escape', withAnnotations('{"io.kubernetes.cri.sandbox-id":"pod\\x1"}'), /bad escape at byte \d+/],
      ['bad \\u escape', withAnnotations('{"io.kubernetes.cri.sandbox-id":"pod\\u12G4"}'), /bad \\u escape/],
      ['truncated \\u escape', '{"a":"\\u12', /truncated \\u escape/],
      ['a raw newline in a string', '{"a":"x\ny"}', /control character in a string at byte 7/],
      ['unterminated string', '{"a":"xy', /unterminated string/],
      ['a trailing comma', '{"a":1,}', /expected a string key/],
      ['single quotes', "{'a':1}", /expected a string key/],
      ['a bare word', '{"a":nope}', /unexpected character/],
      ['a leading zero', '{"a":01}', /expected ',' or '}'/],
      ['a lone minus', '{"a":-}', /bad number/],
      ['a dot with no digits', '{"a":1.}', /expected a digit/],
      ['two values', '{} {}', /unexpected data after the JSON value/],
      ['a byte-order mark', '\ufeff{}', /unexpected character at byte 0/],
      ['a NUL', '{"a":1}\0', /unexpected data after the JSON value at byte 7/],
      ['nested 100000 deep', '['.repeat(100_000), /nested deeper than 256 levels at byte 256/],
      ['objects nested 300 deep', '{"a":'.repeat(300) + '1' + '}'.repeat(300), /nested deeper than 256 levels/],
      ['larger than 16 MiB', `{"a":"${'x'.repeat(16 << 20)}"}`, /config\.json: larger than 16 MiB/],
    ];
    for (const [name, config, why] of refused) {
      const b = bundle(dir, 'refused', config);
      const r = await start(b, 'refused', l.address);
      assert.equal(r.status, 1, `${name}: refused`);
      assert.equal(r.out, '', name);
      assert.match(r.err, /^containerd-shim-moat-v2: .*config\.json: /, `${name}: names the file`);
      assert.match(r.err, why, name);
      // JSON.parse refuses the same, but for the two bounds (docs/shim.md): 300 levels are JSON,
      // deeper than any OCI spec; 16 MiB is not checked here.
      if (name === 'objects nested 300 deep') assert.doesNotThrow(() => JSON.parse(config as string));
      else if (typeof config === 'string' && config.length < 1 << 20) assert.throws(() => JSON.parse(config), `${name}: JSON.parse refuses it too`);
    }
    const none = await start(fs.mkdtempSync(path.join(dir, 'empty-')), 'none', l.address);
    assert.equal(none.status, 1);
    assert.match(none.err, /config\.json: cannot open: No such file or directory/);
    assert.equal(shimServersOf(l.address).length, 0, 'no server was forked');

    // Fuzz: a valid spec with bytes flipped, cut or repeated. The launcher must never crash; when
    // JSON.parse takes the result it groups as groupOf does, when JSON.parse refuses it, it refuses.
    const base = Buffer.from(withAnnotations('{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-id":"pod1","x":"\\u00e9\\n"}'));
    let seed = 15;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const alphabet = Buffer.from('{}[]":,\\u0123456789abcdefnrtx.-+eE \n\x00\x1f\x7f\xff');
    for (let i = 0; i < 250; i++) {
      const m = Buffer.from(base);
      const kind = rand(3);
      let bytes = m;
      if (kind === 0) for (let k = 0; k <= rand(3); k++) m[rand(m.length)] = alphabet[rand(alphabet.length)]!;
      else if (kind === 1) bytes = m.subarray(0, rand(m.length));
      else {
        const at = rand(m.length);
        bytes = Buffer.concat([m.subarray(0, at), m.subarray(at - rand(Math.min(at, 20)), at), m.subarray(at)]);
      }
      const b = bundle(dir, 'fuzz', bytes);
      let parsed = true;
      try {
        JSON.parse(bytes.toString('utf8'));
      } catch {
        parsed = false;
      }
      const sock = parsed ? await l.at(groupOf('fuzz', bundleAnnotations(b))) : undefined;
      const r = await start(b, 'fuzz', l.address);
      const what = `case ${i}: ${JSON.stringify(bytes.toString('latin1'))}: ${r.err}`;
      assert.equal(r.signal, null, what);
      if (parsed) {
        assert.equal(r.status, 0, what);
        assert.equal(r.out, `unix://${sock}`, what);
      } else {
        assert.equal(r.status, 1, what);
        assert.match(r.err, /config\.json: not JSON: /, what);
      }
    }
    assert.equal(shimServersOf(l.address).length, 0, 'no server was forked');
  } finally {
    await l.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('launcher delete after a normal end: the DeleteResponse bytes of delete.ts, a stale socket and the empty state root removed, no Node', { skip: root }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-launcher-'));
  const prof = path.join(dir, 'profile');
  const env = { ...process.env, MOAT_PROFILE: '1', MOAT_PROFILE_FILE: prof };
  const ns = `${NS}-del`;
  const stateRoot = path.join('/run/moat-shim', ns);
  const stale = path.join('/run/containerd/s', `moat-launcher-test-${process.pid}`);
  try {
    fs.mkdirSync(stateRoot, { recursive: true });
    fs.mkdirSync(path.dirname(stale), { recursive: true });
    spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`]);
    assert.ok(fs.existsSync(stale));
    const b = path.join(dir, 'bundle');
    fs.mkdirSync(path.join(b, 'rootfs'), { recursive: true });
    fs.writeFileSync(path.join(b, 'address'), `unix://${stale}`);
    const before = Date.now();
    const r = spawnSync(SHIM, ['-namespace', ns, '-address', '/x.sock', '-publish-binary', '', '-id', 'gone', '-bundle', b, 'delete'], { cwd: '/', env });
    const after = Date.now();
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stderr.length, 0);
    const res = decode('containerd.task.v2.DeleteResponse', r.stdout);
    const ms = Number(res.exitedAt.seconds) * 1000 + res.exitedAt.nanos / 1e6;
    assert.ok(ms >= Math.floor(before / 1000) * 1000 && ms <= after, 'exited now');
    assert.deepEqual(r.stdout, deleteResponse(0, 137, new Date(ms)), 'byte for byte the TypeScript encoding');
    assert.ok(!fs.existsSync(stale), 'the dead server socket is removed');
    assert.ok(!fs.existsSync(stateRoot), 'the empty state root is removed');
    assert.match(fs.readFileSync(prof, 'utf8'), /^shim delete \d+: native launcher/, 'done in C');
    // The same through the Node shim (MOAT_SHIM_LAUNCHER=node, what ran before): the same fields.
    const n = spawnSync(SHIM, ['-namespace', ns, '-address', '/x.sock', '-publish-binary', '', '-id', 'gone', '-bundle', b, 'delete'], { cwd: '/', env: { ...env, MOAT_SHIM_LAUNCHER: 'node' } });
    assert.equal(n.status, 0, n.stderr.toString());
    const nres = decode('containerd.task.v2.DeleteResponse', n.stdout);
    assert.deepEqual(n.stdout, deleteResponse(0, 137, new Date(Number(nres.exitedAt.seconds) * 1000 + nres.exitedAt.nanos / 1e6)));
    assert.match(fs.readFileSync(prof, 'utf8'), /shim delete \d+: code cache/, 'done by the Node shim');
    // A relative -bundle and none (the working directory) are the same bundle.
    fs.writeFileSync(prof, '');
    for (const args of [['-bundle', 'bundle'], []]) {
      const x = spawnSync(SHIM, ['-namespace', ns, '-id', 'gone', ...args, 'delete'], { cwd: args.length ? dir : b, env });
      assert.equal(x.status, 0, x.stderr.toString());
      assert.equal(decode('containerd.task.v2.DeleteResponse', x.stdout).exitStatus, 137);
    }
    assert.doesNotMatch(fs.readFileSync(prof, 'utf8'), /code cache/, 'no Node');
  } finally {
    fs.rmSync(stale, { force: true });
    fs.rmSync(stateRoot, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('launcher delete: a rootfs still mounted, or a state record, goes to the Node shim (which unmounts it); odd command lines too', { skip: root }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat launcher ')); // a space: mountinfo's \040
  const prof = path.join(dir, 'profile');
  const env = { ...process.env, MOAT_PROFILE: '1', MOAT_PROFILE_FILE: prof };
  const b = path.join(dir, 'bundle');
  const rootfs = path.join(b, 'rootfs');
  const mounted = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === rootfs.replace(/ /g, '\\040'));
  try {
    fs.mkdirSync(rootfs, { recursive: true });
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', rootfs]).status, 0);
    assert.ok(mounted());
    const r = spawnSync(SHIM, ['-namespace', NS, '-id', 'gone', '-bundle', b, 'delete'], { cwd: '/', env });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(decode('containerd.task.v2.DeleteResponse', r.stdout).exitStatus, 137);
    assert.ok(!mounted(), 'the Node shim unmounted it');
    assert.match(fs.readFileSync(prof, 'utf8'), /shim delete \d+: code cache/, 'done by the Node shim');
    // A state record (here an empty one) is moat's runtime's to clean up: the Node shim's.
    const record = path.join('/run/moat-shim', `${NS}-rec`, 'left');
    fs.mkdirSync(record, { recursive: true });
    fs.writeFileSync(prof, '');
    const rec = spawnSync(SHIM, ['-namespace', `${NS}-rec`, '-id', 'left', '-bundle', b, 'delete'], { cwd: '/', env });
    assert.equal(rec.status, 0, rec.stderr.toString());
    assert.equal(decode('containerd.task.v2.DeleteResponse', rec.stdout).exitStatus, 137);
    assert.match(fs.readFileSync(prof, 'utf8'), /shim delete \d+: code cache/, 'done by the Node shim');
    assert.ok(!fs.existsSync(path.dirname(record)), 'the record and its empty root removed');
    // Odd command lines are the Node shim's, with its errors.
    const bad = spawnSync(SHIM, ['-namespace', '../etc', '-id', 'x', 'delete'], { cwd: dir });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr.toString(), /^containerd-shim-moat-v2: -namespace: invalid containerd namespace/);
    const unknown = spawnSync(SHIM, ['-namespace', NS, '-nosuch', 'start'], { cwd: dir });
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr.toString(), /unknown flag -nosuch/);
    const two = spawnSync(SHIM, ['-namespace', NS, 'start', 'delete'], { cwd: dir });
    assert.match(two.stderr.toString(), /expected one action/);
    assert.match(spawnSync(SHIM, ['-v']).stdout.toString(), /^containerd-shim-moat-v2:\n {2}Version: /);
  } finally {
    fs.rmSync(path.join('/run/moat-shim', `${NS}-rec`), { recursive: true, force: true });
    spawnSync('umount', ['-l', rootfs], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('launcher: nothing of these tests is left (servers, state roots)', { skip: root }, async () => {
  const ours = () =>
    fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').some((a) => a.startsWith(NS));
      } catch {
        return false;
      }
    });
  await until(() => ours().length === 0, 5000);
  assert.deepEqual(ours(), [], 'no process of this file');
  const roots = fs.existsSync('/run/moat-shim') ? fs.readdirSync('/run/moat-shim').filter((d) => d.startsWith(NS)) : [];
  assert.deepEqual(roots, [], 'no state root of this file');
});
