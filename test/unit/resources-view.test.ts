// The container-aware view of resources (issue 12, item 5): limits read back from cgroup files,
// the sentry's machine file, and what sysinfo-like readers are then shown.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { cgroupLimits, cpuListCount, type CgroupFiles } from '../../src/policy/cgroups';
import { DEFAULT_MACHINE, Machine, cpuRange, parseMachine } from '../../src/sentry/kernel/machine';
import { machineOf } from '../../src/sentry/resources';
import type { CgroupRecord } from '../../src/state/store';

function files(map: Record<string, string>): CgroupFiles {
  return { read: (f) => map[f], list: () => [] };
}

test('cgroupLimits: v1 memory limit, cfs quota and cpuset; unlimited values are no limit', () => {
  const rec: CgroupRecord = { version: 1, dirs: { memory: '/m', 'cpu,cpuacct': '/c', cpuset: '/s', unified: '/u' }, created: [] };
  assert.deepEqual(
    cgroupLimits(rec, files({ '/m/memory.limit_in_bytes': '268435456\n', '/c/cpu.cfs_quota_us': '150000\n', '/c/cpu.cfs_period_us': '100000\n', '/s/cpuset.cpus': '0-3\n' })),
    { memoryBytes: 268435456, cpus: 2 },
  );
  assert.deepEqual(
    cgroupLimits(rec, files({ '/m/memory.limit_in_bytes': '9223372036854771712\n', '/c/cpu.cfs_quota_us': '-1\n', '/c/cpu.cfs_period_us': '100000\n', '/s/cpuset.cpus': '0,2\n' })),
    { cpus: 2 },
  );
  assert.deepEqual(cgroupLimits(rec, files({})), {}, 'missing files: no limits');
});

test('cgroupLimits: v2 memory.max, cpu.max and the effective cpuset', () => {
  const rec: CgroupRecord = { version: 2, dirs: { '': '/g' }, created: [] };
  assert.deepEqual(cgroupLimits(rec, files({ '/g/memory.max': '104857600\n', '/g/cpu.max': '50000 100000\n', '/g/cpuset.cpus.effective': '0-7\n' })), { memoryBytes: 104857600, cpus: 1 });
  assert.deepEqual(cgroupLimits(rec, files({ '/g/memory.max': 'max\n', '/g/cpu.max': 'max 100000\n', '/g/cpuset.cpus.effective': '1\n' })), { cpus: 1 });
});

test('cpuListCount: lists and ranges; nonsense is undefined', () => {
  assert.equal(cpuListCount('0-3,8'), 5);
  assert.equal(cpuListCount('5'), 1);
  assert.equal(cpuListCount(''), undefined);
  assert.equal(cpuListCount('3-1'), undefined);
  assert.equal(cpuListCount('a'), undefined);
});

test('machineOf: never more than the host has', () => {
  assert.deepEqual(machineOf({ memoryBytes: 2 ** 40, cpus: 64 }, { memBytes: 1 << 30, cpus: 2 }), { memoryBytes: 1 << 30, cpus: 2 });
  assert.deepEqual(machineOf({}, { memBytes: 1 << 30, cpus: 2 }), {});
});

test('parseMachine: defaults for missing fields, bounds, and undefined for what is not a machine', () => {
  assert.deepEqual(parseMachine('{}'), DEFAULT_MACHINE);
  assert.deepEqual(parseMachine('{"memoryBytes":268435456,"cpus":3}'), { memBytes: 268435456, cpus: 3 });
  assert.deepEqual(parseMachine('{"cpus":100000}'), { memBytes: DEFAULT_MACHINE.memBytes, cpus: 1024 });
  assert.deepEqual(parseMachine('{"memoryBytes":5}'), { memBytes: 1 << 20, cpus: 1 });
  for (const bad of ['', '{"memoryBytes":', '[]', 'null', '{"cpus":"2"}', '{"cpus":1.5}']) assert.equal(parseMachine(bad), undefined, bad);
  assert.equal(cpuRange(1), '0');
  assert.equal(cpuRange(4), '0-3');
});

test('Machine: follows its file when it is rewritten in place, and keeps the last good size over a torn write', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-machine-'));
  const file = path.join(dir, 'm.json');
  fs.writeFileSync(file, '{"memoryBytes":104857600,"cpus":2}');
  const fd = fs.openSync(file, 'r');
  try {
    const m = new Machine(fd);
    assert.deepEqual(m.size(), { memBytes: 104857600, cpus: 2 });
    fs.writeFileSync(file, '{"memoryBytes":209715200}');
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(m.size(), { memBytes: 209715200, cpus: 1 });
    fs.writeFileSync(file, '{"memory');
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(m.size(), { memBytes: 209715200, cpus: 1 });
    assert.deepEqual(new Machine().size(), DEFAULT_MACHINE);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('vm update: only the CPU time of QEMU can change on a running VM; the rest is refused naming the field, before any write', async () => {
  const { updateVmm } = await import('../../src/vm/host-cgroup');
  const rec: CgroupRecord = { version: 1, dirs: { cpu: '/nonexistent/cpu' }, created: [] };
  const spec = { ociVersion: '1.2.0' } as Parameters<typeof updateVmm>[1];
  assert.throws(() => updateVmm(rec, spec, { memory: { limit: 1 << 26 } }, 'resources'), /update: resources\.memory: cannot be changed on a running vm/);
  assert.throws(() => updateVmm(rec, spec, { pids: { limit: 5 } }, 'resources'), /update: resources\.pids: cannot be changed/);
  assert.throws(() => updateVmm(rec, spec, { cpu: { cpus: '0' } }, 'resources'), /update: resources\.cpu\.cpus: cannot be changed on a running vm \(only quota, period and shares\)/);
  assert.throws(() => updateVmm(rec, spec, [], 'resources'), /resources: expected an object/);
});
