// The gofer (docs/sentry-gofer.md), for real: build/native/moat-gofer serving a temporary tree,
// driven through GoferClient and, for what a well-behaved client never sends, raw messages.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AT_REMOVEDIR, GoferClient, goferPath, O_DIRECTORY, O_NOATIME, O_RDWR, O_TRUNC, O_WRONLY, SETATTR_GID, SETATTR_MODE, SETATTR_MTIME, SETATTR_SIZE,
  SETATTR_UID, spawnGofer, type GoferEntry,
} from '../../src/sentry/gofer';
import { sys } from '../../src/sys';

const E = os.constants.errno;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const BIG = 1500;
const isRoot = process.getuid?.() === 0;

let tmp = '';
let root = '';

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-gofer-'));
  fs.chmodSync(tmp, 0o755); // the unprivileged gofer test reads it as nobody
  root = path.join(tmp, 'root');
  fs.mkdirSync(path.join(root, 'dir/sub'), { recursive: true });
  fs.mkdirSync(path.join(root, 'big'));
  fs.writeFileSync(path.join(root, 'file'), 'hello gofer\n');
  fs.writeFileSync(path.join(root, 'dir/sub/inner'), 'inner\n');
  fs.writeFileSync(path.join(tmp, 'outside'), 'host secret\n');
  fs.symlinkSync('../outside', path.join(root, 'up'));
  fs.symlinkSync(path.join(tmp, 'outside'), path.join(root, 'abs'));
  sys().mkfifo(path.join(root, 'fifo'), 0o644);
  // Long names, so that the listing needs several 64 KiB pages.
  for (let i = 0; i < BIG; i++) fs.closeSync(fs.openSync(path.join(root, 'big', bigName(i)), 'w'));
});

after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function bigName(i: number): string {
  return `entry-${String(i).padStart(4, '0')}-${'x'.repeat(48)}`;
}

/** A gofer and a client on it; close() ends the gofer. */
function start(maxHandles?: number): { client: GoferClient; pid: number; fd: number; close(): void } {
  const g = spawnGofer([root], maxHandles === undefined ? {} : { maxHandles });
  const client = new GoferClient(g.fd);
  return { client, pid: g.pid, fd: g.fd, close: () => fs.closeSync(g.fd) };
}

function entry(r: GoferEntry | number): GoferEntry {
  assert.equal(typeof r, 'object', `expected an entry, got errno ${String(r)}`);
  return r as GoferEntry;
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (!fs.existsSync(`/proc/${pid}`)) return true;
    await sleep(10);
  }
  return false;
}

// ---- raw messages ----

const REP = Buffer.alloc(65536);

function msg(op: number, ...words: Array<[number, number] | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.alloc(8)];
  parts[0]!.writeUInt16LE(op, 0);
  parts[0]!.writeUInt32LE(0xabc, 4);
  for (const w of words) {
    if (Buffer.isBuffer(w)) {
      parts.push(w);
      continue;
    }
    const b = Buffer.alloc(w[1]);
    if (w[1] === 8) b.writeBigUInt64LE(BigInt(w[0]));
    else if (w[1] === 4) b.writeUInt32LE(w[0]);
    else b.writeUInt16LE(w[0]);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** One raw round trip: the reply's errno (0 on success), with its length and op. */
function raw(fd: number, req: Buffer): { err: number; len: number; op: number } {
  const r = sys().goferCall(fd, req, REP);
  if (r.fd >= 0) fs.closeSync(r.fd);
  assert.ok(r.length >= 16, `reply of ${r.length} bytes`);
  return { err: REP.readUInt32LE(8), len: r.length, op: REP.readUInt16LE(0) };
}

function walkRaw(fd: number, dir: number, name: Buffer): number {
  return raw(fd, msg(3, [dir, 4], [name.length, 2], [0, 2], name)).err;
}

// ---- tests ----

test('attach, walk, stat: the tree as the host sees it, fd-relative', () => {
  const g = start();
  try {
    const c = g.client;
    assert.equal(c.trees, 1);
    const r = entry(c.attach(0));
    assert.equal(r.stat.mode & S_IFMT, S_IFDIR);
    assert.equal(r.stat.ino, fs.statSync(root, { bigint: true }).ino);
    const dir = entry(c.walk(r.handle, 'dir'));
    const sub = entry(c.walk(dir.handle, 'sub'));
    const inner = entry(c.walk(sub.handle, 'inner'));
    const host = fs.statSync(path.join(root, 'dir/sub/inner'), { bigint: true });
    assert.equal(inner.stat.mode & S_IFMT, S_IFREG);
    assert.equal(inner.stat.ino, host.ino);
    assert.equal(inner.stat.size, 6);
    assert.equal(inner.stat.mtimeSec, Number(host.mtimeNs / 1_000_000_000n));
    assert.deepEqual(c.stat(inner.handle), inner.stat);
    assert.equal(c.walk(r.handle, 'missing'), -E.ENOENT);
    assert.equal(c.walk(inner.handle, 'x'), -E.ENOTDIR);
    assert.equal(c.attach(1), -E.EINVAL);
  } finally {
    g.close();
  }
});

test('readdir: every entry once, over several pages, without . and ..', () => {
  const g = start();
  try {
    const c = g.client;
    const r = entry(c.attach(0));
    const top = c.readdir(r.handle);
    assert.ok(Array.isArray(top));
    assert.deepEqual(top.map((d) => d.name).sort(), fs.readdirSync(root).sort());
    assert.equal(top.find((d) => d.name === 'dir')?.type, 4); // DT_DIR
    assert.equal(top.find((d) => d.name === 'up')?.type, 10); // DT_LNK
    const big = entry(c.walk(r.handle, 'big'));
    const all = c.readdir(big.handle);
    assert.ok(Array.isArray(all));
    assert.equal(all.length, BIG);
    assert.equal(new Set(all.map((d) => d.name)).size, BIG);
    for (let i = 0; i < BIG; i += 149) assert.ok(all.some((d) => d.name === bigName(i)));
    // The first page alone is not the end: the client really went through pages.
    assert.equal(raw(g.fd, msg(6, [big.handle, 4], [0, 4], [0, 8])).err, 0);
    assert.equal(REP.readUInt32LE(16 + 12) & 1, 0);
    assert.ok(REP.readUInt32LE(16 + 8) < BIG);
    assert.equal(c.readdir(entry(c.walk(r.handle, 'file')).handle), -E.ENOTDIR);
  } finally {
    g.close();
  }
});

test('open: read through the donated fd; read-only, dirs with O_DIRECTORY', () => {
  const g = start();
  try {
    const c = g.client;
    const r = entry(c.attach(0));
    const f = entry(c.walk(r.handle, 'file'));
    const fd = c.open(f.handle);
    assert.ok(fd >= 0);
    const buf = Buffer.alloc(64);
    assert.equal(buf.subarray(0, fs.readSync(fd, buf, 0, 64, 0)).toString(), 'hello gofer\n');
    assert.equal(fs.fstatSync(fd, { bigint: true }).ino, f.stat.ino);
    assert.throws(() => fs.writeSync(fd, 'x'), /EBADF/);
    fs.closeSync(fd);
    const quiet = c.open(f.handle, O_NOATIME);
    assert.ok(quiet >= 0);
    fs.closeSync(quiet);
    const d = c.open(r.handle, O_DIRECTORY);
    assert.ok(d >= 0 && fs.fstatSync(d).isDirectory());
    fs.closeSync(d);
    assert.equal(c.open(f.handle, O_DIRECTORY), -E.ENOTDIR);
    for (const flags of [1, 2, 0o100, 0o1000, 0o2000]) assert.equal(c.open(f.handle, flags), -E.EROFS, `flags ${flags}`);
    assert.equal(c.open(f.handle, 0o4010000 /* O_SYNC */), -E.EINVAL);
    // A FIFO is neither opened (it would block) nor served: the sentry has its own pipes.
    const fifo = entry(c.walk(r.handle, 'fifo'));
    assert.equal(fifo.stat.mode & S_IFMT, S_IFIFO);
    assert.equal(c.open(fifo.handle), -E.ENXIO);
  } finally {
    g.close();
  }
});

test('symlinks: returned as symlinks, never followed, OPEN says ELOOP', () => {
  const g = start();
  try {
    const c = g.client;
    const r = entry(c.attach(0));
    for (const [name, target] of [['up', '../outside'], ['abs', path.join(tmp, 'outside')]] as const) {
      const l = entry(c.walk(r.handle, name));
      assert.equal(l.stat.mode & S_IFMT, S_IFLNK);
      assert.equal(c.readlink(l.handle), target);
      assert.equal(c.open(l.handle), -E.ELOOP);
      assert.equal(c.walk(l.handle, 'x'), -E.ENOTDIR);
    }
    assert.equal(c.readlink(r.handle), -E.EINVAL);
  } finally {
    g.close();
  }
});

test('open after the name was swapped on the host: the same inode or nothing', () => {
  const g = start();
  const name = path.join(root, 'swap');
  try {
    const c = g.client;
    const r = entry(c.attach(0));
    fs.writeFileSync(name, 'original\n');
    const h = entry(c.walk(r.handle, 'swap')).handle;
    fs.rmSync(name);
    fs.symlinkSync(path.join(tmp, 'outside'), name);
    assert.equal(c.open(h), -E.ELOOP);
    fs.rmSync(name);
    fs.writeFileSync(name, 'impostor\n');
    assert.equal(c.open(h), -E.ESTALE);
  } finally {
    g.close();
    fs.rmSync(name, { force: true });
  }
});

test('hostile names: refused by the client and, sent raw, by the gofer', () => {
  const g = start();
  try {
    const c = g.client;
    const r = entry(c.attach(0)).handle;
    const cases: Array<[string, number]> = [
      ['a/b', E.EINVAL], ['/', E.EINVAL], ['..', E.EINVAL], ['.', E.EINVAL], ['', E.ENOENT],
      ['x'.repeat(256), E.ENAMETOOLONG], ['a\0b', E.EINVAL], ['dir/../../outside', E.EINVAL],
    ];
    for (const [name, err] of cases) {
      assert.equal(c.walk(r, name), -err, JSON.stringify(name));
      assert.equal(walkRaw(g.fd, r, Buffer.from(name)), err, `raw ${JSON.stringify(name)}`);
    }
    assert.equal(walkRaw(g.fd, r, Buffer.from('x'.repeat(255))), E.ENOENT); // long but legal
  } finally {
    g.close();
  }
});

test('hostile messages: unknown op, short, malformed, oversized, bad handles', () => {
  const g = start();
  try {
    const c = g.client;
    const r = entry(c.attach(0)).handle;
    assert.equal(raw(g.fd, msg(99, [r, 4], [0, 4])).err, E.ENOSYS);
    assert.equal(raw(g.fd, msg(0, [r, 4], [0, 4])).err, E.ENOSYS);
    assert.deepEqual(raw(g.fd, Buffer.from([4, 0, 0, 0])), { err: E.EBADMSG, len: 16, op: 0 });
    assert.equal(raw(g.fd, msg(4, [r, 4])).err, E.EBADMSG); // STAT without its second word
    assert.equal(raw(g.fd, msg(4, [r, 4], [1, 4])).err, E.EBADMSG); // reserved not zero
    assert.equal(raw(g.fd, msg(4, [r, 4], [0, 4], [0, 4])).err, E.EBADMSG); // too long for STAT
    const hdr = msg(4, [r, 4], [0, 4]);
    hdr.writeUInt16LE(1, 2);
    assert.equal(raw(g.fd, hdr).err, E.EBADMSG); // header's reserved field
    assert.equal(raw(g.fd, msg(3, [r, 4], [5, 2], [0, 2], Buffer.from('fi'))).err, E.EBADMSG); // name length lies
    assert.equal(raw(g.fd, Buffer.concat([msg(4, [r, 4], [0, 4]), Buffer.alloc(5000)])).err, E.EMSGSIZE);
    assert.equal(raw(g.fd, msg(1, [1, 4], [0, 4])).err, E.EPROTO); // a second HELLO
    for (const h of [0, 1, r + 1, r ^ 0x10000, 0xffffffff]) assert.equal(c.stat(h), -E.EBADF, `handle ${h}`);
    assert.equal(c.stat(-1), -E.EBADF);
    const f = entry(c.walk(r, 'file')).handle;
    c.close(f);
    assert.equal(c.stat(f), -E.EBADF); // closed: the value is dead even if the slot is reused
    assert.equal(entry(c.walk(r, 'file')).handle === f, false);
    // The client still works after all that.
    assert.equal(typeof c.stat(r), 'object');
  } finally {
    g.close();
  }
});

test('protocol: nothing before HELLO, and only version 1', () => {
  const g = spawnGofer([root]);
  try {
    assert.equal(raw(g.fd, msg(2, [0, 4], [0, 4])).err, E.EPROTO);
    assert.equal(raw(g.fd, msg(1, [2, 4], [0, 4])).err, E.EPROTONOSUPPORT);
    assert.equal(raw(g.fd, msg(1, [1, 4], [0, 4])).err, 0);
    assert.deepEqual([REP.readUInt32LE(16), REP.readUInt32LE(20), REP.readUInt32LE(28)], [1, 1, 65536]);
  } finally {
    fs.closeSync(g.fd);
  }
});

test('handle table: ENFILE when full, a closed slot is reusable, parents live on for their files', () => {
  const g = start(4);
  try {
    const c = g.client;
    assert.equal(c.maxHandles, 4);
    const r = entry(c.attach(0)).handle;
    const d = entry(c.walk(r, 'dir')).handle;
    const s = entry(c.walk(d, 'sub')).handle;
    const inner = entry(c.walk(s, 'inner')).handle;
    assert.equal(c.walk(r, 'file'), -E.ENFILE);
    assert.equal(c.attach(0), -E.ENFILE);
    // sub is closed but inner still needs it to reopen by name: its slot stays taken.
    c.close(s);
    assert.equal(c.stat(s), -E.EBADF);
    assert.equal(c.walk(r, 'file'), -E.ENFILE);
    const fd = c.open(inner);
    assert.ok(fd >= 0);
    fs.closeSync(fd);
    c.close(inner); // frees inner and, with it, sub
    const a = entry(c.walk(r, 'file')).handle;
    const b = entry(c.walk(d, 'sub')).handle;
    assert.equal(c.walk(r, 'file'), -E.ENFILE);
    c.close(a);
    c.close(b);
  } finally {
    g.close();
  }
});

test('confinement: seccomp filter, no_new_privs, capabilities, a read-only detached tree', () => {
  const g = start();
  try {
    const status = fs.readFileSync(`/proc/${g.pid}/status`, 'utf8');
    assert.match(status, /^Seccomp:\s+2$/m);
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    if (!isRoot) return;
    // CAP_DAC_READ_SEARCH (2) and CAP_FOWNER (3) only, in every set.
    assert.match(status, /^CapEff:\s+000000000000000c$/m);
    assert.match(status, /^CapBnd:\s+000000000000000c$/m);
    assert.notEqual(fs.readlinkSync(`/proc/${g.pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'));
    assert.notEqual(fs.readlinkSync(`/proc/${g.pid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'));
    // A donated directory fd is on the gofer's clone: read-only, and ".." stops at the tree.
    const c = g.client;
    const d = c.open(entry(c.attach(0)).handle, O_DIRECTORY);
    assert.ok(d >= 0);
    try {
      assert.deepEqual(fs.readdirSync(`/proc/self/fd/${d}/../..`).sort(), fs.readdirSync(root).sort());
      assert.throws(() => fs.writeFileSync(`/proc/self/fd/${d}/new`, 'x'), /EROFS/);
    } finally {
      fs.closeSync(d);
    }
  } finally {
    g.close();
  }
});

/** moat-gofer started by hand (as spawnGofer does), to see its exit status; uid: run as that user. */
function spawnOwn(uid?: number): { pid: number; fd: number; exit: Promise<[number | null, string | null]> } {
  const [mine, theirs] = sys().seqpacketPair();
  const tree = fs.openSync(root, 0o10000000 /* O_PATH */ | fs.constants.O_DIRECTORY);
  const ids = uid === undefined ? {} : { uid, gid: uid };
  const child = spawn(goferPath(), ['1'], { stdio: ['ignore', 'ignore', 'inherit', theirs, tree], ...ids });
  fs.closeSync(theirs);
  fs.closeSync(tree);
  const exit = new Promise<[number | null, string | null]>((resolve) => child.on('exit', (code, sig) => resolve([code, sig])));
  return { pid: child.pid!, fd: mine, exit };
}

test('unprivileged gofer: serves the same, filtered just as well', { skip: !isRoot && 'needs root to run as nobody' }, async () => {
  const g = spawnOwn(65534);
  try {
    const c = new GoferClient(g.fd);
    const f = entry(c.walk(entry(c.attach(0)).handle, 'file'));
    const fd = c.open(f.handle);
    assert.ok(fd >= 0);
    assert.equal(fs.readFileSync(fd, 'utf8'), 'hello gofer\n');
    fs.closeSync(fd);
    const big = c.readdir(entry(c.walk(entry(c.attach(0)).handle, 'big')).handle);
    assert.ok(Array.isArray(big) && big.length === BIG);
    const status = fs.readFileSync(`/proc/${g.pid}/status`, 'utf8');
    assert.match(status, /^Seccomp:\s+2$/m);
    assert.match(status, /^CapEff:\s+0+$/m);
  } finally {
    fs.closeSync(g.fd);
  }
  assert.deepEqual(await g.exit, [0, null]); // not killed by its own filter on the way out
});

test('lifetime: EOF ends the gofer, leaving no process; a dead gofer is -EIO', async () => {
  const g = start();
  const r = entry(g.client.attach(0)).handle;
  g.close();
  assert.ok(await gone(g.pid), 'the gofer outlived its socket');

  // Every op once, then EOF: a clean exit 0, so nothing it did tripped its seccomp filter.
  const own = spawnOwn();
  const c = new GoferClient(own.fd);
  const top = entry(c.attach(0)).handle;
  const file = entry(c.walk(top, 'file')).handle;
  assert.ok(Array.isArray(c.readdir(top)));
  assert.equal(typeof c.readlink(entry(c.walk(top, 'up')).handle), 'string');
  assert.equal(typeof c.stat(file), 'object');
  fs.closeSync(c.open(file));
  fs.closeSync(c.open(top, O_DIRECTORY));
  c.close(file);
  fs.closeSync(own.fd);
  assert.deepEqual(await own.exit, [0, null]);

  const h = start();
  process.kill(h.pid, 'SIGKILL');
  assert.ok(await gone(h.pid));
  assert.equal(h.client.stat(r), -E.EIO);
  assert.equal(h.client.attach(0), -E.EIO); // and stays broken
  h.close();
});

test('a single-file tree: ATTACH gives the one file, nothing else of its directory', () => {
  const g = spawnGofer([root, { dir: root, file: 'file' }, { dir: root, file: 'up' }, { dir: root, file: 'dir' }]);
  const client = new GoferClient(g.fd);
  try {
    assert.equal(client.trees, 4);
    const f = entry(client.attach(1));
    assert.equal(f.stat.mode & S_IFMT, S_IFREG);
    assert.equal(f.stat.ino, fs.statSync(path.join(root, 'file'), { bigint: true }).ino);
    const fd = client.open(f.handle);
    assert.ok(fd >= 0);
    const buf = Buffer.alloc(64);
    assert.equal(buf.subarray(0, fs.readSync(fd, buf, 0, 64, 0)).toString(), 'hello gofer\n');
    fs.closeSync(fd);
    // No way from the file to its siblings: not a directory, and the directory's handle is never given.
    assert.equal(client.walk(f.handle, 'dir'), -E.ENOTDIR);
    assert.equal(client.readdir(f.handle), -E.ENOTDIR);
    assert.equal(client.open(f.handle, O_DIRECTORY), -E.ENOTDIR);
    for (let gen = 1; gen <= 2; gen++) {
      for (let slot = 0; slot < 16; slot++) {
        const r = client.walk((gen << 16) | slot, 'dir');
        assert.equal(typeof r, 'number', `handle ${gen}:${slot} walked into the directory`);
      }
    }
    // A symlink or a directory where the file should be is not served (nor followed).
    assert.equal(client.attach(2), -E.ESTALE);
    assert.equal(client.attach(3), -E.ESTALE);
    // Closing the file frees the hidden directory handle too; attaching again works.
    client.close(f.handle);
    const again = entry(client.attach(1));
    const fd2 = client.open(again.handle);
    assert.ok(fd2 >= 0);
    fs.closeSync(fd2);
  } finally {
    fs.closeSync(g.fd);
  }
});

/** A fresh writable tree next to the shared one, with a symlink planted in it that points out. */
function rwTree(): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'rw-'));
  fs.writeFileSync(path.join(dir, 'existing'), 'existing\n');
  fs.symlinkSync(path.join(tmp, 'outside'), path.join(dir, 'evil'));
  fs.symlinkSync(tmp, path.join(dir, 'evildir'));
  return dir;
}

test('writes: only in a read-write tree (-w); create, open for writing, mkdir, symlink, setattr, unlink, rename', () => {
  const rw = rwTree();
  const rw2 = rwTree();
  const g = spawnGofer([root, { dir: rw, writable: true }, { dir: rw2, writable: true }]);
  const c = new GoferClient(g.fd);
  try {
    // The read-only tree refuses every change.
    const ro = entry(c.attach(0));
    const roFile = entry(c.walk(ro.handle, 'file'));
    assert.equal(c.create(ro.handle, 'x', 0o644, 0, 0), -E.EROFS);
    assert.equal(c.mkdir(ro.handle, 'x', 0o755, 0, 0), -E.EROFS);
    assert.equal(c.symlink(ro.handle, 'x', 'y', 0, 0), -E.EROFS);
    assert.equal(c.unlink(ro.handle, 'file', 0), -E.EROFS);
    assert.equal(c.rename(ro.handle, 'file', ro.handle, 'x', 0), -E.EROFS);
    assert.equal(c.setattr(roFile.handle, { mask: SETATTR_MODE, mode: 0o777 }), -E.EROFS);
    assert.equal(c.open(roFile.handle, O_RDWR), -E.EROFS);
    assert.equal(fs.readFileSync(path.join(root, 'file'), 'utf8'), 'hello gofer\n');

    const t = entry(c.attach(1));
    // CREATE: a new file, owned as asked, with the mode asked (no umask: the sentry applied it).
    const a = entry(c.create(t.handle, 'a', 0o640, 1234, 5678));
    let st = fs.statSync(path.join(rw, 'a'));
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid, st.size], [0o640, 1234, 5678, 0]);
    assert.equal(a.stat.ino, BigInt(st.ino));
    assert.equal(c.create(t.handle, 'a', 0o644, 0, 0), -E.EEXIST);
    const wfd = c.open(a.handle, O_RDWR);
    assert.ok(wfd >= 0);
    fs.writeSync(wfd, 'written through the gofer\n', 0);
    fs.closeSync(wfd);
    assert.equal(fs.readFileSync(path.join(rw, 'a'), 'utf8'), 'written through the gofer\n');
    const tfd = c.open(a.handle, O_WRONLY | O_TRUNC);
    assert.ok(tfd >= 0);
    fs.closeSync(tfd);
    assert.equal(fs.statSync(path.join(rw, 'a')).size, 0);
    assert.equal(c.open(a.handle, 0o100 /* O_CREAT */ | O_WRONLY), -E.EINVAL);
    assert.equal(c.open(t.handle, O_WRONLY), -E.EISDIR);
    // MKDIR, SYMLINK.
    const d = entry(c.mkdir(t.handle, 'd', 0o2750, 42, 43));
    st = fs.statSync(path.join(rw, 'd'));
    assert.deepEqual([st.isDirectory(), st.mode & 0o7777, st.uid, st.gid], [true, 0o2750, 42, 43]);
    const l = entry(c.symlink(d.handle, 'l', '../../outside', 7, 8));
    const lst = fs.lstatSync(path.join(rw, 'd/l'));
    assert.deepEqual([lst.isSymbolicLink(), lst.uid, lst.gid], [true, 7, 8]);
    assert.equal(fs.readlinkSync(path.join(rw, 'd/l')), '../../outside');
    assert.equal(c.readlink(l.handle), '../../outside');
    // SETATTR: owner, mode, size, times, the new stat back.
    const s2 = c.setattr(a.handle, { mask: SETATTR_UID | SETATTR_GID | SETATTR_MODE | SETATTR_SIZE | SETATTR_MTIME, uid: 99, gid: 98, mode: 0o4755, size: 10, mtimeSec: 1_000_000_000, mtimeNsec: 5 });
    assert.equal(typeof s2, 'object');
    st = fs.statSync(path.join(rw, 'a'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777, st.size, st.mtimeMs], [99, 98, 0o4755, 10, 1_000_000_000_000]);
    assert.equal(c.setattr(d.handle, { mask: SETATTR_SIZE, size: 0 }), -E.EISDIR);
    assert.equal(c.setattr(l.handle, { mask: SETATTR_MODE, mode: 0o777 }), -E.EOPNOTSUPP);
    // RENAME within the tree; across trees EXDEV.
    assert.equal(c.rename(t.handle, 'a', d.handle, 'moved', 0), 0);
    assert.equal(fs.existsSync(path.join(rw, 'd/moved')), true);
    assert.equal(c.rename(t.handle, 'existing', d.handle, 'moved', 1 /* RENAME_NOREPLACE */), -E.EEXIST);
    const t2 = entry(c.attach(2));
    assert.equal(c.rename(t.handle, 'existing', t2.handle, 'x', 0), -E.EXDEV);
    assert.equal(c.rename(ro.handle, 'file', t.handle, 'x', 0), -E.EROFS);
    // UNLINK: files, and directories only with AT_REMOVEDIR (and empty).
    assert.equal(c.unlink(t.handle, 'd', 0), -E.EISDIR);
    assert.equal(c.unlink(t.handle, 'd', AT_REMOVEDIR), -E.ENOTEMPTY);
    assert.equal(c.unlink(d.handle, 'moved', 0), 0);
    assert.equal(c.unlink(d.handle, 'l', 0), 0);
    assert.equal(c.unlink(t.handle, 'd', AT_REMOVEDIR), 0);
    assert.deepEqual(fs.readdirSync(rw).sort(), ['evil', 'evildir', 'existing']);
  } finally {
    fs.closeSync(g.fd);
  }
});

test('writes: a symlink planted in the tree is never followed out, hostile names are refused', () => {
  const rw = rwTree();
  const g = spawnGofer([{ dir: rw, writable: true }]);
  const c = new GoferClient(g.fd);
  const outside = path.join(tmp, 'outside');
  const before = fs.statSync(outside);
  try {
    const t = entry(c.attach(0));
    // Making a file where the symlink is: EEXIST, nothing created at its target.
    assert.equal(c.create(t.handle, 'evil', 0o644, 0, 0), -E.EEXIST);
    assert.equal(c.mkdir(t.handle, 'evil', 0o755, 0, 0), -E.EEXIST);
    const evil = entry(c.walk(t.handle, 'evil'));
    assert.equal(evil.stat.mode & S_IFMT, S_IFLNK);
    assert.equal(c.open(evil.handle, O_RDWR), -E.ELOOP);
    assert.equal(c.setattr(evil.handle, { mask: SETATTR_SIZE, size: 0 }), -E.EINVAL);
    assert.equal(c.setattr(evil.handle, { mask: SETATTR_MODE, mode: 0o777 }), -E.EOPNOTSUPP);
    // A chown of the link changes the link, not the file it points at.
    assert.equal(typeof c.setattr(evil.handle, { mask: SETATTR_UID, uid: 4321 }), 'object');
    assert.equal(fs.lstatSync(path.join(rw, 'evil')).uid, 4321);
    // A symlink to a directory outside is no directory to make things in, rename into or list.
    const evildir = entry(c.walk(t.handle, 'evildir'));
    assert.equal(c.create(evildir.handle, 'x', 0o644, 0, 0), -E.ENOTDIR);
    assert.equal(c.mkdir(evildir.handle, 'x', 0o755, 0, 0), -E.ENOTDIR);
    assert.equal(c.symlink(evildir.handle, 'x', '/', 0, 0), -E.ENOTDIR);
    assert.equal(c.unlink(evildir.handle, 'outside', 0), -E.ENOTDIR);
    assert.equal(c.rename(t.handle, 'existing', evildir.handle, 'stolen', 0), -E.ENOTDIR);
    assert.equal(c.walk(evildir.handle, 'outside'), -E.ENOTDIR);
    // Renaming over the link replaces the link; unlinking it removes the link only.
    assert.equal(c.unlink(t.handle, 'evil', 0), 0);
    assert.equal(c.unlink(t.handle, 'evildir', AT_REMOVEDIR), -E.ENOTDIR);
    assert.equal(c.unlink(t.handle, 'evildir', 0), 0);
    const after = fs.statSync(outside);
    assert.deepEqual([after.ino, after.uid, after.mode, after.size], [before.ino, before.uid, before.mode, before.size]);
    assert.equal(fs.readFileSync(outside, 'utf8'), 'host secret\n');
    assert.equal(fs.existsSync(path.join(tmp, 'x')), false);
    // Hostile names: refused by the client, and sent raw, by the gofer.
    for (const bad of ['', '.', '..', 'a/b', '../outside', 'a\0b', 'x'.repeat(256)]) {
      assert.ok((c.create(t.handle, bad, 0o644, 0, 0) as number) < 0, JSON.stringify(bad));
      assert.ok(c.unlink(t.handle, bad, 0) < 0, JSON.stringify(bad));
      assert.ok(c.rename(t.handle, 'existing', t.handle, bad, 0) < 0, JSON.stringify(bad));
    }
    const rawName = (name: Buffer) => raw(g.fd, msg(9, [t.handle, 4], [0o644, 4], [0, 4], [0, 4], [name.length, 2], [0, 2], name)).err;
    assert.equal(rawName(Buffer.from('..')), E.EINVAL);
    assert.equal(rawName(Buffer.from('../escape')), E.EINVAL);
    assert.equal(rawName(Buffer.from('a\0b')), E.EINVAL);
    assert.equal(raw(g.fd, msg(12, [t.handle, 4], [0, 4], [2, 2], [0, 2], Buffer.from('..'))).err, E.EINVAL);
    const ren = (o: string, n: string) => raw(g.fd, msg(13, [t.handle, 4], [t.handle, 4], [0, 4], [o.length, 2], [n.length, 2], Buffer.from(o + n))).err;
    assert.equal(ren('existing', '../x'), E.EINVAL);
    assert.equal(ren('..', 'x'), E.EINVAL);
    // Malformed: lengths that lie, reserved fields, unknown flags, a mode with the type bits.
    assert.equal(raw(g.fd, msg(9, [t.handle, 4], [0o644, 4], [0, 4], [0, 4], [5, 2], [0, 2], Buffer.from('ab'))).err, E.EBADMSG);
    assert.equal(raw(g.fd, msg(9, [t.handle, 4], [0o100644, 4], [0, 4], [0, 4], [2, 2], [0, 2], Buffer.from('ab'))).err, E.EBADMSG);
    assert.equal(raw(g.fd, msg(12, [t.handle, 4], [1, 4], [2, 2], [0, 2], Buffer.from('ab'))).err, E.EBADMSG);
    assert.equal(raw(g.fd, msg(13, [t.handle, 4], [t.handle, 4], [3, 4], [1, 2], [1, 2], Buffer.from('ab'))).err, E.EBADMSG);
    assert.equal(raw(g.fd, msg(14, [t.handle, 4], [0x40, 4], Buffer.alloc(56))).err, E.EBADMSG);
    assert.deepEqual(fs.readdirSync(rw).sort(), ['existing']);
  } finally {
    fs.closeSync(g.fd);
  }
});

test('start-up: a bad invocation is refused with a message', () => {
  const [a, b] = sys().seqpacketPair();
  try {
    const none = spawnSync(goferPath(), ['0'], { stdio: ['ignore', 'ignore', 'pipe', a], encoding: 'utf8' });
    assert.equal(none.status, 1);
    assert.match(none.stderr, /moat-gofer: N \(number of trees\)/);
    const notDir = spawnSync(goferPath(), ['1'], { stdio: ['ignore', 'ignore', 'pipe', a, 0], encoding: 'utf8' });
    assert.equal(notDir.status, 1);
    assert.match(notDir.stderr, /not a directory/);
    for (const bad of [['1', '-f', '1', 'x'], ['1', '-f', '0', '..'], ['1', '-f', '0', 'a/b'], ['1', '-f', '0'], ['1', '-x']]) {
      const r = spawnSync(goferPath(), bad, { stdio: ['ignore', 'ignore', 'pipe', a, 'ignore'], encoding: 'utf8' });
      assert.equal(r.status, 1, bad.join(' '));
      assert.match(r.stderr, /moat-gofer: /);
    }
    const notSock = spawnSync(goferPath(), ['1'], { stdio: ['ignore', 'ignore', 'pipe', 'ignore'], encoding: 'utf8' });
    assert.equal(notSock.status, 1);
    assert.match(notSock.stderr, /not a SOCK_SEQPACKET socket/);
  } finally {
    fs.closeSync(a);
    fs.closeSync(b);
  }
});

test('walkPath: several components in one round trip, stopping at a symlink, a file or a miss; an fd only when asked', () => {
  const g = start();
  try {
    const c = g.client;
    const r = entry(c.attach(0)).handle;
    const w = c.walkPath(r, ['dir', 'sub', 'inner'], true);
    assert.ok(typeof w === 'object');
    assert.equal(w.err, 0);
    assert.deepEqual(w.entries.map((e) => e.stat.ino), ['dir', 'dir/sub', 'dir/sub/inner'].map((p) => fs.statSync(path.join(root, p), { bigint: true }).ino));
    assert.ok(w.fd >= 0, 'the last one opened for reading');
    assert.equal(fs.readFileSync(w.fd, 'utf8'), 'inner\n');
    fs.closeSync(w.fd);
    // Each handle is a WALK's: the file's can be opened again, the directory's walked from.
    assert.ok(c.open(w.entries[2]!.handle) >= 0);
    assert.equal(entry(c.walk(w.entries[1]!.handle, 'inner')).stat.ino, w.entries[2]!.stat.ino);
    // A miss after the first: what was walked, and why it stopped.
    const miss = c.walkPath(r, ['dir', 'nope', 'x'], true);
    assert.ok(typeof miss === 'object');
    assert.deepEqual([miss.entries.length, miss.err, miss.fd], [1, E.ENOENT, -1]);
    // A miss of the first: the errno, as WALK says it.
    assert.equal(c.walkPath(r, ['nope', 'x']), -E.ENOENT);
    // A symlink is never followed: the walk stops after it (the sentry resolves it), no error.
    const up = c.walkPath(r, ['up', 'x'], true);
    assert.ok(typeof up === 'object');
    assert.deepEqual([up.entries.length, up.err, up.fd, up.entries[0]!.stat.mode & S_IFMT], [1, 0, -1, S_IFLNK]);
    // So is a file in the middle; a file first is ENOTDIR for what follows only from a directory.
    const f = c.walkPath(r, ['file', 'x']);
    assert.ok(typeof f === 'object');
    assert.deepEqual([f.entries.length, f.err], [1, 0]);
    assert.equal(c.walkPath(f.entries[0]!.handle, ['x']), -E.ENOTDIR);
    // Not asked: no fd.
    const noOpen = c.walkPath(r, ['file']);
    assert.ok(typeof noOpen === 'object');
    assert.equal(noOpen.fd, -1);
    // Bounds and names: checked by the client and, raw, by the gofer (before anything is walked).
    assert.equal(c.walkPath(r, []), -E.EINVAL);
    assert.equal(c.walkPath(r, Array(17).fill('dir')), -E.EINVAL);
    assert.equal(c.walkPath(r, ['dir', '..']), -E.EINVAL);
    assert.equal(c.walkPath(r, ['dir', 'a/b']), -E.EINVAL);
    const walkPathRaw = (p: string, flags = 0) => raw(g.fd, msg(15, [r, 4], [Buffer.byteLength(p), 2], [flags, 2], Buffer.from(p))).err;
    for (const p of ['dir//sub', '/dir', 'dir/', 'dir/../..', '.', 'dir/./sub', Array(17).fill('dir').join('/'), '']) assert.equal(walkPathRaw(p), p === '' ? E.ENOENT : E.EINVAL, JSON.stringify(p));
    assert.equal(walkPathRaw('dir', 2), E.EBADMSG); // unknown flag
    assert.equal(raw(g.fd, msg(15, [r, 4], [9, 2], [0, 2], Buffer.from('dir'))).err, E.EBADMSG); // length lies
    assert.equal(raw(g.fd, msg(15, [0xffffffff, 4], [3, 2], [0, 2], Buffer.from('dir'))).err, E.EBADF);
    assert.equal(typeof c.stat(r), 'object');
  } finally {
    g.close();
  }
});
