// moat's containerd shim, the parts that need no containerd: ttrpc framing (split and hostile
// frames), a ttrpc round trip over a real unix socket, the handler config and its annotation rule,
// the pod grouping, runtime options decoding.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as protobufjs from 'protobufjs/light';
import { groupOf, socketPath } from '../../src/shim/address';
import { configPathOf, isolationFor, parseConfig } from '../../src/shim/config';
import { parseShimFlags } from '../../src/shim/flags';
import { metricsOf } from '../../src/shim/metrics';
import { anyOf, decode, encode, parseProtoFiles } from '../../src/shim/proto';
import { installCodecs, type Codecs } from '../../src/shim/proto-codecs';
import { REPO } from '../helpers/moat';
import { TtrpcClient } from '../../src/shim/ttrpc/client';
import { encodeFrame, FrameReader, HEADER_LENGTH, MAX_PAYLOAD, TYPE_REQUEST } from '../../src/shim/ttrpc/frame';
import { TtrpcServer } from '../../src/shim/ttrpc/server';
import { Code, RpcError } from '../../src/shim/ttrpc/status';

test('ttrpc frames: the 10-byte header, split anywhere, several per chunk', () => {
  const a = encodeFrame({ streamId: 1, type: TYPE_REQUEST, flags: 0, payload: Buffer.from('hello') });
  assert.equal(a.length, HEADER_LENGTH + 5);
  assert.deepEqual([...a.subarray(0, HEADER_LENGTH)], [0, 0, 0, 5, 0, 0, 0, 1, 1, 0]);
  const b = encodeFrame({ streamId: 0xfffffffd, type: 2, flags: 4, payload: Buffer.alloc(0) });
  const bytes = Buffer.concat([a, b, a]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const r = new FrameReader();
    const frames = [...r.push(bytes.subarray(0, cut)), ...r.push(bytes.subarray(cut))];
    assert.deepEqual(frames.map((f) => [f.streamId, f.type, f.flags, f.payload.toString()]), [
      [1, 1, 0, 'hello'], [0xfffffffd, 2, 4, ''], [1, 1, 0, 'hello'],
    ]);
  }
});

test('ttrpc frames: a header announcing more than 4 MiB is refused before anything is buffered', () => {
  const head = Buffer.alloc(HEADER_LENGTH);
  head.writeUInt32BE(MAX_PAYLOAD + 1, 0);
  assert.throws(() => new FrameReader().push(head), /exceeds|limit/);
  assert.throws(() => encodeFrame({ streamId: 1, type: 1, flags: 0, payload: Buffer.alloc(MAX_PAYLOAD + 1) }), /limit/);
});

test('ttrpc: a round trip, errors as gRPC codes, unknown methods, garbage on the wire', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-ttrpc-'));
  const sock = path.join(dir, 's');
  const server = new TtrpcServer();
  server.register('containerd.task.v2.Task', 'Connect', async (p) => {
    const req = decode('containerd.task.v2.ConnectRequest', p);
    if (req.id === 'missing') throw new RpcError(Code.NotFound, 'task "missing" not found');
    return encode('containerd.task.v2.ConnectResponse', { shimPid: 42, taskPid: 7, version: req.id });
  });
  await server.listen(sock);
  try {
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
    const c = await TtrpcClient.connect(sock);
    const call = (id: string) => c.call('containerd.task.v2.Task', 'Connect', encode('containerd.task.v2.ConnectRequest', { id }));
    const [one, two] = await Promise.all([call('a'), call('b')]);
    assert.deepEqual(decode('containerd.task.v2.ConnectResponse', one), { shimPid: 42, taskPid: 7, version: 'a' });
    assert.equal(decode('containerd.task.v2.ConnectResponse', two).version, 'b');
    await assert.rejects(call('missing'), (e: RpcError) => e.code === Code.NotFound && /not found/.test(e.message));
    await assert.rejects(c.call('containerd.task.v2.Task', 'Nope', Buffer.alloc(0)), (e: RpcError) => e.code === Code.Unimplemented);
    c.close();
    // A peer announcing a 16 MiB frame is disconnected; the server keeps serving others.
    const bad = net.connect(sock);
    const head = Buffer.alloc(HEADER_LENGTH);
    head.writeUInt32BE(16 << 20, 0);
    bad.write(head);
    await new Promise((r) => bad.on('close', r));
    const c2 = await TtrpcClient.connect(sock);
    assert.equal(decode('containerd.task.v2.ConnectResponse', await c2.call('containerd.task.v2.Task', 'Connect', encode('containerd.task.v2.ConnectRequest', { id: 'x' }))).shimPid, 42);
    c2.close();
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('handler config: isolation, what annotations may choose, errors naming the file and key', () => {
  const cfg = parseConfig('{"isolation":"sentry","allowAnnotationIsolation":["vm"]}', '/etc/moat/s.json');
  assert.equal(isolationFor(cfg, {}), 'sentry');
  assert.equal(isolationFor(cfg, { 'dev.moat.isolation': 'sentry' }), 'sentry');
  assert.equal(isolationFor(cfg, { 'dev.moat.isolation': 'vm' }), 'vm');
  assert.throws(() => isolationFor(cfg, { 'dev.moat.isolation': 'native' }), /dev\.moat\.isolation: "native" is not allowed by this runtime handler's moat config/);
  assert.throws(() => parseConfig('{"isolation":"chroot"}', '/f.json'), /\/f\.json: isolation: expected one of native, sentry, vm/);
  assert.throws(() => parseConfig('{"isolaton":"vm"}', '/f.json'), /\/f\.json: unknown key "isolaton"/);
  assert.throws(() => parseConfig('[1]', '/f.json'), /expected a JSON object/);
  assert.throws(() => parseConfig('{', '/f.json'), /\/f\.json: not JSON/);
  assert.throws(() => parseConfig('{"strace":"yes"}', '/f.json'), /strace: expected true or false/);
});

test('runtime options: runtimeoptions.v1 ConfigPath, the runc options BinaryName, anything else refused', () => {
  assert.equal(configPathOf(anyOf('runtimeoptions.v1.Options', { configPath: '/etc/moat/a.json' })), '/etc/moat/a.json');
  assert.equal(configPathOf(anyOf('containerd.runc.v1.Options', { binaryName: '/etc/moat/b.json' })), '/etc/moat/b.json');
  assert.equal(configPathOf(undefined), undefined);
  assert.throws(() => configPathOf({ type_url: 'x.Other', value: Buffer.from([8, 1]) }), /unsupported runtime options type "x\.Other"/);
});

test('one server per pod: grouping by the CRI sandbox id, sockets per containerd and namespace', () => {
  assert.equal(groupOf('app', { 'io.kubernetes.cri.sandbox-id': 'pod1' }), 'pod1');
  assert.equal(groupOf('app', {}), 'app');
  assert.equal(groupOf('app', { 'io.kubernetes.cri.sandbox-id': '../../x' }), 'app');
  const s = socketPath('/run/containerd/containerd.sock', 'k8s.io', 'pod1');
  assert.match(s, /^\/run\/containerd\/s\/[0-9a-f]{64}$/);
  assert.notEqual(s, socketPath('/other.sock', 'k8s.io', 'pod1'));
  assert.notEqual(s, socketPath('/run/containerd/containerd.sock', 'default', 'pod1'));
});

test("shim flags as containerd 1.6 passes them; a bad namespace is refused", () => {
  const f = parseShimFlags(['-namespace', 'k8s.io', '-address', '/run/c.sock', '-publish-binary', '/usr/bin/containerd', '-id', 'abc', '-debug', 'start']);
  assert.deepEqual([f.namespace, f.address, f.publishBinary, f.id, f.debug, f.action], ['k8s.io', '/run/c.sock', '/usr/bin/containerd', 'abc', true, 'start']);
  assert.throws(() => parseShimFlags(['-namespace', '../x', 'start']), /-namespace: invalid containerd namespace/);
  assert.throws(() => parseShimFlags(['-namespace', 'n']), /expected one action/);
});

test('stats: moat cgroup statistics as io.containerd.cgroups.v1.Metrics, u64 beyond 2^53 intact', () => {
  const m = metricsOf({
    cpu: { usage: { total: 10, kernel: 3, user: 7, percpu: [4, 6] }, throttling: { periods: 1, throttledPeriods: 0, throttledTime: 0 } },
    memory: { cache: 5, usage: { limit: 18446744073709551615n, usage: 4096, max: 8192, failcnt: 0 }, swap: { limit: 0, usage: 0, max: 0, failcnt: 0 }, raw: { rss: 2048, total_cache: 5 } },
    pids: { current: 3, limit: 100 },
  });
  const back = decode('io.containerd.cgroups.v1.Metrics', encode('io.containerd.cgroups.v1.Metrics', m));
  assert.equal(back.pids.current, 3);
  assert.deepEqual(back.cpu.usage.perCpu, [4, 6]);
  assert.equal(back.memory.usage.usage, 4096);
  assert.equal(back.memory.rss, 2048);
  const t = encode('io.containerd.cgroups.v1.Metrics', m);
  // 0xffff_ffff_ffff_ffff as a varint: nine 0xff bytes and 0x01.
  assert.ok(t.includes(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), 'the u64 max limit');
});

test('the descriptors compiled into the bundle at build time are the messages of src/shim/proto', () => {
  const built = JSON.parse(fs.readFileSync(path.join(REPO, 'build', 'shim-descriptors.json'), 'utf8')) as unknown;
  const parsed = JSON.parse(JSON.stringify(parseProtoFiles().resolveAll().toJSON())) as unknown;
  assert.deepEqual(built, parsed);
  assert.match(JSON.stringify(built), /"CreateTaskRequest"/);
});

test('the encoders and decoders compiled at build time give the bytes and objects protobufjs generates at run time', () => {
  const json = JSON.parse(fs.readFileSync(path.join(REPO, 'build', 'shim-descriptors.json'), 'utf8')) as protobufjs.INamespace;
  const plain = protobufjs.Root.fromJSON(json).resolveAll();
  const built = protobufjs.Root.fromJSON(json).resolveAll();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  installCodecs(built as protobufjs.Root, require(path.join(REPO, 'build', 'shim-codecs.js')) as Codecs);
  const TO: protobufjs.IConversionOptions = { longs: Number, enums: Number, bytes: Buffer, defaults: true, arrays: true, objects: true };
  const samples: [string, Record<string, unknown>][] = [
    ['containerd.task.v2.CreateTaskRequest', { id: 'c1', bundle: '/b', rootfs: [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/a:/b', 'upperdir=/u'] }], terminal: true, stdout: '/fifo', options: { type_url: 'runtimeoptions.v1.Options', value: Buffer.from([10, 2, 47, 120]) } }],
    ['containerd.task.v2.StateResponse', { id: 'c1', pid: 4242, status: 3, exitStatus: 137, exitedAt: { seconds: 1_700_000_000, nanos: 5 } }],
    ['containerd.task.v2.WaitResponse', { exitStatus: 0, exitedAt: { seconds: 2 ** 40, nanos: 999_999_999 } }],
    ['ttrpc.Request', { service: 'containerd.task.v2.Task', method: 'Kill', payload: Buffer.from('xyz'), timeoutNano: 5e9, metadata: [{ key: 'k', value: 'v' }] }],
    ['ttrpc.Response', { status: { code: 5, message: 'not found' }, payload: Buffer.alloc(0) }],
    ['io.containerd.cgroups.v1.Metrics', { memory: { usage: { usage: 2 ** 53 - 1, limit: 2 ** 53 - 1 } }, pids: { current: 3, limit: 0 } }],
    ['containerd.services.events.ttrpc.v1.ForwardRequest', { envelope: { timestamp: { seconds: 3, nanos: 4 }, namespace: 'k8s.io', topic: '/tasks/exit', event: { type_url: 'containerd.events.TaskExit', value: Buffer.from([8, 1]) } } }],
  ];
  for (const [name, value] of samples) {
    const [p, b] = [plain.lookupType(name), built.lookupType(name)];
    const bytes = Buffer.from(p.encode(p.fromObject(value)).finish());
    assert.deepEqual(Buffer.from(b.encode(b.fromObject(value)).finish()), bytes, name);
    assert.deepEqual(b.toObject(b.decode(bytes), TO), p.toObject(p.decode(bytes), TO), name);
    assert.equal(b.verify(value), p.verify(value), name);
    assert.equal((b.setup as { name?: string }).name, 'setupPrecompiled', `${name}: set up from the build's functions`);
  }
});

test('delete: the hand-encoded DeleteResponse is what protobufjs reads from shim.proto', async () => {
  const { deleteResponse } = await import('../../src/shim/delete');
  for (const [pid, status, at] of [[0, 137, new Date(0)], [4_194_303, 137, new Date('2026-12-07T11:42:01.378Z')], [1, 0, new Date(2 ** 41 + 999)]] as const) {
    const d = decode('containerd.task.v2.DeleteResponse', deleteResponse(pid, status, at));
    assert.deepEqual([d.pid, d.exitStatus, d.exitedAt.seconds, d.exitedAt.nanos], [pid, status, Math.floor(at.getTime() / 1000), (at.getTime() % 1000) * 1e6]);
  }
});
