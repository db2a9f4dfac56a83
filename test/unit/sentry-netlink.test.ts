// NETLINK_ROUTE in the sentry (src/sentry/net/netlink/route.ts): what is forwarded to the host is
// rebuilt by the sentry (its header, the family header, allowed attributes only); changes are EPERM;
// replies are re-framed with the application's seq and port id; hostile bytes never throw.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { errorMessage, parseRequests, readHeader, reframeReply, NLMSG_DONE, NLMSG_ERROR, RTM_GETLINK, RTM_GETROUTE } from '../../src/sentry/net/netlink/route';

function msg(type: number, flags: number, seq: number, pid: number, body: number[] | Uint8Array, len?: number): Uint8Array {
  const b = new Uint8Array(16 + body.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, len ?? b.length, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, seq, true);
  dv.setUint32(12, pid, true);
  b.set(body, 16);
  return b;
}

function attr(type: number, data: number[]): number[] {
  const len = 4 + data.length;
  const out = [len & 0xff, len >> 8, type & 0xff, type >> 8, ...data];
  while (out.length % 4) out.push(0);
  return out;
}

const REQ_DUMP = 0x1 | 0x300;

test('netlink: a GETLINK dump (rtgenmsg) is rebuilt: the sentry\'s header, a zero-padded ifinfomsg, no attributes', () => {
  const a = parseRequests(msg(RTM_GETLINK, REQ_DUMP | 0x8 /* ECHO */, 77, 4242, [17 /* AF_PACKET */, 9, 9, 9]));
  assert.equal(a.length, 1);
  const f = a[0];
  assert.equal(f.kind, 'forward');
  if (f.kind !== 'forward') return;
  const h = readHeader(f.request, 0);
  assert.deepEqual(h, { len: 32, type: RTM_GETLINK, flags: REQ_DUMP, seq: 0, pid: 0 });
  assert.equal(f.request[16], 17);
  assert.deepEqual([...f.request.subarray(17)], [9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(f.header.seq, 77);
  assert.equal(f.header.pid, 4242);
  // `ip link`: a full ifinfomsg and IFLA_EXT_MASK; a dump forwards the header only.
  const ip = parseRequests(msg(RTM_GETLINK, REQ_DUMP, 1, 0, [...new Array(16).fill(0), ...attr(29, [1, 0, 0, 0])]));
  assert.equal(ip[0].kind === 'forward' && ip[0].request.length, 32);
});

test('netlink: changes are EPERM, unknown types EOPNOTSUPP, control messages and replies ignored', () => {
  const kinds = (type: number, flags = 0x1) => {
    const a = parseRequests(msg(type, flags, 1, 0, new Array(16).fill(0)));
    return a[0].kind === 'error' ? `error ${a[0].errno}` : a[0].kind;
  };
  for (const t of [16, 17, 19, 20, 21, 24, 25, 28, 29, 32, 33, 44, 45]) assert.equal(kinds(t), 'error 1', `type ${t}`); // NEW/DEL/SET*
  assert.equal(kinds(200), 'error 95');
  assert.equal(kinds(90), 'error 95'); // a GET the sentry does not forward (RTM_GETTCLASS? 42 is GETQDISC: op 2 but not listed)
  assert.equal(kinds(1), 'ignore');
  assert.equal(kinds(NLMSG_DONE), 'ignore');
  assert.equal(kinds(RTM_GETLINK, 0), 'ignore');
});

test('netlink: a GETROUTE request keeps only allowed attributes; a bad attribute length is EINVAL', () => {
  const body = [10, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const dst = attr(1, [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  const mark = attr(16, [1, 2, 3, 4]);
  const a = parseRequests(msg(RTM_GETROUTE, 0x1 | 0x4, 5, 0, [...body, ...mark, ...dst]));
  assert.equal(a[0].kind, 'forward');
  if (a[0].kind !== 'forward') return;
  assert.deepEqual([...a[0].request.subarray(28)], dst, 'RTA_MARK dropped, RTA_DST kept');
  assert.equal(readHeader(a[0].request, 0).flags, 0x5);
  const bad = parseRequests(msg(RTM_GETROUTE, 0x1, 5, 0, [...body, 200, 0, 1, 0]));
  assert.equal(bad[0].kind === 'error' && bad[0].errno, 22);
  const short = parseRequests(msg(RTM_GETROUTE, 0x1, 5, 0, [10]));
  assert.equal(short[0].kind === 'error' && short[0].errno, 22);
});

test('netlink: message walks stop at a bad length; several messages in one send', () => {
  assert.deepEqual(parseRequests(msg(RTM_GETLINK, REQ_DUMP, 1, 0, [0], 9000)), []);
  assert.deepEqual(parseRequests(msg(RTM_GETLINK, REQ_DUMP, 1, 0, [0], 3)), []);
  const two = new Uint8Array([...msg(RTM_GETLINK, REQ_DUMP, 1, 0, [0, 0, 0, 0]), ...msg(16, 0x1, 2, 0, new Array(16).fill(0))]);
  assert.deepEqual(parseRequests(two).map((x) => x.kind), ['forward', 'error']);
});

test('netlink: NLMSG_ERROR echoes the request header; replies get the application\'s seq and port id', () => {
  const h = { len: 32, type: 16, flags: 5, seq: 99, pid: 7 };
  const e = errorMessage(h, 1, 1234);
  const dv = new DataView(e.buffer);
  assert.deepEqual(readHeader(e, 0), { len: 36, type: NLMSG_ERROR, flags: 0, seq: 99, pid: 1234 });
  assert.equal(dv.getInt32(16, true), -1);
  assert.deepEqual(readHeader(e, 20), h);
  const host = new Uint8Array([...msg(16, 0x2, 555, 0, [1, 2, 3, 4]), ...msg(NLMSG_DONE, 0x2, 555, 0, [0, 0, 0, 0])]);
  const r = reframeReply(host, h, 1234);
  assert.equal(r.done, true);
  assert.deepEqual(readHeader(r.data, 0), { len: 20, type: 16, flags: 2, seq: 99, pid: 1234 });
  assert.deepEqual(readHeader(r.data, 20), { len: 20, type: NLMSG_DONE, flags: 2, seq: 99, pid: 1234 });
  const partial = reframeReply(new Uint8Array([...msg(16, 0x2, 1, 0, [1, 2, 3, 4]), ...msg(16, 0x2, 1, 0, [0], 500)]), h, 1);
  assert.equal(partial.data.length, 20, 'a malformed message ends the datagram');
  assert.equal(partial.done, false);
});

test('netlink: random bytes never throw', () => {
  const h = { len: 16, type: 18, flags: 1, seq: 1, pid: 1 };
  for (let i = 0; i < 3000; i++) {
    const b = new Uint8Array(randomBytes(i % 300));
    if (b.length >= 8 && i % 2) new DataView(b.buffer).setUint32(0, Math.min(b.length, 16 + (i % 50)), true);
    parseRequests(b);
    reframeReply(b, h, 9);
  }
});
