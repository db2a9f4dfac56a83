// The shim's event publisher against a stand-in for containerd's ttrpc Events service: events go
// over one connection, in order, as containerd's ForwardRequest envelopes; a connection containerd
// drops is made again; with no service there, the publish binary is run instead.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Publisher } from '../../src/shim/events';
import { decode, encode } from '../../src/shim/proto';
import { TtrpcServer } from '../../src/shim/ttrpc/server';

const SERVICE = 'containerd.services.events.ttrpc.v1.Events';

interface Forwarded {
  namespace: string;
  topic: string;
  type: string;
  event: Record<string, unknown>;
  seconds: number;
}

/** A ttrpc server answering Events/Forward, recording what it was given; `slow` delays the first answer. */
async function fakeContainerd(sock: string, slowMs = 0): Promise<{ server: TtrpcServer; got: Forwarded[] }> {
  const got: Forwarded[] = [];
  const server = new TtrpcServer();
  let first = true;
  server.register(SERVICE, 'Forward', async (payload) => {
    const { envelope } = decode('containerd.services.events.ttrpc.v1.ForwardRequest', payload);
    if (first && slowMs) await new Promise((r) => setTimeout(r, slowMs));
    first = false;
    const type = String(envelope.event.type_url);
    got.push({ namespace: envelope.namespace, topic: envelope.topic, type, event: decode(type, envelope.event.value), seconds: envelope.timestamp.seconds });
    return encode('google.protobuf.Empty', {});
  });
  await server.listen(sock);
  return { server, got };
}

test('events go to containerd over ttrpc (TTRPC_ADDRESS), in order, one connection', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-shim-events-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'containerd.sock.ttrpc');
  // The first answer is slow: the events published meanwhile must wait their turn, not overtake it.
  const { server, got } = await fakeContainerd(sock, 200);
  const logs: string[] = [];
  // No publish binary: anything not sent over ttrpc would be lost, and the test would see it.
  const p = new Publisher('', '/unused.sock', 'k8s.io', (l) => logs.push(l), `unix://${sock}`);
  const before = Math.floor(Date.now() / 1000);
  p.publish('TaskCreate', { containerId: 'c1', bundle: '/b', pid: 42 });
  p.publish('TaskStart', { containerId: 'c1', pid: 42 });
  p.publish('TaskExit', { containerId: 'c1', id: 'c1', pid: 42, exitStatus: 3 });
  await p.flushed();
  assert.deepEqual(got.map((g) => [g.namespace, g.topic, g.type]), [
    ['k8s.io', '/tasks/create', 'containerd.events.TaskCreate'],
    ['k8s.io', '/tasks/start', 'containerd.events.TaskStart'],
    ['k8s.io', '/tasks/exit', 'containerd.events.TaskExit'],
  ]);
  assert.equal(got[0]!.event.pid, 42);
  assert.equal(got[2]!.event.exitStatus, 3);
  assert.ok(got.every((g) => g.seconds >= before), 'each envelope has its time');
  assert.deepEqual(logs, []);
  // containerd restarts: the dropped connection is made again for the next event.
  server.close();
  await new Promise((r) => setTimeout(r, 50));
  fs.rmSync(sock, { force: true });
  const again = await fakeContainerd(sock);
  p.publish('TaskDelete', { containerId: 'c1', id: 'c1', pid: 42 });
  await p.flushed();
  assert.deepEqual(again.got.map((g) => g.topic), ['/tasks/delete']);
  p.close();
  again.server.close();
});

test('with nothing on TTRPC_ADDRESS, the event goes through the publish binary', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-shim-events-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // A publish binary that records its arguments and the event it reads on stdin.
  const bin = path.join(dir, 'publish');
  fs.writeFileSync(bin, `#!/bin/sh\necho "$@" >> ${dir}/args\ncat >> ${dir}/stdin\n`, { mode: 0o755 });
  const logs: string[] = [];
  const p = new Publisher(bin, '/run/c.sock', 'ns1', (l) => logs.push(l), `unix://${path.join(dir, 'nothing-here')}`);
  p.publish('TaskOOM', { containerId: 'c2' });
  await p.flushed();
  assert.equal(fs.readFileSync(path.join(dir, 'args'), 'utf8'), '--address /run/c.sock publish --topic /tasks/oom --namespace ns1\n');
  const any = decode('google.protobuf.Any', fs.readFileSync(path.join(dir, 'stdin')));
  assert.equal(any.type_url, 'containerd.events.TaskOOM');
  assert.equal(decode('containerd.events.TaskOOM', any.value).containerId, 'c2');
  assert.match(logs.join('\n'), /over ttrpc .*ENOENT.*through .*publish instead/s);
});
