// The vm platform's pure parts: cpio, module resolution, the channel protocol, the QEMU command
// line, the spec checks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeCpio, resolveModules } from '../../src/vm/guest';
import { decodeGuestMessage, encodeHostMessage, GuestFrameReader, ProtocolError } from '../../src/vm/channel';
import { qemuDriver } from '../../src/vm/vmm';
import { checkVmSpec } from '../../src/vm/spec';
import { guestCmdline, hostTscKhz } from '../../src/vm/platform';
import { imageSize } from '../../src/vm/rootfs';
import { specTemplate } from '../../src/spec/default';
import type { Process, Spec } from '../../src/spec/types';

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
  assert.deepEqual([...sig.subarray(0, 8)], [0x4d, 0x54, 1, 4, 8, 0, 0, 0]);
  assert.throws(() => encodeHostMessage({ type: 'signal', signal: 0, all: false }), ProtocolError);
  const frame = (type: number, payload: Buffer, version = 1) => {
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
  assert.throws(() => new GuestFrameReader().push(frame(0x82, ready, 2)), /protocol version 2/);
  assert.throws(() => new GuestFrameReader().push(Buffer.from('XX\x01\x82\0\0\0\0')), /bad magic/);
  const huge = Buffer.from([0x4d, 0x54, 1, 0x85, 0, 0, 0, 0x10]);
  assert.throws(() => new GuestFrameReader().push(huge), /more than 1024/);
  assert.throws(() => decodeGuestMessage(0x99, Buffer.alloc(0)), /unknown/);
  assert.throws(() => decodeGuestMessage(0x82, Buffer.alloc(3)), /expected 4/);
  const bad = Buffer.alloc(4);
  bad.writeUInt32LE(300);
  assert.throws(() => decodeGuestMessage(0x86, bad), /not 0..255/);
  assert.deepEqual(decodeGuestMessage(0x85, Buffer.from('a\nb\x1b')), { type: 'error', message: 'a?b?' });
});

test('qemu: microvm command line, fd sets for output ports, values escaped', () => {
  const cmd = qemuDriver.command({
    accel: 'tcg', memoryMiB: 256, cpus: 1, kernel: '/boot/vmlinuz', initrd: '/c/i,x.cpio', cmdline: 'quiet',
    disks: [{ path: '/s/rootfs.img', readonly: false }],
    ports: [
      { name: 'moat.ctl', kind: 'socket', path: '/s/ctl.sock' },
      { name: 'moat.out', kind: 'output', fd: 9, access: 'read-write' },
      { name: 'moat.err', kind: 'output', fd: 11, access: 'write-only' },
    ],
  });
  const a = cmd.args.join(' ');
  assert.match(a, /-M microvm,x-option-roms=off,rtc=off,isa-serial=off -accel tcg/);
  assert.match(a, /-no-reboot/);
  assert.match(a, /-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny/);
  assert.match(a, /-initrd \/c\/i,,x\.cpio/);
  assert.match(a, /-chardev socket,id=port0,path=\/s\/ctl\.sock,server=on,wait=off -device virtserialport,chardev=port0,name=moat\.ctl/);
  assert.match(a, /-add-fd fd=3,set=2 -chardev pipe,id=port1,path=\/dev\/fdset\/2/);
  assert.match(a, /-add-fd fd=4,set=3 -chardev file,id=port2,path=\/dev\/fdset\/3,append=on/);
  assert.deepEqual(cmd.fds, [{ child: 3, parent: 9 }, { child: 4, parent: 11 }]);
});

test('vm spec checks name the field; cmdline and sizes', () => {
  const base = specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }) as unknown as Spec & { process: Process };
  base.process.terminal = false;
  assert.doesNotThrow(() => checkVmSpec(base, 0));
  assert.throws(() => checkVmSpec({ ...base, process: { ...base.process, terminal: true } }, 0), /process\.terminal/);
  assert.throws(() => checkVmSpec(base, 1), /--preserve-fds/);
  assert.throws(() => checkVmSpec({ ...base, mounts: [{ destination: '/x', source: '/etc', options: ['rbind'] }] }, 0), /mounts\[0\]\.source/);
  assert.match(guestCmdline(false, 2445424), /tsc_early_khz=2445424 .*panic=-1 reboot=t/);
  assert.equal(hostTscKhz('flags\t\t: fpu constant_tsc\ncpu MHz\t\t: 2445.424\n'), 2445424);
  assert.equal(hostTscKhz('flags\t\t: fpu\ncpu MHz\t\t: 2445.424\n'), undefined);
  assert.deepEqual(imageSize(10 << 20, 100), { bytes: 84 << 20, inodes: 4096 });
});
