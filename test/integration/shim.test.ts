// containerd-shim-moat-v2's actions on their own, as containerd runs them: two `start`s of one pod
// at once find one server; `delete` of a container that is not there answers a DeleteResponse;
// Shutdown with no task ends the server and removes its socket.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { decode, encode } from '../../src/shim/proto';
import { TtrpcClient } from '../../src/shim/ttrpc/client';
import { REPO } from '../helpers/moat';
import { shimServersOf } from '../helpers/shim-servers';

const SHIM = path.join(REPO, 'bin', 'containerd-shim-moat-v2');

function startAsync(bundle: string, id: string, address: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(SHIM, ['-namespace', 'moat-shim-test', '-address', address, '-publish-binary', '', '-id', id, 'start'], { cwd: bundle, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    c.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    c.on('close', (status) => resolve({ status, out }));
  });
}

function bundleFor(dir: string, id: string, sandbox: string): string {
  const b = path.join(dir, id);
  fs.mkdirSync(b, { recursive: true });
  fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations: { 'io.kubernetes.cri.sandbox-id': sandbox } }));
  return b;
}


test('shim start: two containers of one pod at once share one server; Shutdown ends it and its socket', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-shim-'));
  const address = path.join(dir, 'containerd.sock'); // never dialled: no task is created
  try {
    const [a, b] = await Promise.all([startAsync(bundleFor(dir, 'pause', 'pod1'), 'pause', address), startAsync(bundleFor(dir, 'app', 'pod1'), 'app', address)]);
    assert.equal(a.status, 0, a.out);
    assert.equal(b.status, 0, b.out);
    assert.match(a.out, /^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/);
    assert.equal(a.out, b.out, 'one address for the pod');
    assert.equal(fs.readFileSync(path.join(dir, 'app', 'address'), 'utf8'), a.out);
    assert.equal(shimServersOf(address).length, 1, 'one server');
    const sock = a.out.slice('unix://'.length);
    const c = await TtrpcClient.connect(sock);
    const conn = decode('containerd.task.v2.ConnectResponse', await c.call('containerd.task.v2.Task', 'Connect', encode('containerd.task.v2.ConnectRequest', { id: 'app' })));
    assert.equal(String(conn.shimPid), shimServersOf(address)[0]);
    await c.call('containerd.task.v2.Task', 'Shutdown', encode('containerd.task.v2.ShutdownRequest', { id: 'app' }));
    c.close();
    const end = Date.now() + 10_000;
    while ((shimServersOf(address).length > 0 || fs.existsSync(sock)) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.equal(shimServersOf(address).length, 0, 'the server exited');
    assert.ok(!fs.existsSync(sock), 'its socket is gone');
  } finally {
    for (const p of shimServersOf(address)) process.kill(Number(p), 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('shim delete of a container that is not there: a DeleteResponse, exit 137', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-shim-'));
  try {
    const r = spawnSync(SHIM, ['-namespace', 'moat-shim-test', '-address', '/nonexistent.sock', '-publish-binary', '', '-id', 'gone', '-bundle', dir, 'delete'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr.toString());
    const res = decode('containerd.task.v2.DeleteResponse', r.stdout);
    assert.equal(res.exitStatus, 137);
    assert.equal(res.pid, 0);
    assert.ok(res.exitedAt.seconds > 0);
    const bad = spawnSync(SHIM, ['-namespace', '../etc', '-id', 'x', 'delete'], { cwd: dir });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr.toString(), /-namespace: invalid containerd namespace/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('shim rootfs mounts (mount(2) through the addon): a read-only rbind, taken back whole; a refused option leaves nothing mounted', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const { mountRootfs, unmountRootfs } = await import('../../src/shim/mounts');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-shim-mounts-'));
  const mounted = (p: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === p);
  try {
    const src = path.join(dir, 'layer');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'f'), 'x');
    const bundle = path.join(dir, 'bundle');
    fs.mkdirSync(bundle);
    const rootfs = path.join(bundle, 'rootfs');
    await mountRootfs(bundle, [{ type: 'bind', source: src, options: ['rbind', 'ro'] }]);
    assert.equal(fs.readFileSync(path.join(rootfs, 'f'), 'utf8'), 'x');
    assert.throws(() => fs.writeFileSync(path.join(rootfs, 'g'), 'y'), { code: 'EROFS' });
    assert.match(mounted(rootfs)[0] ?? '', / ro[, ]/, 'remounted read-only');
    await unmountRootfs(bundle);
    assert.deepEqual(mounted(rootfs), []);
    // Two layers (a tmpfs under a bind), both taken back; an idmap option refused by name, the first layer undone.
    await mountRootfs(bundle, [{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'nosuid'] }, { type: 'bind', source: src, options: ['bind'] }]);
    assert.equal(mounted(rootfs).length, 2);
    await unmountRootfs(bundle);
    assert.deepEqual(mounted(rootfs), []);
    await assert.rejects(mountRootfs(bundle, [{ type: 'tmpfs', source: 'tmpfs', options: [] }, { type: 'bind', source: src, options: ['rbind', 'idmap'] }]), /rootfs\[1\]\.options\[1\]: idmap mounts are not supported/);
    assert.deepEqual(mounted(rootfs), []);
    await assert.rejects(mountRootfs(bundle, [{ type: 'nosuchfs', source: 'x', options: [] }]), /rootfs\[0\]: mounting nosuchfs on .* failed: ENODEV/);
    assert.deepEqual(mounted(rootfs), []);
  } finally {
    spawnSync('umount', ['-R', '-l', path.join(dir, 'bundle', 'rootfs')], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
