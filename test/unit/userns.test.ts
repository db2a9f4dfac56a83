// dev.moat.userns=auto: the host id range a sandbox gets, the spec it turns into, and the plan's
// idmapped rootfs (moat do's overlay lower, or a bundle's rootfs).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { specTemplate } from '../../src/spec/default';
import { validateSpec } from '../../src/spec/validate';
import type { Process, Spec } from '../../src/spec/types';
import { encodePlan, planContainer, type HostFacts } from '../../src/policy/plan';
import { hostRootOverlayOps } from '../../src/native/platform';
import { doSpec } from '../../src/runtime/do-spec';
import { USERNS_ANNOTATION, wantsOwnUserns, withOwnUserns } from '../../src/runtime/userns';
import {
  FIRST_SLOT_BASE, RANGE_SIZE, SLOT_COUNT, blockedSlots, claimRange, parseIdsOf, parseSubordinate, releaseRange, slotBase,
} from '../../src/state/userns-ranges';

const facts: HostFacts = { uid: 0, gid: 0, pathKind: () => 'dir', cgroupHierarchies: () => [] };

test('ranges: 65536-id slots between 0x70000000 and 0x7ffe0000, all below 2^31', () => {
  assert.equal(slotBase(0), 0x70000000);
  assert.equal(SLOT_COUNT, 4094);
  assert.ok(slotBase(SLOT_COUNT - 1) + RANGE_SIZE <= 0x7ffe0000);
  assert.ok(slotBase(SLOT_COUNT - 1) + RANGE_SIZE - 1 < 2 ** 31);
});

test('ranges: /etc/subuid entries and passwd ids that fall into a slot block it', () => {
  const sub = parseSubordinate('# comment\nalice:100000:65536\nbob:1879113728:10\nbad:x:1\n');
  assert.deepEqual(sub, [{ start: 100000, size: 65536 }, { start: FIRST_SLOT_BASE + RANGE_SIZE, size: 10 }]);
  const ids = parseIdsOf('root:x:0:0::/root:/bin/sh\nodd:x:1879048200:5::/:/bin/sh\n', [2, 3]);
  assert.deepEqual(blockedSlots([...sub, ...ids]), new Set([0, 1]));
  // A range across a slot boundary blocks both slots; one that ends where a slot starts, neither.
  assert.deepEqual(blockedSlots([{ start: slotBase(5) - 1, size: 2 }]), new Set([4, 5]));
  assert.deepEqual(blockedSlots([{ start: slotBase(7) - 10, size: 10 }]), new Set([6]));
  assert.deepEqual(blockedSlots([{ start: 0, size: 2 ** 32 }]).size, SLOT_COUNT);
});

test('ranges: claims are exclusive, freed by release, and a claim of a vanished container is taken over', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-userns-'));
  try {
    const etc = path.join(tmp, 'etc');
    fs.mkdirSync(etc);
    fs.writeFileSync(path.join(etc, 'subuid'), `x:${slotBase(0)}:65536\n`); // slot 0 is someone's
    const dir = path.join(tmp, 'claims');
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    fs.mkdirSync(a);
    fs.mkdirSync(b);
    assert.deepEqual(claimRange(a, { dir, etc }), { start: slotBase(1), size: RANGE_SIZE });
    assert.deepEqual(claimRange(a, { dir, etc }), { start: slotBase(1), size: RANGE_SIZE }, 'the same owner keeps its slot');
    assert.deepEqual(claimRange(b, { dir, etc }), { start: slotBase(2), size: RANGE_SIZE });
    releaseRange(a, { dir });
    assert.ok(!fs.existsSync(path.join(dir, '1')));
    fs.rmSync(b, { recursive: true }); // b's moat was killed: its state dir is gone, its claim stale
    const c = path.join(tmp, 'c');
    fs.mkdirSync(c);
    assert.deepEqual(claimRange(c, { dir, etc }), { start: slotBase(1), size: RANGE_SIZE });
    const d = path.join(tmp, 'd');
    fs.mkdirSync(d);
    assert.deepEqual(claimRange(d, { dir, etc }), { start: slotBase(2), size: RANGE_SIZE }, 'stale claim of b taken over');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

function bundleSpec(annotations: Record<string, string>): Spec & { process: Process } {
  const raw = specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }) as Record<string, any>;
  raw.process.terminal = false;
  raw.annotations = annotations;
  return validateSpec(raw) as Spec & { process: Process };
}

test('annotation: auto adds a user namespace mapping 0..65535, host/absent leave the spec, others are refused', () => {
  assert.equal(wantsOwnUserns({ [USERNS_ANNOTATION]: 'auto' }), true);
  assert.equal(wantsOwnUserns({ [USERNS_ANNOTATION]: 'host' }), false);
  assert.equal(wantsOwnUserns({}), false);
  assert.throws(() => wantsOwnUserns({ [USERNS_ANNOTATION]: 'yes' }), /dev\.moat\.userns.*"auto" or "host"/);
  const s = withOwnUserns(bundleSpec({ [USERNS_ANNOTATION]: 'auto' }), { start: slotBase(3), size: RANGE_SIZE });
  assert.equal(s.linux!.namespaces[0]!.type, 'user');
  assert.deepEqual(s.linux!.uidMappings, [{ containerID: 0, hostID: slotBase(3), size: RANGE_SIZE }]);
  assert.deepEqual(s.linux!.gidMappings, s.linux!.uidMappings);
  assert.throws(() => withOwnUserns(s, { start: slotBase(4), size: RANGE_SIZE }), /cannot be combined/);
});

test('plan: a bundle in its own user namespace gets its rootfs idmapped by P, not bound onto itself', () => {
  const s = withOwnUserns(bundleSpec({}), { start: slotBase(0), size: RANGE_SIZE });
  const p = planContainer({ spec: s, rootfs: '/b/rootfs', noPivot: false, preserveFds: 0, facts, idmapTree: { source: '/b/rootfs', attrs: 0, rootfs: true } });
  assert.deepEqual(p.afterClone.map((o) => o.op), ['child-write', 'child-write', 'idmap-tree'], 'after the maps are written');
  assert.ok(p.child.some((o) => o.op === 'attach-tree' && o.target === '/b/rootfs'));
  assert.ok(!p.child.some((o) => o.op === 'mount' && o.src === '/b/rootfs'));
  assert.ok(encodePlan(p).includes('idmap-tree\x00/b/rootfs\x000\x00'));
  assert.throws(() => planContainer({ spec: bundleSpec({}), rootfs: '/b/rootfs', noPivot: false, preserveFds: 0, facts, idmapTree: { source: '/b/rootfs', attrs: 0, rootfs: true } }), /needs a new user namespace/);
});

test('plan: moat do in its own user namespace: idmapped host / as the lower, detached once the overlay holds it', () => {
  const s = withOwnUserns(doSpec({ args: ['sh'], env: {}, cwd: '/', userns: true }), { start: slotBase(0), size: RANGE_SIZE });
  assert.equal(s.annotations![USERNS_ANNOTATION], 'auto');
  const ops = hostRootOverlayOps('/run/moat/do-1/scratch', { idmapped: true });
  const p = planContainer({ spec: s, rootfs: '/run/moat/do-1/scratch/merged', noPivot: false, preserveFds: 0, facts, rootfsPrelude: ops, idmapTree: { source: '/', attrs: 0x5, rootfs: false } });
  const names = p.child.map((o) => (o.op === 'mount' ? `mount ${o.fstype}` : o.op));
  const at = names.indexOf('attach-tree');
  assert.ok(at > 0 && names[at + 1] === 'mount overlay' && names[at + 2] === 'umount', names.join(','));
  const overlay = p.child.find((o) => o.op === 'mount' && o.fstype === 'overlay');
  assert.match((overlay as { data: string }).data, /^lowerdir=\/run\/moat\/do-1\/scratch\/lower,.*,userxattr$/);
  assert.equal(doSpec({ args: ['sh'], env: {}, cwd: '/' }).annotations![USERNS_ANNOTATION], undefined);
});
