// dev.moat.lxcfs=true on the native platform (issue 12, item 5): the container's own lxcfs serves
// /proc/meminfo, cpuinfo, stat, … and /sys/devices/system/cpu/online from its cgroups; without the
// annotation the host's view; asked for and impossible, a clear error; nothing left mounted.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, moatDetached, waitFor, type TestBundle } from '../helpers/moat';

const MIB = 1024 * 1024;
const skip = fs.existsSync('/usr/bin/lxcfs') ? false : 'lxcfs is not installed (apt-get install lxcfs)';

let root: string;
containerSuite((r) => (root = r));

const VIEW = ['sh', '-c', 'head -1 /proc/meminfo; grep -c ^processor /proc/cpuinfo; cat /sys/devices/system/cpu/online; nproc'];

function bundle(args: string[], lxcfs: string | undefined): TestBundle {
  return makeBundle(args, (c) => {
    c.linux.resources = { ...c.linux.resources, memory: { limit: 300 * MIB }, cpu: { quota: 100_000, period: 100_000, cpus: '0' } };
    if (lxcfs !== undefined) c.annotations = { ...(c.annotations ?? {}), 'dev.moat.lxcfs': lxcfs };
  });
}

function lxcfsMounts(): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(' - fuse.lxcfs ') && l.includes(root));
}

function lxcfsProcs(): number[] {
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((p) => {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      return cmd.includes('lxcfs\0') && cmd.includes(root);
    } catch {
      return false;
    }
  });
}

function memTotalKb(line: string | undefined): number {
  return Number(/^MemTotal:\s+(\d+) kB$/.exec(line ?? '')?.[1]);
}

test('lxcfs: /proc/meminfo, cpuinfo and cpu/online show the limits (nproc the cpuset); without it the host\'s; nothing left', { skip }, () => {
  const on = bundle(VIEW, 'true');
  const off = bundle(VIEW, undefined);
  try {
    const r = moat(root, ['run', '--bundle', on.dir, 'lx-on']);
    assert.equal(r.status, 0, r.stderr);
    const [mem, cpus, online, nproc] = r.stdout.trim().split('\n');
    assert.equal(memTotalKb(mem), 300 * 1024, r.stdout);
    assert.equal(cpus, '1');
    assert.equal(online, '0');
    assert.equal(nproc, '1');
    const h = moat(root, ['run', '--bundle', off.dir, 'lx-off']);
    assert.equal(h.status, 0, h.stderr);
    const hostKb = memTotalKb(h.stdout.split('\n')[0]);
    assert.ok(Math.abs(hostKb - os.totalmem() / 1024) < 1024, `the host's memory without lxcfs: ${hostKb}`);
    assert.equal(h.stdout.split('\n')[1], String(os.cpus().length), 'the host\'s CPUs in cpuinfo without lxcfs');
  } finally {
    moat(root, ['delete', '--force', 'lx-on']);
    moat(root, ['delete', '--force', 'lx-off']);
    on.cleanup();
    off.cleanup();
  }
  assert.deepEqual(lxcfsMounts(), []);
  assert.deepEqual(lxcfsProcs(), []);
});

test('lxcfs: a detached container\'s daemon lives as long as it does; delete --force stops it and unmounts', { skip }, async () => {
  const b = bundle(['sleep', '1000'], 'true');
  try {
    const r = moatDetached(root, ['run', '--detach', '--bundle', b.dir, 'lx-det'], path.join(b.dir, 'out'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(lxcfsProcs().length, 1);
    assert.equal(lxcfsMounts().length, 1);
    const e = moat(root, ['exec', 'lx-det', 'head', '-1', '/proc/meminfo']);
    assert.equal(memTotalKb(e.stdout.trim()), 300 * 1024, e.stdout + e.stderr);
    assert.equal(moat(root, ['delete', '--force', 'lx-det']).status, 0);
    await waitFor('lxcfs to exit', () => lxcfsProcs().length === 0);
    assert.deepEqual(lxcfsMounts(), []);
  } finally {
    moat(root, ['delete', '--force', 'lx-det']);
    b.cleanup();
  }
});

test('lxcfs: asked for and impossible, create fails naming the annotation (never the host\'s view), leaving nothing', () => {
  const b = bundle(VIEW, 'true');
  const bad = bundle(VIEW, 'yes');
  try {
    const missing = moat(root, ['run', '--bundle', b.dir, 'lx-miss'], { env: { ...process.env, MOAT_LXCFS: '/nonexistent/lxcfs' } });
    assert.notEqual(missing.status, 0);
    assert.equal(missing.stdout, '', 'the container did not run');
    assert.match(missing.stderr, /annotations\.dev\.moat\.lxcfs: lxcfs is not installed/);
    const dead = moat(root, ['run', '--bundle', b.dir, 'lx-dead'], { env: { ...process.env, MOAT_LXCFS: '/bin/false' } });
    assert.notEqual(dead.status, 0);
    assert.equal(dead.stdout, '');
    assert.match(dead.stderr, /annotations\.dev\.moat\.lxcfs: (\/bin\/false did not start|lxcfs did not come up)/);
    const v = moat(root, ['run', '--bundle', bad.dir, 'lx-bad']);
    assert.equal(v.status, 2);
    assert.match(v.stderr, /annotations\.dev\.moat\.lxcfs: "yes" is not "true" or "false"/);
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith('lx-')), [], 'no state left');
  } finally {
    b.cleanup();
    bad.cleanup();
  }
});
