// The SDK's pure parts: options → spec (each error naming its option), the tar check both ways.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { IDLE_INIT, parseSize, sandboxSpec } from '../../src/sdk/options';
import { checkEntryName, singleFileTar, TarCheck } from '../../src/sdk/tar';
import { UsageError } from '../../src/sdk/errors';
import { hostRootOverlayOps } from '../../src/native/platform';

const base = { rootfs: '/srv/rootfs' };

test('sdk options: limits, env, user and mounts land in the spec; the init is idle', () => {
  const { spec, wallTimeMs, isolation } = sandboxSpec({ ...base, limits: { memory: '256m', cpus: 0.5, pids: 50, wallTime: 9000 }, env: { A: 'b' }, user: '1000:100', mounts: [{ source: '/data', target: '/data' }] }, { ownUserns: true });
  assert.equal(isolation, 'native');
  assert.deepEqual(spec.process.args, IDLE_INIT);
  assert.deepEqual(spec.linux!.resources, { pids: { limit: 50 }, memory: { limit: 256 * 1024 * 1024, swap: 256 * 1024 * 1024 }, cpu: { quota: 50_000, period: 100_000 } });
  assert.equal(wallTimeMs, 9000);
  assert.ok(spec.process.env.includes('A=b'));
  assert.ok(spec.process.env.some((e) => e.startsWith('PATH=')));
  assert.ok(!spec.process.env.some((e) => e.startsWith('HOME=') && process.env.HOME && e === `HOME=${process.env.HOME}`), 'not the caller\'s environment');
  assert.deepEqual(spec.process.user, { uid: 1000, gid: 100, additionalGids: [] });
  assert.deepEqual(spec.mounts!.at(-1), { destination: '/data', type: 'bind', source: '/data', options: ['rbind', 'ro', 'nosuid', 'nodev'] });
  assert.equal(spec.annotations!['dev.moat.userns'], 'auto');
});

test('sdk options: network maps onto a netns (native, vm) or the sentry\'s egress annotation', () => {
  const native = sandboxSpec({ ...base, network: 'none' }, { ownUserns: false }).spec;
  assert.ok(native.linux!.namespaces!.some((n) => n.type === 'network'));
  assert.equal(native.annotations!['dev.moat.network.egress'], undefined);
  const sentry = sandboxSpec({ ...base, isolation: 'sentry', network: 'loopback' }, { ownUserns: false }).spec;
  assert.equal(sentry.annotations!['dev.moat.network.egress'], 'loopback');
  const egress = sandboxSpec({ ...base, isolation: 'sentry', network: ['10.0.0.0/8', '1.2.3.4:443'] }, { ownUserns: false }).spec;
  assert.equal(egress.annotations!['dev.moat.network.egress'], '10.0.0.0/8,1.2.3.4:443');
  assert.ok(!egress.linux!.namespaces!.some((n) => n.type === 'network'), 'the host network, filtered by the sentry');
  for (const isolation of ['native', 'vm'] as const) {
    assert.throws(() => sandboxSpec({ ...base, isolation, network: ['10.0.0.0/8'] }, { ownUserns: false }), (e: unknown) => e instanceof UsageError && e.code === 'EUSAGE' && /enforced only by isolation 'sentry'/.test(e.message));
  }
});

test('sdk options: bad values are refused naming the option', () => {
  const bad: [object, RegExp][] = [
    [{}, /rootfs, hostRoot: give exactly one/],
    [{ rootfs: '/r', hostRoot: true }, /give exactly one/],
    [{ rootfs: 'rel' }, /rootfs: must be an absolute path/],
    [{ ...base, isolation: 'docker' }, /isolation: one of native, sentry, vm/],
    [{ ...base, limits: { memory: 'lots' } }, /limits\.memory: "lots" is not a size/],
    [{ ...base, limits: { memory: 1000 } }, /limits\.memory: 1000 is out of range/],
    [{ ...base, limits: { pids: 0 } }, /limits\.pids: must be a positive integer/],
    [{ ...base, limits: { cpus: -1 } }, /limits\.cpus: must be a positive number/],
    [{ ...base, limits: { wallTime: 1.5 } }, /limits\.wallTime: must be a positive integer/],
    [{ ...base, env: { 'A=B': 'x' } }, /env: bad variable name/],
    [{ ...base, user: 'root' }, /user: takes a uid/],
    [{ ...base, mounts: [{ source: 'x', target: '/x' }] }, /mounts\[0\]\.source/],
    [{ ...base, mounts: [{ source: '/x', target: '/a/../b' }] }, /mounts\[0\]\.target/],
    [{ ...base, network: [] }, /network: 'none', 'loopback' or a non-empty list/],
  ];
  for (const [o, re] of bad) assert.throws(() => sandboxSpec(o as never, { ownUserns: false }), (e: unknown) => e instanceof UsageError && re.test((e as Error).message), JSON.stringify(o));
  assert.equal(parseSize('1g', 'x'), 1 << 30);
  assert.equal(parseSize('64MiB', 'x'), 64 << 20);
});

async function pass(tar: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const check = new TarCheck();
  // Fed in odd-sized pieces: headers and data split across chunks.
  const pieces: Buffer[] = [];
  for (let i = 0; i < tar.length; i += 333) pieces.push(tar.subarray(i, i + 333));
  await new Promise<void>((resolve, reject) => {
    Readable.from(pieces).pipe(check).on('data', (d: Buffer) => chunks.push(d)).on('end', resolve).on('error', reject);
  });
  return Buffer.concat(chunks);
}

test('sdk tar: a file, also with a long name, passes unchanged', async () => {
  const t = singleFileTar('hello.txt', Buffer.from('hi'), 0o644);
  assert.deepEqual(await pass(t), t);
  const long = singleFileTar('x'.repeat(180), Buffer.alloc(5000, 1), 0o600);
  assert.deepEqual(await pass(long), long);
});

test('sdk tar: absolute names, .. components and hostile long names or hard links are refused', async () => {
  for (const name of ['/etc/passwd', '../x', 'a/../../x', '..']) {
    assert.throws(() => checkEntryName(name, 'entry'), UsageError, name);
  }
  // A header written by hand, as a hostile tar would: the name field says ../../evil.
  const t = singleFileTar('evilname', Buffer.from('x'), 0o644);
  const forged = Buffer.from(t);
  forged.write('../../evil\0\0', 0, 'latin1');
  await assert.rejects(pass(forged), /'\.\.' is refused/);
  const abs = Buffer.from(t);
  abs.write('/etc/cron.d/x\0', 0, 'latin1');
  await assert.rejects(pass(abs), /absolute names are refused/);
  // A GNU long name hiding the same.
  const longEvil = singleFileTar('y'.repeat(120), Buffer.from('x'), 0o644);
  longEvil.write('../' + 'y'.repeat(117), 512, 'latin1');
  await assert.rejects(pass(longEvil), /'\.\.' is refused/);
  // A stream cut inside an entry.
  await assert.rejects(pass(t.subarray(0, 700)), /ends inside an entry/);
});

test('sdk: a native sandbox over a rootfs gets do\'s overlay with that rootfs as its lower layer', () => {
  const ops = hostRootOverlayOps('/run/moat/sdk-1/scratch', { lower: '/srv/rootfs' });
  const overlay = ops.find((o) => o.op === 'mount' && o.fstype === 'overlay');
  assert.equal((overlay as { data: string }).data, 'lowerdir=/srv/rootfs,upperdir=/run/moat/sdk-1/scratch/upper,workdir=/run/moat/sdk-1/scratch/work');
  assert.throws(() => hostRootOverlayOps('/s', { lower: '/a:b' }), /must be an absolute path without/);
  assert.throws(() => hostRootOverlayOps('/s', { lower: 'rel' }), /must be an absolute path without/);
});
