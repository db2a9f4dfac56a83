// The vm platform with real QEMU (TCG here: this machine's /dev/kvm cannot boot a stock kernel).
// Every container is its own VM, and a boot is the cost (~5 s under TCG): each test boots one VM
// and checks as much as that VM can show; the create/start/kill test and the killed-VMM test boot
// theirs concurrently.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, waitFor, MOAT } from '../helpers/moat';
import { spawn } from 'node:child_process';

let root: string;
containerSuite(
  (r) => (root = r),
  // The vm cache (initramfs, accel verdict) is shared by the root's containers, not one's leftovers.
  () => fs.rmSync(path.join(root, '@vm'), { recursive: true, force: true }),
);

const hasKernel = fs.existsSync('/boot') && fs.readdirSync('/boot').some((n) => /^vmlinuz-.*-cloud-amd64$/.test(n));
const skip = hasKernel ? false : 'linux-image-cloud-amd64 is not installed (sh scripts/setup.sh test)';
const VM_TIMEOUT = 90_000;

/** QEMU processes whose command line names this test's state root. */
function qemusOf(dir: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.startsWith('qemu-system') && cmd.includes(dir)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

function assertGone(id: string): void {
  assert.ok(!fs.existsSync(path.join(root, id)), `state dir of ${id} removed (disk image, sockets, status with it)`);
  assert.deepEqual(qemusOf(path.join(root, id)), [], `no qemu left for ${id}`);
}

function state(id: string): { status: string; pid: number } {
  const r = moat(root, ['state', id]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { status: string; pid: number };
}

test('run --isolation=vm: guest kernel, files written and read back, stdout/stderr, exit code, nothing left', { skip, timeout: VM_TIMEOUT }, () => {
  const b = makeBundle(['sh', '-c', 'uname -r; echo data-$((6*7)) > /root/f && cat /root/f; echo to-stderr >&2; cat /proc/1/comm; exit 7']);
  b.config.root.readonly = false;
  b.save();
  try {
    const r = moat(root, ['--isolation=vm', 'run', '--bundle', b.dir, 'vm-run'], { timeoutMs: VM_TIMEOUT });
    assert.equal(r.status, 7, r.stderr);
    const [release, data, comm] = r.stdout.trim().split('\n');
    assert.match(release ?? '', /^6\.1\.\d+.*-cloud-amd64$/, 'the guest kernel, not the host one');
    assert.notEqual(release, os.release());
    assert.equal(data, 'data-42');
    assert.equal(comm, 'sh', 'the container has its own pid namespace in the guest');
    assert.match(r.stderr, /^to-stderr$/m);
    assert.doesNotMatch(r.stdout, /to-stderr/);
    // auto acceleration: KVM, or TCG with a one-line notice naming why (said when probed, then cached).
    const verdict = JSON.parse(fs.readFileSync(path.join(root, '@vm', 'accel.json'), 'utf8')) as { accel: string; reason: string };
    if (verdict.accel === 'tcg') assert.match(r.stderr, /vm: using TCG \(software emulation, slow\): .+/);
    assertGone('vm-run');
    assert.ok(!fs.existsSync(path.join(b.rootfs, 'root', 'f')), 'nothing written back to the bundle');
  } finally {
    b.cleanup();
  }
});

test('create/start/state/kill/delete in a vm, and a killed VMM is reported stopped and cleaned by delete', { skip, timeout: VM_TIMEOUT }, async () => {
  const trap = makeBundle(['sh', '-c', 'trap "echo got-TERM; exit 42" TERM; echo started; while true; do sleep 0.05; done']);
  const victim = makeBundle(['sh', '-c', 'echo victim-up; while true; do sleep 1; done']);
  const outA = path.join(trap.dir, 'out.txt');
  const outB = path.join(victim.dir, 'out.txt');
  try {
    // Two boots at once (a create is a boot): the test's wall time is one boot.
    const [ca, cb] = await Promise.all([
      detached(['--isolation', 'vm', 'create', '--bundle', trap.dir, 'vm-a'], outA),
      detached(['--isolation', 'vm', 'create', '--bundle', victim.dir, 'vm-b'], outB),
    ]);
    assert.equal(ca, 0, fs.readFileSync(outA, 'utf8'));
    assert.equal(cb, 0, fs.readFileSync(outB, 'utf8'));
    const created = state('vm-a');
    assert.equal(created.status, 'created');
    assert.match(fs.readFileSync(`/proc/${created.pid}/cmdline`, 'utf8'), /^qemu-system-x86_64\0/, "the state's pid is the VMM's");

    assert.equal(moat(root, ['start', 'vm-a']).status, 0);
    assert.equal(moat(root, ['start', 'vm-b']).status, 0);
    assert.equal(state('vm-a').status, 'running');
    await waitFor('vm-a to print', () => fs.readFileSync(outA, 'utf8').includes('started'), 20_000);
    const again = moat(root, ['start', 'vm-a']);
    assert.notEqual(again.status, 0, 'a running container cannot be started twice');

    // kill: the signal reaches the init inside the guest (its trap runs), and its exit code is the container's.
    const k = moat(root, ['kill', 'vm-a', 'TERM']);
    assert.equal(k.status, 0, k.stderr);
    await waitFor('vm-a to stop', () => state('vm-a').status === 'stopped', 20_000);
    assert.match(fs.readFileSync(outA, 'utf8'), /got-TERM/);
    assert.deepEqual(qemusOf(path.join(root, 'vm-a')), [], 'the VM powered off when its container exited');
    assert.notEqual(moat(root, ['kill', 'vm-a', 'TERM']).status, 0, 'a stopped container cannot be signalled');
    assert.equal(moat(root, ['delete', 'vm-a']).status, 0);
    assertGone('vm-a');

    // A VMM killed from outside: stopped, and delete cleans up after it.
    await waitFor('vm-b to print', () => fs.readFileSync(outB, 'utf8').includes('victim-up'), 20_000);
    const vmm = state('vm-b').pid;
    process.kill(vmm, 'SIGKILL');
    await waitFor('vm-b to be stopped', () => state('vm-b').status === 'stopped', 10_000);
    assert.equal(moat(root, ['delete', 'vm-b']).status, 0);
    assertGone('vm-b');
  } finally {
    moat(root, ['delete', '--force', 'vm-a']);
    moat(root, ['delete', '--force', 'vm-b']);
    trap.cleanup();
    victim.cleanup();
  }
});

test('do --isolation=vm runs the command in a guest (busybox rootfs)', { skip, timeout: VM_TIMEOUT }, () => {
  const r = moat(root, ['do', '--isolation=vm', '--', 'sh', '-c', 'uname -r; pwd; exit 3'], { timeoutMs: VM_TIMEOUT });
  assert.equal(r.status, 3, r.stderr);
  const [release, cwd] = r.stdout.trim().split('\n');
  assert.match(release ?? '', /^6\.1\.\d+.*-cloud-amd64$/);
  assert.notEqual(release, os.release());
  assert.equal(cwd, '/');
  assert.deepEqual(fs.readdirSync(root).filter((n) => n !== '@vm'), [], 'nothing left of the do container');
});

test('vm: what the guest cannot do is refused naming the field, before any boot, leaving nothing', { skip }, () => {
  const b = makeBundle(['true'], (c) => {
    c.mounts.push({ destination: '/host', type: 'bind', source: '/etc', options: ['rbind', 'ro'] });
  });
  try {
    const r = moat(root, ['--isolation=vm', 'run', '--bundle', b.dir, 'vm-bad']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /mounts\[\d+\]\.source: bind mount of host path "\/etc"/);
    assertGone('vm-bad');
    const a = moat(root, ['--isolation=vm', '--vm-accel=warp', 'run', '--bundle', b.dir, 'vm-bad2']);
    assert.notEqual(a.status, 0);
    assert.match(a.stderr, /--vm-accel: unknown vm acceleration "warp"/);
    assertGone('vm-bad2');
  } finally {
    b.cleanup();
  }
});

/** moat with the container's stdio to a file (a create's VMM keeps it open), asynchronously. */
function detached(args: string[], outFile: string): Promise<number | null> {
  const fd = fs.openSync(outFile, 'a');
  const child = spawn(MOAT, ['--root', root, ...args], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

