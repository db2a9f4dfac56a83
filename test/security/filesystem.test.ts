// Escape battery, filesystems and devices: mounting, host disks by mknod, the cgroup v1
// release_agent, leaked fds and /proc/self/fd cwds, and mount destinations raced with symlinks.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { containerSuite, snapshot, MOAT, moat } from '../helpers/moat';
import {
  SECCOMP_TODO, assertRefused, attack, cgroupAgentFiles, changedAgentFiles, doSeccompProfile, fileState, grantCaps, moatDo, removeAttacks,
  rootDevice, runAttack,
  battery, batteryBundle,
} from './helpers';

let root: string;
containerSuite((r) => (root = r), () => {
  removeAttacks();
});

const MOUNT_STEPS = [
  'tmpfs', 'proc', 'sysfs', 'bind-root', 'remount-root-rw', 'remount-root-rw-plain', 'remount-procsys-rw',
  'umount-masked-keys', 'umount-procsys', 'make-root-shared', 'ext4-host-disk', 'fsopen', 'open-tree-clone', 'pivot-root',
  'chroot',
];

battery('3. mounting anything (tmpfs, proc, bind, remount / rw, unmasking, new mount API) fails', () => {
  const before = snapshot().mounts;
  const r = runAttack(root, ['/attacks/mounts', '/dev/shm/m'], { attacks: ['mounts'] });
  assert.equal(r.status, 0, r.stderr);
  assertRefused(r.steps, MOUNT_STEPS, ['EPERM'], r.stdout);
  // And as a busybox user would try it.
  const b = runAttack(root, ['sh', '-c', 'mkdir -p /dev/shm/x; mount -t tmpfs none /dev/shm/x && echo "tmpfs ok"; mount -o remount,rw / && echo "remount ok"; mount -t proc proc /dev/shm/x && echo "proc ok"; mount --bind / /dev/shm/x && echo "bind ok"; touch /pwned 2>/dev/null && echo "root-write ok"; true']);
  assert.equal(b.status, 0, b.stderr);
  assert.doesNotMatch(b.stdout, / ok$/m);
  assert.match(b.stderr, /permission denied|Operation not permitted/i);
  assert.deepEqual(snapshot().mounts, before, 'host mount table changed');
});

/** The container's devices cgroup, from its /proc/self/cgroup ("/" = none: every device allowed). */
function devicesCgroupTodo(t: TestContext, out: Map<string, string>): void {
  if (out.get('devcg') === '/' || out.get('devcg') === undefined) {
    t.todo('cgroups (work in flight): the container is in no devices cgroup, so CAP_MKNOD reads the host disk');
  }
}

function mknodScript(major: number, minor: number): string {
  return [
    'echo "devcg $(sed -n "s/^[0-9]*:devices://p" /proc/self/cgroup)"',
    `mknod /dev/hostdisk b ${major} ${minor} 2>/dev/null && echo "mknod ok" || echo "mknod EPERM"`,
    // Only ever read: never write a host disk, even in a test that is meant to fail.
    '[ -b /dev/hostdisk ] && { head -c 4096 /dev/hostdisk 2>/dev/null | wc -c | sed "s/^/read-bytes /"; (exec 3</dev/hostdisk) 2>/dev/null && echo "open ok" || echo "open refused"; }; true',
  ].join('; ');
}

battery('5a. mknod of the host disk behind / fails without CAP_MKNOD', () => {
  const { major, minor } = rootDevice();
  const r = runAttack(root, ['sh', '-c', mknodScript(major, minor)]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.steps.get('mknod'), 'EPERM', r.stdout);
  assert.equal(r.steps.get('read-bytes'), undefined, r.stdout);
});

battery('5b. with CAP_MKNOD, a host disk node not in linux.devices cannot be read (devices cgroup)', (t) => {
  const { major, minor } = rootDevice();
  const r = runAttack(root, ['sh', '-c', mknodScript(major, minor)], { mutate: (c) => grantCaps(c, ['MKNOD']) });
  assert.equal(r.status, 0, r.stderr);
  devicesCgroupTodo(t, r.steps);
  assert.notEqual(r.steps.get('open'), 'ok', `the container opened the host disk ${major}:${minor}: ${r.stdout}`);
  assert.ok(r.steps.get('read-bytes') === '0' || r.steps.get('read-bytes') === undefined, `read the host disk: ${r.stdout}`);
});

battery('5c. `moat do` (Docker caps include CAP_MKNOD) cannot read the host disk', (t) => {
  const { major, minor } = rootDevice();
  const r = moatDo(root, ['/bin/busybox', 'sh', '-c', mknodScript(major, minor)]);
  assert.equal(r.status, 0, r.stderr);
  devicesCgroupTodo(t, r.steps);
  assert.notEqual(r.steps.get('open'), 'ok', `moat do opened the host disk ${major}:${minor}: ${r.stdout}`);
  assert.ok(r.steps.get('read-bytes') === '0' || r.steps.get('read-bytes') === undefined, `read the host disk: ${r.stdout}`);
});

const CGROUP_CONTROLLER = 'memory';

battery('7a. cgroup release_agent (CVE-2022-0492): mounting cgroup v1 and writing release_agent fail', () => {
  const agents = cgroupAgentFiles();
  assert.ok(agents.some((f) => f.endsWith('/release_agent')), 'this host has no cgroup v1 release_agent to protect?');
  const before = fileState(agents);
  const r = runAttack(root, ['/attacks/cgroup_release', '/dev/shm/cg', CGROUP_CONTROLLER], { attacks: ['cgroup_release'] });
  assert.equal(r.status, 0, r.stderr);
  // The runtime's own read-only view of the hierarchy: not writable (read-only, or no agent file there).
  assertRefused(r.steps, ['mounted-release-agent-open', 'mounted-notify-on-release-open'], ['EROFS', 'ENOENT', 'EACCES'], r.stdout);
  assertRefused(r.steps, ['direct-mount-cgroup', 'direct-mount-rdma', 'direct-mount-new-named'], ['EPERM'], r.stdout);
  // Through an unprivileged user namespace (the CVE's path; only seccomp closes that door, see 7b),
  // the kernel itself must still refuse release_agent.
  for (const [k, v] of r.steps) {
    if (/release-agent-write$/.test(k)) assert.notEqual(v, 'ok', `${k}: ${r.stdout}`);
  }
  assert.deepEqual(changedAgentFiles(before), [], 'a host cgroup release_agent/notify_on_release changed');
});

battery('7b. under the default seccomp profile the user-namespace route to a cgroup mount is closed too', { todo: SECCOMP_TODO }, () => {
  const agents = cgroupAgentFiles();
  const before = fileState(agents);
  const d = moatDo(root, [attack('cgroup_release'), '/dev/shm/cg', CGROUP_CONTROLLER]);
  assert.equal(d.status, 0, d.stderr);
  assertRefused(d.steps, ['direct-mount-cgroup', 'unshare-user-mnt-cgroup'], ['EPERM'], d.stdout);
  const profile = doSeccompProfile();
  assert.ok(profile !== undefined, 'no default seccomp profile in this build');
  const r = runAttack(root, ['/attacks/cgroup_release', '/dev/shm/cg', CGROUP_CONTROLLER], {
    attacks: ['cgroup_release'],
    mutate: (c) => {
      c.linux.seccomp = profile;
    },
  });
  assert.equal(r.status, 0, r.stderr);
  assertRefused(r.steps, ['direct-mount-cgroup', 'unshare-user-mnt-cgroup'], ['EPERM'], r.stdout);
  assert.deepEqual(changedAgentFiles(before), [], 'a host cgroup release_agent/notify_on_release changed');
});

battery('9a. no fd of the runtime reaches the container (CVE-2024-21626): only 0,1,2 (+ preserved)', () => {
  const preserved = path.join(path.dirname(root), `moat-preserved-${process.pid}.txt`);
  fs.writeFileSync(preserved, 'preserved\n');
  const fd = fs.openSync(preserved, 'r');
  // ls runs in a pipeline forked by the shell whose fds it lists: the listing opens nothing in it.
  // The shell whose fds are listed holds a pipeline's pipe ends for a moment after forking it: the
  // listing side waits a little, so only what the shell keeps for good is seen.
  const list = (pid: string, label: string) => `(sleep 0.3; ls -l /proc/${pid}/fd) | sed -n "s|.* \\([0-9]*\\) -> \\(.*\\)|${label} \\1 \\2|p"`;
  const b = batteryBundle(['sh', '-c', `${list('1', 'fd')}; sh -c '${list('$$', 'childfd')}'`]);
  try {
    const run = (extra: string[], stdio: StdioOptions) =>
      spawnSync(MOAT, ['--root', root, 'run', ...extra, '--bundle', b.dir, `sec-fd-${process.hrtime.bigint()}`], { encoding: 'utf8', stdio, timeout: 30_000 });
    const plain = run([], ['ignore', 'pipe', 'pipe']);
    assert.equal(plain.status, 0, plain.stderr);
    const lines = plain.stdout.trim().split('\n');
    assert.deepEqual(lines.filter((l) => l.startsWith('fd ')).map((l) => l.split(' ')[1]), ['0', '1', '2'], plain.stdout);
    assert.deepEqual(lines.filter((l) => l.startsWith('childfd ')).map((l) => l.split(' ')[1]), ['0', '1', '2'], plain.stdout);
    for (const l of lines) {
      const target = l.split(' ').slice(2).join(' ');
      assert.match(target, /^(\/dev\/null|pipe:\[\d+\]|socket:\[\d+\])$/, `an fd points somewhere unexpected: ${l}`);
    }
    const withFd = run(['--preserve-fds', '1'], ['ignore', 'pipe', 'pipe', fd]);
    assert.equal(withFd.status, 0, withFd.stderr);
    const l2 = withFd.stdout.trim().split('\n').filter((l) => l.startsWith('fd '));
    assert.deepEqual(l2.map((l) => l.split(' ')[1]), ['0', '1', '2', '3'], withFd.stdout);
    assert.equal(l2[3]!.split(' ')[2], preserved, withFd.stdout);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(preserved, { force: true });
    b.cleanup();
  }
});

battery('9b. process.cwd = /proc/self/fd/N never lands outside the rootfs', () => {
  for (const n of [3, 4, 5, 6, 7, 8, 9, 10]) {
    const r = runAttack(root, ['sh', '-c', 'echo "cwd $(pwd)"; ls -a . .. ../.. 2>&1 | tr "\\n" " "; echo'], {
      mutate: (c) => {
        c.process.cwd = `/proc/self/fd/${n}`;
      },
    });
    // Either moat refuses the cwd (the in-root resolution does not follow /proc magic links), or the
    // process runs somewhere inside its own root: it must never see the host's directories.
    if (r.status === 0) {
      assert.doesNotMatch(r.stdout, /\bwork\b|moat-root-|moat-bundle-|node_modules/, `fd ${n}: the cwd is on the host: ${r.stdout}`);
    } else {
      assert.match(r.stderr, /proc\/self\/fd|Too many levels|ELOOP|No such|not a directory|symbolic/i, `fd ${n}: ${r.stderr}`);
    }
  }
});

battery('10. a mount destination raced with a symlink to a host directory (CVE-2021-30465), 50 runs', async () => {
  const target = fs.mkdtempSync(path.join(path.dirname(root), 'moat-race-target-'));
  const before = snapshot().mounts;
  const b = batteryBundle(['sh', '-c', 'touch /racedir/pwned-$$ 2>/dev/null; true'], (c) => {
    c.mounts.push({ destination: '/racedir', type: 'tmpfs', source: 'tmpfs', options: ['size=64k'] });
  });
  const dir = path.join(b.rootfs, 'racedir');
  const link = path.join(b.rootfs, 'racelink');
  fs.mkdirSync(dir);
  const swappers: ReturnType<typeof spawn>[] = [];
  try {
    for (const [i, symlinkTarget] of [target, `../../../../../../../../..${target}`].entries()) {
      fs.rmSync(link, { force: true, recursive: true });
      if (!fs.existsSync(dir) || fs.lstatSync(dir).isSymbolicLink()) {
        fs.rmSync(dir, { force: true, recursive: true });
        fs.mkdirSync(dir);
      }
      fs.symlinkSync(symlinkTarget, link);
      const swapper = spawn(attack('race_swap'), [dir, link], { stdio: ['ignore', 'pipe', 'inherit'] });
      swappers.push(swapper);
      await new Promise<void>((resolve) => swapper.stdout!.once('data', () => resolve()));
      let ran = 0;
      for (let k = 0; k < 25; k++) {
        const r = moat(root, ['run', '--bundle', b.dir, `sec-race-${i}-${k}-${process.hrtime.bigint()}`]);
        if (r.status === 0) ran++;
        assert.deepEqual(fs.readdirSync(target), [], `run ${i}/${k}: a file reached the host directory`);
      }
      swapper.kill('SIGKILL');
      await new Promise((resolve) => swapper.once('exit', resolve));
      // Some runs must have raced through mount set-up for the test to mean anything.
      assert.ok(ran > 0, 'no run succeeded at all');
    }
    assert.deepEqual(fs.readdirSync(target), []);
    assert.deepEqual(snapshot().mounts, before, 'host mount table changed');
  } finally {
    for (const s of swappers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
    b.cleanup();
    fs.rmSync(target, { recursive: true, force: true });
  }
});
