// What the sentry keeps of its lookups (docs/sentry.md, Speed): the rootfs's lower layer keeps
// children, misses and listings and walks ahead (WALKPATH), so these check that nothing it keeps
// hides a change. The sandbox's own creations, renames and removals in the rootfs are seen at once
// by stat, open and readdir, through paths whose components were walked ahead, missed before, or
// listed before; and a bind volume (not kept: the host may change it) shows the host's changes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { BUSYBOX, makeBundle, MOAT, waitFor } from '../helpers/moat';
import { explain, moatDo, sentrySuite } from './helpers';

let root: string;
sentrySuite((r) => (root = r));

const sh = (script: string) => [BUSYBOX, 'sh', '-c', script];

test('rootfs: files made, renamed and removed in the sandbox are seen at once, after misses, walks ahead and listings', () => {
  const script = [
    // Missed first (a negative entry below /etc and /usr/lib, a walk ahead of three components).
    'test -e /etc/moat-lc-a || echo "a missing"',
    'test -e /usr/lib/moat-lc/deep/er/file || echo "deep missing"',
    'ls /etc > /tmp/before',
    // Made: seen by stat, open and readdir.
    'echo one > /etc/moat-lc-a && cat /etc/moat-lc-a',
    'ls /etc | grep -c "^moat-lc-a$"',
    'mkdir -p /usr/lib/moat-lc/deep/er && echo deep > /usr/lib/moat-lc/deep/er/file && cat /usr/lib/moat-lc/deep/er/file',
    'cat /usr/lib/../lib/moat-lc/deep/./er/file',
    // Renamed: the old name is gone, the new one there.
    'mv /etc/moat-lc-a /etc/moat-lc-b; test -e /etc/moat-lc-a || echo "a gone"; cat /etc/moat-lc-b',
    'ls /etc | grep -c "^moat-lc-"',
    // Removed.
    'rm /etc/moat-lc-b; test -e /etc/moat-lc-b || echo "b gone"; ls /etc | grep -c "^moat-lc-"',
    'rm -r /usr/lib/moat-lc; test -e /usr/lib/moat-lc/deep/er/file || echo "deep gone"',
    // A file of the image itself: read (its fd and lookups kept), removed, made again, renamed over.
    'head -c 5 /etc/passwd; echo',
    'rm /etc/passwd; test -e /etc/passwd || echo "passwd gone"; cat /etc/passwd 2>/dev/null || echo "passwd unreadable"',
    'echo mine > /etc/passwd; cat /etc/passwd',
    'echo other > /tmp/other && mv /tmp/other /etc/passwd; cat /etc/passwd',
    'ls /etc | grep -c "^passwd$"',
    // The listing taken at the start is what it was (no leftovers of the sandbox's files).
    'ls /etc | diff /tmp/before - && echo "listing as before"',
    // Symlinks on a walked-ahead path, and O_NOFOLLOW-style checks through busybox.
    'ln -s /etc/moat-lc-target /tmp/moat-lc-link; cat /tmp/moat-lc-link 2>/dev/null || echo "dangling"',
    'echo target > /etc/moat-lc-target; cat /tmp/moat-lc-link',
  ].join('\n');
  const r = moatDo(root, 'sentry', sh(script));
  assert.equal(r.status, 0, explain(r));
  assert.equal(
    r.stdout,
    [
      'a missing', 'deep missing', 'one', '1', 'deep', 'deep', 'a gone', 'one', '1', 'b gone', '0', 'deep gone',
      'root:', 'passwd gone', 'passwd unreadable', 'mine', 'other', '1', 'listing as before', 'dangling', 'target', '',
    ].join('\n'),
    explain(r),
  );
  // The same script natively prints the same (what Linux's overlay does).
  const n = moatDo(root, 'native', sh(script));
  assert.equal(r.stdout, n.stdout, explain(n));
});

test('bind volume: the host\'s changes (a file made, removed, grown) are seen by the sandbox', async () => {
  const vol = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-lc-vol-'));
  fs.chmodSync(vol, 0o777);
  fs.writeFileSync(path.join(vol, 'early'), 'early\n');
  fs.writeFileSync(path.join(vol, 'grows'), 'x\n');
  const script = [
    'test -e /vol/late || echo "late missing"',
    'cat /vol/early /vol/grows; ls /vol | tr "\\n" " "; echo',
    'touch /vol/ready',
    'i=0; while [ ! -e /vol/done ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done',
    'cat /vol/late; test -e /vol/early || echo "early gone"; cat /vol/grows; stat -c %s /vol/grows; ls /vol | tr "\\n" " "; echo',
  ].join('\n');
  const b = makeBundle(sh(script), (c) => {
    c.mounts.push({ destination: '/vol', type: 'bind', source: vol, options: ['rbind', 'rw'] });
  });
  const out = path.join(b.dir, 'out');
  const id = `lc-${process.pid}`;
  try {
    const fd = fs.openSync(out, 'w');
    const child = spawn(MOAT, ['--root', root, '--isolation=sentry', 'run', '--bundle', b.dir, id], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor('the sandbox to look at /vol', () => fs.existsSync(path.join(vol, 'ready')), 30_000);
      fs.writeFileSync(path.join(vol, 'late'), 'late\n');
      fs.rmSync(path.join(vol, 'early'));
      fs.appendFileSync(path.join(vol, 'grows'), 'yy\n');
      fs.writeFileSync(path.join(vol, 'done'), '');
    } finally {
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    const text = fs.readFileSync(out, 'utf8');
    assert.equal(text, 'late missing\nearly\nx\nearly grows \nlate\nearly gone\nx\nyy\n5\ndone grows late ready \n', text);
  } finally {
    b.cleanup();
    fs.rmSync(vol, { recursive: true, force: true });
  }
});
