// OCI hooks: order, state on stdin, args/env, in-container hooks, failures and timeouts.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, moatDetached, waitFor } from '../helpers/moat';

let root: string;
containerSuite((r) => (root = r));

/** A host hook: appends "<kind> <status> <pid> <env>" to log. */
function hostHook(dir: string, log: string): string {
  const p = path.join(dir, 'hook.sh');
  fs.writeFileSync(p, `#!/bin/sh\nstate=$(cat)\nstatus=$(echo "$state" | sed 's/.*"status":"\\([a-z]*\\)".*/\\1/')\npid=$(echo "$state" | sed 's/.*"pid":\\([0-9]*\\).*/\\1/')\necho "$1 $status $pid HOOKVAR=$HOOKVAR LEAK=$MOAT_NATIVE_DIR$HOME" >> ${log}\n`, { mode: 0o755 });
  return p;
}

test('runtime hooks run in order with the state on stdin and only their own env', async () => {
  const b = makeBundle(['sh', '-c', 'echo running; sleep 30'], (c) => {
    c.root.readonly = false;
  });
  const log = path.join(b.dir, 'hooks.log');
  const hook = hostHook(b.dir, log);
  // In-container hooks see the container's filesystem: their log lands in the rootfs.
  fs.writeFileSync(path.join(b.rootfs, 'inhook.sh'), '#!/bin/sh\necho "$1 $(cat | grep -c \'"id":"hk"\') $(hostname)" >> /inhooks.log\n', { mode: 0o755 });
  b.config.hostname = 'hooked';
  b.config.hooks = {
    prestart: [{ path: hook, args: ['hook.sh', 'prestart'], env: ['HOOKVAR=1'] }],
    createRuntime: [{ path: hook, args: ['hook.sh', 'createRuntime'] }],
    createContainer: [{ path: '/inhook.sh', args: ['inhook.sh', 'createContainer'] }],
    startContainer: [{ path: '/inhook.sh', args: ['inhook.sh', 'startContainer'] }],
    poststart: [{ path: hook, args: ['hook.sh', 'poststart'] }],
    poststop: [{ path: hook, args: ['hook.sh', 'poststop'] }],
  };
  b.save();
  try {
    const out = path.join(b.dir, 'out');
    assert.equal(moatDetached(root, ['create', '--bundle', b.dir, 'hk'], out).status, 0, fs.readFileSync(out, 'utf8'));
    const pid = JSON.parse(moat(root, ['state', 'hk']).stdout).pid;
    assert.equal(moat(root, ['start', 'hk']).status, 0);
    await waitFor('the process', () => fs.readFileSync(out, 'utf8').includes('running'));
    assert.equal(moat(root, ['delete', '--force', 'hk']).status, 0);
    assert.deepEqual(fs.readFileSync(log, 'utf8').trim().split('\n'), [
      `prestart creating ${pid} HOOKVAR=1 LEAK=`,
      `createRuntime creating ${pid} HOOKVAR= LEAK=`,
      `poststart running ${pid} HOOKVAR= LEAK=`,
      'poststop stopped 0 HOOKVAR= LEAK=',
    ]);
    assert.deepEqual(fs.readFileSync(path.join(b.rootfs, 'inhooks.log'), 'utf8').trim().split('\n'), [
      'createContainer 1 hooked',
      'startContainer 1 hooked',
    ]);
  } finally {
    moat(root, ['delete', '--force', 'hk']);
    b.cleanup();
  }
});

test('poststart gets status running and the init pid even when the process has already exited', () => {
  // runtime-tools' hooks_stdin: `true` is usually gone before the poststart hooks run; their state
  // is the one start made (not "stopped" with pid 0).
  const b = makeBundle(['true']);
  const log = path.join(b.dir, 'hooks.log');
  b.config.hooks = { poststart: [{ path: hostHook(b.dir, log), args: ['hook.sh', 'poststart'] }] };
  b.save();
  try {
    const out = path.join(b.dir, 'out');
    assert.equal(moatDetached(root, ['create', '--bundle', b.dir, 'quick'], out).status, 0, fs.readFileSync(out, 'utf8'));
    const pid = JSON.parse(moat(root, ['state', 'quick']).stdout).pid;
    assert.equal(moat(root, ['start', 'quick']).status, 0);
    assert.equal(fs.readFileSync(log, 'utf8').trim(), `poststart running ${pid} HOOKVAR= LEAK=`);
  } finally {
    moat(root, ['delete', '--force', 'quick']);
    b.cleanup();
  }
});

test('a failing createRuntime hook aborts create and leaves nothing', () => {
  const b = makeBundle(['true'], (c) => {
    c.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'echo no network for you >&2; exit 3'] }] };
  });
  try {
    const r = moat(root, ['create', '--bundle', b.dir, 'hookfail']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'moat: container "hookfail": createRuntime hook 0 (/bin/sh) failed: exit status 3: no network for you\n');
    assert.equal(moat(root, ['state', 'hookfail']).status, 1);
  } finally {
    b.cleanup();
  }
});

test('a hook that does not read its stdin is judged by its exit status, not by EPIPE', () => {
  // A state larger than a pipe buffer (a 100 KiB annotation): the hooks exit before it is written.
  const b = makeBundle(['true'], (c) => {
    c.annotations = { big: 'x'.repeat(100 * 1024) };
    c.hooks = { prestart: [{ path: '/bin/true' }], poststart: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 4'] }] };
  });
  try {
    const r = moat(root, ['run', '--bundle', b.dir, 'nostdin']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, 'moat: warning: container "nostdin": poststart hook 0 (/bin/sh) failed: exit status 4\n');
  } finally {
    b.cleanup();
  }
});

test('a hook past its timeout is killed and fails the operation', () => {
  const b = makeBundle(['true'], (c) => {
    c.hooks = { prestart: [{ path: '/bin/sleep', args: ['sleep', '20'], timeout: 1 }] };
  });
  try {
    const t0 = Date.now();
    const r = moat(root, ['run', '--bundle', b.dir, 'slow']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /prestart hook 0 \(\/bin\/sleep\) failed: timed out after 1s/);
    assert.ok(Date.now() - t0 < 10_000);
  } finally {
    b.cleanup();
  }
});

test('poststart and poststop failures only warn', () => {
  const b = makeBundle(['true'], (c) => {
    c.hooks = { poststart: [{ path: '/bin/false' }], poststop: [{ path: '/nonexistent/hook' }] };
  });
  try {
    const r = moat(root, ['run', '--bundle', b.dir, 'warn']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: container "warn": poststart hook 0 \(\/bin\/false\) failed: exit status 1/);
    assert.match(r.stderr, /warning: container "warn": poststop hook 0 \(\/nonexistent\/hook\) failed/);
  } finally {
    b.cleanup();
  }
});
