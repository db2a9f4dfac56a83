// linux.resources on the sentry platform (issue 12, items 4 and 5): the sandbox (sentry, stubs,
// gofer) in the container's cgroups, what the application is shown (free, nproc, /proc), pause and
// resume, update, ps, events --stats, a memory hog killed.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, moatDetached, waitFor, type TestBundle } from '../helpers/moat';

const V1 = fs.existsSync('/sys/fs/cgroup/memory/cgroup.procs');
const MIB = 1024 * 1024;

let root: string;
containerSuite((r) => (root = r));

function sentryBundle(args: string[], resources: Record<string, unknown>): TestBundle {
  return makeBundle(args, (c) => {
    c.linux.resources = { ...c.linux.resources, ...resources };
    c.annotations = { ...(c.annotations ?? {}), 'dev.moat.isolation': 'sentry' };
  });
}

function record(id: string): { pid: number; cgroups?: { dirs: Record<string, string> } } {
  return JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8'));
}

function startDetached(id: string, b: TestBundle): string {
  const out = path.join(b.dir, 'out');
  const r = moatDetached(root, ['run', '--detach', '--bundle', b.dir, id], out);
  assert.equal(r.status, 0, r.stderr);
  return out;
}

function cleanup(id: string, b: TestBundle): void {
  moat(root, ['delete', '--force', id]);
  b.cleanup();
}

/** `free -m`'s total and `nproc`, as a program in the sandbox sees them. */
function parseView(stdout: string): { totalMiB: number; nproc: number; cpuinfo: number; online: string } {
  const lines = stdout.trim().split('\n');
  const mem = lines.find((l) => l.startsWith('Mem:'));
  assert.ok(mem, stdout);
  return { totalMiB: Number(mem.split(/\s+/)[1]), nproc: Number(lines.at(-3)), cpuinfo: Number(lines.at(-2)), online: lines.at(-1)! };
}

const VIEW = ['sh', '-c', 'free -m; nproc; grep -c ^processor /proc/cpuinfo; cat /sys/devices/system/cpu/online'];

test('sentry: free -m and nproc inside show the memory limit and the CPU quota; with no limits, the cpuset and 2 GiB', () => {
  const cpus = Math.min(2, os.cpus().length);
  const limited = sentryBundle(VIEW, { memory: { limit: 300 * MIB }, cpu: { quota: cpus * 100_000, period: 100_000 } });
  const one = sentryBundle(VIEW, { cpu: { quota: 50_000, period: 100_000 } });
  const free = sentryBundle(VIEW, {});
  try {
    const r = moat(root, ['run', '--bundle', limited.dir, 'sr-view']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(parseView(r.stdout), { totalMiB: 300, nproc: cpus, cpuinfo: cpus, online: cpus === 1 ? '0' : `0-${cpus - 1}` });
    const half = moat(root, ['run', '--bundle', one.dir, 'sr-view1']);
    assert.equal(half.status, 0, half.stderr);
    assert.equal(parseView(half.stdout).nproc, 1, 'half a CPU rounds up to one');
    const u = moat(root, ['run', '--bundle', free.dir, 'sr-view2']);
    assert.equal(u.status, 0, u.stderr);
    const v = parseView(u.stdout);
    assert.equal(v.totalMiB, 2048);
    assert.equal(v.nproc, os.cpus().length, 'the cpuset the sandbox inherits: the host\'s CPUs');
  } finally {
    cleanup('sr-view', limited);
    cleanup('sr-view1', one);
    cleanup('sr-view2', free);
  }
});

test('sentry: the sentry, its stubs and the gofer are in the container\'s cgroups; ps lists them; events --stats gives numbers', async () => {
  const b = sentryBundle(['sh', '-c', 'sleep 1000 & head -c 2000000 /dev/urandom | md5sum >/dev/null; wait'], { pids: { limit: 99 }, memory: { limit: 256 * MIB } });
  try {
    startDetached('sr-cg', b);
    const rec = record('sr-cg');
    assert.ok(rec.cgroups, 'cgroups recorded');
    const lines = fs.readFileSync(`/proc/${rec.pid}/cgroup`, 'utf8').trim().split('\n');
    for (const line of lines) assert.match(line, /:\/moat\/sr-cg$/, `the sentry in /moat/<id> in every hierarchy: ${line}`);
    const table = () => moat(root, ['ps', 'sr-cg']).stdout.trim().split('\n');
    await waitFor('the sleep\'s stub', () => table().filter((l) => l.includes('moat-stub')).length >= 2, 20_000);
    // The table and the JSON list, taken one after the other, agree once no process comes or goes
    // between the two (the pipeline's stubs start and end meanwhile).
    let t: string[] = [];
    let pids: number[] = [];
    await waitFor('ps and ps --format json to agree', () => {
      t = table();
      pids = JSON.parse(moat(root, ['ps', '--format', 'json', 'sr-cg']).stdout) as number[];
      return t.length === 1 + pids.length;
    }, 20_000);
    assert.match(t[0]!, /PID/);
    assert.ok(t.some((l) => l.includes('sentry.js')), t.join('\n'));
    assert.ok(t.some((l) => l.includes('moat-gofer')), t.join('\n'));
    assert.ok(pids.includes(rec.pid));
    const ev = moat(root, ['events', '--stats', 'sr-cg']);
    assert.equal(ev.status, 0, ev.stderr);
    const stats = ev.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.type === 'stats');
    assert.ok(stats, ev.stdout);
    assert.equal(stats.id, 'sr-cg');
    assert.ok(stats.data.cpu.usage.total > 0, 'cpu time used');
    assert.ok(stats.data.memory.usage.usage > 0 && stats.data.memory.usage.usage < 256 * MIB);
    assert.equal(stats.data.memory.usage.limit, 256 * MIB);
    assert.ok(stats.data.pids.current >= 3, 'sentry, gofer, stubs');
    assert.equal(stats.data.pids.limit, 99);
  } finally {
    cleanup('sr-cg', b);
  }
});

test('sentry: pause freezes the sandbox (a counter stops; a server waits on a socket), resume thaws it and the server answers; a paused sandbox can be deleted with --force', async () => {
  // The listener parks the sentry's wait on a host socket (its readiness is a signal to the
  // tracer, docs/sentry.md Scheduling): frozen and thawed with it, the counter goes on and a
  // connection made after resume reaches the server.
  const b = sentryBundle(['sh', '-c', 'nc -l -p 7001 & i=0; while true; do i=$((i+1)); echo $i; sleep 0.01; done'], {});
  try {
    const out = startDetached('sr-pause', b);
    const count = () => fs.readFileSync(out, 'utf8').trim().split('\n').length;
    await waitFor('the counter', () => count() > 5, 20_000);
    const p = moat(root, ['pause', 'sr-pause']);
    assert.equal(p.status, 0, p.stderr);
    assert.equal(JSON.parse(moat(root, ['state', 'sr-pause']).stdout).status, 'paused');
    const frozenAt = count();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(count(), frozenAt, 'no progress while paused');
    assert.equal(moat(root, ['resume', 'sr-pause']).status, 0);
    await waitFor('progress after resume', () => count() > frozenAt + 5, 20_000);
    const e = moat(root, ['exec', 'sr-pause', 'sh', '-c', 'echo over-tcp-after-resume | nc 127.0.0.1 7001'], { timeoutMs: 20_000 });
    assert.equal(e.status, 0, e.stderr);
    await waitFor('the server got it', () => fs.readFileSync(out, 'utf8').includes('over-tcp-after-resume'), 20_000);
    assert.equal(moat(root, ['pause', 'sr-pause']).status, 0);
    const d = moat(root, ['delete', '--force', 'sr-pause']);
    assert.equal(d.status, 0, d.stderr);
  } finally {
    cleanup('sr-pause', b);
  }
});

test('sentry: update changes the cgroups and what the application is shown; errors name the field', () => {
  const b = sentryBundle(['sleep', '1000'], { memory: { limit: 512 * MIB }, pids: { limit: 40 } });
  try {
    startDetached('sr-upd', b);
    const dirs = record('sr-upd').cgroups!.dirs;
    const view = () => parseView(moat(root, ['exec', 'sr-upd', ...VIEW]).stdout);
    assert.equal(view().totalMiB, 512);
    const u = moat(root, ['update', '--memory', '300m', '--pids-limit', '41', '--cpu-quota', '50000', '--cpu-period', '100000', 'sr-upd']);
    assert.equal(u.status, 0, u.stderr);
    const mem = V1 ? `${dirs.memory}/memory.limit_in_bytes` : `${dirs['']}/memory.max`;
    assert.equal(fs.readFileSync(mem, 'utf8').trim(), String(300 * MIB));
    assert.equal(fs.readFileSync(`${dirs.pids ?? dirs['']}/pids.max`, 'utf8').trim(), '41');
    const after = view();
    assert.equal(after.totalMiB, 300);
    assert.equal(after.nproc, 1);
    const bad = moat(root, ['update', '--resources', '-', 'sr-upd'], { input: '{"memory":{"limit":-5}}' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /resources\.memory\.limit: -5 is out of range/);
  } finally {
    cleanup('sr-upd', b);
  }
});

test('sentry: an application past the memory limit is killed by SIGKILL (137), as under runc', () => {
  // dd's 300 MiB buffer, filled: past a 160 MiB limit. The host's OOM killer ends the stub (the
  // sh then reports 137) or, when the sentry touched the pages itself, the sandbox (exit 137).
  const hog = ['sh', '-c', 'dd if=/dev/zero of=/dev/null bs=300M count=1 2>/dev/null; echo status $?'];
  const limited = sentryBundle(hog, { memory: { limit: 160 * MIB, swap: 160 * MIB } });
  const free = sentryBundle(hog, {});
  try {
    const r = moat(root, ['run', '--bundle', limited.dir, 'sr-oom'], { timeoutMs: 120_000 });
    assert.ok(r.status === 137 || /^status 137$/m.test(r.stdout), `killed by SIGKILL: ${r.status} ${r.stdout}${r.stderr}`);
    const ok = moat(root, ['run', '--bundle', free.dir, 'sr-nooom'], { timeoutMs: 120_000 });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^status 0$/m);
  } finally {
    cleanup('sr-oom', limited);
    cleanup('sr-nooom', free);
  }
});

test('sentry: a cgroup that cannot be set up fails create naming the field, and leaves no sentry, gofer, cgroup or state', () => {
  // The sentry and its gofer are started before the cgroups are made (the sentry's Node start
  // overlaps them; it waits for its configuration): a failure there must end both. The suite's
  // leak check sees any process, cgroup or mount left.
  const b = sentryBundle(['true'], { cpu: { cpus: String(os.cpus().length + 60) } });
  try {
    const r = moat(root, ['create', '--bundle', b.dir, 'sr-badcg']);
    assert.notEqual(r.status, 0, r.stdout);
    assert.match(r.stderr, /linux\.resources\.cpu\.cpus/);
    assert.ok(!fs.existsSync(path.join(root, 'sr-badcg')), 'no state directory left');
    assert.equal(moat(root, ['state', 'sr-badcg']).status, 1);
  } finally {
    cleanup('sr-badcg', b);
  }
});
