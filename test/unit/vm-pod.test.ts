// The pure parts of a pod in one VM (src/vm/pod.ts, src/shim/pod.ts): how a CRI container's
// namespaces map onto its sandbox's in the guest, the pod's share, and which containers are pods'.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapNamespaces, podShare, podVmResources } from '../../src/vm/pod';
import { parseResources } from '../../src/policy/cgroups';
import { vmSize } from '../../src/vm/spec';
import { podRole } from '../../src/shim/pod';
import { volumesCmdline } from '../../src/vm/volumes';

test('pod members join the sandbox guest namespaces CRI names by path; the guest\'s own when the sandbox has none', () => {
  // CRI's sandbox on a pod network: network joined by path (the VM's NICs, the guest's own
  // namespace), ipc and uts of its own, a pid namespace of its own.
  const sandbox = [{ type: 'network' as const, path: '/var/run/netns/cni-1' }, { type: 'ipc' as const }, { type: 'uts' as const }, { type: 'pid' as const }, { type: 'mount' as const }];
  const member = [
    { type: 'network' as const, path: '/proc/4242/ns/net' },
    { type: 'ipc' as const, path: '/proc/4242/ns/ipc' },
    { type: 'uts' as const, path: '/proc/4242/ns/uts' },
    { type: 'pid' as const },
    { type: 'mount' as const },
    { type: 'cgroup' as const },
  ];
  assert.deepEqual(mapNamespaces(member, sandbox, 7), [
    { type: 'ipc', path: '/proc/7/ns/ipc' },
    { type: 'uts', path: '/proc/7/ns/uts' },
    { type: 'pid' },
    { type: 'mount' },
    { type: 'cgroup' },
  ]);
  // shareProcessNamespace: the sandbox's pid namespace.
  assert.deepEqual(mapNamespaces([{ type: 'pid', path: '/proc/4242/ns/pid' }], sandbox, 7), [{ type: 'pid', path: '/proc/7/ns/pid' }]);
  // A host-network sandbox has no network namespace: the member shares the guest's.
  assert.deepEqual(mapNamespaces([{ type: 'network', path: '/proc/4242/ns/net' }], [{ type: 'ipc' }], 7), []);
  // Another container's mount or user namespace: refused, naming the field.
  assert.throws(() => mapNamespaces([{ type: 'mount', path: '/proc/1/ns/mnt' }], sandbox, 7), /linux\.namespaces \(mount\)/);
  assert.throws(() => mapNamespaces([{ type: 'user', path: '/proc/1/ns/user' }], sandbox, 7), /linux\.namespaces \(user\)/);
});

test('the pod share: after the spec\'s volumes, read-only for its server, mounted read-write by the agent', () => {
  const { volume } = podShare('/run/moat/x/vm', 2);
  assert.equal(volume.host, '/run/moat/x/vm/pod');
  assert.equal(volume.tag, 'moat.v2');
  assert.equal(volume.guestSource, '/vol/2');
  assert.equal(volume.readonly, true);
  assert.equal(volume.followHost, true);
  const ro = { ...volume, tag: 'moat.v0', followHost: undefined, readonly: true };
  assert.equal(volumesCmdline([ro, { ...ro, readonly: false }, volume]), 'moat.vols=rww');
});

test('which containers are a pod\'s: CRI\'s container-type, on the vm platform only', () => {
  const a = (t: string) => ({ 'io.kubernetes.cri.container-type': t, 'io.kubernetes.cri.sandbox-id': 'p' });
  assert.equal(podRole('vm', a('sandbox')), 'sandbox');
  assert.equal(podRole('vm', a('container')), 'member');
  assert.equal(podRole('vm', {}), undefined);
  assert.equal(podRole('sentry', a('container')), 'member');
  assert.equal(podRole('sentry', a('sandbox')), 'sandbox');
  assert.equal(podRole('native', a('sandbox')), undefined);
});

test('a pod\'s VM is sized from CRI\'s sandbox annotations (the pod\'s limits), not the pause container\'s', () => {
  const host = { cpus: 8, memoryMiB: 8192 };
  const own = parseResources({ cpu: { shares: 2 } });
  const a = { 'io.kubernetes.cri.sandbox-memory': String(320 << 20), 'io.kubernetes.cri.sandbox-cpu-quota': '200000', 'io.kubernetes.cri.sandbox-cpu-period': '100000' };
  assert.deepEqual(vmSize(podVmResources(own, a), host), { memoryMiB: 448, cpus: 2 });
  // Unset (0 or absent): the sandbox's own, i.e. the defaults.
  assert.deepEqual(vmSize(podVmResources(own, { 'io.kubernetes.cri.sandbox-memory': '0' }), host), { memoryMiB: 256, cpus: 1 });
  assert.deepEqual(vmSize(podVmResources(own, undefined), host), { memoryMiB: 256, cpus: 1 });
  assert.throws(() => podVmResources(own, { 'io.kubernetes.cri.sandbox-memory': '-1' }), /io\.kubernetes\.cri\.sandbox-memory/);
  assert.throws(() => podVmResources(own, { 'io.kubernetes.cri.sandbox-cpu-quota': '1e9' }), /sandbox-cpu-quota/);
});
