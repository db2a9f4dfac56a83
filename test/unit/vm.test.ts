// The vm platform's pure parts: cpio, module resolution, the channel protocol, the QEMU command
// line, the spec checks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeCpio, resolveModules } from '../../src/vm/guest';
import { checkAllowed, decodeGuestMessage, encodeHostMessage, GuestFrameReader, ProtocolError } from '../../src/vm/channel';
import { qemuDriver } from '../../src/vm/vmm';
import { checkVmSpec, cpusetCount, guestCgroup, memberKey, vmSize } from '../../src/vm/spec';
import { parseResources } from '../../src/policy/cgroups';
import { firstCandidate, SANDBOX_UID_BASE as VM_UID_BASE } from '../../src/state/sandbox-uid';
import { guestCmdline, hostTscKhz } from '../../src/vm/builder';
import { imageSize } from '../../src/vm/rootfs';
import { planVolumes, volumesCmdline } from '../../src/vm/volumes';
import { guestInterfaces, networkCmdline } from '../../src/vm/network';
import { guestFacts } from '../../src/vm/spec';
import { specTemplate } from '../../src/spec/default';
import type { Process, Spec } from '../../src/spec/types';
import { execSocketPath, socketDir } from '../../src/vm/sockets';

test('cpio: newc headers, 4-byte alignment, trailer, deterministic', () => {
  const a = writeCpio([{ name: 'init', kind: 'file', mode: 0o755, data: Buffer.from('abc') }, { name: 'modules', kind: 'dir', mode: 0o755 }]);
  assert.equal(a.subarray(0, 6).toString(), '070701');
  assert.equal(a.length % 4, 0);
  assert.match(a.toString('latin1'), /TRAILER!!!\0/);
  // mode of init: regular file 0755
  assert.equal(a.subarray(14, 22).toString(), (0o100755).toString(16).padStart(8, '0'));
  assert.deepEqual(a, writeCpio([{ name: 'init', kind: 'file', mode: 0o755, data: Buffer.from('abc') }, { name: 'modules', kind: 'dir', mode: 0o755 }]));
  assert.throws(() => writeCpio([{ name: '/abs', kind: 'dir', mode: 0o755 }]));
});

test('modules: dependencies first, each once, built-ins skipped, unknown named', () => {
  const dep = [
    'kernel/drivers/virtio/virtio_ring.ko:',
    'kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko',
    'kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
    'kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
  ].join('\n');
  assert.deepEqual(resolveModules(dep, 'kernel/fs/ext4/ext4.ko\n', ['virtio_mmio', 'virtio_blk', 'ext4']), [
    'kernel/drivers/virtio/virtio_ring.ko', 'kernel/drivers/virtio/virtio.ko', 'kernel/drivers/virtio/virtio_mmio.ko', 'kernel/drivers/block/virtio_blk.ko',
  ]);
  assert.throws(() => resolveModules(dep, '', ['virtio_console']), /virtio_console: not in modules.dep/);
});

test('channel: host frames; guest frames validated (magic, version, size, type, lengths, ranges)', () => {
  const sig = encodeHostMessage({ type: 'signal', signal: 15, all: true });
  assert.deepEqual([...sig.subarray(0, 8)], [0x4d, 0x54, 2, 4, 8, 0, 0, 0]);
  assert.throws(() => encodeHostMessage({ type: 'signal', signal: 0, all: false }), ProtocolError);
  // v2: PLAN and EXEC carry a flags word (terminal) before the plan; RESIZE two u32; STDIN bounded.
  const plan = encodeHostMessage({ type: 'exec', plan: Buffer.from('MOATPLAN1\0'), terminal: true });
  assert.deepEqual([...plan.subarray(0, 12)], [0x4d, 0x54, 2, 6, 14, 0, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual([...encodeHostMessage({ type: 'resize', rows: 25, cols: 90 }).subarray(3)], [5, 8, 0, 0, 0, 25, 0, 0, 0, 90, 0, 0, 0]);
  assert.throws(() => encodeHostMessage({ type: 'resize', rows: 70000, cols: 1 }), ProtocolError);
  assert.deepEqual([...encodeHostMessage({ type: 'signalExec', signal: 15, pid: 300 }).subarray(3)], [9, 8, 0, 0, 0, 15, 0, 0, 0, 44, 1, 0, 0]);
  assert.throws(() => encodeHostMessage({ type: 'signalExec', signal: 15, pid: 0 }), ProtocolError);
  assert.throws(() => encodeHostMessage({ type: 'stdin', data: Buffer.alloc(0) }), ProtocolError);
  assert.throws(() => encodeHostMessage({ type: 'stdin', data: Buffer.alloc(40 << 10) }), ProtocolError);
  assert.throws(() => encodeHostMessage({ type: 'plan', plan: Buffer.alloc((8 << 20) + 1), terminal: false }), ProtocolError);
  const frame = (type: number, payload: Buffer, version = 2) => {
    const h = Buffer.from([0x4d, 0x54, version, type, 0, 0, 0, 0]);
    h.writeUInt32LE(payload.length, 4);
    return Buffer.concat([h, payload]);
  };
  const r = new GuestFrameReader();
  const ready = Buffer.alloc(4);
  ready.writeUInt32LE(7);
  const whole = frame(0x82, ready);
  assert.deepEqual(r.push(whole.subarray(0, 5)), []);
  assert.deepEqual(r.push(whole.subarray(5)), [{ type: 'ready', pid: 7 }]);
  assert.throws(() => new GuestFrameReader().push(frame(0x82, ready, 1)), /protocol version 1, this moat speaks 2/);
  assert.throws(() => new GuestFrameReader().push(Buffer.from('XX\x02\x82\0\0\0\0')), /bad magic/);
  const huge = Buffer.from([0x4d, 0x54, 2, 0x87, 0, 0, 0x02, 0]);
  assert.throws(() => new GuestFrameReader().push(huge), /more than 65536/);
  assert.throws(() => decodeGuestMessage(0x85, Buffer.alloc(1025, 0x41)), /more than 1024/);
  assert.deepEqual(decodeGuestMessage(0x87, Buffer.from('out\x1b')), { type: 'stdout', data: Buffer.from('out\x1b') }, 'output passes through as bytes');
  assert.throws(() => decodeGuestMessage(0x88, Buffer.alloc(0)), /empty/);
  // The control channel never streams output; exec channels never answer started/ok.
  assert.throws(() => checkAllowed({ type: 'stdout', data: Buffer.from('x') }, 'ctl'), ProtocolError);
  assert.throws(() => checkAllowed({ type: 'ok' }, 'exec'), ProtocolError);
  assert.doesNotThrow(() => checkAllowed({ type: 'stderr', data: Buffer.from('x') }, 'exec'));
  assert.throws(() => decodeGuestMessage(0x99, Buffer.alloc(0)), /unknown/);
  assert.throws(() => decodeGuestMessage(0x82, Buffer.alloc(3)), /expected 4/);
  const bad = Buffer.alloc(4);
  bad.writeUInt32LE(300);
  assert.throws(() => decodeGuestMessage(0x86, bad), /not 0..255/);
  assert.deepEqual(decodeGuestMessage(0x85, Buffer.from('a\nb\x1b')), { type: 'error', message: 'a?b?' });
});

test('channel: a pod member\'s cgroup (CGROUP, STATS with a name) — plain names, a short list of writable files, bounded values', () => {
  const frame = (b: Buffer) => [b[3], b.readUInt32LE(4), b.subarray(8).toString('latin1')];
  assert.deepEqual(frame(encodeHostMessage({ type: 'stats', member: 'abc-1.x_2' })), [11, 9, 'abc-1.x_2']);
  assert.deepEqual(frame(encodeHostMessage({ type: 'cgroup', verb: 'mkdir', member: 'a1' })), [13, 4, 'ma1\0']);
  assert.deepEqual(frame(encodeHostMessage({ type: 'cgroup', verb: 'rmdir', member: 'a1' })), [13, 4, 'ra1\0']);
  assert.deepEqual(frame(encodeHostMessage({ type: 'cgroup', verb: 'write', member: 'a1', file: 'memory.max', value: '1048576' })), [13, 23, 'wa1\0memory.max\x001048576\0']);
  for (const member of ['', '.', '..', '-a', 'a/b', '../x', 'a\0b', 'x'.repeat(129), 'é']) {
    assert.throws(() => encodeHostMessage({ type: 'cgroup', verb: 'mkdir', member }), ProtocolError, JSON.stringify(member));
    assert.throws(() => encodeHostMessage({ type: 'stats', member }), ProtocolError, JSON.stringify(member));
  }
  for (const file of ['cgroup.procs', 'cgroup.subtree_control', '../memory.max', 'memory.max/x', 'devices.allow', 'cgroup.kill']) {
    assert.throws(() => encodeHostMessage({ type: 'cgroup', verb: 'write', member: 'a1', file, value: '0' }), /may write/, file);
  }
  assert.throws(() => encodeHostMessage({ type: 'cgroup', verb: 'write', member: 'a1', file: 'pids.max', value: '1\0' }), /bad value/);
  assert.throws(() => encodeHostMessage({ type: 'cgroup', verb: 'write', member: 'a1', file: 'pids.max', value: '9'.repeat(257) }), /bad value/);
  assert.equal(memberKey('0123abcdef'), '0123abcdef');
  assert.match(memberKey('a+b'), /^h[0-9a-f]{40}$/, 'an id that is not a plain word: a hash');
  assert.match(memberKey('x'.repeat(200)), /^h[0-9a-f]{40}$/);
  assert.notEqual(memberKey('a+b'), memberKey('a+c'));
});

test('channel: STATS answers carry known cgroup files only, each once, as bounded text', () => {
  assert.deepEqual([...encodeHostMessage({ type: 'stats' })], [0x4d, 0x54, 2, 11, 0, 0, 0, 0]);
  const ok = decodeGuestMessage(0x89, Buffer.from('memory.current\x00123\n\x00cpu.stat\x00usage_usec 5\nuser_usec 3\n\x00'));
  assert.deepEqual(ok, { type: 'stats', files: new Map([['memory.current', '123\n'], ['cpu.stat', 'usage_usec 5\nuser_usec 3\n']]) });
  assert.deepEqual(decodeGuestMessage(0x89, Buffer.alloc(0)), { type: 'stats', files: new Map() }, 'no controller enabled');
  assert.throws(() => decodeGuestMessage(0x89, Buffer.from('../../etc/passwd\x00x\x00')), /unexpected file/);
  assert.throws(() => decodeGuestMessage(0x89, Buffer.from('pids.max\x00max\n\x00pids.max\x00max\n\x00')), /twice/);
  assert.throws(() => decodeGuestMessage(0x89, Buffer.from('pids.max\x00max')), /terminating NUL/);
  assert.throws(() => decodeGuestMessage(0x89, Buffer.from('pids.max')), /terminating NUL/);
  assert.throws(() => decodeGuestMessage(0x89, Buffer.concat([Buffer.from('memory.stat\x00'), Buffer.alloc(4097, 0x41), Buffer.from([0])])), /more than 4096/);
  assert.throws(() => decodeGuestMessage(0x89, Buffer.from('pids.max\x00\x1b[2J\x00')), /not text/);
  assert.throws(() => checkAllowed(ok, 'exec'), ProtocolError);
  assert.doesNotThrow(() => checkAllowed(ok, 'ctl'));
});

test('qemu: microvm command line, fd sets for output ports, values escaped', () => {
  const cmd = qemuDriver.command({
    accel: 'tcg', memoryMiB: 256, cpus: 1, kernel: '/boot/vmlinuz', initrd: '/c/i,x.cpio', cmdline: 'quiet',
    disks: [{ format: 'raw', fds: { rw: 30, ro: 31 }, readonly: false }],
    ports: [
      { name: 'moat.ctl', kind: 'socket', path: '/s/ctl.sock' },
      { name: 'moat.out', kind: 'output', fd: 9, access: 'read-write' },
      { name: 'moat.err', kind: 'output', fd: 11, access: 'write-only' },
    ],
  });
  const a = cmd.args.join(' ');
  assert.match(a, /-M microvm,x-option-roms=off,rtc=on,isa-serial=off -accel tcg/);
  assert.match(a, /-no-reboot/);
  assert.match(a, /-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny/);
  assert.match(a, /-initrd \/c\/i,,x\.cpio/);
  assert.match(a, /-chardev socket,id=port0,path=\/s\/ctl\.sock,server=on,wait=off -device virtserialport,chardev=port0,name=moat\.ctl/);
  assert.match(a, /-add-fd fd=3,set=2 -chardev pipe,id=port1,path=\/dev\/fdset\/2/);
  assert.match(a, /-add-fd fd=4,set=3 -chardev file,id=port2,path=\/dev\/fdset\/3,append=on/);
  assert.match(a, /-add-fd fd=64,set=100 -add-fd fd=65,set=100 -blockdev driver=file,node-name=disk0-file,filename=\/dev\/fdset\/100,.* -blockdev driver=raw,node-name=disk0,file=disk0-file,cache.no-flush=on -device virtio-blk-device,drive=disk0/);
  assert.deepEqual(cmd.fds, [{ child: 3, parent: 9 }, { child: 4, parent: 11 }, { child: 64, parent: 30 }, { child: 65, parent: 31 }]);
});

test('qemu: stdin port is QEMU\'s stdio chardev; confinement (runas, chroot, the uid lock held)', () => {
  const cmd = qemuDriver.command({
    accel: 'tcg', memoryMiB: 320, cpus: 2, kernel: '/boot/vmlinuz', initrd: '/c/i.cpio', cmdline: 'quiet', disks: [],
    ports: [
      { name: 'moat.in', kind: 'input', fd: 7 },
      { name: 'moat.out', kind: 'output', fd: 9, access: 'write-only' },
    ],
    runAs: { uid: VM_UID_BASE + 5, gid: VM_UID_BASE + 5 },
    chroot: '/s/vm/chroot',
    holdFds: [12],
  });
  const a = cmd.args.join(' ');
  assert.match(a, /-m 320 -smp 2 /);
  assert.match(a, /-chardev stdio,id=port0,signal=off -device virtserialport,chardev=port0,name=moat\.in/);
  assert.match(a, /-add-fd fd=3,set=2 -chardev file,id=port1,path=\/dev\/fdset\/2,append=on/);
  assert.match(a, new RegExp(`-runas ${VM_UID_BASE + 5}:${VM_UID_BASE + 5} -chroot /s/vm/chroot`));
  // QEMU's own setgid/setuid after its filter: set*id allowed, everything else still denied.
  assert.match(a, /-sandbox on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny/);
  assert.deepEqual(cmd.fds, [{ child: 0, parent: 7 }, { child: 3, parent: 9 }, { child: 4, parent: 12 }]);
  assert.throws(() => qemuDriver.command({ accel: 'tcg', memoryMiB: 256, cpus: 1, kernel: 'k', initrd: 'i', cmdline: '', disks: [], ports: [], runAs: { uid: 0, gid: 0 } }), /unprivileged/);
  assert.throws(
    () => qemuDriver.command({ accel: 'tcg', memoryMiB: 256, cpus: 1, kernel: 'k', initrd: 'i', cmdline: '', disks: [], ports: [{ name: 'a', kind: 'input', fd: 1 }, { name: 'b', kind: 'input', fd: 2 }] }),
    /one input port/,
  );
  const c = firstCandidate('/run/moat/a');
  assert.ok(c >= 0 && c < 0x10000);
  assert.equal(firstCandidate('/run/moat/a'), c);
});

test('vm size and guest cgroup from linux.resources', () => {
  const host = { cpus: 8, memoryMiB: 16384 };
  assert.deepEqual(vmSize(parseResources(undefined), host), { memoryMiB: 256, cpus: 1 });
  assert.deepEqual(vmSize(parseResources({ memory: { limit: 64 << 20 } }), host), { memoryMiB: 256, cpus: 1 }, 'a floor');
  assert.deepEqual(vmSize(parseResources({ memory: { limit: 512 << 20 }, cpu: { quota: 150000, period: 100000 } }), host), { memoryMiB: 640, cpus: 2 });
  assert.deepEqual(vmSize(parseResources({ cpu: { quota: 50000 } }), host), { memoryMiB: 256, cpus: 1 });
  assert.deepEqual(vmSize(parseResources({ cpu: { quota: 400000, period: 100000, cpus: '0-1' } }), host), { memoryMiB: 256, cpus: 2 }, 'the smaller');
  assert.deepEqual(vmSize(parseResources({ cpu: { quota: 6400000, period: 100000 }, memory: { limit: 64 * 2 ** 30 } }), host), { memoryMiB: 16384, cpus: 8 }, 'at most the host');
  assert.deepEqual(vmSize(parseResources({ memory: { limit: -1 } }), host), { memoryMiB: 256, cpus: 1 });
  assert.equal(cpusetCount('0-3,8'), 5);
  assert.equal(cpusetCount('x'), undefined);

  const spec = specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }) as unknown as Spec;
  spec.linux!.resources = { memory: { limit: 192 << 20 }, pids: { limit: 64 }, cpu: { quota: 150000, period: 100000, cpus: '0-1' } } as never;
  const cg = guestCgroup(spec);
  const ops = cg.create.map((o) => (o.op === 'write' ? `${o.path}=${o.data}` : o.op));
  assert.deepEqual(ops.slice(0, 3), ['/sys/fs/cgroup/cgroup.subtree_control=+cpu', '/sys/fs/cgroup/cgroup.subtree_control=+memory', '/sys/fs/cgroup/cgroup.subtree_control=+pids']);
  assert.ok(ops.includes(`/sys/fs/cgroup/container/memory.max=${192 << 20}`));
  assert.ok(ops.includes('/sys/fs/cgroup/container/pids.max=64'));
  assert.ok(ops.includes('/sys/fs/cgroup/container/cpu.max=150000 100000'));
  assert.ok(!ops.some((o) => o.includes('cpuset.cpus')), 'host CPU numbers are not written in the guest');
  assert.match(cg.ignored.join('\n'), /cpu\.cpus: applied as the VM's vCPU count/);
  assert.equal(ops[ops.length - 1], '/sys/fs/cgroup/container/cgroup.procs=0', 'joined last, once limited');
  assert.deepEqual(cg.join, [{ op: 'write', path: '/sys/fs/cgroup/container/cgroup.procs', data: '0' }]);
});

test('vm spec checks name the field; cmdline and sizes', () => {
  const base = specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }) as unknown as Spec & { process: Process };
  base.process.terminal = false;
  assert.doesNotThrow(() => checkVmSpec(base, 0));
  assert.doesNotThrow(() => checkVmSpec({ ...base, process: { ...base.process, terminal: true } }, 0), 'terminals are supported');
  assert.throws(() => checkVmSpec(base, 1), /--preserve-fds/);
  assert.doesNotThrow(() => checkVmSpec({ ...base, mounts: [{ destination: '/x', source: '/etc', options: ['rbind'] }] }, 0), 'binds are volumes now');
  assert.match(guestCmdline(false, 2445424), /tsc_early_khz=2445424 .*panic=-1 reboot=t/);
  assert.equal(hostTscKhz('flags\t\t: fpu constant_tsc\ncpu MHz\t\t: 2445.424\n'), 2445424);
  assert.equal(hostTscKhz('flags\t\t: fpu\ncpu MHz\t\t: 2445.424\n'), undefined);
  assert.deepEqual(imageSize(10 << 20, 100), { bytes: 84 << 20, inodes: 4096 });
});

test('vm host volumes: binds become /vol/N shares (a file: its own share, the file bound), ro kept, hostile sources refused; QEMU gets vhost-user-fs on shared memory', () => {
  const base = specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }) as unknown as Spec & { process: Process };
  const fake = (p: string) =>
    ({ '/srv/data': { real: '/srv/data', kind: 'dir' as const }, '/link/hosts': { real: '/var/lib/c/hosts', kind: 'file' as const }, '/run/s.sock': { real: '/run/s.sock', kind: 'other' as const } })[p];
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] },
    { destination: '/etc/hosts', source: '/link/hosts', options: ['bind', 'rw'] },
  ];
  const v = planVolumes({ ...base, mounts }, fake);
  assert.deepEqual(v.spec.mounts?.map((m) => m.source), ['proc', '/vol/0', '/vol/1/hosts']);
  assert.deepEqual(v.volumes.map((x) => [x.host, x.kind, x.readonly, x.recursive, x.tag]), [
    ['/srv/data', 'dir', true, true, 'moat.v0'],
    ['/var/lib/c/hosts', 'file', false, false, 'moat.v1'],
  ]);
  assert.equal(volumesCmdline(v.volumes), 'moat.vols=rw');
  assert.equal(volumesCmdline([]), '');
  assert.equal(guestFacts(v.kinds).pathKind('/vol/1/hosts'), 'file');
  assert.equal(guestFacts(v.kinds).pathKind('/srv/data'), 'missing', 'host paths mean nothing in the guest');
  assert.throws(() => planVolumes({ ...base, mounts: [{ destination: '/x', type: 'bind', source: 'rel' }] }, fake), /mounts\[0\]\.source: bind source must be an absolute host path/);
  assert.throws(() => planVolumes({ ...base, mounts: [{ destination: '/x', type: 'bind', source: '/nope' }] }, fake), /mounts\[0\]\.source: \/nope does not exist/);
  assert.throws(() => planVolumes({ ...base, mounts: [{ destination: '/x', type: 'bind', source: '/run/s.sock' }] }, fake), /only directories and regular files/);

  // A client's /etc files are copied (no share, so the VM can start from a template); a large one,
  // or a file bound elsewhere, is shared as before.
  const files = (p: string) =>
    ({ '/c/hosts': { real: '/c/hosts', kind: 'file' as const, size: 200 }, '/c/resolv': { real: '/c/resolv', kind: 'file' as const, size: 70 }, '/c/big': { real: '/c/big', kind: 'file' as const, size: 65537 } })[p];
  const etc = [
    { destination: '/etc/hosts', type: 'bind', source: '/c/hosts', options: ['rbind', 'rw'] },
    { destination: '/etc//resolv.conf', type: 'bind', source: '/c/resolv', options: ['rbind', 'ro'] },
    { destination: '/etc/hostname', type: 'bind', source: '/c/big', options: ['rbind'] },
    { destination: '/etc/app.conf', type: 'bind', source: '/c/hosts', options: ['rbind'] },
  ];
  const c = planVolumes({ ...base, mounts: etc }, files, true);
  assert.deepEqual(c.spec.mounts?.map((m) => m.source), ['/files/0', '/files/1', '/vol/0/big', '/vol/1/hosts']);
  assert.deepEqual(c.copies, [{ field: 'mounts[0].source', host: '/c/hosts', guestSource: '/files/0' }, { field: 'mounts[1].source', host: '/c/resolv', guestSource: '/files/1' }]);
  assert.deepEqual(c.volumes.map((x) => x.host), ['/c/big', '/c/hosts']);
  assert.equal(guestFacts(c.kinds).pathKind('/files/1'), 'file');
  assert.deepEqual(planVolumes({ ...base, mounts: etc }, files).copies, [], 'only when asked (a pod member\'s files are bound under the pod share)');
  const enc = encodeHostMessage({ type: 'files', files: [{ mode: 0o4755, uid: 0, gid: 5, data: Buffer.from('ab') }] });
  assert.deepEqual([...enc.subarray(3)], [12, 22, 0, 0, 0, 1, 0, 0, 0, 0xed, 1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 0x61, 0x62], 'no set-id bits cross');
  assert.throws(() => encodeHostMessage({ type: 'files', files: [{ mode: 0o644, uid: 0, gid: 0, data: Buffer.alloc(65537) }] }), ProtocolError);

  const machine = { accel: 'tcg' as const, memoryMiB: 256, cpus: 1, kernel: 'k', initrd: 'i', cmdline: '', disks: [], ports: [] };
  const cmd = qemuDriver.command({ ...machine, filesystems: [{ tag: 'moat.v0', socket: '/s/fs-0.sock' }] });
  assert.match(cmd.args[cmd.args.indexOf('-M') + 1]!, /,memory-backend=mem$/);
  assert.ok(cmd.args.includes('memory-backend-memfd,id=mem,size=256M,share=on'));
  assert.ok(cmd.args.includes('socket,id=fs0,path=/s/fs-0.sock'));
  assert.ok(cmd.args.includes('vhost-user-fs-device,chardev=fs0,tag=moat.v0'));
  const plain = qemuDriver.command(machine);
  assert.ok(!plain.args.some((a) => a.includes('memory-backend')), 'private memory without shares');
  assert.throws(() => qemuDriver.command({ ...machine, filesystems: [{ tag: 'a,b', socket: '/s' }] }), /filesystems\[0\]\.tag/);
});

test('vm networking: the namespace\'s ethernet interfaces become guest NICs (tap, MAC, MTU, first IPv4, default gateway) on the kernel command line; QEMU gets tap netdevs; only a network namespace may be joined', () => {
  const links = [
    { ifname: 'lo', address: '00:00:00:00:00:00', mtu: 65536, link_type: 'loopback', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
    { ifname: 'eth0', address: 'AA:10:1E:64:DE:8C', mtu: 1400, link_type: 'ether', linkinfo: { info_kind: 'veth' }, addr_info: [{ family: 'inet6', local: 'fe80::1', prefixlen: 64 }, { family: 'inet', local: '10.213.7.2', prefixlen: 24 }] },
    { ifname: 'tap0_moat', address: '02:00:00:00:00:01', mtu: 1500, link_type: 'ether', linkinfo: { info_kind: 'tun' } },
    { ifname: 'eth1', address: '02:00:00:00:00:02', mtu: 1500, link_type: 'ether' },
  ];
  const ifaces = guestInterfaces(links, [{ dst: 'default', gateway: '10.213.7.1', dev: 'eth0' }]);
  assert.deepEqual(ifaces, [
    { name: 'eth0', tap: 'tap0_moat', mac: 'aa:10:1e:64:de:8c', mtu: 1400, address: '10.213.7.2/24', gateway: '10.213.7.1' },
    { name: 'eth1', tap: 'tap1_moat', mac: '02:00:00:00:00:02', mtu: 1500 },
  ]);
  assert.equal(networkCmdline(ifaces), 'moat.if0=aa:10:1e:64:de:8c,eth0,1400,10.213.7.2/24,10.213.7.1');
  assert.equal(networkCmdline([]), '');
  assert.deepEqual(guestInterfaces([{ ifname: 'bad name', address: '02:00:00:00:00:03', link_type: 'ether' }], []), [], 'names that cannot cross are skipped');

  const machine = { accel: 'tcg' as const, memoryMiB: 256, cpus: 1, kernel: 'k', initrd: 'i', cmdline: '', disks: [], ports: [] };
  const cmd = qemuDriver.command({ ...machine, nics: [{ tap: 'tap0_moat', mac: 'aa:10:1e:64:de:8c' }] });
  assert.ok(cmd.args.includes('tap,id=net0,ifname=tap0_moat,script=no,downscript=no'));
  assert.ok(cmd.args.includes('virtio-net-device,netdev=net0,mac=aa:10:1e:64:de:8c'));
  assert.throws(() => qemuDriver.command({ ...machine, nics: [{ tap: 'x,script=/evil', mac: 'aa:10:1e:64:de:8c' }] }), /nics\[0\]\.tap/);

  const base = specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }) as unknown as Spec & { process: Process };
  const withNs = (type: string) => ({ ...base, linux: { ...base.linux!, namespaces: [...base.linux!.namespaces.filter((n) => n.type !== type), { type, path: '/proc/1/ns/x' }] } }) as Spec & { process: Process };
  assert.doesNotThrow(() => checkVmSpec(withNs('network'), 0));
  assert.throws(() => checkVmSpec(withNs('pid'), 0), /linux\.namespaces\[\d+\]\.path: a vm container cannot join a host pid namespace/);
});

test('vm sockets: a state directory too long for sun_path (Docker\'s) is reached through a short alias under /run/moat-vm', () => {
  const short = '/tmp/moat-root-x/c1/vm';
  assert.equal(socketDir(short), short);
  const docker = `/run/docker/runtime-runc/moby/${'a'.repeat(64)}/vm`;
  const alias = socketDir(docker);
  assert.match(alias, /^\/run\/moat-vm\/[0-9a-f]{24}$/);
  assert.equal(socketDir(docker), alias, 'deterministic: delete finds it again');
  assert.notEqual(socketDir(docker.replace('aaaa', 'aaab')), alias);
  for (let slot = 0; slot < 8; slot++) assert.ok(Buffer.byteLength(execSocketPath(docker, slot)) <= 107);
  assert.equal(execSocketPath(short, 2), `${short}/exec-2.sock`);
});
