// vm start-up from a template (docs/vm.md#templates), with real QEMU. Two first starts at once: one
// template is made (one boot) and both start from it; then it is corrupted and the next container
// boots cold. The other vm tests run from templates too (the default template root).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, MOAT, moatDetached, waitFor, type MoatResult } from '../helpers/moat';
import { inNs, netnsHolder, vethPair } from '../helpers/netns';
import { sys } from '../../src/sys';

let root: string;
containerSuite(
  (r) => {
    root = r;
    // Base images of this file's bundles in its own vm cache (removed below), not /var/lib/moat.
    process.env.MOAT_VM_IMAGES = path.join(r, '@vm', 'images');
  },
  () => fs.rmSync(path.join(root, '@vm'), { recursive: true, force: true }),
);

const hasKernel = fs.existsSync('/boot') && fs.readdirSync('/boot').some((n) => /^vmlinuz-.*-cloud-amd64$/.test(n));
const skip = hasKernel ? false : 'linux-image-cloud-amd64 is not installed (sh scripts/setup.sh test)';
const VM_TIMEOUT = 240_000;

/** Its own marker file in its rootfs, the guest's clock, 32 random bytes, the kernel's getrandom-backed boot id. */
const SCRIPT = 'cat /marker; date +%s; head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n"; echo; cat /proc/sys/kernel/random/boot_id';

function run(id: string, env: NodeJS.ProcessEnv, marker: string, script = SCRIPT, edit?: (c: any) => void): Promise<MoatResult & { lines: string[]; hostTime: number }> {
  const b = makeBundle(['sh', '-c', script], edit);
  fs.writeFileSync(path.join(b.rootfs, 'marker'), `${marker}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(MOAT, ['--root', root, '--debug', '--isolation=vm', 'run', '--bundle', b.dir, id], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hostTime = 0;
    child.stdout.on('data', (d: Buffer) => {
      if (!hostTime) hostTime = Date.now() / 1000;
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), VM_TIMEOUT);
    child.once('error', reject);
    child.once('exit', (status, signal) => {
      clearTimeout(timer);
      b.cleanup();
      resolve({ status, signal, stdout, stderr, lines: stdout.trim().split('\n'), hostTime });
    });
  });
}

function qemusNaming(dir: string): number[] {
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmd.startsWith('qemu-system') && cmd.includes(dir);
    } catch {
      return false;
    }
  });
}

test('vm templates: two first starts at once make one template and both restore it, each with its own rootfs, clock and randomness; idle clones map one sealed memory; a corrupt template is discarded and the container boots cold; a QEMU killed while it restores: a cold boot too, nothing left', { skip, timeout: 3 * VM_TIMEOUT }, async () => {
  const templates = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-templates-'));
  // Every moat of this test (the helpers' too) uses this test's own template directory.
  const before = process.env.MOAT_VM_TEMPLATES;
  process.env.MOAT_VM_TEMPLATES = templates;
  const env = process.env;
  try {
    // Two first starts at once: one makes the template (under its lock), the other waits for it;
    // both then start from it, as every later container does.
    const [a, b] = await Promise.all([run('tpl-a', env, 'rootfs-a'), run('tpl-b', env, 'rootfs-b')]);
    const keys = fs.readdirSync(templates).filter((n) => /^[0-9a-f]{32}$/.test(n));
    assert.equal(keys.length, 1, `one template: ${fs.readdirSync(templates).join(' ')}`);
    assert.equal([a, b].filter((r) => /vm: template [0-9a-f]{32} made in \d+ ms/.test(r.stderr)).length, 1, 'made once');
    const dir = path.join(templates, keys[0]!);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['memory', 'meta.json', 'state'], 'only the memory, the device state and their meta are kept');
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    for (const f of ['memory', 'meta.json', 'state']) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o777, 0o600, `${f}: root's only`);
    for (const [r, id, marker] of [[a, 'tpl-a', 'rootfs-a'], [b, 'tpl-b', 'rootfs-b']] as const) {
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`vm: ${id} restored from template ${keys[0]}`));
      assert.equal(r.lines[0], marker, `${id} sees its own rootfs, not the template's placeholder`);
      // The guest's clock is the host's (the template's was saved earlier: RESTORE sets it).
      const guest = Number(r.lines[1]);
      assert.ok(Math.abs(guest - r.hostTime) <= 2, `${id}: guest clock ${guest} vs host ${r.hostTime.toFixed(1)}`);
      assert.match(r.lines[2] ?? '', /^[0-9a-f]{64}$/);
      assert.match(r.lines[3] ?? '', /^[0-9a-f-]{36}$/);
    }
    // Clones of one saved guest: reseeded, they share no random stream (nor the boot id, made on first read).
    assert.notEqual(a.lines[2], b.lines[2], 'urandom differs between clones');
    assert.notEqual(a.lines[3], b.lines[3], 'boot_id differs between clones');

    // Two idle clones share the template's memory: one memfd, root's, sealed (nobody can write it,
    // though QEMU holds it read-write to map it privately).
    const idle = makeBundle(['sleep', '600']);
    try {
      const memfds: fs.Stats[] = [];
      for (const id of ['tpl-e', 'tpl-f']) {
        const r = moatDetached(root, ['--isolation=vm', 'create', '--bundle', idle.dir, id], path.join(idle.dir, `${id}.out`), VM_TIMEOUT);
        assert.equal(r.status, 0, r.stderr);
        const vmm = (JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as { vm: { vmmPid: number; template?: string } }).vm;
        assert.equal(vmm.template, keys[0], 'state.json says which template');
        assert.match(r.stderr, /^$/, `${id}: restored without a word (nothing made)`);
        const fdDir = `/proc/${vmm.vmmPid}/fd`;
        const mem = fs.readdirSync(fdDir).find((n) => fs.readlinkSync(`${fdDir}/${n}`) === `/memfd:moat-tpl-${keys[0]} (deleted)`);
        assert.ok(mem, `${id}: QEMU maps the template's memfd`);
        const fd = fs.openSync(`${fdDir}/${mem}`, 'r+');
        try {
          assert.throws(() => fs.writeSync(fd, Buffer.from('x'), 0, 1, 0), /EPERM/, 'the template memory cannot be written, even by root');
          memfds.push(fs.fstatSync(fd));
        } finally {
          fs.closeSync(fd);
        }
      }
      assert.equal(memfds[0]!.ino, memfds[1]!.ino, 'both clones map the same memory');
      assert.equal(memfds[0]!.uid, 0);
    } finally {
      for (const id of ['tpl-e', 'tpl-f']) moat(root, ['delete', '--force', id]);
      idle.cleanup();
    }

    // A client's /etc/hosts, hostname and resolv.conf (Docker's, CRI's) are copied in: the container
    // still starts from the template, reads them (owner and mode too), and its writes stay in the VM.
    const etcDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-tpl-etc-'));
    try {
      const files = { hosts: '10.9.8.7 from-the-client\n', hostname: 'client-name\n', 'resolv.conf': 'nameserver 10.9.8.1\n' };
      for (const [n, text] of Object.entries(files)) fs.writeFileSync(path.join(etcDir, n), text, { mode: 0o644 });
      fs.chownSync(path.join(etcDir, 'hosts'), 0, 4321);
      const e = await run('tpl-etc', env, 'rootfs-etc', 'cat /marker /etc/hosts /etc/hostname /etc/resolv.conf; stat -c "%a %g" /etc/hosts; echo 1.1.1.1 x >> /etc/hosts && grep -c 1.1.1.1 /etc/hosts', (c) => {
        for (const n of Object.keys(files)) c.mounts.push({ destination: `/etc/${n}`, type: 'bind', source: path.join(etcDir, n), options: ['rbind', 'rw'] });
      });
      assert.equal(e.status, 0, e.stderr);
      assert.match(e.stderr, /restored from template/, 'binds of these files no longer force a cold boot');
      assert.deepEqual(e.lines, ['rootfs-etc', '10.9.8.7 from-the-client', 'client-name', 'nameserver 10.9.8.1', '644 4321', '1']);
      assert.equal(fs.readFileSync(path.join(etcDir, 'hosts'), 'utf8'), files.hosts, 'the host file is unchanged');
    } finally {
      fs.rmSync(etcDir, { recursive: true, force: true });
    }

    // A corrupt template (its memory: checked when no clone runs that holds it already): found out
    // before the guest gets anything, discarded, cold boot, same output.
    const state = path.join(dir, 'memory');
    const fd = fs.openSync(state, 'r+');
    fs.writeSync(fd, Buffer.from('corrupt!'), 0, 8, Math.floor(fs.fstatSync(fd).size / 2));
    fs.closeSync(fd);
    const d = await run('tpl-d', env, 'rootfs-d');
    assert.equal(d.status, 0, d.stderr);
    assert.match(d.stderr, /moat: warning: vm: template .* could not be restored \(.*SHA-256.*\): discarded, booting cold/);
    assert.equal(d.lines[0], 'rootfs-d');
    // A cold guest's clock comes from the machine's RTC (it booted at 1970 without one).
    assert.ok(Math.abs(Number(d.lines[1]) - d.hostTime) <= 3, `cold guest clock ${d.lines[1]} vs host ${d.hostTime.toFixed(1)}`);
    assert.ok(!fs.existsSync(dir), 'the corrupt template is gone (the next container makes a new one)');

    // QEMU killed while it restores: the container boots cold all the same, and nothing is left.
    const m = await run('tpl-m', env, 'rootfs-m', 'cat /marker');
    assert.equal(m.status, 0, m.stderr);
    let killed = 0;
    const watching = (async () => {
      const end = Date.now() + VM_TIMEOUT;
      while (!killed && Date.now() < end) {
        const [pid] = qemusNaming(path.join(root, 'tpl-k'));
        if (pid !== undefined && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('-incoming')) {
          process.kill(pid, 'SIGKILL');
          killed = pid;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const k = await run('tpl-k', env, 'rootfs-k', 'sleep 1; cat /marker');
    killed ||= -1;
    await watching;
    assert.ok(killed > 0, 'a restoring QEMU was found and killed');
    assert.equal(k.status, 0, k.stderr);
    assert.match(k.stderr, /moat: warning: vm: template .* could not be restored .*booting cold/);
    assert.equal(k.lines[0], 'rootfs-k');

    assert.deepEqual(qemusNaming(templates), [], 'no QEMU of a template left');
    assert.deepEqual(fs.readdirSync(templates).filter((n) => n.startsWith('.')), [], 'no build or trash directory left');
    for (const id of ['tpl-a', 'tpl-b', 'tpl-d', 'tpl-e', 'tpl-f', 'tpl-m', 'tpl-k', 'tpl-etc']) assert.ok(!fs.existsSync(path.join(root, id)), `${id}: state removed`);
  } finally {
    if (before === undefined) delete process.env.MOAT_VM_TEMPLATES;
    else process.env.MOAT_VM_TEMPLATES = before;
    fs.rmSync(templates, { recursive: true, force: true });
  }
});

test('vm templates with a NIC: a container in a prepared network namespace restores from a template with one NIC; its eth0 gets the veth\'s MAC, MTU, address and route, up, with an empty neighbour table; it reaches a TCP peer; nothing left', { skip, timeout: 2 * VM_TIMEOUT }, async () => {
  const templates = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-templates-'));
  const before = process.env.MOAT_VM_TEMPLATES;
  process.env.MOAT_VM_TEMPLATES = templates;
  // As vm.test.ts's networking case: two namespaces of the test's own, a veth pair between them.
  const a = await netnsHolder();
  const b = await netnsHolder();
  let server: ReturnType<typeof spawn> | undefined;
  try {
    const mac = vethPair(a, b, '10.213.9');
    server = spawn('nsenter', [`--net=${b.path}`, '--', 'busybox', 'sh', '-c', 'echo from-peer | busybox nc -l -p 7777'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let heard = '';
    server.stdout!.on('data', (d: Buffer) => (heard += d.toString()));
    const script = [
      'cat /marker /sys/class/net/eth0/address /sys/class/net/eth0/mtu /sys/class/net/eth0/operstate',
      "ip -o -4 addr show dev eth0 | awk '{print $4}'",
      'ip route | grep default',
      'echo neigh $(($(wc -l < /proc/net/arp) - 1))',
      'echo from-vm | nc -w 5 10.213.9.1 7777',
    ].join('; ');
    const r = await run('tpl-net', process.env, 'rootfs-net', script, (c) => {
      c.linux.namespaces = c.linux.namespaces.map((n: { type: string }) => (n.type === 'network' ? { type: 'network', path: a.path } : n));
    });
    assert.equal(r.status, 0, r.stderr);
    const keys = fs.readdirSync(templates).filter((n) => /^[0-9a-f]{32}$/.test(n));
    assert.equal(keys.length, 1, `one template: ${fs.readdirSync(templates).join(' ')}`);
    assert.match(r.stderr, new RegExp(`vm: tpl-net restored from template ${keys[0]}`), 'a container with a NIC starts from a template');
    assert.deepEqual(r.lines.map((l) => l.trim()), ['rootfs-net', mac, '1400', 'up', '10.213.9.2/24', r.lines[5]!.trim(), 'neigh 0', 'from-peer'], r.stdout);
    assert.match(r.lines[5] ?? '', /^default via 10\.213\.9\.1 dev eth0/);
    assert.notEqual(mac, '02:6d:6f:61:74:00', 'the veth\'s MAC, not the template\'s');
    await waitFor('the peer heard the guest', () => heard.includes('from-vm'), 10_000);
    // Nothing left: the clone's tap and the redirection, the template's QEMU (its tap was in a
    // namespace of its own, gone with it), the state.
    assert.doesNotMatch(inNs(a.path, ['ip', '-o', 'link', 'show']), /tap/, 'the tap went with QEMU');
    assert.doesNotMatch(inNs(a.path, ['tc', 'qdisc', 'show', 'dev', 'eth0']), /ingress/, 'the redirection is removed from eth0');
    assert.deepEqual(qemusNaming(templates), [], 'no QEMU of a template left');
    assert.deepEqual(fs.readdirSync(templates).filter((n) => n.startsWith('.')), [], 'no build directory left');
    assert.ok(!fs.existsSync(path.join(root, 'tpl-net')), 'state removed');
  } finally {
    server?.kill('SIGKILL');
    await a.kill();
    await b.kill();
    if (before === undefined) delete process.env.MOAT_VM_TEMPLATES;
    else process.env.MOAT_VM_TEMPLATES = before;
    fs.rmSync(templates, { recursive: true, force: true });
  }
});

/** Hex SHA-256 of a file. */
function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** The file a QEMU holds open as `target`, with its open flags (fdinfo), if any. */
function heldBy(pid: number, target: string): { flags: number; ino: number } | undefined {
  for (const n of fs.readdirSync(`/proc/${pid}/fd`)) {
    if (fs.readlinkSync(`/proc/${pid}/fd/${n}`) !== target) continue;
    const flags = parseInt(/^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${n}`, 'utf8'))![1]!, 8);
    return { flags, ino: fs.statSync(`/proc/${pid}/fd/${n}`).ino };
  }
  return undefined;
}

test('vm base images: two containers of one bundle (restored from a template) share one read-only base image, each writing to its own qcow2 overlay (not seen by the other, the base unchanged); a changed bundle gets a new base; a failed create leaves no overlay, lock or half-built image; nothing left', { skip, timeout: 3 * VM_TIMEOUT }, async () => {
  const templates = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-templates-'));
  const images = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-images-'));
  const fakes = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-fakebin-'));
  const before = { t: process.env.MOAT_VM_TEMPLATES, i: process.env.MOAT_VM_IMAGES };
  process.env.MOAT_VM_TEMPLATES = templates;
  process.env.MOAT_VM_IMAGES = images;
  const bundle = makeBundle(['sleep', '600'], (c) => (c.root.readonly = false));
  const ids = ['img-a', 'img-b', 'img-c'];
  const imgs = (): string[] => fs.readdirSync(images).filter((n) => n.endsWith('.img')).sort();
  try {
    fs.writeFileSync(path.join(bundle.rootfs, 'marker'), 'from-the-bundle\n');
    const pids: number[] = [];
    for (const id of ['img-a', 'img-b']) {
      const r = moatDetached(root, ['--isolation=vm', 'create', '--bundle', bundle.dir, id], path.join(bundle.dir, `${id}.out`), VM_TIMEOUT);
      assert.equal(r.status, 0, r.stderr);
      const vm = (JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as { vm: { vmmPid: number; template?: string } }).vm;
      assert.match(vm.template ?? '', /^[0-9a-f]{32}$/, `${id}: restored from a template (its qcow2 node activated after the state is loaded)`);
      pids.push(vm.vmmPid);
    }
    // One base image, 0444, in a 0700 directory; both QEMUs hold that one file, read-only.
    assert.equal(imgs().length, 1, `one base image: ${fs.readdirSync(images).join(' ')}`);
    const base = path.join(images, imgs()[0]!);
    const st0 = fs.statSync(base);
    const digest0 = sha256(base);
    assert.equal(st0.mode & 0o7777, 0o444);
    assert.equal(fs.statSync(images).mode & 0o777, 0o700);
    for (const [i, pid] of pids.entries()) {
      const held = heldBy(pid, base);
      assert.ok(held, `${ids[i]}: QEMU holds the base image`);
      assert.equal(held.flags & 3, 0, `${ids[i]}: QEMU's base fd is read-only`);
      assert.equal(held.ino, st0.ino);
      const overlay = path.join(root, ids[i]!, 'vm', 'rootfs.qcow2');
      assert.equal(fs.statSync(overlay).mode & 0o777, 0o600);
      assert.match(spawnSync('qemu-img', ['info', '-U', overlay], { encoding: 'utf8' }).stdout, new RegExp(`backing file: ${base}\\b[^]*backing file format: raw`));
    }
    // Each writes its own files (8 MiB too: clusters allocated in its overlay) and changes the bundle's.
    for (const id of ['img-a', 'img-b']) {
      const w = moat(root, ['exec', id, 'sh', '-ec', `echo ${id} > /own-${id}; echo changed-by-${id} > /marker; dd if=/dev/urandom of=/big bs=1M count=8 2>/dev/null; md5sum /big | cut -c1-32 > /big.md5; sync; echo ok`], { timeoutMs: VM_TIMEOUT });
      assert.equal(w.stdout.trim(), 'ok', w.stderr);
    }
    for (const id of ['img-a', 'img-b']) {
      const other = id === 'img-a' ? 'img-b' : 'img-a';
      const r = moat(root, ['exec', id, 'sh', '-c', `cat /own-${id} /marker; ls /own-${other} 2>&1 >/dev/null | grep -c 'No such'; [ "$(md5sum /big | cut -c1-32)" = "$(cat /big.md5)" ] && echo big-intact`], { timeoutMs: VM_TIMEOUT });
      assert.deepEqual(r.stdout.trim().split('\n'), [id, `changed-by-${id}`, '1', 'big-intact'], r.stderr);
    }
    assert.equal(sha256(base), digest0, 'the base image is unchanged');
    assert.equal(fs.statSync(base).mtimeMs, st0.mtimeMs);
    assert.ok(fs.statSync(path.join(root, 'img-a', 'vm', 'rootfs.qcow2')).blocks * 512 >= 8 << 20, 'the writes went to the overlay');
    assert.equal(fs.readFileSync(path.join(bundle.rootfs, 'marker'), 'utf8'), 'from-the-bundle\n', 'nothing written back to the bundle');

    // A changed bundle: a new base image (the old one stays for the containers that use it).
    fs.writeFileSync(path.join(bundle.rootfs, 'added'), 'new-file\n');
    const c = moatDetached(root, ['--isolation=vm', 'create', '--bundle', bundle.dir, 'img-c'], path.join(bundle.dir, 'img-c.out'), VM_TIMEOUT);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(imgs().length, 2, `a new base for the changed tree: ${imgs().join(' ')}`);
    assert.equal(moat(root, ['exec', 'img-c', 'cat', '/added', '/marker'], { timeoutMs: VM_TIMEOUT }).stdout, 'new-file\nfrom-the-bundle\n');
    for (const id of ids) assert.equal(moat(root, ['delete', '--force', id]).status, 0);
    assert.equal(sha256(base), digest0, 'the base image is unchanged after its containers');

    // A failed create: a base image whose build fails, then an overlay that cannot be made, leave
    // no temporary image, no overlay, no state, and the cache's lock free.
    fs.writeFileSync(path.join(bundle.rootfs, 'added'), 'changed again\n');
    for (const [tool, script] of [['mkfs.ext4', 'for a; do f=$a; done; echo half > "$f"; echo "fake $(basename $0) failed" >&2; exit 1'], ['qemu-img', 'for a; do [ -n "$p" ] && f=$p; p=$a; done; echo half > "$f"; echo "fake $(basename $0) failed" >&2; exit 1']] as const) {
      fs.writeFileSync(path.join(fakes, tool), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
      const env = { ...process.env, PATH: `${fakes}:${process.env.PATH}` };
      const f = moat(root, ['--isolation=vm', 'run', '--bundle', bundle.dir, 'img-fail'], { env, timeoutMs: VM_TIMEOUT });
      assert.notEqual(f.status, 0);
      assert.match(f.stderr, new RegExp(`fake ${tool} failed`));
      assert.ok(!fs.existsSync(path.join(root, 'img-fail')), `${tool}: no state (no overlay) left`);
      fs.rmSync(path.join(fakes, tool));
    }
    assert.equal(imgs().length, 3, 'the overlay failed after the base was built: the base stays cached');
    const lock = fs.openSync(path.join(images, 'lock'), 'r');
    try {
      assert.ok(sys().flock(lock, 'ex', true), 'the cache lock is free');
    } finally {
      fs.closeSync(lock);
    }
    assert.deepEqual(fs.readdirSync(images).filter((n) => n.startsWith('.')), [], 'no half-built image');
    for (const id of [...ids, 'img-fail']) assert.ok(!fs.existsSync(path.join(root, id)), `${id}: state (and overlay) removed`);
    assert.deepEqual(qemusNaming(root), [], 'no QEMU left');
  } finally {
    for (const id of ids) moat(root, ['delete', '--force', id]);
    bundle.cleanup();
    for (const [k, v] of [['MOAT_VM_TEMPLATES', before.t], ['MOAT_VM_IMAGES', before.i]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    for (const d of [templates, images, fakes]) fs.rmSync(d, { recursive: true, force: true });
  }
});
