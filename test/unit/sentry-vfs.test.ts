// The sentry's VFS, for real: a gofer (build/native/moat-gofer) serving a temporary tree, the
// overlay and tmpfs above it, path resolution as Linux does it, and pipes. The host tree must
// come out of every test unchanged.
import { CAP_FULL } from '../../src/sentry/kernel/creds';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { spawnGofer } from '../../src/sentry/gofer';
import { accessLoc, chmodLoc, truncateLoc, W_OK } from '../../src/sentry/vfs/attr';
import {
  O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, POLLERR, POLLHUP, POLLIN, POLLOUT, RENAME_EXCHANGE,
  RENAME_NOREPLACE, RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_SYMLINKS, S_IFLNK, S_IFMT,
} from '../../src/sentry/vfs/constants';
import type { FileDescription } from '../../src/sentry/vfs/file';
import type { WaitQueue } from '../../src/sentry/kernel/waitqueue';
import { FsContext } from '../../src/sentry/vfs/fs-context';
import type { Location } from '../../src/sentry/vfs/mount';
import { lookupAt, mkdirAt, openAt, renameAt, symlinkAt, unlinkAt, linkAt } from '../../src/sentry/vfs/namei';
import { newPipe, Pipe, PIPE_BUF } from '../../src/sentry/vfs/pipe';
import { DirectoryFile, RegularFile } from '../../src/sentry/vfs/regular-file';
import type { Resolved } from '../../src/sentry/vfs/resolve';
import { Vfs } from '../../src/sentry/vfs/vfs';
import { tmpfsMount } from '../../src/sentry/tmpfs-mount';
import { sentryConfig } from '../../src/sentry/container';

const E = os.constants.errno;
let tmp = '';
let root = '';
let vfs: Vfs;
let goferFd = -1;
let snapshot = '';

/** A caller: credentials, fs context, and (never used here: no FIFO opens) a way to park. */
interface Caller {
  creds: { fsuid: number; fsgid: number; groups: number[]; uid: number; gid: number; capEffective: bigint };
  fs: FsContext;
  blockState: unknown;
  block(queues: WaitQueue[], deadline?: number, state?: unknown): number;
}

function caller(uid = 0, gid = 0): Caller {
  return {
    // uid 0 holds every capability, as after an exec by root.
    creds: { fsuid: uid, fsgid: gid, groups: [], uid, gid, capEffective: uid === 0 ? CAP_FULL : 0n },
    fs: vfs.initialFsContext('/'),
    blockState: undefined,
    block: () => {
      throw new Error('unexpected park');
    },
  };
}

/** Every path, type, size and content of a host tree: to compare before and after. */
function hostTree(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      let extra = '';
      if (st.isSymbolicLink()) extra = fs.readlinkSync(p);
      else if (st.isFile()) extra = fs.readFileSync(p, 'latin1');
      out.push(`${path.relative(root, p)} ${st.mode.toString(8)} ${st.size} ${extra}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.join('\n');
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-vfs-'));
  root = path.join(tmp, 'root');
  fs.mkdirSync(path.join(root, 'a/b/c'), { recursive: true });
  fs.mkdirSync(path.join(root, 'full/sub'), { recursive: true });
  fs.mkdirSync(path.join(root, 'locked'), { mode: 0o700 });
  fs.writeFileSync(path.join(root, 'a/b/file'), 'lower file\n');
  fs.writeFileSync(path.join(root, 'full/one'), '1');
  fs.writeFileSync(path.join(root, 'full/sub/two'), '2');
  fs.writeFileSync(path.join(root, 'locked/secret'), 's');
  fs.writeFileSync(path.join(tmp, 'outside'), 'host secret\n');
  fs.symlinkSync('a/b', path.join(root, 'rel'));
  fs.symlinkSync('/a/b/file', path.join(root, 'abs'));
  fs.symlinkSync('../outside', path.join(root, 'up'));
  fs.symlinkSync('loop2', path.join(root, 'loop1'));
  fs.symlinkSync('loop1', path.join(root, 'loop2'));
  fs.symlinkSync('nowhere', path.join(root, 'dangling'));
  // A chain: l0 -> l1 -> … -> l40 -> a: 41 links from l0, 40 from l1.
  for (let i = 0; i < 41; i++) fs.symlinkSync(i === 40 ? 'a' : `l${i + 1}`, path.join(root, `l${i}`));
  snapshot = hostTree(root);
  const g = spawnGofer([root]);
  goferFd = g.fd;
  vfs = new Vfs({ rootfs: root, goferFd, readonly: false, mounts: [] });
});

after(() => {
  if (goferFd >= 0) fs.closeSync(goferFd);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function at(c: Caller, p: string, follow = true, rflags = 0, start?: Location): Resolved | number {
  return lookupAt(c, start ?? c.fs.cwdLoc, p, follow, rflags);
}

function loc(c: Caller, p: string, follow = true): Resolved {
  const r = at(c, p, follow);
  assert.equal(typeof r, 'object', `${p}: errno ${String(r)}`);
  return r as Resolved;
}

function pathOfLoc(l: Location): string {
  const f = new DirectoryFile(l, 0);
  return f.displayPath;
}

function open(c: Caller, p: string, flags: number, mode = 0o644): FileDescription {
  const f = openAt(c, c.fs.cwdLoc, p, flags, mode, 0);
  assert.equal(typeof f, 'object', `open ${p}: errno ${String(f)}`);
  return f as FileDescription;
}

function readAll(f: FileDescription): string {
  assert.ok(f instanceof RegularFile);
  const buf = new Uint8Array(f.data.size());
  const n = f.data.read([buf], 0);
  return Buffer.from(buf.subarray(0, n)).toString('latin1');
}

function write(f: FileDescription, s: string): number {
  assert.ok(f instanceof RegularFile);
  return f.data.write([Buffer.from(s, 'latin1')], f.data.size());
}

function names(c: Caller, p: string): string[] {
  const f = open(c, p, O_RDONLY | O_DIRECTORY);
  const r = f.readdir();
  f.decRef();
  assert.ok(Array.isArray(r));
  return r.map((e) => e.name).sort();
}

// ---- path resolution ----

test('components, "..", and the root that ".." cannot leave', () => {
  const c = caller();
  assert.equal(pathOfLoc(loc(c, '/a/b/c')), '/a/b/c');
  assert.equal(pathOfLoc(loc(c, '/../../a/./b//c/..')), '/a/b');
  assert.equal(pathOfLoc(loc(c, 'a/b/../../..')), '/');
  assert.equal(at(c, '/a/b/file/x'), -E.ENOTDIR);
  assert.equal(at(c, '/a/b/file/'), -E.ENOTDIR);
  assert.equal(at(c, '/a/missing/x'), -E.ENOENT);
  assert.equal(at(c, '/a/missing'), -E.ENOENT);
  assert.equal(at(c, ''), -E.ENOENT);
  assert.equal(at(c, 'x'.repeat(256)), -E.ENAMETOOLONG);
  assert.equal(at(c, 'x'.repeat(255)), -E.ENOENT);
});

test('symlinks: relative, absolute inside the container, never the host, loops, the 40-link limit', () => {
  const c = caller();
  assert.equal(pathOfLoc(loc(c, '/rel/c')), '/a/b/c');
  assert.equal(pathOfLoc(loc(c, '/rel/..')), '/a', '".." after a symlink is the parent of its target');
  assert.equal(readAll(open(c, '/abs', O_RDONLY)), 'lower file\n');
  // ../outside from the root stays at the root: /outside, which the container does not have.
  assert.equal(at(c, '/up'), -E.ENOENT);
  assert.equal(at(c, '/loop1'), -E.ELOOP);
  assert.equal(at(c, '/l0'), -E.ELOOP);
  assert.equal(pathOfLoc(loc(c, '/l1')), '/a');
  assert.equal(at(c, '/dangling'), -E.ENOENT);
  // Not following: the link itself; a trailing slash follows anyway.
  assert.equal(loc(c, '/rel', false).dentry.inode.mode & S_IFMT, S_IFLNK);
  assert.equal(pathOfLoc(loc(c, '/rel/', false)), '/a/b');
  assert.equal(openAt(c, c.fs.cwdLoc, '/abs', O_RDONLY | O_NOFOLLOW, 0, 0), -E.ELOOP);
});

test('openat2 RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_SYMLINKS', () => {
  const c = caller();
  const a = loc(c, '/a');
  assert.equal(at(c, '../rel', true, RESOLVE_BENEATH, a), -E.EXDEV);
  assert.equal(at(c, '/a', true, RESOLVE_BENEATH, a), -E.EXDEV);
  assert.equal(pathOfLoc(at(c, 'b/../b/c', true, RESOLVE_BENEATH, a) as Resolved), '/a/b/c');
  assert.equal(pathOfLoc(at(c, '/b/c', true, RESOLVE_IN_ROOT, a) as Resolved), '/a/b/c');
  assert.equal(pathOfLoc(at(c, '../../b', true, RESOLVE_IN_ROOT, a) as Resolved), '/a/b');
  assert.equal(at(c, '/rel', true, RESOLVE_NO_SYMLINKS), -E.ELOOP);
});

test('search permission on every directory; root passes', () => {
  assert.equal(at(caller(1000, 1000), '/locked/secret'), -E.EACCES);
  assert.equal(readAll(open(caller(), '/locked/secret', O_RDONLY)), 's');
  assert.equal(openAt(caller(1000, 1000), vfs.root, '/a/b/file', O_WRONLY, 0, 0), -E.EACCES);
});

// ---- the overlay ----

test('a write copies the file up; the host file does not change', () => {
  const c = caller();
  const before = loc(c, '/a/b/file').dentry.inode.ino;
  const f = open(c, '/a/b/file', O_WRONLY | O_TRUNC);
  assert.equal(write(f, 'upper\n'), 6);
  f.decRef();
  assert.equal(readAll(open(c, '/a/b/file', O_RDONLY)), 'upper\n');
  assert.equal(loc(c, '/a/b/file').dentry.inode.ino, before, 'copy-up keeps the inode number');
  assert.equal(fs.readFileSync(path.join(root, 'a/b/file'), 'utf8'), 'lower file\n');
});

test('an fd opened before the copy-up reads the new contents', () => {
  const c = caller();
  const r = open(c, '/full/one', O_RDONLY);
  const w = open(c, '/full/one', O_RDWR);
  write(w, '+more');
  assert.equal(readAll(r), '1+more');
});

test('create, chmod, truncate, access: all in memory', () => {
  const c = caller();
  const f = open(c, '/a/new', O_CREAT | O_EXCL | O_RDWR, 0o640);
  write(f, 'hello');
  assert.equal(openAt(c, c.fs.cwdLoc, '/a/new', O_CREAT | O_EXCL | O_RDWR, 0, 0), -E.EEXIST);
  assert.equal(readAll(open(c, '/a/new', O_RDONLY)), 'hello');
  assert.equal(chmodLoc(c.creds, loc(c, '/a/b/c'), 0o700), 0);
  assert.equal(loc(c, '/a/b/c').dentry.inode.mode & 0o7777, 0o700);
  assert.equal(truncateLoc(c.creds, loc(c, '/a/new'), 2), 0);
  assert.equal(readAll(open(c, '/a/new', O_RDONLY)), 'he');
  assert.equal(accessLoc(caller(1000, 1000).creds, loc(c, '/a/new'), W_OK), -E.EACCES);
  assert.ok(!fs.existsSync(path.join(root, 'a/new')));
});

test('unlink leaves a whiteout; rmdir needs the merged directory empty; mkdir there is opaque', () => {
  const c = caller();
  assert.equal(unlinkAt(c, c.fs.cwdLoc, '/full/sub', false), -E.EISDIR);
  assert.equal(unlinkAt(c, c.fs.cwdLoc, '/full/sub', true), -E.ENOTEMPTY);
  assert.equal(unlinkAt(c, c.fs.cwdLoc, '/full/sub/two', false), 0);
  assert.equal(at(c, '/full/sub/two'), -E.ENOENT);
  assert.deepEqual(names(c, '/full/sub'), ['.', '..']);
  assert.equal(unlinkAt(c, c.fs.cwdLoc, '/full/sub', true), 0);
  assert.ok(!names(c, '/full').includes('sub'));
  assert.equal(mkdirAt(c, c.fs.cwdLoc, '/full/sub', 0o755), 0);
  assert.deepEqual(names(c, '/full/sub'), ['.', '..'], 'the lower sub/two stays hidden');
  assert.equal(mkdirAt(c, c.fs.cwdLoc, '/full/sub', 0o755), -E.EEXIST);
  assert.ok(fs.existsSync(path.join(root, 'full/sub/two')));
});

test('readdir merges the layers without duplicates', () => {
  const c = caller();
  open(c, '/a/b/added', O_CREAT | O_WRONLY).decRef();
  open(c, '/a/b/file', O_WRONLY).decRef(); // copied up: in both layers now
  const n = names(c, '/a/b');
  assert.deepEqual(n, ['.', '..', 'added', 'c', 'file']);
  const f = open(c, '/a/b', O_RDONLY | O_DIRECTORY);
  const ents = f.readdir() as Array<{ name: string; ino: number }>;
  const byName = new Map(ents.map((e) => [e.name, e.ino]));
  assert.equal(byName.get('file'), loc(c, '/a/b/file').dentry.inode.ino, 'readdir and stat agree on inode numbers');
});

test('rename: files copy up and move; lower directories are EXDEV (mv copies); NOREPLACE, EXCHANGE', () => {
  const c = caller();
  assert.equal(renameAt(c, c.fs.cwdLoc, '/abs', c.fs.cwdLoc, '/abs2', 0), 0);
  assert.equal(at(c, '/abs', false), -E.ENOENT);
  assert.equal(readAll(open(c, '/abs2', O_RDONLY)), readAll(open(c, '/a/b/file', O_RDONLY)));
  assert.equal(renameAt(c, c.fs.cwdLoc, '/a/b/c', c.fs.cwdLoc, '/moved', 0), -E.EXDEV);
  assert.equal(mkdirAt(c, c.fs.cwdLoc, '/d1', 0o755), 0);
  open(c, '/d1/x', O_CREAT | O_WRONLY).decRef();
  assert.equal(renameAt(c, c.fs.cwdLoc, '/d1', c.fs.cwdLoc, '/d2', 0), 0);
  assert.deepEqual(names(c, '/d2'), ['.', '..', 'x']);
  assert.equal(renameAt(c, c.fs.cwdLoc, '/d2', c.fs.cwdLoc, '/d2/x/y', 0), -E.ENOTDIR);
  assert.equal(renameAt(c, c.fs.cwdLoc, '/d2', c.fs.cwdLoc, '/d2/sub', 0), -E.EINVAL);
  open(c, '/p', O_CREAT | O_WRONLY).decRef();
  write(open(c, '/q', O_CREAT | O_WRONLY), 'q');
  assert.equal(renameAt(c, c.fs.cwdLoc, '/p', c.fs.cwdLoc, '/q', RENAME_NOREPLACE), -E.EEXIST);
  assert.equal(renameAt(c, c.fs.cwdLoc, '/p', c.fs.cwdLoc, '/q', RENAME_EXCHANGE), 0);
  assert.equal(readAll(open(c, '/p', O_RDONLY)), 'q');
  // An open directory follows its rename.
  const cwd = loc(c, '/d2');
  assert.equal(renameAt(c, c.fs.cwdLoc, '/d2', c.fs.cwdLoc, '/d3', 0), 0);
  assert.equal(pathOfLoc(cwd), '/d3');
});

test('symlink and link in the overlay', () => {
  const c = caller();
  assert.equal(symlinkAt(c, 'a/b', c.fs.cwdLoc, '/s'), 0);
  assert.equal(pathOfLoc(loc(c, '/s/c')), '/a/b/c');
  assert.equal(symlinkAt(c, 'x', c.fs.cwdLoc, '/s'), -E.EEXIST);
  assert.equal(linkAt(c, loc(c, '/full/one'), c.fs.cwdLoc, '/hard'), 0);
  assert.equal(loc(c, '/hard').dentry.inode, loc(c, '/full/one').dentry.inode);
  assert.equal(loc(c, '/hard').dentry.inode.attr().nlink, 2);
  assert.equal(linkAt(c, loc(c, '/a'), c.fs.cwdLoc, '/hard2'), -E.EPERM);
});

test('the container layout: /dev, /proc, /tmp rules, mount table', () => {
  const c = caller();
  assert.ok(names(c, '/dev').includes('null'));
  assert.equal(loc(c, '/dev/stdout', false).dentry.inode.readlink(), '/proc/self/fd/1');
  const m = vfs.mountsText();
  assert.match(m, /^overlay \/ overlay rw,relatime 0 0$/m);
  assert.match(m, /^proc \/proc proc rw,nosuid,nodev,noexec,relatime 0 0$/m);
  // The image has no /tmp: the sentry mounts a tmpfs there.
  assert.match(m, /^tmpfs \/tmp tmpfs /m);
  assert.equal(loc(c, '/sys/devices/system/cpu/online').dentry.inode.attr().size, 2);
});

test('tmpfs mounts from config.json: writable on a read-only rootfs, with size, nr_inodes, mode, uid, gid and flags', () => {
  const spec = [
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=64k'] },
    { destination: '/var/log', type: 'tmpfs', source: 'tmpfs', options: ['noexec', 'nr_inodes=3', 'uid=33', 'gid=34', 'mode=0750'] },
    { destination: '/srv/ro', type: 'tmpfs', source: 'tmpfs', options: ['ro'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'nodev', 'noexec', 'mode=1777', 'size=1m'] },
  ];
  const mounts = spec.map((m, i) => tmpfsMount(m, i));
  const g = spawnGofer([root]);
  try {
    const v = new Vfs({ rootfs: root, goferFd: g.fd, readonly: true, mounts });
    const c: Caller = { ...caller(), fs: v.initialFsContext('/') };
    const m = v.mountsText();
    assert.match(m, /^tmpfs \/run tmpfs rw,nosuid,nodev,relatime,size=64k,mode=755 0 0$/m);
    assert.match(m, /^tmpfs \/var\/log tmpfs rw,noexec,relatime,nr_inodes=3,mode=750,uid=33,gid=34 0 0$/m);
    assert.match(m, /^tmpfs \/srv\/ro tmpfs ro,relatime 0 0$/m);
    assert.match(m, /^shm \/dev\/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1777 0 0$/m);
    assert.equal((m.match(/ \/dev\/shm /g) ?? []).length, 1, "the bundle's /dev/shm replaces the default one");
    // Writable on a read-only rootfs (nginx's temp directories under /run, /var/lib/nginx).
    assert.equal(mkdirAt(c, c.fs.cwdLoc, '/run/nginx', 0o755), 0);
    const f = open(c, '/run/nginx/pid', O_CREAT | O_RDWR);
    assert.equal(write(f, 'x'.repeat(60 * 1024)), 60 * 1024);
    assert.equal(write(f, 'y'.repeat(8 * 1024)), -E.ENOSPC, 'size=64k is enforced');
    const runAttr = loc(c, '/run').dentry.inode.attr();
    assert.equal(runAttr.mode & 0o7777, 0o755);
    const log = loc(c, '/var/log').dentry.inode.attr();
    assert.deepEqual([log.mode & 0o7777, log.uid, log.gid], [0o750, 33, 34]);
    // nr_inodes=3: the root and two more.
    open(c, '/var/log/a', O_CREAT | O_RDWR);
    open(c, '/var/log/b', O_CREAT | O_RDWR);
    assert.equal(openAt(c, c.fs.cwdLoc, '/var/log/c', O_CREAT | O_RDWR, 0o644, 0), -E.ENOSPC);
    assert.equal(unlinkAt(c, c.fs.cwdLoc, '/var/log/b', false), 0);
    open(c, '/var/log/c', O_CREAT | O_RDWR);
    assert.equal(openAt(c, c.fs.cwdLoc, '/srv/ro/x', O_CREAT | O_RDWR, 0o644, 0), -E.EROFS);
    assert.equal(loc(c, '/var/log').mount.flags.noexec, true);
  } finally {
    fs.closeSync(g.fd);
  }
  assert.throws(() => tmpfsMount({ destination: '/x', type: 'tmpfs', options: ['size=lots'] }, 2), /mounts\[2\]\.options: tmpfs option size="lots": not a size/);
  assert.throws(() => tmpfsMount({ destination: '/x', type: 'tmpfs', options: ['mode=999'] }, 0), /not an octal mode/);
  assert.throws(() => tmpfsMount({ destination: '/x', type: 'tmpfs', options: ['uid=-1'] }, 0), /not a valid id/);
  assert.throws(() => tmpfsMount({ destination: '/x', type: 'tmpfs', options: ['exotic=1'] }, 0), /unknown tmpfs option "exotic=1"/);
  assert.throws(() => tmpfsMount({ destination: 'rel', type: 'tmpfs' }, 0), /destination: must be an absolute path/);
  assert.equal(tmpfsMount({ destination: '/x', type: 'tmpfs', options: ['size=50%'] }, 0).size! > 0, true);
});

test('sentryConfig: tmpfs mounts reach the sentry with their options; those where the sentry serves its own are not parsed', () => {
  const spec = {
    process: { args: ['sh'], cwd: '/' },
    mounts: [
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k', 'something-new'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'rprivate', 'tmpcopyup', 'size=1m'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['size=2m'] },
    ],
  };
  const req = { bundle: { dir: tmp, spec } } as unknown as Parameters<typeof sentryConfig>[0];
  const { cfg } = sentryConfig(req, spec as Parameters<typeof sentryConfig>[1], root, false);
  assert.deepEqual(cfg.mounts?.map((m) => [m.destination, m.type === 'tmpfs' ? m.size : -1]), [['/run', 1 << 20], ['/dev/shm', 2 << 20]]);
  spec.mounts[1]!.options.push('size=huge');
  assert.throws(() => sentryConfig(req, spec as Parameters<typeof sentryConfig>[1], root, false), /mounts\[1\]\.options: tmpfs option size="huge": not a size/);
});

test('read-only rootfs, a read-only bind mount, a tmpfs mount; few gofer handles, walked again', () => {
  const data = path.join(tmp, 'data');
  fs.mkdirSync(path.join(data, 'many'), { recursive: true });
  for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(data, 'many', `f${i}`), `file ${i}`);
  const g = spawnGofer([root, data], { maxHandles: 64 });
  try {
    const v = new Vfs({ rootfs: root, goferFd: g.fd, readonly: true, mounts: [
      { destination: '/mnt/data', tree: 1, readonly: true },
      { destination: '/scratch', type: 'tmpfs', readonly: false, nosuid: true, nodev: true, noexec: false, options: '' },
      { destination: '/proc/sneaky', tree: 1, readonly: false },
    ] });
    const c: Caller = { ...caller(), fs: v.initialFsContext('/') };
    const m = v.mountsText();
    assert.match(m, /^overlay \/ overlay ro,relatime 0 0$/m);
    assert.match(m, /^overlay \/mnt\/data overlay ro,relatime 0 0$/m);
    assert.match(m, /^tmpfs \/scratch tmpfs rw,nosuid,nodev,relatime 0 0$/m);
    assert.doesNotMatch(m, /sneaky/, 'the sentry serves /proc itself');
    assert.equal(openAt(c, c.fs.cwdLoc, '/a/b/file', O_WRONLY, 0, 0), -E.EROFS);
    assert.equal(mkdirAt(c, c.fs.cwdLoc, '/newdir', 0o755), -E.EROFS);
    assert.equal(mkdirAt(c, c.fs.cwdLoc, '/a', 0o755), -E.EEXIST, 'EEXIST before EROFS, as Linux');
    assert.equal(unlinkAt(c, c.fs.cwdLoc, '/mnt/data/many/f1', false), -E.EROFS);
    assert.equal(renameAt(c, c.fs.cwdLoc, '/mnt/data/many/f1', c.fs.cwdLoc, '/scratch/f1', 0), -E.EXDEV);
    write(open(c, '/scratch/x', O_CREAT | O_RDWR), 'tmpfs');
    assert.equal(readAll(open(c, '/scratch/x', O_RDONLY)), 'tmpfs');
    // 100 files through 64 handles: the oldest are closed and walked again when needed.
    for (let i = 0; i < 100; i++) assert.equal(readAll(open(c, `/mnt/data/many/f${i}`, O_RDONLY)), `file ${i}`);
    for (let i = 0; i < 100; i += 7) assert.equal(readAll(open(c, `/mnt/data/many/f${i}`, O_RDONLY)), `file ${i}`);
    assert.deepEqual(names(c, '/mnt/data/many').length, 102);
  } finally {
    fs.closeSync(g.fd);
  }
});

test('the host tree is unchanged by all of the above', () => {
  assert.equal(hostTree(root), snapshot);
});

// ---- pipes ----

test('pipes: data, EAGAIN when empty, EOF without writers, EPIPE without readers', () => {
  const [r, w] = newPipe(0);
  const p = r.pipe;
  assert.equal(r.readiness() & POLLIN, 0);
  assert.equal(w.readiness() & POLLOUT, POLLOUT);
  assert.equal(p.read([new Uint8Array(4)]), -E.EAGAIN);
  assert.equal(p.write([Buffer.from('hello')]), 5);
  assert.equal(r.readiness() & POLLIN, POLLIN);
  const buf = new Uint8Array(3);
  assert.equal(p.read([buf]), 3);
  assert.equal(Buffer.from(buf).toString(), 'hel');
  w.decRef();
  assert.equal(r.readiness() & POLLHUP, POLLHUP);
  assert.equal(p.read([buf]), 2);
  assert.equal(p.read([buf]), 0, 'EOF once every writer is gone');
  const [r2, w2] = newPipe(0);
  r2.decRef();
  assert.equal(w2.pipe.write([Buffer.from('x')]), -E.EPIPE);
  assert.equal(w2.readiness() & POLLERR, POLLERR);
});

test('pipes: 64 KiB, atomic writes up to PIPE_BUF, short writes beyond, F_SETPIPE_SZ', () => {
  const p = new Pipe();
  p.attach(O_RDWR);
  assert.equal(p.write([new Uint8Array(70000)]), 65536);
  assert.equal(p.write([new Uint8Array(1)]), -E.EAGAIN);
  assert.equal(p.read([new Uint8Array(100)]), 100);
  assert.equal(p.write([new Uint8Array(PIPE_BUF)]), -E.EAGAIN, 'PIPE_BUF bytes do not fit in 100: wait, no partial write');
  assert.equal(p.write([new Uint8Array(50)]), 50);
  assert.equal(p.resize(4096, false), -E.EBUSY);
  const q = new Pipe();
  q.attach(O_RDWR);
  q.write([Buffer.from('abc')]);
  assert.equal(q.resize(5000, false), 8192);
  assert.equal(q.resize(2 << 20, false), -E.EPERM);
  const out = new Uint8Array(3);
  assert.equal(q.read([out]), 3);
  assert.equal(Buffer.from(out).toString(), 'abc');
});

