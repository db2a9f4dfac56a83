import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capabilityMask, capabilitySets, planCapabilities } from '../../src/policy/capabilities';

test('capability names become masks; an unknown one is named', () => {
  assert.equal(capabilityMask(['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], 'f'), 0x20000420n);
  assert.equal(capabilityMask(['CAP_CHECKPOINT_RESTORE'], 'f'), 1n << 40n);
  assert.throws(() => capabilityMask(['CAP_KILL', 'CAP_FLY'], 'process.capabilities.bounding'),
    /process.capabilities.bounding\[1\]: unknown capability "CAP_FLY"/);
});

test('no capabilities field means every set is empty; ambient needs permitted and inheritable', () => {
  assert.deepEqual(capabilitySets(undefined), { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n });
  const s = capabilitySets({ permitted: ['CAP_KILL', 'CAP_CHOWN'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL', 'CAP_CHOWN'] });
  assert.equal(s.ambient, 1n << 5n);
});

test('the sequence: bounding, keep-caps, user switch, keep-caps off, capset', () => {
  const ops = planCapabilities(capabilitySets({ bounding: ['CAP_KILL'] }), [{ op: 'setresuid', r: 1, e: 1, s: 1 }]);
  assert.deepEqual(ops.map((o) => o.op), ['cap-bounding', 'keep-caps', 'setresuid', 'keep-caps', 'capset']);
});
