// The sentry confines itself as runsc's does (docs/sentry.md, "The sentry's own confinement"):
// while a container runs, its /proc status shows a seccomp filter and no_new_privs, its root is an
// empty directory in a mount namespace of its own, and its stubs are filtered too. A sentry that
// attempts a forbidden host call (the test hook MOAT_SENTRY_TEST_FORBIDDEN) is killed by the
// kernel: the container is reported stopped and delete leaves nothing; a refused open lets the
// sandbox run on. The sentry and its stubs run as the sandbox's own unprivileged host uid: a
// process confined by the sentry's code cannot signal host root's processes or another sandbox's.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { makeBundle, moat, moatDetached, waitFor } from '../helpers/moat';
import { sentrySuite } from '../sentry/helpers';
import { allocateSandboxUid, SANDBOX_UID_BASE, SANDBOX_UID_COUNT } from '../../src/state/sandbox-uid';

let root: string;
sentrySuite((r) => (root = r));

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      kids.push(...fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      /* the thread went */
    }
  }
  return kids;
}

test('a running sentry is under its seccomp filter with no_new_privs, over an empty root, and so are its stubs', async () => {
  const b = makeBundle(['sleep', '30']);
  const out = path.join(os.tmpdir(), `moat-confine-${process.pid}.log`);
  try {
    const c = moatDetached(root, ['--isolation=sentry', 'run', '--detach', '--bundle', b.dir, 'confined'], out);
    assert.equal(c.status, 0, c.stderr);
    const pid = JSON.parse(moat(root, ['state', 'confined']).stdout).pid as number;
    // The application's first stub exists once the sentry has confined itself.
    await waitFor('the first stub', () => childrenOf(pid).some((k) => status(k).Name === 'moat-stub'));
    const s = status(pid);
    assert.equal(s.Seccomp, '2', 'the sentry is in seccomp filter mode');
    assert.equal(s.NoNewPrivs, '1');
    assert.equal(s.CapEff, '0000000000000400', 'only CAP_NET_BIND_SERVICE is left');
    assert.equal(s.CapPrm, '0000000000000400');
    assert.equal(s.CapBnd, '0000000000000400');
    // Not host root: the sandbox's own uid and gid, every one of them, and no groups.
    const uid = Number(s.Uid!.split(/\s+/)[0]);
    assert.ok(uid >= SANDBOX_UID_BASE && uid < SANDBOX_UID_BASE + SANDBOX_UID_COUNT, `the sentry runs as a sandbox uid, not ${s.Uid}`);
    assert.deepEqual(s.Uid!.split(/\s+/), [uid, uid, uid, uid].map(String));
    assert.deepEqual(s.Gid!.split(/\s+/), [uid, uid, uid, uid].map(String));
    assert.equal(s.Groups, '');
    assert.ok(fs.existsSync(`/run/moat-uids/${uid}`), 'its uid is held by a lock file');
    // Capabilities are per thread: Node's other threads (V8's workers, libuv's pool) hold none,
    // and every thread is the sandbox uid (glibc's set*id reach them all).
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      let ts: string;
      try {
        ts = fs.readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
      } catch {
        continue; // the thread went
      }
      const capEff = /^CapEff:\s+(\S+)/m.exec(ts)?.[1];
      assert.ok(capEff === '0000000000000400' || capEff === '0000000000000000', `thread ${task}: CapEff ${capEff}`);
      assert.equal(/^Uid:\s+(.*)$/m.exec(ts)?.[1], s.Uid, `thread ${task} runs as the sandbox uid`);
    }
    // The gofer was confined already (docs/sentry-gofer.md): its own filter, no_new_privs, an empty root.
    const goferPid = Number(/MOAT_GOFER_PID=(\d+)/.exec(fs.readFileSync(`/proc/${pid}/environ`, 'latin1'))?.[1]);
    assert.ok(goferPid > 0, 'the gofer is named in the sentry\'s environment');
    assert.equal(status(goferPid).Seccomp, '2');
    assert.equal(status(goferPid).NoNewPrivs, '1');
    assert.deepEqual(fs.readdirSync(`/proc/${goferPid}/root`), []);
    assert.deepEqual(fs.readdirSync(`/proc/${pid}/root`), [], 'the sentry\'s root is empty');
    assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'), 'a mount namespace of its own');
    for (const k of childrenOf(pid)) {
      const ks = status(k);
      if (ks.Name !== 'moat-stub') continue;
      assert.equal(ks.Seccomp, '2', `stub ${k} is filtered`);
      assert.equal(ks.Uid, s.Uid, `stub ${k} runs as the sentry's uid`);
      assert.equal(ks.Gid, s.Gid);
      assert.equal(ks.CapEff, '0000000000000400', `stub ${k} holds no more than the sentry`);
    }
    // What the application sees is unchanged: root, with the capabilities of its spec (the
    // sentry's emulated credentials), not the host's uid.
    const e = moat(root, ['exec', '--cap', 'CAP_KILL', 'confined', 'sh', '-c', 'id -u; grep -E "^(Uid|Gid|CapEff)" /proc/self/status']);
    assert.equal(e.status, 0, e.stderr);
    const m = /^0\nUid:\s+0\s+0\s+0\s+0\nGid:\s+0\s+0\s+0\s+0\nCapEff:\s+([0-9a-f]{16})\n$/.exec(e.stdout);
    assert.ok(m, e.stdout);
    assert.ok((parseInt(m[1]!, 16) & 0x20) !== 0, `CAP_KILL, asked for, is in the application's CapEff ${m[1]}`);
  } finally {
    assert.equal(moat(root, ['delete', '--force', 'confined']).status, 0);
    b.cleanup();
    fs.rmSync(out, { force: true });
  }
});

for (const call of ['execve', 'socket-packet']) {
  test(`a sentry that attempts a forbidden ${call} is killed: the container is stopped, delete leaves nothing`, async () => {
    const b = makeBundle(['echo', 'never printed']);
    const out = path.join(os.tmpdir(), `moat-confine-${process.pid}-${call}.log`);
    const id = `forbidden-${call}`;
    process.env.MOAT_SENTRY_TEST_FORBIDDEN = call;
    try {
      assert.equal(moatDetached(root, ['--isolation=sentry', 'create', '--bundle', b.dir, id], out).status, 0);
      const pid = JSON.parse(moat(root, ['state', id]).stdout).pid as number;
      assert.equal(moat(root, ['start', id]).status, 0);
      await waitFor('the sentry to die', () => !fs.existsSync(`/proc/${pid}`) || status(pid).State.startsWith('Z'));
      await waitFor('the container to be reported stopped', () => JSON.parse(moat(root, ['state', id]).stdout).status === 'stopped');
      assert.doesNotMatch(fs.readFileSync(out, 'utf8'), /never printed/);
      const del = moat(root, ['delete', id]);
      assert.equal(del.status, 0, del.stderr);
      assert.equal(moat(root, ['state', id]).status, 1);
    } finally {
      delete process.env.MOAT_SENTRY_TEST_FORBIDDEN;
      b.cleanup();
      fs.rmSync(out, { force: true });
    }
  });
}

test('moat run of a sentry killed by its filter exits 159 (SIGSYS) and leaves nothing', () => {
  const b = makeBundle(['echo', 'never printed']);
  try {
    const r = moat(root, ['--isolation=sentry', 'run', '--bundle', b.dir, 'forbidden-run'], { env: { ...process.env, MOAT_SENTRY_TEST_FORBIDDEN: 'execve' } });
    assert.equal(r.status, 128 + 31, r.stderr);
    assert.doesNotMatch(r.stdout, /never printed/);
    assert.equal(moat(root, ['state', 'forbidden-run']).status, 1, 'run removed the container');
  } finally {
    b.cleanup();
  }
});

test('an open of a host path is refused (EACCES) without killing: the sandbox runs on', () => {
  const b = makeBundle(['echo', 'ran']);
  try {
    const r = moat(root, ['--isolation=sentry', 'run', '--bundle', b.dir, 'open-refused'], { env: { ...process.env, MOAT_SENTRY_TEST_FORBIDDEN: 'openat' } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ran\n');
  } finally {
    b.cleanup();
  }
});

/** A sandbox uid no process on the host runs as now (another moat's VM may hold one without our lock). */
function unusedSandboxUid(seed: string): { uid: number; lockFd: number } {
  const used = new Set<number>();
  for (const p of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      used.add(Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))?.[1]));
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 16; i++) {
    const a = allocateSandboxUid(`${seed}-${i}`);
    if (!used.has(a.uid)) return a;
    fs.closeSync(a.lockFd);
  }
  throw new Error('no unused sandbox uid');
}

function sleeper(uid?: number): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore', ...(uid !== undefined ? { uid, gid: uid } : {}) });
}

test('a process confined as the sentry is cannot signal host root\'s processes or another sandbox\'s; kill(-1) reaches only its own uid', () => {
  const mine = unusedSandboxUid(`confine-test-${process.pid}`);
  const theirs = unusedSandboxUid(`confine-test-other-${process.pid}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-confine-root-'));
  const hostRoot = sleeper();
  const otherSandbox = sleeper(theirs.uid);
  const own = sleeper(mine.uid);
  try {
    const harness = path.join(__dirname, '..', 'helpers', 'confined-sentry.js');
    const r = spawnSync(process.execPath, [harness, dir, String(mine.uid), String(own.pid), String(hostRoot.pid), String(otherSandbox.pid)], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { init: string; others: string[]; own: string; all: string };
    assert.equal(out.init, 'EPERM', 'kill(1, 0): host init is out of reach');
    assert.deepEqual(out.others, ['EPERM', 'EPERM'], 'kill(pid, 0) of a root sleeper and of another sandbox\'s process');
    assert.equal(out.own, 'ok', 'a process of its own uid (what its stubs are) can be signalled');
    assert.equal(out.all, 'ok', 'kill(-1, SIGKILL) found something to kill: its own uid\'s process');
    assert.equal(hostRoot.exitCode, null);
    assert.equal(hostRoot.signalCode, null);
    assert.ok(fs.existsSync(`/proc/${hostRoot.pid}`) && fs.existsSync(`/proc/${otherSandbox.pid}`), 'the root sleeper and the other sandbox\'s process survive kill(-1, SIGKILL)');
    assert.ok(!/^State:\s+Z/m.test(fs.readFileSync(`/proc/${hostRoot.pid}/status`, 'utf8')));
    assert.ok(!/^State:\s+Z/m.test(fs.readFileSync(`/proc/${otherSandbox.pid}/status`, 'utf8')));
    const ownState = fs.existsSync(`/proc/${own.pid}/status`) ? fs.readFileSync(`/proc/${own.pid}/status`, 'utf8') : 'State: gone';
    assert.match(ownState, /^State:\s+(Z|gone)/m, 'the process of its own uid was killed');
  } finally {
    for (const c of [hostRoot, otherSandbox, own]) c.kill('SIGKILL');
    fs.closeSync(mine.lockFd);
    fs.closeSync(theirs.lockFd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
