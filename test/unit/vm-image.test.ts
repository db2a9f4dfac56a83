// The vm rootfs's base image cache (docs/vm.md#root-filesystem-a-virtio-blk-ext4-image): the tree's
// manifest, building and finding an image (mkfs.ext4 on a tiny tree), pruning, the overlay.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { sys } from '../../src/sys';
import { acquireBase, imageKey, prune } from '../../src/vm/disk/base';
import { treeManifest } from '../../src/vm/disk/manifest';
import { createOverlay } from '../../src/vm/disk/overlay';

function tree(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-imgtree-'));
  fs.mkdirSync(path.join(d, 'etc'));
  fs.writeFileSync(path.join(d, 'etc', 'hostname'), 'tree\n');
  fs.symlinkSync('etc/hostname', path.join(d, 'link'));
  return d;
}

test('manifest: stable for an unchanged tree; a new key for content (size or mtime), mode, owner, a new file, a rename, a symlink target', () => {
  const d = tree();
  try {
    const digest = () => treeManifest(d).digest;
    const d0 = digest();
    assert.equal(digest(), d0, 'walking again changes nothing');
    assert.equal(treeManifest(d).files, 3);
    const f = path.join(d, 'etc', 'hostname');
    const seen = new Set([d0]);
    const changed = (what: string, change: () => void) => {
      change();
      const now = digest();
      assert.ok(!seen.has(now), `${what}: a new digest`);
      seen.add(now);
    };
    changed('content of another size', () => fs.writeFileSync(f, 'other tree\n'));
    changed('an mtime', () => fs.utimesSync(f, new Date(1e12), new Date(1e12)));
    changed('a mode', () => fs.chmodSync(f, 0o600));
    changed('an owner', () => fs.chownSync(f, 1234, 1234));
    changed('a new file', () => fs.writeFileSync(path.join(d, 'new'), ''));
    changed('a rename', () => fs.renameSync(path.join(d, 'new'), path.join(d, 'renamed')));
    changed('a symlink target', () => {
      fs.rmSync(path.join(d, 'link'));
      fs.symlinkSync('etc/other', path.join(d, 'link'));
    });
    assert.notEqual(imageKey(d0), imageKey(digest()));
    assert.match(imageKey(d0), /^[0-9a-f]{32}$/);
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('base image: built once (0444, atomically, nothing temporary left, the lock free), found by the next container without a change; a changed tree gets another; the overlay names it as its raw backing', async () => {
  const d = tree();
  const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'moat-imgroot-')), 'images');
  try {
    const a = await acquireBase(d, root);
    assert.ok(a.built);
    const st = fs.statSync(a.path);
    assert.equal(st.mode & 0o7777, 0o444);
    assert.equal(st.size, a.bytes);
    assert.equal(fs.statSync(root).mode & 0o777, 0o700);
    const b = await acquireBase(d, root);
    assert.equal(b.built, false);
    assert.equal(b.path, a.path);
    assert.equal(fs.fstatSync(b.fd).ino, fs.fstatSync(a.fd).ino);
    assert.equal(fs.statSync(a.path).mtimeMs, st.mtimeMs, 'finding it leaves its mtime');
    fs.writeFileSync(path.join(d, 'etc', 'hostname'), 'changed\n');
    const c = await acquireBase(d, root);
    assert.ok(c.built);
    assert.notEqual(c.path, a.path);
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.startsWith('.')), [], 'no temporary image left');
    const lock = fs.openSync(path.join(root, 'lock'), 'r');
    assert.ok(sys().flock(lock, 'ex', true), 'the lock is free');
    fs.closeSync(lock);
    // A file there that is not what the cache makes (here: writable) is not used: rebuilt.
    fs.chmodSync(c.path, 0o644);
    const again = await acquireBase(d, root);
    assert.ok(again.built);
    assert.equal(fs.statSync(again.path).mode & 0o777, 0o444);
    const overlay = path.join(path.dirname(root), 'rootfs.qcow2');
    createOverlay(again.path, again.bytes, overlay);
    assert.equal(fs.statSync(overlay).mode & 0o777, 0o600);
    const info = JSON.parse(spawnSync('qemu-img', ['info', '--output=json', overlay], { encoding: 'utf8' }).stdout) as Record<string, unknown>;
    assert.equal(info.format, 'qcow2');
    assert.equal(info['virtual-size'], again.bytes);
    assert.equal(info['backing-filename'], again.path);
    assert.equal(info['backing-filename-format'], 'raw');
    assert.throws(() => createOverlay(again.path, again.bytes, path.join(root, 'no', 'such', 'dir.qcow2')), /qemu-img create/);
    for (const x of [a, b, c, again]) fs.closeSync(x.fd);
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
    fs.rmSync(path.dirname(root), { recursive: true, force: true });
  }
});

test('base image pruning: least recently used beyond the count or the byte budget go, the one just built and an open one\'s data stay; build leftovers go', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-imgprune-'));
  try {
    const now = Date.now() / 1000;
    const names = Array.from({ length: 5 }, (_, i) => `${i.toString(16).padStart(32, '0')}.img`);
    names.forEach((n, i) => {
      fs.writeFileSync(path.join(root, n), Buffer.alloc(4096, 1));
      fs.utimesSync(path.join(root, n), now - 100 + i, now - 1000); // atime: later = more recent
    });
    fs.writeFileSync(path.join(root, '.build-x-1-aa'), 'half');
    fs.writeFileSync(path.join(root, 'lock'), '');
    const held = fs.openSync(path.join(root, names[0]!), 'r');
    const keep = path.join(root, names[0]!); // just built: kept though least recently used
    prune(root, keep, 3, 1 << 30);
    assert.deepEqual(fs.readdirSync(root).sort(), ['lock', names[0]!, names[3]!, names[4]!].sort());
    prune(root, keep, 8, 2 * 4096);
    assert.deepEqual(fs.readdirSync(root).sort(), ['lock', names[0]!, names[4]!].sort(), 'the byte budget');
    fs.rmSync(keep);
    assert.equal(fs.readSync(held, Buffer.alloc(1), 0, 1, 0), 1, 'an open (in use) image is still readable once unlinked');
    fs.closeSync(held);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
