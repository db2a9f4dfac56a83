// Cgroups on the real machine (root): placement, limits enforced by the kernel, devices (v1 rules
// and the cgroup2 eBPF program), pause/resume, update, ps, events, and clean removal.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerDeviceRules, deviceProgram, emulateDeviceRules, encodeProgram, type DeviceRule } from '../../src/policy/cgroups';
import { sys } from '../../src/sys';
import { containerSuite, makeBundle, moat, moatCgroupDirs, moatDetached, waitFor, type TestBundle } from '../helpers/moat';

const V1 = fs.existsSync('/sys/fs/cgroup/memory/cgroup.procs');
const UNIFIED = fs.existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';

let root: string;
containerSuite((r) => (root = r));

function state(id: string): Record<string, any> {
  const r = moat(root, ['state', id]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function record(id: string): { cgroups: { version: number; dirs: Record<string, string>; created: string[] } } {
  return JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8'));
}

/** A container left running in the background (create + start), its stdio in a file. */
function startDetached(id: string, b: TestBundle): void {
  const r = moatDetached(root, ['run', '--detach', '--bundle', b.dir, id], path.join(b.dir, 'out'));
  assert.equal(r.status, 0, r.stderr);
}

function withResources(args: string[], resources: Record<string, unknown>, more: (c: Record<string, any>) => void = () => undefined): TestBundle {
  return makeBundle(args, (c) => {
    c.linux.resources = { devices: [{ allow: false, access: 'rwm' }], ...resources };
    more(c);
  });
}

function cleanup(id: string, b: TestBundle): void {
  moat(root, ['delete', '--force', id]);
  b.cleanup();
}

test('the container\'s processes are in its cgroups, in every hierarchy; /sys/fs/cgroup shows only its own', () => {
  const b = withResources(['sh', '-c', 'sleep 1000 & ls /sys/fs/cgroup/memory > /dev/shm/ls; wait'], { pids: { limit: 64 } });
  try {
    startDetached('cg-place', b);
    const pid = state('cg-place').pid as number;
    const rec = record('cg-place').cgroups;
    assert.equal(rec.version, V1 ? 1 : 2);
    const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
    assert.ok(lines.length >= Object.keys(rec.dirs).length);
    for (const line of lines) assert.match(line, /:\/moat\/cg-place$/, `default path /moat/<id> in every hierarchy: ${line}`);
    for (const dir of Object.values(rec.dirs)) assert.ok(fs.existsSync(dir), dir);
    // The child too (born inside).
    const procs = fs.readFileSync(`${Object.values(rec.dirs)[0]}/cgroup.procs`, 'utf8').trim().split('\n').map(Number);
    assert.ok(procs.includes(pid) && procs.length >= 2, `init and its child: ${procs}`);
    if (V1) {
      // The bind of its own memory cgroup: limit files at the top, no host subtree (no moat/ dir).
      const ls = fs.readFileSync(`/proc/${pid}/root/dev/shm/ls`, 'utf8').split('\n');
      assert.ok(ls.includes('memory.limit_in_bytes'), ls.join(' '));
      assert.ok(!ls.includes('moat'), 'the host hierarchy is not visible');
    }
  } finally {
    cleanup('cg-place', b);
  }
});

test('an absolute linux.cgroupsPath is used as given, and delete removes every directory of every hierarchy', () => {
  const b = withResources(['sleep', '1000'], {}, (c) => {
    c.linux.cgroupsPath = '/moat-test/abs/cg-abs';
  });
  try {
    startDetached('cg-abs', b);
    const rec = record('cg-abs').cgroups;
    for (const [name, dir] of Object.entries(rec.dirs)) {
      assert.equal(dir, `/sys/fs/cgroup${name === '' ? '' : `/${name}`}/moat-test/abs/cg-abs`);
      assert.ok(fs.existsSync(dir));
    }
    assert.equal(moat(root, ['delete', '--force', 'cg-abs']).status, 0);
    for (const dir of rec.created) assert.ok(!fs.existsSync(dir), `${dir} removed`);
    assert.ok(rec.created.some((d) => d.endsWith('/moat-test')), 'parents moat created are removed too');
  } finally {
    cleanup('cg-abs', b);
  }
});

test('a memory limit is enforced: a process allocating past it is OOM-killed', () => {
  // tail keeps the last "line" of /dev/zero (no newline): 100 MiB of memory.
  const hog = ['sh', '-c', 'head -c 100m /dev/zero | tail >/dev/null && echo survived'];
  const limited = withResources(hog, { memory: { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 } });
  const free = withResources(hog, {});
  try {
    const r = moat(root, ['run', '--bundle', limited.dir, 'cg-oom']);
    assert.equal(r.status, 137, `killed by SIGKILL: ${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout, /survived/);
    const ok = moat(root, ['run', '--bundle', free.dir, 'cg-nooom']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /survived/);
  } finally {
    cleanup('cg-oom', limited);
    cleanup('cg-nooom', free);
  }
});

test('pids.limit stops a fork loop', () => {
  const loop = ['sh', '-c', 'for i in $(seq 40); do sleep 2 & done; wait; echo done'];
  const b = withResources(loop, { pids: { limit: 8 } });
  try {
    const r = moat(root, ['run', '--bundle', b.dir, 'cg-pids']);
    assert.match(r.stderr, /can't fork|Resource temporarily unavailable/, r.stderr);
  } finally {
    cleanup('cg-pids', b);
  }
  const free = withResources(loop, {});
  try {
    const r = moat(root, ['run', '--bundle', free.dir, 'cg-pids2']);
    assert.doesNotMatch(r.stderr, /can't fork/);
  } finally {
    cleanup('cg-pids2', free);
  }
});

test('cpu quota, period and shares land in the cpu files', () => {
  const b = withResources(['sleep', '1000'], { cpu: { quota: 20000, period: 50000, shares: 512 } });
  try {
    startDetached('cg-cpu', b);
    const dirs = record('cg-cpu').cgroups.dirs;
    if (V1) {
      assert.equal(fs.readFileSync(`${dirs.cpu}/cpu.cfs_quota_us`, 'utf8').trim(), '20000');
      assert.equal(fs.readFileSync(`${dirs.cpu}/cpu.cfs_period_us`, 'utf8').trim(), '50000');
      assert.equal(fs.readFileSync(`${dirs.cpu}/cpu.shares`, 'utf8').trim(), '512');
    } else {
      assert.equal(fs.readFileSync(`${dirs['']}/cpu.max`, 'utf8').trim(), '20000 50000');
      assert.equal(fs.readFileSync(`${dirs['']}/cpu.weight`, 'utf8').trim(), '20');
    }
  } finally {
    cleanup('cg-cpu', b);
  }
});

test('devices: mknod or open of a device the rules do not allow is refused (v1 devices cgroup)', { skip: !V1 && 'no v1 devices hierarchy' }, () => {
  const script = [
    'mknod /dev/t-null c 1 3 && head -c 0 /dev/t-null && echo null-ok',
    'mknod /dev/t-disk b 8 0 2>/dev/null || echo disk-mknod-denied',
    'mknod /dev/t-kmsg c 1 11 && echo kmsg-mknod-ok',
    'head -c 1 /dev/t-kmsg 2>/dev/null || echo kmsg-open-denied',
  ].join('; ');
  const b = withResources(['sh', '-c', script], { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'm' }] }, (c) => {
    for (const set of ['bounding', 'effective', 'permitted']) c.process.capabilities[set].push('CAP_MKNOD');
  });
  try {
    startDetached('cg-dev', b);
    const dirs = record('cg-dev').cgroups.dirs;
    const list = fs.readFileSync(`${dirs.devices}/devices.list`, 'utf8');
    assert.match(list, /^c 1:11 m$/m);
    assert.doesNotMatch(list, /^a /m, 'not allow-all');
    waitForText(path.join(b.dir, 'out'), 'kmsg-open-denied');
    assert.equal(fs.readFileSync(path.join(b.dir, 'out'), 'utf8'), 'null-ok\ndisk-mknod-denied\nkmsg-mknod-ok\nkmsg-open-denied\n');
  } finally {
    cleanup('cg-dev', b);
  }
});

function waitForText(file: string, text: string): void {
  const end = Date.now() + 10_000;
  while (!fs.readFileSync(file, 'utf8').includes(text)) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${text} in ${file}: ${fs.readFileSync(file, 'utf8')}`);
    spawnSync('sleep', ['0.02']);
  }
}

test('v2 device program: attached on the cgroup2 hierarchy, it denies what the rules do not allow', () => {
  const dir = `${UNIFIED}/moat-test-devprog`;
  fs.mkdirSync(dir);
  try {
    const load = (rules: DeviceRule[]) => sys().bpfProgLoadAttach(dir, encodeProgram(deviceProgram(emulateDeviceRules(rules))), 'Apache-2.0');
    load(containerDeviceRules([], []));
    assert.equal(sys().bpfProgQuery(dir).length, 1);
    const inCgroup = (cmd: string) => spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && ${cmd}`], { encoding: 'utf8' });
    const kmsg = inCgroup('exec 3</dev/kmsg && echo opened');
    assert.match(kmsg.stderr, /Operation not permitted/, kmsg.stdout + kmsg.stderr);
    assert.equal(inCgroup('exec 3</dev/null && echo opened').stdout, 'opened\n', 'allowed devices still open');
    // Replacing: the new program takes over, the old one is detached (never zero, never two).
    load(containerDeviceRules([{ allow: true, type: 'c', major: 1, minor: 11, access: 'r' }], []));
    assert.equal(sys().bpfProgQuery(dir).length, 1);
    assert.equal(inCgroup('exec 3</dev/kmsg && echo opened').stdout, 'opened\n');
  } finally {
    fs.rmdirSync(dir);
  }
});

test('a container gets its device program on the cgroup2 hierarchy too', () => {
  const b = withResources(['sleep', '1000'], {});
  try {
    startDetached('cg-prog', b);
    const rec = record('cg-prog').cgroups;
    const unified = rec.dirs[''] ?? rec.dirs.unified!;
    assert.equal(sys().bpfProgQuery(unified).length, 1);
  } finally {
    cleanup('cg-prog', b);
  }
});

test('pause freezes every process (a counter stops), state says paused; resume thaws', async () => {
  const b = withResources(['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /dev/shm/n; done'], {});
  try {
    startDetached('cg-pause', b);
    const pid = state('cg-pause').pid as number;
    const count = () => Number(fs.readFileSync(`/proc/${pid}/root/dev/shm/n`, 'utf8').trim() || '0');
    await waitFor('the counter', () => fs.existsSync(`/proc/${pid}/root/dev/shm/n`) && count() > 10);
    const p = moat(root, ['pause', 'cg-pause']);
    assert.equal(p.status, 0, p.stderr);
    assert.equal(state('cg-pause').status, 'paused');
    const frozenAt = count();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(count(), frozenAt, 'no progress while paused');
    assert.match(moat(root, ['pause', 'cg-pause']).stderr, /cannot pause it/);
    assert.equal(moat(root, ['resume', 'cg-pause']).status, 0);
    assert.equal(state('cg-pause').status, 'running');
    await waitFor('progress after resume', () => count() > frozenAt + 10);
    assert.match(moat(root, ['resume', 'cg-pause']).stderr, /is not paused \(running\)/);
    // A paused container can be deleted with --force (thawed, then killed).
    assert.equal(moat(root, ['pause', 'cg-pause']).status, 0);
    assert.match(moat(root, ['delete', 'cg-pause']).stderr, /is paused: stop it first/);
    assert.equal(moat(root, ['delete', '--force', 'cg-pause']).status, 0);
  } finally {
    cleanup('cg-pause', b);
  }
});

test('update changes limits of a live container (flags, and a resources file on stdin); errors name the field', () => {
  const b = withResources(['sleep', '1000'], { pids: { limit: 20 } });
  try {
    startDetached('cg-upd', b);
    const dirs = record('cg-upd').cgroups.dirs;
    const pidsMax = () => fs.readFileSync(`${dirs.pids ?? dirs['']}/pids.max`, 'utf8').trim();
    assert.equal(pidsMax(), '20');
    assert.equal(moat(root, ['update', '--pids-limit', '42', 'cg-upd']).status, 0);
    assert.equal(pidsMax(), '42');
    const r = moat(root, ['update', '--resources', '-', 'cg-upd'], { input: JSON.stringify({ pids: { limit: 43 }, memory: { limit: 64 * 1024 * 1024 } }) });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(pidsMax(), '43');
    const mem = V1 ? `${dirs.memory}/memory.limit_in_bytes` : `${dirs['']}/memory.max`;
    assert.equal(fs.readFileSync(mem, 'utf8').trim(), String(64 * 1024 * 1024));
    const bad = moat(root, ['update', '--resources', '-', 'cg-upd'], { input: '{"memory":{"limit":-5}}' });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'moat: update: resources.memory.limit: -5 is out of range [-1, 18446744073709552000]\n');
  } finally {
    cleanup('cg-upd', b);
  }
});

test('ps lists the container\'s pids (json, and the host\'s ps -ef filtered); kill --all uses the cgroup without a pid namespace', async () => {
  const b = withResources(['sh', '-c', 'sleep 1001 & sleep 1002 & wait'], {}, (c) => {
    c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'pid');
  });
  try {
    startDetached('cg-ps', b);
    const pid = state('cg-ps').pid as number;
    await waitFor('two children', () => (JSON.parse(moat(root, ['ps', '--format', 'json', 'cg-ps']).stdout) as number[]).length >= 3);
    const pids = JSON.parse(moat(root, ['ps', '--format', 'json', 'cg-ps']).stdout) as number[];
    assert.ok(pids.includes(pid));
    const table = moat(root, ['ps', 'cg-ps']).stdout.trim().split('\n');
    assert.match(table[0]!, /PID/);
    assert.equal(table.length, 1 + pids.length);
    assert.ok(table.some((l) => l.includes('sleep 1001')) && table.some((l) => l.includes('sleep 1002')));
    assert.ok(!table.some((l) => l.includes('node ')), 'only the container\'s rows');
    assert.equal(moat(root, ['kill', '--all', 'cg-ps', 'KILL']).status, 0);
    for (const p of pids) await waitFor(`pid ${p} to die`, () => !fs.existsSync(`/proc/${p}`) || fs.readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z'));
  } finally {
    cleanup('cg-ps', b);
  }
});

test('events --stats prints plausible numbers once; without it, every interval until the container stops', () => {
  const b = withResources(['sh', '-c', 'head -c 4000000 /dev/urandom | md5sum >/dev/null; sleep 1000'], { pids: { limit: 99 }, memory: { limit: 256 * 1024 * 1024 } });
  try {
    startDetached('cg-ev', b);
    const r = moat(root, ['events', '--stats', 'cg-ev']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const ev = JSON.parse(lines[0]!);
    assert.equal(ev.type, 'stats');
    assert.equal(ev.id, 'cg-ev');
    assert.ok(ev.data.cpu.usage.total > 0, 'cpu time used');
    assert.ok(ev.data.memory.usage.usage > 0 && ev.data.memory.usage.usage < 256 * 1024 * 1024, 'memory in use, under the limit');
    assert.equal(ev.data.memory.usage.limit, 256 * 1024 * 1024);
    assert.ok(ev.data.pids.current >= 1 && ev.data.pids.current < 10);
    assert.equal(ev.data.pids.limit, 99);
    assert.ok(Array.isArray(ev.data.blkio.ioServiceBytesRecursive));
    assert.equal(typeof ev.data.hugetlb, 'object');
  } finally {
    cleanup('cg-ev', b);
  }
  const short = withResources(['sleep', '1'], {});
  try {
    startDetached('cg-ev2', short);
    const started = Date.now();
    const r = moat(root, ['events', '--interval', '200ms', 'cg-ev2']);
    assert.equal(r.status, 0, r.stderr);
    const n = r.stdout.trim().split('\n').length;
    assert.ok(n >= 2 && n <= 8, `${n} events in ${Date.now() - started} ms`);
  } finally {
    cleanup('cg-ev2', short);
  }
});

test('a create that fails after its cgroups exist leaves none behind', () => {
  const before = moatCgroupDirs();
  const b = withResources(['true'], { pids: { limit: 10 } }, (c) => {
    c.mounts.push({ destination: '/bad', type: 'no-such-fs', source: 'none' });
  });
  try {
    const r = moat(root, ['--debug', 'create', '--bundle', b.dir, 'cg-fail']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\/moat\/cg-fail\/cgroup\.procs/, 'the executor joined the cgroup before failing');
    assert.match(r.stderr, /no-such-fs|No such device/);
    // Only this container's: other engineers' tests may run containers meanwhile.
    assert.deepEqual([...moatCgroupDirs()].filter((d) => !before.has(d) && d.includes('cg-fail')), []);
    assert.equal(moat(root, ['state', 'cg-fail']).status, 1);
  } finally {
    cleanup('cg-fail', b);
  }
});

test('--systemd-cgroup is refused with one clear line; features say cgroup v1 and v2', () => {
  const b = withResources(['true'], {}, (c) => {
    c.linux.cgroupsPath = 'system.slice:moat:x';
  });
  try {
    const r = moat(root, ['--systemd-cgroup', 'create', '--bundle', b.dir, 'cg-sd']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    assert.match(r.stderr, /--systemd-cgroup: systemd (is not running on this host|cgroup driver)/);
  } finally {
    cleanup('cg-sd', b);
  }
  const f = JSON.parse(moat(root, ['features']).stdout);
  assert.deepEqual(f.linux.cgroup, { v1: true, v2: true, systemd: false, systemdUser: false });
});
