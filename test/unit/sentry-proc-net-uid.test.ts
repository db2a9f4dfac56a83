// The sandbox's /proc/net/{tcp,tcp6,udp,udp6} (src/sentry/vfs/proc/net.ts): the sentry's sockets
// are owned by its host uid (the sandbox's own, confine/), which the sandbox is shown as 0, as
// before the sentry dropped root; another owner's row (a host namespace's socket) is left alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rootUidColumn } from '../../src/sentry/vfs/proc/net';

const UID = 1297083795;

test('tcp, tcp6 and udp rows of the sentry\'s uid show 0 in the same layout; other uids and the header are untouched', () => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     ',
    `   0: 0100007F:15B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000 ${UID}        0 10963863 1 0000000000000000 100 0 0 10 0                     `,
    '   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 2345 1 0000000000000000 100 0 0 10 0                      ',
    '',
  ].join('\n');
  const want = [
    tcp.split('\n')[0],
    '   0: 0100007F:15B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10963863 1 0000000000000000 100 0 0 10 0                     ',
    tcp.split('\n')[2],
    '',
  ].join('\n');
  assert.equal(rootUidColumn(tcp, UID), want);
  const tcp6 = `   0: 00000000000000000000000000000000:15B3 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 ${UID}        0 10963863 1 00000000063ff267 100 0 0 10 0\n`;
  assert.equal(rootUidColumn(tcp6, UID), '   0: 00000000000000000000000000000000:15B3 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10963863 1 00000000063ff267 100 0 0 10 0\n');
  const udp = ` 1234: 00000000:15B4 00000000:0000 07 00000000:00000000 00:00000000 00000000 ${UID}        0 555 2 0000000000000000 0        \n`;
  assert.equal(rootUidColumn(udp, UID), ' 1234: 00000000:15B4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 555 2 0000000000000000 0        \n');
  // The inode column never matches by accident: only the uid column is looked at.
  const inodeLikeUid = `   0: 0100007F:15B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 ${UID} 1 0000000000000000 100 0 0 10 0\n`;
  assert.equal(rootUidColumn(inodeLikeUid, UID), inodeLikeUid);
});
