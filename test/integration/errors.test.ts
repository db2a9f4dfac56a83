// Bad input gets one clear line naming the field or id, a non-zero exit, and leaves nothing behind.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, moatDetached } from '../helpers/moat';

let root: string;
containerSuite((r) => (root = r));

function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  return lines[0]!;
}

test('malformed config.json', () => {
  const b = makeBundle(['true']);
  try {
    fs.writeFileSync(path.join(b.dir, 'config.json'), '{"ociVersion": "1.2.0", "process": ');
    const r = moat(root, ['run', '--bundle', b.dir, 'bad1']);
    assert.equal(r.status, 1);
    assert.match(oneLine(r.stderr), /^moat: config.json: \(root\): not valid JSON/);
    assert.deepEqual(fs.readdirSync(root), []);
  } finally {
    b.cleanup();
  }
});

test('mistyped config.json names the field', () => {
  const b = makeBundle(['true'], (c) => {
    c.process.user.uid = 'root';
  });
  try {
    const r = moat(root, ['create', '--bundle', b.dir, 'bad2']);
    assert.equal(r.status, 1);
    assert.equal(oneLine(r.stderr), 'moat: config.json: process.user.uid: expected an integer, got string');
  } finally {
    b.cleanup();
  }
});

test('missing rootfs and missing bundle', () => {
  const b = makeBundle(['true'], (c) => {
    c.root.path = 'nope';
  });
  try {
    const r = moat(root, ['run', '--bundle', b.dir, 'bad3']);
    assert.equal(r.status, 1);
    assert.equal(oneLine(r.stderr), `moat: root.path: ${b.dir}/nope does not exist`);
    const r2 = moat(root, ['run', '--bundle', '/nonexistent-bundle', 'bad3']);
    assert.equal(oneLine(r2.stderr), 'moat: bundle /nonexistent-bundle: config.json not found');
  } finally {
    b.cleanup();
  }
});

test('duplicate id, unknown id, bad signal, bad id', () => {
  const b = makeBundle(['sleep', '30']);
  const out = path.join(b.dir, 'out');
  try {
    assert.equal(moatDetached(root, ['create', '--bundle', b.dir, 'dup'], out).status, 0);
    const dup = moat(root, ['create', '--bundle', b.dir, 'dup']);
    assert.equal(dup.status, 1);
    assert.equal(oneLine(dup.stderr), 'moat: container "dup" already exists');
    const sig = moat(root, ['kill', 'dup', 'SIGFOO']);
    assert.equal(sig.status, 1);
    assert.equal(oneLine(sig.stderr), 'moat: unknown signal "SIGFOO"');
    assert.equal(JSON.parse(moat(root, ['state', 'dup']).stdout).status, 'created', 'the first container is untouched');
    const unknown = moat(root, ['kill', 'ghost', 'KILL']);
    assert.equal(unknown.status, 1);
    assert.equal(oneLine(unknown.stderr), 'moat: container "ghost" does not exist');
    const badId = moat(root, ['state', '../etc']);
    assert.equal(badId.status, 2);
    assert.match(oneLine(badId.stderr), /invalid container id "..\/etc"/);
  } finally {
    assert.equal(moat(root, ['delete', '--force', 'dup']).status, 0);
    b.cleanup();
  }
});

test('a mount destination through a symlink cannot escape the rootfs', () => {
  const hostDir = fs.mkdtempSync('/tmp/moat-escape-target-');
  const b = makeBundle(['sh', '-c', 'ls /evil/sub >/dev/null && echo mounted-inside'], (c) => {
    c.mounts.push({ destination: '/evil/sub', type: 'tmpfs', source: 'tmpfs', options: [] });
  });
  try {
    fs.symlinkSync(hostDir, path.join(b.rootfs, 'evil'));
    const r = moat(root, ['run', '--bundle', b.dir, 'escape']);
    // Resolved inside the rootfs: /evil -> <hostDir> is looked up under the rootfs, never on the host.
    assert.deepEqual(fs.readdirSync(hostDir), [], 'nothing was created in the host directory');
    assert.ok(r.status === 0 || r.status === 1, r.stderr);
    if (r.status === 0) assert.equal(r.stdout, 'mounted-inside\n');
    else assert.match(oneLine(r.stderr), /evil/);
    const dotdot = makeBundle(['true'], (c) => {
      c.mounts.push({ destination: '/../../../../tmp/' + path.basename(hostDir) + '/x', type: 'tmpfs', source: 'tmpfs', options: [] });
    });
    try {
      const r2 = moat(root, ['run', '--bundle', dotdot.dir, 'dotdot']);
      assert.equal(r2.status, 0, r2.stderr);
      assert.deepEqual(fs.readdirSync(hostDir), [], '.. is clamped at the rootfs');
    } finally {
      dotdot.cleanup();
    }
  } finally {
    fs.rmSync(hostDir, { recursive: true, force: true });
    b.cleanup();
  }
});

test('a mount that fails names the mount and leaves nothing', () => {
  const b = makeBundle(['true'], (c) => {
    c.mounts.push({ destination: '/weird', type: 'nosuchfs', source: 'x', options: [] });
  });
  try {
    const r = moat(root, ['run', '--bundle', b.dir, 'badmount']);
    assert.equal(r.status, 1);
    assert.match(oneLine(r.stderr), /\/weird.*nosuchfs.*No such device/);
  } finally {
    b.cleanup();
  }
});

test('--log-format json writes a JSON record for the error', () => {
  const log = path.join(root, '..', `moat-log-${process.pid}.json`);
  try {
    const r = moat(root, ['--log', log, '--log-format', 'json', 'state', 'nobody']);
    assert.equal(r.status, 1);
    const rec = JSON.parse(fs.readFileSync(log, 'utf8').trim());
    assert.equal(rec.level, 'error');
    assert.equal(rec.msg, 'container "nobody" does not exist');
    assert.ok(!Number.isNaN(Date.parse(rec.time)));
  } finally {
    fs.rmSync(log, { force: true });
  }
});

test('usage errors exit 2', () => {
  assert.equal(moat(root, ['frobnicate']).status, 2);
  assert.equal(moat(root, ['create']).status, 2);
  assert.equal(moat(root, ['--log-format', 'xml', 'list']).status, 2);
});
