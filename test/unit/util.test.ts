// Small parsers shared by the CLI, the SDK and the platforms (src/util).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseByteSize, parseUidGid } from '../../src/util/ids';
import { parseMountinfo } from '../../src/util/mountinfo';

test('mountinfo: fields after the optional ones, octal escapes undone, malformed lines skipped', () => {
  const text = [
    '36 35 98:0 /mnt1 /mnt/my\\040dir rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue',
    '40 30 0:35 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct',
    '41 30 0:36 / /run/a\\012b\\134c rw - tmpfs tmp\\040fs rw,size=64k',
    'garbage',
    '',
  ].join('\n');
  assert.deepEqual(parseMountinfo(text), [
    { mountPoint: '/mnt/my dir', root: '/mnt1', fstype: 'ext3', source: '/dev/root', superOptions: 'rw,errors=continue' },
    { mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/', fstype: 'cgroup', source: 'cgroup', superOptions: 'rw,cpu,cpuacct' },
    { mountPoint: '/run/a\nb\\c', root: '/', fstype: 'tmpfs', source: 'tmp fs', superOptions: 'rw,size=64k' },
  ]);
});

test('ids and sizes: uid[:gid] numbers only, in range; sizes in binary units, truncated', () => {
  assert.deepEqual(parseUidGid('1000'), { uid: 1000 });
  assert.deepEqual(parseUidGid('1000:0'), { uid: 1000, gid: 0 });
  assert.equal(parseUidGid('root'), 'syntax');
  assert.equal(parseUidGid('1:2:3'), 'syntax');
  assert.equal(parseUidGid('-1'), 'syntax');
  assert.equal(parseUidGid('4294967295'), 'range');
  assert.equal(parseUidGid('1:4294967295'), 'range');
  assert.equal(parseByteSize('512m'), 512 * 1024 ** 2);
  assert.equal(parseByteSize(' 1.5G '), 1.5 * 1024 ** 3);
  assert.equal(parseByteSize('4KiB'), 4096);
  assert.equal(parseByteSize('10b'), 10);
  assert.equal(parseByteSize('0.3k'), 307);
  assert.equal(parseByteSize('1e3'), undefined);
  assert.equal(parseByteSize('12x'), undefined);
  assert.equal(parseByteSize('99999999999p'), undefined, 'beyond a safe integer');
});
