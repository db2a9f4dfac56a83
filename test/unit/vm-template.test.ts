// vm templates' pure parts (docs/vm.md#templates): the key, which containers may use one, the
// RESTORE frame, QEMU's command line for saving and restoring.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { encodeHostMessage, ProtocolError } from '../../src/vm/channel';
import { coldReason, machineKey, templateRoot, type TemplateMachine } from '../../src/vm/snapshot';
import { templatePortNames } from '../../src/vm/snapshot/build';
import { KEEP_TEMPLATES, pruneTemplates } from '../../src/vm/snapshot/store';
import { qemuDriver } from '../../src/vm/vmm';
import { restoreNetworkWords, templateMac } from '../../src/vm/network';

test('template key: a change of kernel, initramfs, size, accelerator or command line is another template', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-tplkey-'));
  try {
    const k1 = path.join(dir, 'vmlinuz-a');
    const k2 = path.join(dir, 'vmlinuz-b');
    fs.writeFileSync(k1, 'kernel a');
    fs.writeFileSync(k2, 'kernel b');
    const m: TemplateMachine = { accel: 'tcg', memoryMiB: 256, cpus: 1, kernel: k1, initrd: '/x/initramfs-1.cpio', cmdline: 'quiet moat.exec=4', execSlots: 4, nics: 0 };
    const key = machineKey(m);
    assert.match(key, /^[0-9a-f]{32}$/);
    assert.equal(machineKey({ ...m }), key, 'deterministic');
    const variants: Partial<TemplateMachine>[] = [{ kernel: k2 }, { initrd: '/x/initramfs-2.cpio' }, { memoryMiB: 320 }, { cpus: 2 }, { accel: 'kvm' }, { cmdline: 'quiet moat.exec=4 x' }, { execSlots: 3 }, { nics: 1 }, { nics: 2 }];
    const keys = new Set([key, ...variants.map((v) => machineKey({ ...m, ...v }))]);
    assert.equal(machineKey({ ...m, initrd: '/other/root/@vm/initramfs-1.cpio' }), key, 'the same initramfs under another --root: the same template');
    assert.equal(keys.size, variants.length + 1, 'every input is part of the key');
    // The same kernel path rewritten (a package upgrade): another key.
    fs.writeFileSync(k1, 'kernel a, rebuilt');
    assert.notEqual(machineKey(m), key);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('templates: which containers boot cold, and why; where templates live', () => {
  const ok = { root: true, imageRoot: true, volumes: 0, nics: 0, debugConsole: false };
  assert.equal(coldReason(ok, {}), undefined);
  assert.match(coldReason({ ...ok, root: false }, {})!, /not root/);
  assert.match(coldReason({ ...ok, imageRoot: false }, {})!, /vhost-user-fs cannot be migrated/);
  assert.match(coldReason({ ...ok, volumes: 1 }, {})!, /bind mounts/);
  assert.equal(coldReason({ ...ok, nics: 1 }, {}), undefined, 'a container with a NIC restores (a template per NIC count)');
  assert.equal(coldReason({ ...ok, nics: 4 }, {}), undefined);
  assert.match(coldReason({ ...ok, nics: 5 }, {})!, /network interfaces/);
  assert.match(coldReason({ ...ok, debugConsole: true }, {})!, /MOAT_VM_DEBUG/);
  assert.match(coldReason(ok, { MOAT_VM_TEMPLATES: 'off' })!, /off/);
  assert.equal(templateRoot({}), '/var/lib/moat/vm-templates');
  assert.equal(templateRoot({ MOAT_VM_TEMPLATES: '/srv/t' }), '/srv/t');
  assert.equal(templateRoot({ MOAT_VM_TEMPLATES: 'relative' }), undefined, 'a relative path is not used');
});

test('channel: RESTORE carries the host clock (seconds, nanoseconds) and 64 random bytes', () => {
  const seed = Buffer.alloc(64, 7);
  const f = encodeHostMessage({ type: 'restore', timeNs: 1_700_000_000_123_456_789n, seed });
  assert.equal(f[3], 10);
  assert.equal(f.readUInt32LE(4), 80);
  assert.equal(f.readBigUInt64LE(8), 1_700_000_000n);
  assert.equal(f.readUInt32LE(16), 123_456_789);
  assert.deepEqual(f.subarray(24), seed);
  assert.throws(() => encodeHostMessage({ type: 'restore', timeNs: 1n, seed: Buffer.alloc(8) }), ProtocolError);
  assert.throws(() => encodeHostMessage({ type: 'restore', timeNs: -1n, seed }), ProtocolError);
});

test('channel: RESTORE of a template with NICs carries their words after the seed; the template MACs', () => {
  const seed = Buffer.alloc(64, 7);
  const ifaces = [
    { name: 'eth0', tap: 'tap0_moat', mac: 'aa:bb:cc:dd:ee:01', mtu: 1400, address: '10.1.2.3/24', gateway: '10.1.2.1' },
    { name: 'eth1', tap: 'tap1_moat', mac: 'aa:bb:cc:dd:ee:02', mtu: 1500 },
  ];
  const words = restoreNetworkWords(ifaces);
  assert.equal(words, 'moat.if0=aa:bb:cc:dd:ee:01,eth0,1400,10.1.2.3/24,10.1.2.1 moat.if1=aa:bb:cc:dd:ee:02,eth1,1500', 'every NIC, in QEMU order, even one without an address');
  const f = encodeHostMessage({ type: 'restore', timeNs: 1n, seed, network: words });
  assert.equal(f.readUInt32LE(4), 80 + words.length);
  assert.equal(f.subarray(8 + 80).toString('latin1'), words);
  assert.throws(() => encodeHostMessage({ type: 'restore', timeNs: 1n, seed, network: 'x'.repeat(1025) }), ProtocolError);
  assert.throws(() => encodeHostMessage({ type: 'restore', timeNs: 1n, seed, network: 'moat.if0=a\nb' }), ProtocolError);
  assert.equal(templateMac(0), '02:6d:6f:61:74:00');
  assert.equal(templateMac(3), '02:6d:6f:61:74:03');
});

test('qemu: a template is saved over QMP; a clone reads its state from an fd; the disk by fd sets (overlay both modes, base read-only, no locking)', () => {
  const base = {
    accel: 'tcg' as const, memoryMiB: 256, cpus: 1, kernel: '/k', initrd: '/i', cmdline: 'quiet',
    disks: [{ format: 'qcow2' as const, fds: { rw: 20, ro: 21 }, backing: { fd: 22 }, readonly: false }],
    ports: templatePortNames(4).map((name) => ({ name, kind: 'socket' as const, path: `/s/${name}` })),
  };
  const save = qemuDriver.command({ ...base, monitor: '/t/qmp.sock' });
  assert.ok(save.args.join(' ').includes('-qmp unix:/t/qmp.sock,server=on,wait=off'));
  assert.ok(!save.args.includes('-incoming'));
  const direct = qemuDriver.command({ ...base, incoming: 30 });
  const child = Number(/^fd:(\d+)$/.exec(direct.args[direct.args.indexOf('-incoming') + 1]!)![1]);
  assert.deepEqual(direct.fds.find((f) => f.child === child), { child, parent: 30 });
  // A clone: deferred (x-ignore-shared is set over QMP first), the template's memory privately from an fd.
  const clone = qemuDriver.command({ ...base, incoming: 30, monitor: '/c/qmp.sock', memoryFile: { fd: 40, share: false } });
  assert.equal(clone.args[clone.args.indexOf('-incoming') + 1], 'defer');
  assert.ok(clone.fds.some((f) => f.parent === 30));
  const mem = clone.fds.find((f) => f.parent === 40)!;
  assert.ok(clone.args.includes(`memory-backend-file,id=mem,size=256M,mem-path=/proc/self/fd/${mem.child},share=off`));
  assert.match(clone.args[clone.args.indexOf('-M') + 1]!, /memory-backend=mem/);
  const tmpl = qemuDriver.command({ ...base, monitor: '/t/qmp.sock', memoryFile: { path: '/t/memory', share: true } });
  assert.ok(tmpl.args.includes('memory-backend-file,id=mem,size=256M,mem-path=/t/memory,share=on'));
  // Explicit nodes: the base's file and raw nodes read-only, the overlay's qcow2 node with the base
  // as its backing node (QEMU opens no path of the qcow2 header), one virtio-blk device on it.
  assert.ok(!clone.args.includes('-drive'));
  const nodes = clone.args.flatMap((a, j) => (clone.args[j - 1] === '-blockdev' ? [a] : []));
  const setOf = (n: number) => clone.args.flatMap((a, j) => (clone.args[j - 1] === '-add-fd' && a.endsWith(`set=${n}`) ? [Number(/fd=(\d+)/.exec(a)![1])] : [])).map((c) => clone.fds.find((f) => f.child === c)?.parent);
  const baseSet = Number(/fdset\/(\d+)/.exec(nodes[0]!)![1]);
  const overlaySet = Number(/fdset\/(\d+)/.exec(nodes[2]!)![1]);
  assert.deepEqual(setOf(baseSet), [22]);
  assert.deepEqual(setOf(overlaySet), [20, 21]);
  assert.match(nodes[0]!, /^driver=file,node-name=disk0-base-file,filename=\/dev\/fdset\/\d+,locking=off,.*read-only=on$/);
  assert.equal(nodes[1], 'driver=raw,node-name=disk0-base,file=disk0-base-file,read-only=on');
  assert.match(nodes[2]!, /^driver=file,node-name=disk0-file,filename=\/dev\/fdset\/\d+,locking=off,aio=threads,cache.no-flush=on$/);
  assert.equal(nodes[3], 'driver=qcow2,node-name=disk0,file=disk0-file,backing=disk0-base,cache.no-flush=on');
  assert.ok(clone.args.join(' ').includes('-device virtio-blk-device,drive=disk0'));
  assert.equal(new Set(clone.fds.map((f) => f.child)).size, clone.fds.length, 'no fd number handed over twice');
  // A cold VM's disk too: by fd, never by path; a qcow2 image never without its backing node.
  const cold = qemuDriver.command(base);
  assert.deepEqual(cold.args.filter((_a, j) => cold.args[j - 1] === '-blockdev'), nodes);
  assert.throws(() => qemuDriver.command({ ...base, disks: [{ format: 'qcow2', fds: { rw: 20, ro: 21 }, readonly: false }] }), /backing/);
});

test('templates: pruning keeps the newest few, removes left-over build (when stale) and trash directories', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-tplprune-'));
  try {
    const now = Date.now();
    const keys = Array.from({ length: KEEP_TEMPLATES + 2 }, (_, i) => i.toString(16).padStart(32, '0'));
    keys.forEach((k, i) => {
      fs.mkdirSync(path.join(root, k));
      fs.writeFileSync(path.join(root, k, 'state'), 'x');
      const t = new Date(now - (keys.length - i) * 60_000);
      fs.utimesSync(path.join(root, k), t, t);
    });
    fs.mkdirSync(path.join(root, '.build-old'));
    fs.utimesSync(path.join(root, '.build-old'), new Date(now - 2 * 3600_000), new Date(now - 2 * 3600_000));
    fs.mkdirSync(path.join(root, '.build-now'));
    fs.mkdirSync(path.join(root, '.trash-x'));
    pruneTemplates(root, now);
    const left = fs.readdirSync(root).filter((n) => !n.endsWith('.lock')).sort();
    assert.deepEqual(left, ['.build-now', ...keys.slice(2)].sort(), 'the two oldest templates, a stale build and the trash are gone; a build in progress stays');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
