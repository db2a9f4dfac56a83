// The sentry's socket codecs against hostile input: control messages (msg_control as the
// application lays it out, and recvmsg's buffer built within the caller's room), sockaddr_un, and
// the AF_UNIX receive queue's accounting of what a sender has outstanding.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { EINVAL } from '../../src/sentry/abi/errno';
import { MSG_CTRUNC, SCM_RIGHTS, SOL_SOCKET } from '../../src/sentry/net/constants';
import { CmsgWriter, cmsgLen, cmsgSpace, copyToViews, gatherViews, parseCmsgs } from '../../src/sentry/net/message';
import { parseAddress, parseBindAddress, pathAddress } from '../../src/sentry/net/unix/address';
import { MessageQueue, type Sender } from '../../src/sentry/net/unix/queue';

/** One cmsghdr (cmsg_len as given) with data, padded to CMSG_ALIGN. */
function cmsg(level: number, type: number, data: number[], len = cmsgLen(data.length)): Uint8Array {
  const b = new Uint8Array(cmsgSpace(data.length));
  const dv = new DataView(b.buffer);
  dv.setUint32(0, len, true);
  dv.setInt32(8, level, true);
  dv.setInt32(12, type, true);
  b.set(data, 16);
  return b;
}

test('parseCmsgs: messages at CMSG_ALIGN steps; a cmsg_len below the header or past the buffer is EINVAL', () => {
  const two = new Uint8Array([...cmsg(SOL_SOCKET, SCM_RIGHTS, [1, 0, 0, 0]), ...cmsg(SOL_SOCKET, 2, [9, 9, 9])]);
  const r = parseCmsgs(two);
  assert.ok(Array.isArray(r));
  assert.equal(r.length, 2);
  assert.deepEqual([...r[0].data], [1, 0, 0, 0]);
  assert.deepEqual([...r[1].data], [9, 9, 9]);
  assert.equal(parseCmsgs(cmsg(SOL_SOCKET, 1, [1, 2, 3, 4], 8)), -EINVAL);
  assert.equal(parseCmsgs(cmsg(SOL_SOCKET, 1, [1, 2, 3, 4], 1000)), -EINVAL);
  // Fewer bytes than a header: no message at all (Linux's CMSG_FIRSTHDR is NULL).
  assert.deepEqual(parseCmsgs(new Uint8Array(15)), []);
  // A 64-bit cmsg_len with high bits set is past any buffer.
  const huge = cmsg(SOL_SOCKET, 1, [0, 0, 0, 0]);
  huge[4] = 1;
  assert.equal(parseCmsgs(huge), -EINVAL);
});

test('parseCmsgs and the sockaddr parsers never throw on random bytes', () => {
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(randomBytes(i % 300));
    const r = parseCmsgs(b);
    if (typeof r !== 'number') for (const m of r) assert.ok(m.data.length <= b.length);
    const a = parseAddress(b.subarray(0, i % 130));
    assert.ok(typeof a === 'number' || ['path', 'abstract'].includes(a.kind));
    parseBindAddress(b.subarray(0, i % 4));
  }
});

test('CmsgWriter: fits as many fds as the room holds, truncates with MSG_CTRUNC, never writes past the room', () => {
  const w = new CmsgWriter(cmsgLen(4));
  assert.equal(w.fits(4), 1);
  w.put(SOL_SOCKET, SCM_RIGHTS, new Uint8Array(8));
  assert.equal(w.flags & MSG_CTRUNC, MSG_CTRUNC);
  assert.equal(w.result()!.length, cmsgLen(4));
  assert.equal(new DataView(w.result()!.buffer).getUint32(0, true), cmsgLen(4));
  const none = new CmsgWriter(0);
  none.put(SOL_SOCKET, SCM_RIGHTS, new Uint8Array(4));
  assert.equal(none.result(), null);
  assert.equal(none.flags, MSG_CTRUNC);
  // A room the application claims to be huge is bounded (no giant allocation).
  assert.ok(new CmsgWriter(0x7fffffff).room <= 65536);
});

test('sockaddr_un: paths end at their NUL, abstract names keep every byte, the family alone autobinds', () => {
  const p = parseAddress(new Uint8Array([1, 0, 0x2f, 0x61, 0, 0x62]));
  assert.deepEqual(p, { kind: 'path', path: '/a' });
  const a = parseAddress(new Uint8Array([1, 0, 0, 0x61, 0, 0x62]));
  assert.deepEqual(a, { kind: 'abstract', key: 'a\0b' });
  assert.deepEqual(parseBindAddress(new Uint8Array([1, 0])), { kind: 'auto' });
  assert.equal(parseAddress(new Uint8Array([1, 0])), -EINVAL);
  assert.equal(parseAddress(new Uint8Array([2, 0, 0x2f])), -EINVAL);
  assert.equal(parseAddress(new Uint8Array(111).fill(1)), -EINVAL);
  assert.deepEqual([...pathAddress('/s')], [1, 0, 0x2f, 0x73, 0]);
});

test('views: copy in and out across view boundaries at an offset', () => {
  const dst = [new Uint8Array(2), new Uint8Array(3)];
  assert.equal(copyToViews(dst, new Uint8Array([1, 2, 3]), 1), 3);
  assert.deepEqual(dst.map((d) => [...d]), [[0, 1], [2, 3, 0]]);
  assert.deepEqual([...gatherViews(dst, 1, 3)], [1, 2, 3]);
});

test('MessageQueue: a sender\'s outstanding bytes follow what is read, in part or whole, and what is dropped', () => {
  let notified = 0;
  const s: Sender = { name: null, outstanding: 0, waitQueue: { notify: () => notified++ } };
  const q = new MessageQueue();
  const creds = { pid: 1, uid: 0, gid: 0 };
  q.push({ data: new Uint8Array(10), off: 0, scm: null, creds, sender: s });
  q.push({ data: new Uint8Array(5), off: 0, scm: null, creds, sender: s });
  assert.equal(s.outstanding, 15);
  assert.equal(q.bytes, 15);
  q.consume(4);
  assert.equal(s.outstanding, 11);
  q.consume(6);
  assert.equal(q.length, 1);
  assert.equal(q.drain().length, 1);
  assert.equal(s.outstanding, 0);
  assert.equal(q.bytes, 0);
  assert.ok(notified >= 3);
});
