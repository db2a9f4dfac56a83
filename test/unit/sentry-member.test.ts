// The control socket's stats/pause/resume of a pod's container (src/sentry/control-member.ts): the
// sentry's check of the request, the shim's check of the answer, and the shim's bounded read of it
// (src/sentry/container.ts controlRequest) against a fake sentry on a unix socket.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { MAX_MEMBER_REPLY, memberRequestOf, memberStatsOf, memberStatsWire } from '../../src/sentry/control-member';
import { controlRequest } from '../../src/sentry/container';

test('memberRequestOf accepts stats/pause/resume naming a container and names the field of anything else', () => {
  for (const type of ['stats', 'pause', 'resume']) assert.deepEqual(memberRequestOf({ type, container: 'abc-1.x' }), { type, container: 'abc-1.x' });
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ type: 'freeze', container: 'a' }, /request\.type/],
    [{ type: 'stats' }, /request\.container/],
    [{ type: 'stats', container: '' }, /request\.container/], // the sandbox: its cgroups answer, not the sentry
    [{ type: 'pause', container: '../x' }, /request\.container/],
    [{ type: 'pause', container: 'x'.repeat(129) }, /request\.container/],
    [{ type: 'resume', container: 7 }, /request\.container/],
    [{ type: 'stats', container: 'a', all: true }, /request\.all: not a field of a stats request/],
  ];
  for (const [v, re] of bad) {
    const r = memberRequestOf(v);
    assert.equal(typeof r, 'string', JSON.stringify(v));
    assert.match(r as string, re);
  }
});

test('memberStatsOf takes the sentry\'s figures (u64 ns past 2^53 exactly) and refuses anything out of bounds', () => {
  const big = { cpuUserNs: 18446744073709551615n, cpuSystemNs: 0n, memoryBytes: 4096, tasks: 3, oomKills: 0 };
  const wire = JSON.parse(JSON.stringify({ stats: memberStatsWire(big) }));
  assert.deepEqual(memberStatsOf(wire), big);
  const ok = wire.stats;
  const bad: Array<[unknown, RegExp]> = [
    [null, /answer: not an object/],
    [[], /answer: not an object/],
    [{}, /answer\.stats: an object/],
    [{ stats: { ...ok, cpuUserNs: 5 } }, /cpuUserNs/], // a number loses precision: decimal strings only
    [{ stats: { ...ok, cpuUserNs: '-1' } }, /cpuUserNs/],
    [{ stats: { ...ok, cpuSystemNs: '18446744073709551616' } }, /cpuSystemNs/], // 2^64
    [{ stats: { ...ok, cpuSystemNs: '1e3' } }, /cpuSystemNs/],
    [{ stats: { ...ok, memoryBytes: -1 } }, /memoryBytes/],
    [{ stats: { ...ok, memoryBytes: 2 ** 60 } }, /memoryBytes/],
    [{ stats: { ...ok, tasks: 1.5 } }, /tasks/],
    [{ stats: { ...ok, oomKills: '0' } }, /oomKills/],
  ];
  for (const [v, re] of bad) {
    const r = memberStatsOf(v);
    assert.equal(typeof r, 'string', JSON.stringify(v));
    assert.match(r as string, re);
  }
  // The sentry's error, passed on, bounded.
  assert.equal(memberStatsOf({ error: 'request.container: no container "x" in this pod' }), 'request.container: no container "x" in this pod');
  assert.equal((memberStatsOf({ error: 'e'.repeat(100_000) }) as string).length, 1024);
});

/** A fake sentry: answers each connection's request with what reply returns (a string written as is). */
async function withFakeSentry(reply: (req: string) => string | undefined, fn: (sock: string, seen: string[]) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-member-'));
  const sock = path.join(dir, 'control.sock');
  const seen: string[] = [];
  const server = net.createServer((c) => {
    c.once('data', (d) => {
      seen.push(d.toString());
      const r = reply(d.toString());
      if (r === undefined) c.end();
      else c.write(r);
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((res) => server.listen(sock, res));
  try {
    await fn(sock, seen);
  } finally {
    await new Promise<void>((res) => server.close(() => res()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('controlRequest: one request, one answer line, bounded; refused when longer, missing or not JSON', async () => {
  await withFakeSentry(() => '{"ok":true}\n{"ignored":1}\n', async (sock, seen) => {
    assert.deepEqual(await controlRequest(sock, 'm', { type: 'pause', container: 'm' }, MAX_MEMBER_REPLY), { ok: true });
    assert.deepEqual(JSON.parse(seen[0]!), { type: 'pause', container: 'm' });
  });
  await withFakeSentry(() => 'x'.repeat(MAX_MEMBER_REPLY + 10), async (sock) => {
    await assert.rejects(controlRequest(sock, 'm', { type: 'stats', container: 'm' }, MAX_MEMBER_REPLY), /answer is longer than 4096 bytes/);
  });
  await withFakeSentry(() => undefined, async (sock) => {
    await assert.rejects(controlRequest(sock, 'm', { type: 'stats', container: 'm' }, MAX_MEMBER_REPLY), /closed the connection without an answer/);
  });
  await withFakeSentry(() => 'not json\n', async (sock) => {
    await assert.rejects(controlRequest(sock, 'm', { type: 'stats', container: 'm' }, MAX_MEMBER_REPLY), /not JSON/);
  });
  await withFakeSentry(() => '', async (sock) => {
    await assert.rejects(controlRequest(sock, 'm', { type: 'stats', container: 'm' }, MAX_MEMBER_REPLY, 300), /did not answer within 300 ms/);
  });
});
