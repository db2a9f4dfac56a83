// Cgroups without root: path resolution, resources → files for v1 and v2, validation errors naming
// the field, device rules, and the eBPF device program run in a small interpreter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ACCESS, blkioWeightToIoWeight, cgroupLayout, collectStats, containerDeviceRules, cpuMaxValue, deviceAllowed, deviceProgram,
  emulateDeviceRules, encodeProgram, expandSlice, hierarchyDir, joinOps, parseIoStatV2, parseProcCgroup, parseResources,
  planCgroups, resolveCgroupPath, sharesToWeight, statsJson, swapMaxValue, systemdCgroupPath, v1Writes, v2Writes, weightToShares,
  type CgroupFiles, type DeviceRule, type ResourceWrite,
} from '../../src/policy/cgroups';
import { planMount, type CgroupHierarchy, type HostFacts } from '../../src/policy/plan';
import { ConfigError, MoatError } from '../../src/util/errors';
import { filterPsOutput } from '../../src/cli/ps';
import { parseDuration } from '../../src/cli/events';
import { parseBytes } from '../../src/cli/update';
import { devAccessType, runDeviceProgram } from '../helpers/bpf';

const HYBRID: CgroupHierarchy[] = [
  { name: 'cpu', type: 'cgroup', options: 'cpu' },
  { name: 'cpuacct', type: 'cgroup', options: 'cpuacct' },
  { name: 'cpuset', type: 'cgroup', options: 'cpuset' },
  { name: 'memory', type: 'cgroup', options: 'memory' },
  { name: 'devices', type: 'cgroup', options: 'devices' },
  { name: 'freezer', type: 'cgroup', options: 'freezer' },
  { name: 'blkio', type: 'cgroup', options: 'blkio' },
  { name: 'pids', type: 'cgroup', options: 'pids' },
  { name: 'systemd', type: 'cgroup', options: 'xattr,name=systemd' },
  { name: 'unified', type: 'cgroup2', options: '' },
];
const UNIFIED: CgroupHierarchy[] = [{ name: '', type: 'cgroup2', options: 'nsdelegate' }];

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.field;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

const files = (ws: ResourceWrite[]) => ws.map((w) => `${w.file}=${w.value}`);

// ---- paths ----

test('cgroupsPath: default /moat/<id>, absolute, relative (below moat\'s own cgroup), no .. or root', () => {
  const base = { id: 'c1', systemdCgroup: false, systemdRunning: false };
  assert.deepEqual(resolveCgroupPath({ ...base, cgroupsPath: undefined }), { kind: 'absolute', path: '/moat/c1' });
  assert.deepEqual(resolveCgroupPath({ ...base, cgroupsPath: '' }), { kind: 'absolute', path: '/moat/c1' });
  assert.deepEqual(resolveCgroupPath({ ...base, cgroupsPath: '/kubepods//pod1/./c1/' }), { kind: 'absolute', path: '/kubepods/pod1/c1' });
  assert.deepEqual(resolveCgroupPath({ ...base, cgroupsPath: 'a/b' }), { kind: 'relative', path: 'a/b' });
  assert.equal(fieldOf(() => resolveCgroupPath({ ...base, cgroupsPath: '/a/../../etc' })), 'linux.cgroupsPath');
  assert.equal(fieldOf(() => resolveCgroupPath({ ...base, cgroupsPath: '/' })), 'linux.cgroupsPath');
  assert.equal(hierarchyDir('/sys/fs/cgroup/memory', '/process_api/x', { kind: 'relative', path: 'a/b' }), '/sys/fs/cgroup/memory/process_api/x/a/b');
  assert.equal(hierarchyDir('/sys/fs/cgroup/memory', '/process_api/x', { kind: 'absolute', path: '/a' }), '/sys/fs/cgroup/memory/a');
  assert.equal(hierarchyDir('/sys/fs/cgroup', '/', { kind: 'relative', path: 'a' }), '/sys/fs/cgroup/a');
});

test('--systemd-cgroup: slice:prefix:name expands like systemd; refused with one line either way', () => {
  assert.equal(expandSlice('system.slice'), '/system.slice');
  assert.equal(expandSlice('a-b-c.slice'), '/a.slice/a-b.slice/a-b-c.slice');
  assert.equal(expandSlice('-.slice'), '');
  assert.equal(systemdCgroupPath('system.slice:docker:abc', 'x'), '/system.slice/docker-abc.scope');
  assert.equal(systemdCgroupPath('', 'x'), '/system.slice/moat-x.scope');
  assert.equal(fieldOf(() => systemdCgroupPath('/a/b', 'x')), 'linux.cgroupsPath');
  assert.equal(fieldOf(() => systemdCgroupPath('nope:p:n', 'x')), 'linux.cgroupsPath');
  const off = () => resolveCgroupPath({ id: 'x', cgroupsPath: 'system.slice:p:n', systemdCgroup: true, systemdRunning: false });
  assert.throws(off, (e: MoatError) => /^--systemd-cgroup: systemd is not running on this host/.test(e.message) && !e.message.includes('\n'));
  const on = () => resolveCgroupPath({ id: 'x', cgroupsPath: 'system.slice:p:n', systemdCgroup: true, systemdRunning: true });
  assert.throws(on, /systemd cgroup driver .* is not implemented.*\/system\.slice\/p-n\.scope/);
});

test('layout: hybrid is v1 with a cgroup2 beside it; unified is v2; own cgroups from /proc/self/cgroup', () => {
  const hybrid = cgroupLayout(HYBRID);
  assert.equal(hybrid.version, 1);
  assert.equal(hybrid.unified, '/sys/fs/cgroup/unified');
  assert.deepEqual(hybrid.v1.find((h) => h.name === 'systemd')?.controllers, ['name=systemd']);
  const v2 = cgroupLayout(UNIFIED);
  assert.equal(v2.version, 2);
  assert.deepEqual(v2.v1, []);
  const own = parseProcCgroup('4:memory:/process_api/x\n1:cpu,cpuacct:/\n0::/user.slice\n');
  assert.equal(own.get('memory'), '/process_api/x');
  assert.equal(own.get(''), '/user.slice');
});

test('plan: hybrid host joins every hierarchy plus cgroup2, and filters devices on both', () => {
  const own = parseProcCgroup('9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n4:memory:/process_api/x\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n');
  const plan = planCgroups({
    layout: cgroupLayout(HYBRID), own, path: { kind: 'absolute', path: '/moat/c1' },
    resources: parseResources({ memory: { limit: 1 << 20 } }), linuxDevices: [],
  });
  assert.equal(plan.version, 1);
  assert.equal(plan.dirs.memory, '/sys/fs/cgroup/memory/moat/c1');
  assert.equal(plan.dirs.unified, '/sys/fs/cgroup/unified/moat/c1');
  assert.equal(Object.keys(plan.dirs).length, 10);
  assert.ok(plan.writes.some((w) => w.path === '/sys/fs/cgroup/memory/moat/c1/memory.limit_in_bytes' && w.value === '1048576'));
  assert.equal(plan.writes.find((w) => w.file.startsWith('devices.'))?.value, 'a', 'deny everything first');
  assert.equal(plan.deviceProgram?.dir, '/sys/fs/cgroup/unified/moat/c1');
  assert.deepEqual(joinOps({ memory: '/m/x' }), [{ op: 'write', path: '/m/x/cgroup.procs', data: '0' }]);
  const rel = planCgroups({ layout: cgroupLayout(HYBRID), own, path: { kind: 'relative', path: 'c1' }, resources: parseResources({}), linuxDevices: [] });
  assert.equal(rel.dirs.memory, '/sys/fs/cgroup/memory/process_api/x/c1');
  // hugetlb is not mounted on this host: naming the field beats a confusing ENOENT.
  const huge = () => planCgroups({ layout: cgroupLayout(HYBRID), own, path: { kind: 'absolute', path: '/a' }, resources: parseResources({ hugepageLimits: [{ pageSize: '2MB', limit: 1 }] }), linuxDevices: [] });
  assert.equal(fieldOf(huge), 'linux.resources.hugepageLimits[0]');
  const unified = () => planCgroups({ layout: cgroupLayout(HYBRID), own, path: { kind: 'absolute', path: '/a' }, resources: parseResources({ unified: { 'memory.high': '1' } }), linuxDevices: [] });
  assert.equal(fieldOf(unified), 'linux.resources.unified.memory.high');
});

test('plan: unified host writes v2 files in one directory and enables the controllers it needs', () => {
  const plan = planCgroups({
    layout: cgroupLayout(UNIFIED), own: new Map(), path: { kind: 'absolute', path: '/moat/c1' },
    resources: parseResources({ pids: { limit: 10 }, unified: { 'misc.max': 'x 1' } }), linuxDevices: [],
  });
  assert.deepEqual(plan.dirs, { '': '/sys/fs/cgroup/moat/c1' });
  assert.deepEqual(plan.writes.map((w) => w.path), ['/sys/fs/cgroup/moat/c1/pids.max', '/sys/fs/cgroup/moat/c1/misc.max']);
  assert.ok(plan.controllers.includes('pids') && plan.controllers.includes('memory') && plan.controllers.includes('misc'));
  assert.equal(plan.deviceProgram?.dir, '/sys/fs/cgroup/moat/c1');
});

// ---- resources → files ----

const FULL = {
  memory: { limit: 104857600, reservation: 52428800, swap: 209715200, swappiness: 10, disableOOMKiller: true, kernel: 1, kernelTCP: 1 },
  cpu: { shares: 1024, quota: 50000, period: 100000, burst: 1000, realtimeRuntime: 950, realtimePeriod: 1000, cpus: '0-1', mems: '0', idle: 1 },
  pids: { limit: 100 },
  blockIO: {
    weight: 500, leafWeight: 300,
    weightDevice: [{ major: 8, minor: 0, weight: 600, leafWeight: 200 }],
    throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }],
    throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 2000 }],
    throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 30 }],
    throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 40 }],
  },
  hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }],
};

test('v1: every resource maps to its file, in a working order', () => {
  const r = parseResources(FULL);
  assert.equal(r.ignored.length, 2, 'kernel and kernelTCP are ignored with a reason');
  assert.deepEqual(files(v1Writes(r, undefined)), [
    'memory.limit_in_bytes=104857600', 'memory.memsw.limit_in_bytes=209715200', 'memory.soft_limit_in_bytes=52428800',
    'memory.swappiness=10', 'memory.oom_control=1',
    'cpu.shares=1024', 'cpu.cfs_period_us=100000', 'cpu.cfs_quota_us=50000', 'cpu.cfs_burst_us=1000',
    'cpu.rt_period_us=1000', 'cpu.rt_runtime_us=950', 'cpu.idle=1', 'cpuset.cpus=0-1', 'cpuset.mems=0',
    'pids.max=100',
    'blkio.weight=500', 'blkio.leaf_weight=300', 'blkio.weight_device=8:0 600', 'blkio.leaf_weight_device=8:0 200',
    'blkio.throttle.read_bps_device=8:0 1000', 'blkio.throttle.write_bps_device=8:0 2000',
    'blkio.throttle.read_iops_device=8:0 30', 'blkio.throttle.write_iops_device=8:0 40',
    'hugetlb.2MB.limit_in_bytes=4194304',
  ]);
  const controllers = new Set(v1Writes(r, undefined).map((w) => w.controller));
  assert.deepEqual([...controllers].sort(), ['blkio', 'cpu', 'cpuset', 'hugetlb', 'memory', 'pids']);
  assert.deepEqual(files(v1Writes(parseResources({ memory: { limit: -1 }, pids: { limit: -1 }, cpu: { quota: -1 } }), undefined)), [
    'memory.limit_in_bytes=-1', 'cpu.cfs_quota_us=-1', 'pids.max=max',
  ]);
  // 2^63-1 arrives from JSON as 2^63: unlimited.
  assert.deepEqual(files(v1Writes(parseResources(JSON.parse('{"memory":{"limit":9223372036854775807}}')), undefined)), ['memory.limit_in_bytes=-1']);
});

test('v2: every resource maps to its file, with runc\'s conversions', () => {
  const ignored: string[] = [];
  const { realtimeRuntime: _a, realtimePeriod: _b, ...cpu } = FULL.cpu;
  const r = parseResources({ ...FULL, cpu, unified: { 'memory.high': '90000000' } });
  assert.deepEqual(files(v2Writes(r, 'linux.resources', ignored)), [
    'memory.swap.max=104857600', 'memory.max=104857600', 'memory.low=52428800',
    'cpu.weight=39', 'cpu.max=50000 100000', 'cpu.max.burst=1000', 'cpu.idle=1', 'cpuset.cpus=0-1', 'cpuset.mems=0',
    'pids.max=100',
    `io.weight=default ${blkioWeightToIoWeight(500)}`, `io.weight=8:0 ${blkioWeightToIoWeight(600)}`,
    'io.max=8:0 rbps=1000', 'io.max=8:0 wbps=2000', 'io.max=8:0 riops=30', 'io.max=8:0 wiops=40',
    'hugetlb.2MB.max=4194304',
    'memory.high=90000000',
  ]);
  assert.equal(ignored.length, 3, 'swappiness, disableOOMKiller, leafWeight have no v2 file');
  assert.equal(fieldOf(() => v2Writes(parseResources({ cpu: { realtimeRuntime: 5 } }))), 'linux.resources.cpu.realtimeRuntime');
  assert.deepEqual(files(v2Writes(parseResources({ memory: { limit: -1 }, pids: { limit: -1 } }))), ['memory.swap.max=max', 'memory.max=max', 'pids.max=max']);
});

test('v2 conversions: shares↔weight, cpu.max, swap', () => {
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(262144), 10000);
  assert.equal(sharesToWeight(1), 1, 'clamped to the v1 minimum');
  assert.equal(sharesToWeight(0), 0, 'unset');
  assert.equal(weightToShares(1), 2);
  assert.equal(weightToShares(10000), 262144);
  for (const s of [2, 100, 1024, 4096, 100000, 262144]) assert.ok(Math.abs(weightToShares(sharesToWeight(s)) - s) <= 27, `round trip of ${s}`);
  assert.equal(blkioWeightToIoWeight(10), 1);
  assert.equal(blkioWeightToIoWeight(1000), 10000);
  assert.equal(cpuMaxValue({ quota: 20000 }), '20000');
  assert.equal(cpuMaxValue({ period: 50000 }), 'max 50000');
  assert.equal(cpuMaxValue({ quota: -1, period: 50000 }), 'max 50000');
  assert.equal(cpuMaxValue({}), undefined);
  assert.equal(swapMaxValue(300, 100, 'f'), '200');
  assert.equal(swapMaxValue(-1, 100, 'f'), 'max');
  assert.equal(swapMaxValue(undefined, -1, 'f'), 'max');
  assert.equal(swapMaxValue(undefined, 100, 'f'), undefined);
  assert.equal(fieldOf(() => swapMaxValue(300, undefined, 'linux.resources.memory.swap')), 'linux.resources.memory.swap');
});

test('validation names the field', () => {
  const cases: [unknown, string][] = [
    [{ memory: { limit: -5 } }, 'linux.resources.memory.limit'],
    [{ memory: { limit: 'big' } }, 'linux.resources.memory.limit'],
    [{ memory: { limit: 200, swap: 100 } }, 'linux.resources.memory.swap'],
    [{ memory: { swappiness: 101 } }, 'linux.resources.memory.swappiness'],
    [{ cpu: { period: 10 } }, 'linux.resources.cpu.period'],
    [{ cpu: { quota: 5 } }, 'linux.resources.cpu.quota'],
    [{ cpu: { cpus: '0-a' } }, 'linux.resources.cpu.cpus'],
    [{ cpu: { idle: 2 } }, 'linux.resources.cpu.idle'],
    [{ pids: { limit: 1.5 } }, 'linux.resources.pids.limit'],
    [{ pids: {} }, 'linux.resources.pids.limit'],
    [{ blockIO: { weight: 5 } }, 'linux.resources.blockIO.weight'],
    [{ blockIO: { throttleReadBpsDevice: [{ major: 8, rate: 1 }] } }, 'linux.resources.blockIO.throttleReadBpsDevice[0].minor'],
    [{ hugepageLimits: [{ pageSize: '2M', limit: 1 }] }, 'linux.resources.hugepageLimits[0].pageSize'],
    [{ devices: [{ allow: true, type: 'x' }] }, 'linux.resources.devices[0].type'],
    [{ devices: [{ allow: true, access: 'rx' }] }, 'linux.resources.devices[0].access'],
    [{ devices: [{ access: 'r' }] }, 'linux.resources.devices[0].allow'],
    [{ devices: [{ allow: true, type: 'a', major: 1 }] }, 'linux.resources.devices[0]'],
    [{ unified: { 'cgroup.procs': '1' } }, 'linux.resources.unified.cgroup.procs'],
    [{ unified: { 'memory.high': 5 } }, 'linux.resources.unified.memory.high'],
    [[], 'linux.resources'],
  ];
  for (const [raw, field] of cases) assert.equal(fieldOf(() => parseResources(raw)), field, JSON.stringify(raw));
  assert.match(String((() => { try { parseResources({ memory: { limit: -5 } }); } catch (e) { return (e as Error).message; } })()), /^config\.json: linux\.resources\.memory\.limit: -5 is out of range/);
  assert.equal(fieldOf(() => parseResources({ pids: { limit: 'x' } }, 'resources')), 'resources.pids.limit');
});

// ---- devices ----

const rule = (allow: boolean, type: DeviceRule['type'], major: number, minor: number, access = 'rwm'): DeviceRule => ({ allow, type, major, minor, access });
const R = ACCESS.r;
const W = ACCESS.w;
const M = ACCESS.m;

function programOf(rules: DeviceRule[]): Buffer {
  return encodeProgram(deviceProgram(emulateDeviceRules(rules)));
}

function allowedByProgram(prog: Buffer, type: 'c' | 'b', major: number, minor: number, access: number): boolean {
  return runDeviceProgram(prog, { accessType: devAccessType(type, access), major, minor }) === 1;
}

test('device rules: the container list starts with deny-all and ends with moat\'s own devices', () => {
  const rules = containerDeviceRules([rule(false, 'c', 1, 3)], [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229 }]);
  assert.deepEqual(rules[0], rule(false, 'a', -1, -1));
  const state = emulateDeviceRules(rules);
  assert.equal(state.defaultAllow, false);
  assert.ok(deviceAllowed(state, 'c', 1, 3, R | W), 'the spec cannot lock /dev/null away: built-ins come last');
  assert.ok(deviceAllowed(state, 'c', 10, 229, R), 'linux.devices are allowed');
  assert.ok(deviceAllowed(state, 'c', 136, 7, R | W), '/dev/pts/*');
  assert.ok(!deviceAllowed(state, 'b', 8, 0, R), 'a disk is not');
  assert.ok(!deviceAllowed(state, 'c', 1, 1, R), '/dev/mem is not');
  assert.ok(!deviceAllowed(state, 'c', 10, 200, M), 'no mknod of anything else');
  const v1 = v1Writes(parseResources({}), rules).map((w) => `${w.file} ${w.value}`);
  assert.deepEqual(v1.slice(0, 3), ['devices.deny a', 'devices.deny c 1:3 rwm', 'devices.allow c 1:3 rwm']);
  assert.ok(v1.includes('devices.allow c 136:* rwm'));
});

const SCENARIOS: { name: string; rules: DeviceRule[]; checks: [type: 'c' | 'b', major: number, minor: number, access: number, allowed: boolean][] }[] = [
  { name: 'empty list: the kernel root default, allow', rules: [], checks: [['c', 1, 1, R, true], ['b', 8, 0, W | M, true]] },
  { name: 'deny all', rules: [rule(false, 'a', -1, -1)], checks: [['c', 1, 3, R, false], ['b', 8, 0, M, false]] },
  {
    name: 'deny all, then allow one device read-only',
    rules: [rule(false, 'a', -1, -1), rule(true, 'c', 1, 3, 'r')],
    checks: [['c', 1, 3, R, true], ['c', 1, 3, W, false], ['c', 1, 3, R | W, false], ['b', 1, 3, R, false], ['c', 1, 4, R, false]],
  },
  {
    name: 'wildcards: any minor, any major',
    rules: [rule(false, 'a', -1, -1), rule(true, 'c', 136, -1), rule(true, 'b', -1, -1, 'm')],
    checks: [['c', 136, 0, R | W, true], ['c', 136, 99, R, true], ['c', 137, 0, R, false], ['b', 8, 0, M, true], ['b', 259, 1, M, true], ['b', 8, 0, R, false]],
  },
  {
    name: 'order: a later deny-all wipes earlier allows',
    rules: [rule(true, 'c', 1, 3), rule(false, 'a', -1, -1)],
    checks: [['c', 1, 3, R, false]],
  },
  {
    name: 'order: allow all, then deny some (default-allow mode, any overlap denies)',
    rules: [rule(true, 'a', -1, -1), rule(false, 'c', 1, -1, 'w'), rule(false, 'b', 8, 0)],
    checks: [['c', 1, 3, R, true], ['c', 1, 3, W, false], ['c', 1, 3, R | W, false], ['b', 8, 0, R, false], ['b', 8, 1, R, true], ['c', 5, 0, W, true]],
  },
  {
    name: 'deny after allow removes access bits of the exact same rule only (no hole punching)',
    rules: [rule(false, 'a', -1, -1), rule(true, 'c', 1, 3), rule(true, 'c', 1, -1, 'r'), rule(false, 'c', 1, 3, 'w'), rule(false, 'c', 1, 5)],
    checks: [['c', 1, 3, R, true], ['c', 1, 3, W, false], ['c', 1, 3, M, true], ['c', 1, 5, R, true], ['c', 1, 5, W, false]],
  },
  {
    name: 'allow in default-allow mode removes a denial',
    rules: [rule(true, 'a', -1, -1), rule(false, 'c', 1, 3), rule(true, 'c', 1, 3, 'rw')],
    checks: [['c', 1, 3, R, true], ['c', 1, 3, W, true], ['c', 1, 3, M, false]],
  },
];

test('device program: allow/deny defaults, wildcards, rule order (runc\'s semantics), run in an eBPF interpreter', () => {
  for (const s of SCENARIOS) {
    const prog = programOf(s.rules);
    const state = emulateDeviceRules(s.rules);
    for (const [type, major, minor, access, allowed] of s.checks) {
      const what = `${s.name}: ${type} ${major}:${minor} access ${access}`;
      assert.equal(allowedByProgram(prog, type, major, minor, access), allowed, `program, ${what}`);
      assert.equal(deviceAllowed(state, type, major, minor, access), allowed, `reference, ${what}`);
    }
  }
});

test('device program equals the kernel v1 semantics on random rule lists', () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)]!;
  for (let round = 0; round < 200; round++) {
    const rules: DeviceRule[] = [];
    for (let i = 0; i < 1 + rand(8); i++) {
      if (rand(6) === 0) rules.push(rule(rand(2) === 0, 'a', -1, -1));
      else rules.push(rule(rand(2) === 0, pick(['c', 'b'] as const), pick([-1, 1, 5]), pick([-1, 3, 9]), pick(['r', 'w', 'm', 'rw', 'rwm', 'wm'])));
    }
    const prog = programOf(rules);
    const state = emulateDeviceRules(rules);
    for (const type of ['c', 'b'] as const) {
      for (const major of [1, 5, 7]) {
        for (const minor of [3, 9, 11]) {
          for (const access of [R, W, M, R | W, R | W | M]) {
            assert.equal(allowedByProgram(prog, type, major, minor, access), deviceAllowed(state, type, major, minor, access), JSON.stringify({ rules, type, major, minor, access }));
          }
        }
      }
    }
  }
});

test('device program encoding: prologue loads the context, every path ends in exit', () => {
  const insns = deviceProgram(emulateDeviceRules([rule(false, 'a', -1, -1), rule(true, 'c', 1, 3, 'r')]));
  assert.deepEqual(insns.slice(0, 2).map((i) => [i.code, i.dst, i.src, i.off, i.imm]), [[0x61, 2, 1, 0, 0], [0x54, 2, 0, 0, 0xffff]]);
  assert.equal(insns.at(-1)!.code, 0x95);
  const buf = encodeProgram(insns);
  assert.equal(buf.length, insns.length * 8);
  assert.equal(buf[1], (1 << 4) | 2, 'src in the high nibble, dst in the low one');
});

// ---- mounts ----

test('/sys/fs/cgroup: own cgroup dirs are bound without a cgroup namespace; a fresh mount otherwise', () => {
  const facts: HostFacts = { uid: 0, gid: 0, pathKind: () => 'dir', cgroupHierarchies: () => HYBRID };
  const m = { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'ro'] };
  const own = { memory: '/sys/fs/cgroup/memory/moat/c1', unified: '/sys/fs/cgroup/unified/moat/c1' };
  const ops = planMount(m, 0, { facts, ownCgroups: own });
  const mem = ops.find((o) => o.op === 'mountat' && o.dest === '/sys/fs/cgroup/memory');
  assert.deepEqual(mem && mem.op === 'mountat' ? [mem.src, mem.fstype] : [], ['/sys/fs/cgroup/memory/moat/c1', '']);
  const uni = ops.find((o) => o.op === 'mountat' && o.dest === '/sys/fs/cgroup/unified');
  assert.deepEqual(uni && uni.op === 'mountat' ? [uni.src, uni.fstype] : [], ['/sys/fs/cgroup/unified/moat/c1', '']);
  const plain = planMount(m, 0, { facts }).find((o) => o.op === 'mountat' && o.dest === '/sys/fs/cgroup/memory');
  assert.deepEqual(plain && plain.op === 'mountat' ? [plain.src, plain.fstype, plain.data] : [], ['cgroup', 'cgroup', 'memory']);
  const v2facts: HostFacts = { ...facts, cgroupHierarchies: () => UNIFIED };
  const v2 = planMount(m, 0, { facts: v2facts, ownCgroups: { '': '/sys/fs/cgroup/moat/c1' } });
  assert.equal(v2.length, 1);
  assert.deepEqual(v2[0]!.op === 'mountat' ? [v2[0]!.src, v2[0]!.dest] : [], ['/sys/fs/cgroup/moat/c1', '/sys/fs/cgroup']);
});

// ---- stats and commands ----

test('stats: v1 and v2 files in runc\'s shape, u64 max printed exactly', () => {
  const fake = (map: Record<string, string>): CgroupFiles => ({ read: (f) => map[f], list: () => [] });
  const v1 = collectStats({ version: 1, dirs: { memory: '/m', pids: '/p', cpuacct: '/a', cpu: '/c' }, created: [] }, fake({
    '/m/memory.usage_in_bytes': '4096\n', '/m/memory.limit_in_bytes': '9223372036854771712\n', '/m/memory.stat': 'cache 8192\nrss 4096\n',
    '/p/pids.current': '3\n', '/p/pids.max': 'max\n', '/a/cpuacct.usage': '123456\n', '/a/cpuacct.usage_percpu': '100000 23456 \n',
    '/a/cpuacct.stat': 'user 2\nsystem 1\n', '/c/cpu.stat': 'nr_periods 5\nnr_throttled 1\nthrottled_time 999\n',
  }));
  assert.equal(v1.memory.usage.usage, 4096);
  assert.equal(v1.memory.usage.limit, 9223372036854771712n);
  assert.equal(v1.memory.cache, 8192);
  assert.deepEqual(v1.pids, { current: 3, limit: 0 });
  assert.deepEqual(v1.cpu.usage, { total: 123456, percpu: [100000, 23456], kernel: 10_000_000, user: 20_000_000 });
  assert.deepEqual(v1.cpu.throttling, { periods: 5, throttledPeriods: 1, throttledTime: 999 });
  const v2 = collectStats({ version: 2, dirs: { '': '/g' }, created: [] }, fake({
    '/g/cpu.stat': 'usage_usec 10\nuser_usec 6\nsystem_usec 4\n', '/g/memory.current': '100\n', '/g/memory.max': 'max\n',
    '/g/pids.current': '2\n', '/g/pids.max': '50\n', '/g/io.stat': '8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n',
  }));
  assert.deepEqual(v2.cpu.usage, { total: 10_000, kernel: 4000, user: 6000 });
  assert.equal(v2.memory.usage.limit, 18446744073709551615n);
  assert.deepEqual(v2.pids, { current: 2, limit: 50 });
  assert.deepEqual(parseIoStatV2('8:0 rbytes=1 wbytes=2 rios=3 wios=4\n').ioServicedRecursive, [{ major: 8, minor: 0, op: 'Read', value: 3 }, { major: 8, minor: 0, op: 'Write', value: 4 }]);
  assert.equal(statsJson({ a: 18446744073709551615n, b: 1 }), '{"a":18446744073709551615,"b":1}');
});

test('commands: ps filtering, durations, update sizes', () => {
  const ps = 'UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sh\nroot 420 1 other\n';
  assert.equal(filterPsOutput(ps, new Set([42])), 'UID PID PPID CMD\nroot 42 1 sh\n');
  assert.throws(() => filterPsOutput('USER COMMAND\n', new Set()), /no PID column/);
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.throws(() => parseDuration('5'), /not a duration/);
  assert.throws(() => parseDuration('0s'), /positive/);
  assert.equal(parseBytes('memory', '512m'), 512 * 1024 * 1024);
  assert.equal(parseBytes('memory', '1G'), 1024 ** 3);
  assert.equal(parseBytes('memory', '4096'), 4096);
  assert.equal(parseBytes('memory', '-1'), -1);
  assert.throws(() => parseBytes('memory', 'lots'), /--memory/);
});
