// The egress policy (annotation dev.moat.network.egress): the parser against hostile values, the
// matcher against addresses an application could use to slip past it (mapped, unspecified).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { egressAllowed, formatDest, parseEgress, parseIPv6 } from '../../src/sentry/net/egress';

const v4 = (s: string) => Uint8Array.from(s.split('.').map(Number));
const v6 = (s: string) => parseIPv6(s)!;

test('egress: all (and no annotation) allows everything; none allows nothing, loopback included', () => {
  for (const p of [parseEgress(undefined), parseEgress('all'), parseEgress(' all ')]) {
    assert.ok(egressAllowed(p, v4('8.8.8.8'), 53));
    assert.ok(egressAllowed(p, v6('2001:db8::1'), 443));
  }
  const none = parseEgress('none');
  assert.ok(!egressAllowed(none, v4('127.0.0.1'), 80));
  assert.ok(!egressAllowed(none, v6('::1'), 80));
  assert.ok(!egressAllowed(none, v4('10.1.2.3'), 80));
});

test('egress: loopback allows 127/8 and ::1, also through mapped and unspecified addresses', () => {
  const p = parseEgress('loopback');
  assert.ok(egressAllowed(p, v4('127.0.0.1'), 80));
  assert.ok(egressAllowed(p, v4('127.255.1.2'), 1));
  assert.ok(egressAllowed(p, v6('::1'), 22));
  assert.ok(egressAllowed(p, v6('::ffff:127.0.0.1'), 22));
  assert.ok(egressAllowed(p, v4('0.0.0.0'), 22), '0.0.0.0 connects to loopback');
  assert.ok(egressAllowed(p, v6('::'), 22), ':: connects to loopback');
  assert.ok(!egressAllowed(p, v4('128.0.0.1'), 80));
  assert.ok(!egressAllowed(p, v6('::2'), 80));
  assert.ok(!egressAllowed(p, v6('::ffff:10.0.0.1'), 80), 'an IPv4-mapped address is matched as IPv4');
});

test('egress: CIDR lists with ports and port ranges, IPv4 and IPv6', () => {
  const p = parseEgress('10.0.0.0/8, 192.168.1.5:443, [2001:db8::/32]:80-89, fd00::/8, loopback');
  assert.ok(egressAllowed(p, v4('10.200.3.4'), 1));
  assert.ok(!egressAllowed(p, v4('11.0.0.1'), 1));
  assert.ok(egressAllowed(p, v4('192.168.1.5'), 443));
  assert.ok(!egressAllowed(p, v4('192.168.1.5'), 444));
  assert.ok(!egressAllowed(p, v4('192.168.1.6'), 443));
  assert.ok(egressAllowed(p, v6('2001:db8:ffff::1'), 85));
  assert.ok(!egressAllowed(p, v6('2001:db8::1'), 90));
  assert.ok(!egressAllowed(p, v6('2001:db9::1'), 85));
  assert.ok(egressAllowed(p, v6('fd12::1'), 9));
  assert.ok(egressAllowed(p, v6('::ffff:10.9.9.9'), 5), 'mapped IPv4 reaches an IPv4 rule');
  assert.ok(egressAllowed(p, v4('127.0.0.1'), 5));
  const odd = parseEgress('10.1.2.3/31,0.0.0.0/0:53,::ffff:172.16.0.0/108');
  assert.ok(egressAllowed(odd, v4('10.1.2.2'), 1) && !egressAllowed(odd, v4('10.1.2.4'), 1));
  assert.ok(egressAllowed(odd, v4('1.2.3.4'), 53) && !egressAllowed(odd, v4('1.2.3.4'), 54));
  assert.ok(!egressAllowed(odd, v6('2001:db8::1'), 53), 'an IPv4 /0 does not cover IPv6');
  assert.ok(egressAllowed(odd, v4('172.31.0.1'), 1), 'a mapped rule is an IPv4 rule');
});

test('egress: hostile values are refused with a message', () => {
  const bad = ['', ' ', 'some', '10.0.0.0/33', '10.0.0.256', '10.0.0.1:0', '10.0.0.1:65536', '10.0.0.1:80-79',
    '[::1', '[::1]x', '::1::2', '1:2:3:4:5:6:7:8:9', 'fd00::/129', '10.0.0.1:', '10.0.0.1/', '10.0.0.1/-1',
    '10.0.0.1,', ',', '1.2.3', '01234::', `${'1.1.1.1,'.repeat(300)}1.1.1.1`, 'x'.repeat(9000), '10.0.0.1:80:90', 'all,none'];
  for (const b of bad) assert.throws(() => parseEgress(b), Error, JSON.stringify(b).slice(0, 60));
  for (let i = 0; i < 2000; i++) {
    const s = randomBytes(1 + (i % 40)).toString('latin1');
    try {
      const p = parseEgress(s);
      egressAllowed(p, v4('1.2.3.4'), 80);
    } catch (e) {
      assert.ok(e instanceof Error);
    }
  }
});

test('egress: destinations are logged in a canonical form', () => {
  assert.equal(formatDest(v4('10.0.0.1'), 80), '10.0.0.1:80');
  assert.equal(formatDest(v6('::ffff:10.0.0.1'), 80), '10.0.0.1:80');
  assert.equal(formatDest(v6('2001:db8::1'), 443), '[2001:db8:0:0:0:0:0:1]:443');
});
