// `moat do`: a command sandboxed over a read-only view of the host with an in-memory layer.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { containerSuite, moat } from '../helpers/moat';

let root: string;
containerSuite((r) => (root = r));

test('do runs a host command in fresh namespaces, writes stay in memory, exit code propagates', () => {
  const marker = `/etc/moat-do-test-${process.pid}`;
  const r = moat(root, ['do', '--', 'sh', '-c', `echo pid=$$; hostname; echo data > ${marker} && cat ${marker}; ls /sys/class/net; exit 5`]);
  assert.equal(r.status, 5, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['pid=1', 'moat', 'data', 'lo']);
  assert.ok(!fs.existsSync(marker), 'the host was not written');
});

test('do: lo is up in the sandbox\'s new network namespace, TCP over 127.0.0.1 works', () => {
  const r = moat(root, ['do', '--', 'sh', '-c', 'cat /sys/class/net/lo/flags; busybox nc -l -p 8080 > /tmp/got & sleep 0.3; echo hi | busybox nc -w 2 127.0.0.1 8080; sleep 0.3; kill $! 2>/dev/null; echo "got=$(cat /tmp/got)"']);
  assert.equal(r.status, 0, r.stderr);
  const [flags, got] = r.stdout.trim().split('\n');
  assert.equal(Number(flags) & 1, 1, `lo is up: flags ${flags}`);
  assert.equal(got, 'got=hi');
});

test('do sees the host files read-only-through-overlay and the caller cwd', () => {
  const r = moat(root, ['do', 'sh', '-c', 'pwd; test -x /usr/bin/node && echo has-node; ps -e -o pid= | wc -l']);
  assert.equal(r.status, 0, r.stderr);
  const [cwd, node, count] = r.stdout.trim().split('\n');
  assert.equal(cwd, process.cwd());
  assert.equal(node, 'has-node');
  assert.ok(Number(count) <= 4, `only the sandbox's processes are visible, saw ${count}`);
});

test('do with a missing command fails with 127 and leaves nothing', () => {
  const r = moat(root, ['do', '--', 'definitely-not-a-command']);
  assert.equal(r.status, 127);
  assert.equal(r.stderr, 'moat: exec: "definitely-not-a-command": executable file not found in $PATH\n');
});

test('do --isolation with an unknown platform is refused', () => {
  const r = moat(root, ['do', '--isolation', 'bogus', '--', 'true']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown isolation "bogus"/);
});

test('do takes the SDK\'s limits and network: --memory kills a hog (137), --pids holds a fork, an egress list is refused where it cannot be enforced', () => {
  const hog = moat(root, ['do', '--memory', '64m', '--', 'awk', 'BEGIN { s = "x"; while (1) s = s s }']);
  assert.equal(hog.status, 137, hog.stderr);
  const forks = moat(root, ['do', '--pids', '5', '--', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait; echo done']);
  assert.match(forks.stderr, /Cannot fork/, 'the sixth task is refused');
  assert.doesNotMatch(forks.stdout, /done/);
  const unlimited = moat(root, ['do', '--', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 0.5 & done; wait; echo done']);
  assert.equal(unlimited.stdout, 'done\n', 'no task limit of its own without --pids');
  const egress = moat(root, ['do', '--network', '10.0.0.0/8', '--', 'true']);
  assert.equal(egress.status, 2);
  assert.match(egress.stderr, /egress list is enforced only by isolation 'sentry'/);
  const bad = moat(root, ['do', '--cpus', 'many', '--', 'true']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--cpus takes a number/);
  assert.deepEqual(fs.readdirSync(root), [], 'nothing left');
});
