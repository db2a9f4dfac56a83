// Terminals: a pty from the container's own devpts, sent over --console-socket (what containerd
// and Docker use) or relayed by moat in the foreground, window size included.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, moatDetached, MOAT, waitFor } from '../helpers/moat';
import { sys } from '../../src/sys';

let root: string;
containerSuite((r) => (root = r));

/** A console socket like containerd's: receives one pty master with SCM_RIGHTS. */
async function consoleSocket(dir: string): Promise<{ path: string; master: Promise<{ fd: number; data: string }>; close(): void }> {
  const sockPath = path.join(dir, 'console.sock');
  let resolveMaster: (m: { fd: number; data: string }) => void;
  const master = new Promise<{ fd: number; data: string }>((r) => (resolveMaster = r));
  const server = net.createServer((conn) => {
    const fd = (conn as unknown as { _handle: { fd: number } })._handle.fd;
    const got = sys().recvFd(fd);
    conn.destroy();
    if (got) resolveMaster(got);
  });
  await new Promise<void>((r) => server.listen(sockPath, r));
  return { path: sockPath, master, close: () => server.close() };
}

/**
 * `script` stands in for the user's terminal; when its own stdin ends it writes an EOF byte into
 * the session, which the container's pty echoes back as `^@`. Only the container's output matters.
 */
function screen(out: string): string {
  return out.replace(/\^@|\0/g, '');
}

function readAvailable(fd: number, until: RegExp, timeoutMs = 5000): string {
  let out = '';
  const end = Date.now() + timeoutMs;
  const buf = Buffer.alloc(4096);
  while (!until.test(out) && Date.now() < end) {
    try {
      const n = fs.readSync(fd, buf);
      if (n === 0) break;
      out += buf.subarray(0, n).toString();
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') break;
    }
  }
  return out;
}

test('create --console-socket sends the pty master; the process reads and writes through it', async () => {
  const b = makeBundle(['sh', '-c', 'tty; stty size; read line; echo "got:$line"; ls -l /proc/self/fd/0'], (c) => {
    c.process.terminal = true;
    c.process.consoleSize = { height: 25, width: 90 };
    c.process.user = { uid: 1000, gid: 1000 };
  });
  const cs = await consoleSocket(b.dir);
  try {
    const r = moatDetached(root, ['create', '--bundle', b.dir, '--console-socket', cs.path, 'tty1'], path.join(b.dir, 'out'));
    assert.equal(r.status, 0, r.stderr);
    const master = await cs.master;
    assert.equal(master.data, '/dev/pts/0');
    assert.equal(moat(root, ['start', 'tty1']).status, 0);
    fs.writeSync(master.fd, 'ping\n');
    const out = readAvailable(master.fd, /fd\/0 ->/);
    fs.closeSync(master.fd);
    assert.match(out, /\/dev\/pts\/0\r\n25 90\r\n/);
    assert.match(out, /got:ping/);
    assert.match(out, /1000\s+1000\s.*\/proc\/self\/fd\/0 -> \/dev\/pts\/0/, 'the pty belongs to the process user');
    await waitFor('the container to stop', () => JSON.parse(moat(root, ['state', 'tty1']).stdout).status === 'stopped');
  } finally {
    cs.close();
    moat(root, ['delete', '--force', 'tty1']);
    b.cleanup();
  }
});

test('a terminal without --console-socket: create refuses, run relays it in the foreground', () => {
  const b = makeBundle(['sh', '-c', 'tty; stty size; exit 6'], (c) => {
    c.process.terminal = true;
  });
  try {
    const r = moat(root, ['create', '--bundle', b.dir, 'tty2']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'moat: create: process.terminal is set: a --console-socket is required\n');
    // `script` gives moat a terminal of 40x120; the container's pty takes that size.
    const s = spawnSync('script', ['-qec', `stty rows 40 cols 120; ${MOAT} --root ${root} run --bundle ${b.dir} tty2`, '/dev/null'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(s.status, 6, s.stdout + s.stderr);
    assert.match(screen(s.stdout), /\/dev\/pts\/0\r*\n40 120/);
  } finally {
    b.cleanup();
  }
});

test('exec --tty gets its own pty in the container', () => {
  const b = makeBundle(['sleep', '30']);
  try {
    assert.equal(moatDetached(root, ['run', '-d', '--bundle', b.dir, 'tty3'], path.join(b.dir, 'out')).status, 0);
    const s = spawnSync('script', ['-qec', `${MOAT} --root ${root} exec --tty tty3 sh -c 'tty; exit 4'`, '/dev/null'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(s.status, 4, s.stdout);
    assert.match(screen(s.stdout), /^\/dev\/pts\/\d+/);
    const noTty = moat(root, ['exec', 'tty3', 'sh', '-c', 'tty']);
    assert.equal(noTty.stdout, 'not a tty\n');
  } finally {
    moat(root, ['delete', '--force', 'tty3']);
    b.cleanup();
  }
});

test('moat do at a terminal gives the sandbox a pty of its own, not the caller\'s terminal', () => {
  const s = spawnSync('script', ['-qec', `${MOAT} --root ${root} do -- sh -c 'tty; exit 2'`, '/dev/null'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(s.status, 2, s.stdout);
  assert.match(screen(s.stdout), /^\/dev\/pts\/0\r*\n/, 'the pty comes from the sandbox\'s own devpts');
});
