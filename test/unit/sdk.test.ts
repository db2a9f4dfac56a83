// The SDK's pure parts: options → spec (each error naming its option), the tar check both ways.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { IDLE_INIT, parseSize, sandboxSpec } from '../../src/sdk/options';
import { checkEntryName, singleFileTar, TarCheck } from '../../src/sdk/tar';
import { ExecError, InternalError, SandboxError, SetupError, StateError, toSandboxError, UsageError } from '../../src/sdk/errors';
import { MoatError, type MoatErrorCode } from '../../src/util/errors';
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

test('sdk options: the command as the init (spawn), pids \'max\', no network given', () => {
  const idle = sandboxSpec(base, { ownUserns: false }).spec;
  assert.deepEqual(idle.process.args, ['sleep', '2147483647']);
  assert.equal((idle.linux!.resources as { pids: { limit: number } }).pids.limit, 1024);
  const s = sandboxSpec({ ...base, isolation: 'sentry', limits: { pids: 'max' } }, { ownUserns: false, init: { args: ['sh', '-c', 'x'], cwd: '/work', terminal: true } }).spec;
  assert.deepEqual(s.process.args, ['sh', '-c', 'x']);
  assert.equal(s.process.cwd, '/work');
  assert.equal(s.process.terminal, true);
  assert.equal((s.linux!.resources as { pids?: unknown }).pids, undefined, 'no task limit of its own');
  assert.equal(s.annotations!['dev.moat.network.egress'], undefined, 'no network option: the namespace of its own, no filter');
  assert.ok(s.linux!.namespaces!.some((n) => n.type === 'network'));
});

test('sdk options: bad values are refused naming the option', () => {
  const bad: [object, RegExp][] = [
    [{}, /rootfs, hostRoot: give exactly one/],
    [{ rootfs: '/r', hostRoot: true }, /give exactly one/],
    [{ rootfs: 'rel' }, /rootfs: must be an absolute path/],
    [{ ...base, isolation: 'docker' }, /isolation: unknown isolation "docker" \(one of native, sentry, vm\)/],
    [{ ...base, userns: 'maybe' }, /userns: 'auto' or 'host'/],
    [{ ...base, idPrefix: 'x-' }, /idPrefix: 'sdk-' or 'do-'/],
    [{ ...base, limits: { pids: 'lots' } }, /limits\.pids: must be a positive integer/],
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
  // Sandbox.spawn's command as the init.
  for (const [init, re] of [[{ args: [] }, /argv must be a non-empty array/], [{ args: ['a\0b'] }, /without NUL/], [{ args: ['true'], cwd: 'tmp' }, /cwd: must be an absolute path/]] as const) {
    assert.throws(() => sandboxSpec(base, { ownUserns: false, init: init as never }), (e: unknown) => e instanceof UsageError && re.test((e as Error).message), JSON.stringify(init));
  }
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

test('sdk errors: every code of the CLI keeps its code, as a typed class', () => {
  // A Record over MoatErrorCode: a code added to the CLI and not here fails to compile.
  const classOf: Record<MoatErrorCode, new (...a: never[]) => SandboxError> = {
    EUSAGE: UsageError, ESIGNAL: UsageError, EEXEC: ExecError, ESTATE: StateError, ENOTFOUND: StateError,
    ESETUP: SetupError, ENATIVE: SetupError, EVM: SetupError, ECONFIG: SetupError, EBUNDLE: SetupError, EEXIST: SetupError,
    EINTERNAL: InternalError,
  };
  for (const [code, cls] of Object.entries(classOf) as [MoatErrorCode, typeof SandboxError][]) {
    const e = toSandboxError(new MoatError(code, `m ${code}`));
    assert.ok(e instanceof cls && e instanceof SandboxError && e instanceof MoatError, code);
    assert.equal((e as SandboxError).code, code);
    assert.equal(e.message, `m ${code}`);
  }
  const plain = toSandboxError(new Error('x'));
  assert.ok(plain instanceof InternalError && (plain as InternalError).code === 'EINTERNAL');
  const abort = new DOMException('gone', 'AbortError');
  assert.equal(toSandboxError(abort), abort, 'an abort stays the AbortSignal\'s reason');
});
