// `moat do` killed by SIGKILL cannot clean up after itself: its sandbox dies with it (the native
// supervisor's and the sentry's parent-death signal; a watcher process for the vm's QEMU and
// virtiofsd), and the next moat invocation sweeps the state
// entry, cgroups and scratch layer it left (src/runtime/sweep.ts). Checked: processes, cgroup
// directories, state entry, mounts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { moat, MOAT, waitFor } from '../helpers/moat';
import { sentrySuite } from '../sentry/helpers';

let root: string;
sentrySuite((r) => (root = r));

function alive(pid: number): boolean {
  try {
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return false;
  }
}

function mountsNaming(id: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(id));
}

for (const platform of ['native', 'sentry'] as const) {
  test(`do (${platform}): SIGKILL of moat ends the sandbox within seconds, and the next moat leaves nothing of it`, async () => {
    const child = spawn(MOAT, ['--root', root, 'do', `--isolation=${platform}`, '--', 'sh', '-c', 'echo ready; exec sleep 100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, s) => r(s)));
    await waitFor('the sandbox to print ready', () => out.includes('ready\n'), 20_000);
    const ids = fs.readdirSync(root).filter((n) => n.startsWith('do-'));
    assert.equal(ids.length, 1, `one do-* entry: ${ids}`);
    const id = ids[0]!;
    const rec = JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as { pid: number; cgroups?: { dirs: Record<string, string>; created: string[] } };
    assert.ok(alive(rec.pid), 'the sandbox runs');
    // The container's own directories (`created` also lists moat's shared parent, kept while others use it).
    const cgroupDirs = Object.values(rec.cgroups?.dirs ?? {});
    if (platform === 'native') assert.ok(cgroupDirs.length > 0, 'a native do has cgroups of its own');

    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    await waitFor('the sandbox to die with its runner', () => !alive(rec.pid), 5_000);

    // Any moat command sweeps what the killed runner left.
    const l = moat(root, ['list']);
    assert.equal(l.status, 0, l.stderr);
    assert.deepEqual(fs.readdirSync(root), [], 'no state entry left');
    for (const d of cgroupDirs) assert.ok(!fs.existsSync(d), `cgroup ${d} removed`);
    assert.deepEqual(mountsNaming(id), [], 'no mount left');
  });
}

const hasVmKernel = fs.existsSync('/boot') && fs.readdirSync('/boot').some((n) => /^vmlinuz-.*-cloud-amd64$/.test(n));

/** Processes named `moat-do-watch` (native/bindings/runner_watch.c) whose parent is gone or is pid. */
function watchers(): number[] {
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((n) => {
    try {
      return fs.readFileSync(`/proc/${n}/comm`, 'utf8').trim() === 'moat-do-watch';
    } catch {
      return false;
    }
  }).map(Number);
}

// The vm's QEMU switches uid (-runas), which clears a parent-death signal, and its file servers
// run under unshare: a watcher process kills them when the runner is gone.
test('do (vm): SIGKILL of moat ends QEMU and its file servers within seconds, and the next moat leaves nothing of it', { skip: hasVmKernel ? false : 'no vm kernel (linux-image-cloud-amd64)', timeout: 180_000 }, async () => {
  const before = new Set(watchers());
  const child = spawn(MOAT, ['--root', root, 'do', '--isolation=vm', '--', 'sh', '-c', 'echo ready; exec sleep 100'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, s) => r(s)));
  try {
    await waitFor(`the sandbox to print ready (stderr: ${err})`, () => out.includes('ready\n'), 120_000);
    const ids = fs.readdirSync(root).filter((n) => n.startsWith('do-'));
    assert.equal(ids.length, 1, `one do-* entry: ${ids}`);
    const id = ids[0]!;
    const rec = JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as { pid: number; vm?: { volumeServers?: { pid: number }[] }; cgroups?: { dirs: Record<string, string> } };
    const servers = (rec.vm?.volumeServers ?? []).map((s) => s.pid);
    assert.ok(servers.length > 0, 'the host root is served by a virtiofsd');
    assert.ok([rec.pid, ...servers].every(alive), 'QEMU and its file servers run');
    const mine = watchers().filter((w) => !before.has(w));
    assert.equal(mine.length, 1, 'one watcher for the runner');

    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    await waitFor('QEMU and its file servers to die with their runner', () => ![rec.pid, ...servers].some(alive), 5_000);
    await waitFor('the watcher to exit', () => !alive(mine[0]!), 5_000);

    const l = moat(root, ['list']);
    assert.equal(l.status, 0, l.stderr);
    assert.deepEqual(fs.readdirSync(root).filter((n) => n !== '@vm'), [], 'no state entry left');
    for (const d of Object.values(rec.cgroups?.dirs ?? {})) assert.ok(!fs.existsSync(d), `cgroup ${d} removed`);
    assert.deepEqual(mountsNaming(id), [], 'no mount left');
  } finally {
    child.kill('SIGKILL');
    fs.rmSync(path.join(root, '@vm'), { recursive: true, force: true });
  }
});

test('the sweep leaves a running do alone', async () => {
  const child = spawn(MOAT, ['--root', root, 'do', '--isolation=native', '--', 'sh', '-c', 'echo ready; read x; echo got $x'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  await waitFor('the sandbox to print ready', () => out.includes('ready\n'), 20_000);
  assert.equal(moat(root, ['list']).status, 0);
  assert.equal(fs.readdirSync(root).filter((n) => n.startsWith('do-')).length, 1, 'still there');
  child.stdin.end('it\n');
  assert.equal(await exited, 0);
  assert.match(out, /got it/);
  assert.deepEqual(fs.readdirSync(root), []);
});
