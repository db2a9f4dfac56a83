// The SDK on the vm isolation (QEMU under TCG here: seconds to start even from a template). Two VMs
// for the whole file, to keep its cost bounded: a shared one (streams, stdin, user, files with
// hostile names both ways, output cap, timeout, abort) and, made while the shared one works, a
// small one (160 MiB, 40 pids) where the limits are hit — a memory hog killed and reported, a fork
// bomb held — and whose close is then checked to leave nothing: no QEMU, no file server or relay,
// no mount, state directory or cgroup. A third, in a child process SIGKILLed with it open, dies
// with its owner. The egress refusal is checked without a VM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { containerSuite, waitFor } from '../helpers/moat';
import { loadPlatform } from '../../src/platform';
import type { ContainerRecord } from '../../src/state/store';
import { Sandbox, SandboxPool, UsageError } from '../../src/sdk';
import { singleFileTar } from '../../src/sdk/tar';
import { alive, collect, fixChecksum, sharedRootfs, tarEntries } from './helpers';

let root = '';
containerSuite((r) => (root = r), () => fs.rmSync(path.join(root, '@vm'), { recursive: true, force: true }));
const hasKernel = fs.existsSync('/boot') && fs.readdirSync('/boot').some((n) => /^vmlinuz-.*-cloud-amd64$/.test(n));
const skip = hasKernel ? false : 'linux-image-cloud-amd64 is not installed (sh scripts/setup.sh test)';

function timed(name: string): () => void {
  const t0 = Date.now();
  return () => process.stderr.write(`# sdk (vm): ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

function record(id: string): ContainerRecord {
  return JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as ContainerRecord;
}

/** Host processes whose command line names `needle` (QEMU, virtiofsd, exec relays, moat-do-watch of a sandbox). */
function processesNaming(needle: string): string[] {
  const out: string[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle)) out.push(`${p}: ${cmd.slice(0, 200)}`);
    } catch {
      // gone
    }
  }
  return out;
}

describe('sdk (vm)', { skip }, () => {
  const shared = sharedRootfs();
  let sb: Sandbox;
  // The small VM, made in the background while the shared one works (two VMs at once).
  let small: Promise<Sandbox>;
  before(async () => {
    const done = timed('create the shared VM');
    sb = await Sandbox.create({ isolation: 'vm', rootfs: shared.rootfs, root, limits: { memory: '256m' }, env: { GREETING: 'hi' } });
    done();
    small = Sandbox.create({ isolation: 'vm', rootfs: shared.rootfs, root, limits: { memory: '160m', pids: 40 } });
    small.catch(() => undefined);
  });
  after(async () => {
    await sb?.close();
    await small?.then((s) => s.close(), () => undefined);
    shared.cleanup();
  });

  test('exec streams output, takes stdin, env, cwd and user, reports status and usage', async () => {
    const done = timed('exec');
    const h = sb.exec(['sh', '-c', 'cat; echo "$GREETING $EXTRA $(id -u) $(pwd)"; echo e >&2; exit 5'], { stdin: 'in\n', user: 1000, cwd: '/tmp', env: { EXTRA: 'x' } });
    const [out, err, r] = await Promise.all([collect(h.stdout), collect(h.stderr), h.result]);
    assert.equal(out.toString(), 'in\nhi x 1000 /tmp\n');
    assert.equal(err.toString(), 'e\n');
    assert.equal(r.exitCode, 5);
    assert.ok(r.usage.wallMs > 0 && r.usage.cpuMs >= 0 && r.usage.maxRssBytes > 0, JSON.stringify(r.usage));
    done();
  });

  test('files: writeFile/readFile round-trip, copyOut keeps a symlink a symlink', async () => {
    const done = timed('files');
    await sb.writeFile('/tmp/f', 'content');
    assert.equal((await sb.readFile('/tmp/f')).toString(), 'content');
    await sb.run(['ln', '-s', '/etc/passwd', '/tmp/l']);
    await assert.rejects(sb.readFile('/tmp/l'), UsageError);
    const e = tarEntries(await collect(sb.copyOut('/tmp/l')));
    assert.deepEqual(e.map((x) => [x.name, x.type, x.linkname]), [['l', '2', '/etc/passwd']]);
    done();
  });

  test('copyIn refuses hostile names; a hostile tar from the guest fails copyOut', async () => {
    const done = timed('hostile names');
    for (const name of ['../../../tmp/evil-sdk', '/tmp/evil-sdk']) {
      const t = Buffer.from(singleFileTar('placeholder', Buffer.from('x'), 0o644));
      t.write(`${name}\0`, 0, 'latin1');
      fixChecksum(t);
      await assert.rejects(sb.copyIn(t, '/tmp'), (e: unknown) => e instanceof UsageError, name);
    }
    assert.equal(fs.existsSync('/tmp/evil-sdk'), false, 'nothing on the host');
    assert.equal((await sb.run(['ls', '/tmp/evil-sdk'])).exitCode, 1, 'nothing in the guest either');
    // The guest's tar replaced (first on PATH) by one that emits a ../ name: copyOut refuses it.
    const t = Buffer.from(singleFileTar('placeholder', Buffer.from('x'), 0o644));
    t.write('../../etc/cron.d/evil\0', 0, 'latin1');
    fixChecksum(t);
    await sb.writeFile('/tmp/evil.tar', t);
    await sb.run(['sh', '-c', 'mkdir -p /usr/local/bin && printf "#!/bin/sh\\ncat /tmp/evil.tar\\n" > /usr/local/bin/tar && chmod 755 /usr/local/bin/tar']);
    try {
      await assert.rejects(collect(sb.copyOut('/tmp')), (e: unknown) => e instanceof UsageError && /'\.\.' is refused/.test((e as Error).message));
    } finally {
      assert.equal((await sb.run(['rm', '/usr/local/bin/tar'])).exitCode, 0);
    }
    done();
  });

  test('run cuts output at maxOutputBytes and kills the process', async () => {
    const done = timed('output cap');
    const r = await sb.run(['sh', '-c', 'while :; do echo 0123456789; done'], { maxOutputBytes: 10_000, timeout: 60_000 });
    assert.equal(r.truncated, true);
    assert.equal(r.stdout.length + r.stderr.length, 10_000);
    assert.match(r.stdout.toString().slice(0, 22), /^0123456789\n0123456789\n/);
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.timedOut, false);
    done();
  });

  test('an infinite loop is timed out: killed in the guest (not only its relay); an abort too', async () => {
    const done = timed('timeout, abort');
    const r = await sb.run(['sh', '-c', 'while :; do :; done'], { timeout: 1000 });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.exitCode, 137);
    const ps = await sb.run(['ps', '-o', 'args']);
    assert.doesNotMatch(ps.stdout.toString(), /while/, 'the loop is gone from the guest');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 500);
    await assert.rejects(sb.exec(['sleep', '60'], { signal: ac.signal }).result, (e: Error) => e.name === 'AbortError');
    done();
  });

  test('two VMs at once, each with its own writable layer', async () => {
    const done = timed('second VM ready');
    const other = await small;
    done();
    assert.notEqual(other.id, sb.id);
    await Promise.all([sb.writeFile('/tmp/who', 'shared'), other.writeFile('/tmp/who', 'small')]);
    const [a, b] = await Promise.all([sb.run(['cat', '/tmp/who']), other.run(['cat', '/tmp/who'])]);
    assert.equal(a.stdout.toString(), 'shared');
    assert.equal(b.stdout.toString(), 'small');
  });

  test('a memory hog is killed by the guest kernel and reported (SIGKILL, oomKilled); the VM goes on', async () => {
    const done = timed('memory hog');
    const hog = await small;
    const r = await hog.run(['awk', 'BEGIN { s = "x"; while (1) s = s s }'], { timeout: 120_000 });
    const said = JSON.stringify({ ...r, stdout: r.stdout.toString(), stderr: r.stderr.toString() });
    assert.equal(r.signal, 'SIGKILL', said);
    assert.equal(r.timedOut, false, said);
    assert.equal(r.oomKilled, true, said);
    assert.equal(r.sandboxDied, false, `the hog died, not the VM: ${said}`);
    assert.equal((await hog.run(['echo', 'alive'])).stdout.toString(), 'alive\n');
    done();
  });

  test('a fork bomb is held by the pids limit in the guest', async () => {
    const done = timed('fork bomb');
    const bomb = await small;
    const r = await bomb.run(['sh', '-c', 'f() { f | f & }; f; sleep 3; echo survived'], { timeout: 60_000 });
    const stats = (await loadPlatform('vm').stats(record(bomb.id))) as { pids: { current: number; limit: number } };
    assert.equal(stats.pids.limit, 40, JSON.stringify(stats.pids));
    assert.ok(stats.pids.current > 0 && stats.pids.current <= 40, `pids.current ${stats.pids.current} within 40`);
    assert.ok(r.timedOut || /survived/.test(r.stdout.toString()) || r.exitCode !== 0, 'the bomb\'s shell returned or was timed out');
    done();
  });

  test('close leaves nothing: no QEMU, file server, relay, mount, state directory or cgroup', async () => {
    const done = timed('close');
    const box = await small;
    const rec = record(box.id);
    assert.ok(rec.vm && alive(rec.vm.vmmPid), 'the VM runs');
    const cgroupDirs = Object.values(rec.cgroups?.dirs ?? {});
    await Promise.all([box.close(), box.close()]);
    assert.equal(alive(rec.vm.vmmPid), false, 'QEMU is gone');
    for (const s of rec.vm.volumeServers ?? []) assert.equal(alive(s.pid), false, `file server ${s.pid} is gone`);
    assert.deepEqual(processesNaming(box.id), [], 'no process names the sandbox');
    assert.equal(fs.existsSync(path.join(root, box.id)), false, 'state directory gone');
    assert.equal(fs.existsSync(rec.vm.dir), false, 'the VM\'s directory gone');
    for (const d of cgroupDirs) assert.equal(fs.existsSync(d), false, `cgroup ${d} removed`);
    assert.deepEqual(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(box.id)), [], 'no mount names it');
    await assert.rejects(box.run(['true']), (e: unknown) => (e as { code?: string }).code === 'ESTATE');
    done();
  });
});

test('sdk (vm): spawn — the command is the guest\'s init: pipes both ways, a signal to it, its exit status; nothing left', { skip }, async () => {
  const done = timed('spawn');
  const shared = sharedRootfs();
  let sb: Awaited<ReturnType<typeof Sandbox.spawn>> | undefined;
  try {
    sb = await Sandbox.spawn(['sh', '-c', 'trap "echo term; exit 3" TERM; echo "pid=$$"; read line; echo "got $line"; while :; do sleep 0.1; done'], { isolation: 'vm', rootfs: shared.rootfs, root, limits: { memory: '128m' } });
    const rec = record(sb.id);
    let out = '';
    sb.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(`the command to start`, () => out.includes('pid=1\n'), 60_000);
    sb.stdin!.end('ping\n');
    await waitFor('the command to read', () => out.includes('got ping\n'), 30_000);
    sb.kill('SIGTERM');
    const r = await sb.result;
    assert.equal(r.exitCode, 3, out);
    assert.equal(out, 'pid=1\ngot ping\nterm\n');
    assert.equal(alive(rec.vm!.vmmPid), false, 'QEMU is gone');
    assert.equal(fs.existsSync(path.join(root, sb.id)), false, 'state gone');
    assert.deepEqual(processesNaming(sb.id), []);
  } finally {
    await sb?.close();
    shared.cleanup();
  }
  done();
});

test('sdk (vm): hostRoot, mounts (ro and rw), cpus and network none are what the guest gets', { skip }, async () => {
  const done = timed('hostRoot, mounts (a cold boot: volumes)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-sdk-mounts-'));
  fs.chmodSync(dir, 0o755);
  const ro = path.join(dir, 'ro');
  const rw = path.join(dir, 'rw');
  fs.mkdirSync(ro);
  fs.mkdirSync(rw);
  fs.chmodSync(rw, 0o777);
  fs.writeFileSync(path.join(ro, 'in'), 'from the host\n');
  try {
    await using sb = await Sandbox.create({ isolation: 'vm', hostRoot: true, root, mounts: [{ source: ro, target: '/data' }, { source: rw, target: '/out', readonly: false }], limits: { cpus: 0.5, memory: '256m' }, network: 'none' });
    const r = await sb.run(['sh', '-c', 'cat /data/in; echo x > /data/y && echo wrote-ro; echo out > /out/f && echo wrote-rw; head -1 /etc/os-release; echo changed > /etc/os-release && echo wrote-etc; echo "cpus=$(nproc)"; echo "net=$(ls /sys/class/net | tr "\\n" " ")"'], { timeout: 60_000 });
    const out = r.stdout.toString();
    assert.match(out, /^from the host\n/, out);
    assert.doesNotMatch(out, /wrote-ro/, 'a read-only mount refuses writes');
    assert.match(out, /wrote-rw/, out + r.stderr.toString());
    assert.equal(fs.readFileSync(path.join(rw, 'f'), 'utf8'), 'out\n', 'a rw mount writes through to the host');
    assert.ok(out.includes(fs.readFileSync('/etc/os-release', 'utf8').split('\n')[0]!), 'the host\'s root, read');
    assert.match(out, /wrote-etc/, 'written to the guest\'s own layer');
    assert.notEqual(fs.readFileSync('/etc/os-release', 'utf8'), 'changed\n', 'never to the host');
    assert.match(out, /^cpus=1$/m, 'half a CPU: a VM of one vCPU');
    assert.match(out, /^net=lo $/m, 'a namespace with lo only');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  done();
});

test('sdk (vm): a pool of one hands out a warm VM and makes a fresh one; await using closes it', { skip }, async () => {
  const done = timed('pool');
  const shared = sharedRootfs();
  try {
    await using pool = new SandboxPool({ size: 1, isolation: 'vm', rootfs: shared.rootfs, root, limits: { memory: '128m' } });
    await pool.ready();
    let id = '';
    {
      await using sb = await pool.acquire();
      id = sb.id;
      assert.equal((await sb.run(['echo', 'pooled'])).stdout.toString(), 'pooled\n');
    }
    assert.equal(fs.existsSync(path.join(root, id)), false, 'await using closed the VM');
    await waitFor('the pool to be warm again', () => pool.available === 1, 60_000);
    const next = await pool.acquire();
    assert.notEqual(next.id, id);
    await pool.release(next);
  } finally {
    shared.cleanup();
  }
  done();
});

test('sdk (vm): SIGKILL of the owning process ends its VM (QEMU, watcher); the next create sweeps it', { skip }, async () => {
  const done = timed('owner killed');
  const shared = sharedRootfs();
  const watchersBefore = new Set(processesNamed('moat-do-watch'));
  const owner = spawn(process.execPath, [path.join(__dirname, 'owner.js'), root, shared.rootfs, 'vm'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    let err = '';
    owner.stdout.on('data', (d: Buffer) => (out += d.toString()));
    owner.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((r) => owner.once('exit', (_c, s) => r(s)));
    await waitFor(`the owner to open its sandbox (${err})`, () => /^ready /m.test(out) || owner.exitCode !== null, 120_000);
    const [id] = out.trim().split(' ').slice(1);
    assert.ok(id, `${out} ${err}`);
    const rec = record(id);
    assert.ok(rec.vm && alive(rec.vm.vmmPid), 'QEMU runs');
    const watchers = processesNamed('moat-do-watch').filter((p) => !watchersBefore.has(p));
    assert.equal(watchers.length, 1, 'one watcher for the owner');
    owner.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    await waitFor('QEMU to die with its owner', () => !alive(rec.vm!.vmmPid), 10_000);
    await waitFor('the watcher to exit', () => !alive(watchers[0]!), 10_000);
    // The next create on this root sweeps what the owner left.
    await (await Sandbox.create({ isolation: 'native', rootfs: shared.rootfs, root })).close();
    assert.deepEqual(fs.readdirSync(root).filter((n) => n !== '@vm'), [], 'no state entry left');
    assert.deepEqual(processesNaming(id), [], 'no process names the sandbox');
    for (const d of Object.values(rec.cgroups?.dirs ?? {})) assert.equal(fs.existsSync(d), false, `cgroup ${d} removed`);
  } finally {
    owner.kill('SIGKILL');
    shared.cleanup();
  }
  done();
});

function processesNamed(comm: string): number[] {
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((n) => {
    try {
      return fs.readFileSync(`/proc/${n}/comm`, 'utf8').trim() === comm;
    } catch {
      return false;
    }
  }).map(Number);
}

test('sdk (vm): an egress list is refused, typed, before anything is made', async () => {
  await assert.rejects(Sandbox.create({ isolation: 'vm', hostRoot: true, root, network: ['10.0.0.0/8'] }), (e: unknown) => e instanceof UsageError && /enforced only by isolation 'sentry'/.test((e as Error).message));
});
