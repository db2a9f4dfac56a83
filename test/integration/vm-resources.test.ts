// Resources on the vm platform (issue 12, items 4 and 5), on one VM (a boot is the cost under TCG):
// free -m and nproc in the guest follow the limits, pause freezes QEMU (a counter stops), ps lists
// the VMM, events --stats gives the container's own figures from its cgroup in the guest (QEMU's host
// cgroup while paused), update changes its CPU time and refuses what a running VM cannot change,
// naming the field.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, waitFor, MOAT } from '../helpers/moat';

const V1 = fs.existsSync('/sys/fs/cgroup/cpu/cgroup.procs');
const MIB = 1024 * 1024;
const VM_TIMEOUT = 180_000;
const hasKernel = fs.existsSync('/boot') && fs.readdirSync('/boot').some((n) => /^vmlinuz-.*-cloud-amd64$/.test(n));
const skip = hasKernel ? false : 'linux-image-cloud-amd64 is not installed (sh scripts/setup.sh test)';

let root: string;
containerSuite(
  (r) => {
    root = r;
    // Base images of this file's bundles in its own vm cache (removed below), not /var/lib/moat.
    process.env.MOAT_VM_IMAGES = path.join(r, '@vm', 'images');
  },
  () => fs.rmSync(path.join(root, '@vm'), { recursive: true, force: true }),
);

test('vm resources: free/nproc in the guest, pause/resume, ps, events --stats (the guest\'s figures; the host\'s while paused), update of the CPU time (memory refused); nothing left', { skip, timeout: VM_TIMEOUT }, async () => {
  const b = makeBundle(['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done'], (c) => {
    c.linux.resources = { memory: { limit: 192 * MIB }, cpu: { quota: 100000, period: 100000 } };
  });
  const out = path.join(b.dir, 'out');
  try {
    const fd = fs.openSync(out, 'a');
    const r = spawnSync(MOAT, ['--root', root, '--isolation', 'vm', 'run', '--detach', '--bundle', b.dir, 'vm-res'], { stdio: ['ignore', fd, fd], timeout: VM_TIMEOUT });
    fs.closeSync(fd);
    assert.equal(r.status, 0, fs.readFileSync(out, 'utf8'));
    const count = () => fs.readFileSync(out, 'utf8').trim().split('\n').length;
    await waitFor('the counter', () => count() > 5, 60_000);

    // The guest is sized from the limits: one vCPU; its memory is the limit plus the guest's own 128 MiB.
    const view = moat(root, ['exec', 'vm-res', 'sh', '-c', 'free -m | grep ^Mem:; nproc'], { timeoutMs: 60_000 });
    assert.equal(view.status, 0, view.stderr);
    const [mem, nproc] = view.stdout.trim().split('\n');
    const total = Number(mem!.split(/\s+/)[1]);
    assert.ok(total > 192 && total <= 320, `guest memory ${total} MiB: 192 + at most 128`);
    assert.equal(nproc, '1');

    // ps: the VMM, from its host cgroup.
    const vmm = JSON.parse(moat(root, ['state', 'vm-res']).stdout).pid as number;
    const pids = JSON.parse(moat(root, ['ps', '--format', 'json', 'vm-res']).stdout) as number[];
    assert.ok(pids.includes(vmm), `${pids} includes the VMM ${vmm}`);
    assert.ok(moat(root, ['ps', 'vm-res']).stdout.includes('qemu-system'));

    // events --stats: the container's own figures, from its cgroup in the guest: its memory limit
    // (QEMU's host cgroup has none), its CPU time, its processes (the shell, now and then a sleep).
    const statsOf = () => {
      const ev = moat(root, ['events', '--stats', 'vm-res'], { timeoutMs: 60_000 });
      assert.equal(ev.status, 0, ev.stderr);
      const s = JSON.parse(ev.stdout.trim().split('\n')[0]!);
      assert.equal(s.type, 'stats');
      return s.data;
    };
    const stats = statsOf();
    assert.equal(stats.memory.usage.limit, 192 * MIB, 'the guest cgroup\'s memory.max');
    assert.ok(stats.memory.usage.usage > 0 && stats.memory.usage.usage < 192 * MIB, `usage ${stats.memory.usage.usage}`);
    assert.ok(stats.cpu.usage.total > 0);
    assert.ok(stats.pids.current >= 1 && stats.pids.current <= 3, `pids ${stats.pids.current}`);
    assert.ok(typeof stats.memory.raw.anon === 'number', 'memory.stat as cgroup v2 names it');

    // pause: the whole VM stands still; resume: it goes on.
    const p = moat(root, ['pause', 'vm-res']);
    assert.equal(p.status, 0, p.stderr);
    assert.equal(JSON.parse(moat(root, ['state', 'vm-res']).stdout).status, 'paused');
    const frozenAt = count();
    // A paused guest cannot answer: the stats are QEMU's host cgroup's (the guest RAM it touched, its threads).
    const host = statsOf();
    assert.ok(host.memory.usage.usage > 16 * MIB, 'the guest RAM QEMU touched');
    assert.ok(host.pids.current >= 2, 'QEMU\'s threads');
    await new Promise((res) => setTimeout(res, 1000));
    assert.equal(count(), frozenAt, 'no progress while paused');
    assert.equal(moat(root, ['resume', 'vm-res']).status, 0);
    await waitFor('progress after resume', () => count() > frozenAt + 3, 30_000);

    // update: QEMU's CPU time changes; memory is fixed at boot.
    const u = moat(root, ['update', '--cpu-quota', '150000', '--cpu-period', '100000', 'vm-res']);
    assert.equal(u.status, 0, u.stderr);
    const dirs = JSON.parse(fs.readFileSync(path.join(root, 'vm-res', 'state.json'), 'utf8')).cgroups.dirs as Record<string, string>;
    if (V1) {
      const cpu = Object.entries(dirs).find(([n]) => n.split(',').includes('cpu'))![1];
      assert.equal(fs.readFileSync(`${cpu}/cpu.cfs_quota_us`, 'utf8').trim(), '150000');
    } else {
      assert.equal(fs.readFileSync(`${dirs['']}/cpu.max`, 'utf8').trim(), '150000 100000');
    }
    const m = moat(root, ['update', '--memory', '64m', 'vm-res']);
    assert.equal(m.status, 2);
    assert.match(m.stderr, /resources\.memory: cannot be changed on a running vm/);

    // A paused VM is deleted with --force, its cgroups with it (the suite's leak check).
    assert.equal(moat(root, ['pause', 'vm-res']).status, 0);
    const d = moat(root, ['delete', '--force', 'vm-res']);
    assert.equal(d.status, 0, d.stderr);
    assert.ok(!fs.existsSync(path.join(root, 'vm-res')));
  } finally {
    moat(root, ['delete', '--force', 'vm-res']);
    b.cleanup();
  }
});
