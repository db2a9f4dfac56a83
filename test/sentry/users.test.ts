// Unprivileged containers under the sentry: a busybox bundle whose process.user is uid 1000, and
// one that stays root with almost no capabilities, each run natively (`moat run`) and under the
// sentry (`moat --isolation=sentry run`). What the scripts try is refused by Linux; the sentry must
// refuse it the same way (the same messages, the same exit code), and the native run is checked
// too, so the expectations are Linux's own.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { makeBundle, type MoatResult, type TestBundle } from '../helpers/moat';
import { explain, moatRun, sentrySuite } from './helpers';

let root: string;
sentrySuite((r) => (root = r));

const DOCKER_BOUNDING = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** The bundle run natively and under the sentry; a writable root, a tmpfs /tmp, a 0600 /etc/shadow. */
function runBoth(script: string, mutate: (c: Record<string, any>) => void, prepare: (b: TestBundle) => void): { native: MoatResult; sentry: MoatResult } {
  const b = makeBundle(['sh', '-c', script], (c) => {
    c.root.readonly = false;
    c.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] });
    mutate(c);
  });
  try {
    fs.chmodSync(path.join(b.rootfs, 'root'), 0o700);
    fs.writeFileSync(path.join(b.rootfs, 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o600 });
    prepare(b);
    const id = `users-${process.hrtime.bigint()}`;
    const native = moatRun(root, ['run', '--bundle', b.dir, `${id}-n`]);
    // The native run may have left files in the bundle's rootfs: put it back as it was.
    for (const f of ['root/x', 'etc/new']) fs.rmSync(path.join(b.rootfs, f), { recursive: true, force: true });
    const sentry = moatRun(root, ['--isolation=sentry', 'run', '--bundle', b.dir, `${id}-s`]);
    return { native, sentry };
  } finally {
    b.cleanup();
  }
}

function assertSame(native: MoatResult, sentry: MoatResult): void {
  assert.equal(sentry.stdout, native.stdout, `under the sentry\n${explain(sentry)}`);
  assert.equal(sentry.status, native.status, explain(sentry));
}

test('run --isolation=sentry as uid 1000: root-only files, directories, hostname, hard limits, devices and chown are refused as natively', () => {
  const script = [
    'id',
    'touch /root/x 2>&1',
    'cat /etc/shadow 2>&1',
    'mkdir /etc/new 2>&1',
    'chmod 644 /etc/shadow 2>&1',
    'hostname other 2>&1; hostname',
    'h=$(ulimit -H -n); ulimit -H -n $((h + 1)) 2>&1 || echo "hard limit stays $(ulimit -H -n)"',
    'ulimit -H -n $((h - 1)) && echo "lowered to $(ulimit -H -n)"',
    'mknod /tmp/null c 1 3 2>&1',
    'echo mine > /tmp/mine && chown 0 /tmp/mine 2>&1; ls -ln /tmp/mine | awk \'{ print $1, $3, $4 }\'',
    'chroot / true 2>&1',
    "grep -E '^Cap(Prm|Eff|Amb)' /proc/self/status",
    'exit 3',
  ].join('\n');
  const { native, sentry } = runBoth(
    script,
    (c) => {
      c.process.user = { uid: 1000, gid: 1000, additionalGids: [] };
      c.process.capabilities = { bounding: DOCKER_BOUNDING, effective: [], permitted: [], inheritable: [], ambient: [] };
    },
    () => undefined,
  );
  assert.equal(native.status, 3, explain(native));
  const lines = native.stdout.split('\n');
  assert.ok(lines[0].startsWith('uid=1000 gid=1000'), native.stdout);
  for (const refused of ['/root/x', 'shadow', '/etc/new']) {
    assert.ok(lines.some((l) => l.includes(refused) && /Permission denied|Operation not permitted/.test(l)), `${refused} not refused natively:\n${native.stdout}`);
  }
  assert.match(native.stdout, /hard limit stays/);
  assert.match(native.stdout, /CapEff:\t0000000000000000/);
  assertSame(native, sentry);
});

test('run --isolation=sentry as root without CAP_DAC_OVERRIDE/CAP_KILL/CAP_FOWNER: another user\'s files and processes are out of reach', () => {
  const script = [
    'cat /home/u/secret 2>&1',
    'ls /home/u/private 2>&1',
    'chmod 666 /home/u/secret 2>&1',
    'echo ok > /home/u/secret 2>&1',
    'su -s /bin/sh nobody -c "sleep 3" & p=$!',
    'i=0; until grep -q "^Uid:[[:space:]]*65534" /proc/$p/status 2>/dev/null || [ $i -ge 200 ]; do sleep 0.02; i=$((i + 1)); done',
    'kill $p 2>&1 | sed "s/[0-9][0-9]*/N/g"',
    'kill -0 $p 2>/dev/null || echo "kill -0 refused"',
    'kill -CONT $p && echo "SIGCONT within the session"',
    'wait $p; echo "sleep exited $?"',
    'cat /etc/shadow >/dev/null && echo "own root file readable"',
  ].join('\n');
  const { native, sentry } = runBoth(
    script,
    (c) => {
      c.process.user = { uid: 0, gid: 0, additionalGids: [] };
      const caps = ['CAP_SETUID', 'CAP_SETGID'];
      c.process.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] };
    },
    (b) => {
      const home = path.join(b.rootfs, 'home', 'u');
      fs.mkdirSync(path.join(home, 'private'), { recursive: true });
      fs.writeFileSync(path.join(home, 'secret'), 'secret\n', { mode: 0o600 });
      fs.chmodSync(path.join(home, 'private'), 0o700);
      for (const p of [home, path.join(home, 'private'), path.join(home, 'secret')]) fs.chownSync(p, 1000, 1000);
    },
  );
  assert.equal(native.status, 0, explain(native));
  assert.match(native.stdout, /secret'?: Permission denied/);
  assert.match(native.stdout, /private'?: Permission denied/);
  assert.match(native.stdout, /Operation not permitted/);
  assert.match(native.stdout, /kill -0 refused/);
  assert.match(native.stdout, /SIGCONT within the session/);
  assert.match(native.stdout, /sleep exited 0/);
  assertSame(native, sentry);
});
