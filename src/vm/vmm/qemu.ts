// QEMU driver: `qemu-system-x86_64 -M microvm` with virtio-mmio devices (Debian's qemu-system-x86).

import type { VmConfig, VmmCommand, VmmDriver } from './types';

export const QEMU_BINARY = 'qemu-system-x86_64';

/** First fd number handed to QEMU for output ports (`-add-fd`); 0..2 are QEMU's own stdio. */
const FIRST_PORT_FD = 3;
/** Disk image fds (`disks[].fds`), well above the ports' and held fds; their fd sets' numbers. */
const FIRST_DISK_FD = 64;
const DISK_FDSET_BASE = 100;

function chardevValue(v: string, what: string): string {
  // QEMU option values split on ',' (',,' escapes one); refuse what could inject another option.
  if (/[\n\0]/.test(v)) throw new Error(`${what}: ${JSON.stringify(v)} cannot be passed to QEMU`);
  return v.replace(/,/g, ',,');
}

export const qemuDriver: VmmDriver = {
  name: 'qemu',
  command(c: VmConfig): VmmCommand {
    const shared = (c.filesystems ?? []).length > 0;
    const args = [
      '-M', 'microvm,x-option-roms=off,rtc=on,isa-serial=' + (c.consoleLog ? 'on' : 'off') + (shared || c.memoryFile ? ',memory-backend=mem' : ''),
      '-accel', c.accel,
      '-cpu', c.accel === 'kvm' ? 'host' : 'max',
      '-m', String(c.memoryMiB),
      '-smp', String(c.cpus),
      '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
      // Modern (virtio 1.0) virtio-mmio: vhost-user devices (virtio-fs) refuse the legacy interface.
      '-global', 'virtio-mmio.force-legacy=false',
      // QEMU's own seccomp sandbox: a guest that breaks into the VMM cannot spawn processes,
      // change resource limits or use obsolete syscalls. With -runas, QEMU's own setgid/setuid
      // come after the filter is loaded, so set*id must stay allowed: they are harmless once it
      // runs as an unprivileged uid without capabilities (before any guest instruction runs).
      '-sandbox', `on,obsolete=deny,elevateprivileges=${c.runAs ? 'allow' : 'deny'},spawn=deny,resourcecontrol=deny`,
      '-kernel', chardevValue(c.kernel, 'kernel'),
      '-initrd', chardevValue(c.initrd, 'initrd'),
      '-append', c.cmdline,
    ];
    if (c.runAs) {
      for (const v of [c.runAs.uid, c.runAs.gid]) if (!Number.isInteger(v) || v <= 0 || v >= 0xffffffff) throw new Error(`runAs: ${v} is not an unprivileged id`);
      args.push('-runas', `${c.runAs.uid}:${c.runAs.gid}`);
    }
    if (c.chroot) args.push('-chroot', c.chroot);
    if (c.consoleLog) args.push('-serial', `file:${chardevValue(c.consoleLog, 'consoleLog')}`);
    const diskFds: { child: number; parent: number }[] = [];
    // An fd set of the given fds (QEMU dups the one whose access mode it asks for), as a path.
    const fdset = (fds: number[]): string => {
      const set = DISK_FDSET_BASE + diskFds.length;
      for (const fd of fds) {
        const child = FIRST_DISK_FD + diskFds.length;
        diskFds.push({ child, parent: fd });
        args.push('-add-fd', `fd=${child},set=${set}`);
      }
      return `/dev/fdset/${set}`;
    };
    // Explicit nodes (-blockdev): a file node on the fd set, a format node over it. No image
    // locking: its OFD locks would be taken on one of the two open descriptions and then conflict
    // with the other on reopening; the images are moat's, and none is opened by two VMs for writing
    // (a base is shared, read-only). Cache: the disk lives and dies with the container (no flushes).
    const file = (node: string, filename: string, readonly: boolean): string =>
      `driver=file,node-name=${node},filename=${filename},locking=off,aio=threads,cache.no-flush=on${readonly ? ',read-only=on' : ''}`;
    c.disks.forEach((d, i) => {
      const node = `disk${i}`;
      // A qcow2 image without an explicit backing node would have QEMU open its header's path.
      if ((d.backing !== undefined) !== (d.format === 'qcow2')) throw new Error(`disks[${i}]: a qcow2 image goes with its backing image, a raw one without`);
      let backing = '';
      if (d.backing) {
        // The base: read-only all the way down; QEMU never opens the path the qcow2 header names.
        args.push('-blockdev', file(`${node}-base-file`, fdset([d.backing.fd]), true));
        args.push('-blockdev', `driver=raw,node-name=${node}-base,file=${node}-base-file,read-only=on`);
        backing = `,backing=${node}-base`;
      }
      args.push('-blockdev', file(`${node}-file`, fdset([d.fds.rw, d.fds.ro]), d.readonly));
      args.push('-blockdev', `driver=${d.format},node-name=${node},file=${node}-file${backing},cache.no-flush=on${d.readonly ? ',read-only=on' : ''}`);
      args.push('-device', `virtio-blk-device,drive=${node}`);
    });
    let memFd: { child: number; parent: number } | undefined;
    if (c.memoryFile) {
      if (shared) throw new Error('memoryFile: not with shared file systems (their memory is a shared memfd)');
      const m = c.memoryFile;
      let memPath: string;
      if (m.share) memPath = chardevValue(m.path, 'memoryFile.path');
      else {
        memFd = { child: FIRST_DISK_FD - 1, parent: m.fd };
        memPath = `/proc/self/fd/${memFd.child}`;
      }
      args.push('-object', `memory-backend-file,id=mem,size=${c.memoryMiB}M,mem-path=${memPath},share=${m.share ? 'on' : 'off'}`);
    }
    if (shared) {
      // vhost-user: the file servers read and write guest memory directly, so it is a shared memfd.
      args.push('-object', `memory-backend-memfd,id=mem,size=${c.memoryMiB}M,share=on`);
    }
    (c.filesystems ?? []).forEach((f, i) => {
      if (!/^[A-Za-z0-9._-]{1,31}$/.test(f.tag)) throw new Error(`filesystems[${i}].tag: ${JSON.stringify(f.tag)} is not a valid tag`);
      args.push(
        '-chardev', `socket,id=fs${i},path=${chardevValue(f.socket, `filesystems[${i}].socket`)}`,
        '-device', `vhost-user-fs-device,chardev=fs${i},tag=${f.tag}`,
      );
    });
    (c.nics ?? []).forEach((n, i) => {
      if (!/^[A-Za-z0-9_.-]{1,15}$/.test(n.tap)) throw new Error(`nics[${i}].tap: ${JSON.stringify(n.tap)} is not an interface name`);
      if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(n.mac)) throw new Error(`nics[${i}].mac: ${JSON.stringify(n.mac)} is not a MAC address`);
      // QEMU opens /dev/net/tun as root before it confines itself; no scripts, no vhost-net.
      args.push('-netdev', `tap,id=net${i},ifname=${n.tap},script=no,downscript=no`, '-device', `virtio-net-device,netdev=net${i},mac=${n.mac}`);
    });
    const fds: VmmCommand['fds'] = [];
    if (c.ports.filter((p) => p.kind === 'input').length > 1) throw new Error('ports: QEMU takes one input port (its stdin)');
    if (c.ports.length > 0) {
      // Port 0 of a virtio-serial device is reserved for a console.
      args.push('-device', `virtio-serial-device,max_ports=${c.ports.length + 1}`);
      c.ports.forEach((p, i) => {
        const id = `port${i}`;
        if (p.kind === 'socket') {
          args.push('-chardev', `socket,id=${id},path=${chardevValue(p.path, `ports[${i}].path`)},server=on,wait=off`);
        } else if (p.kind === 'input') {
          // QEMU's stdin: the only chardev that reads a read-only fd and reports its end (EOF
          // closes the port, which the guest reads as EOF). signal=off: bytes, not QEMU's signals.
          fds.push({ child: 0, parent: p.fd });
          args.push('-chardev', `stdio,id=${id},signal=off`);
        } else {
          // An fd of ours, as QEMU's fd set i+1: `pipe` opens it O_RDWR, which matches sockets,
          // `file` O_WRONLY, which matches pipes, ttys and files (the fd's access mode must match).
          const child = FIRST_PORT_FD + fds.filter((f) => f.child >= FIRST_PORT_FD).length;
          fds.push({ child, parent: p.fd });
          args.push('-add-fd', `fd=${child},set=${i + 1}`);
          const backend = p.access === 'read-write' ? 'pipe' : 'file';
          args.push('-chardev', `${backend},id=${id},path=/dev/fdset/${i + 1}${backend === 'file' ? ',append=on' : ''}`);
        }
        args.push('-device', `virtserialport,chardev=${id},name=${chardevValue(p.name, `ports[${i}].name`)}`);
      });
    }
    let next = FIRST_PORT_FD + fds.filter((f) => f.child >= FIRST_PORT_FD).length;
    for (const fd of c.holdFds ?? []) fds.push({ child: next++, parent: fd });
    fds.push(...diskFds);
    if (memFd) fds.push(memFd);
    // Templates: QMP to save one (its state goes to an fd passed with `getfd`); a clone reads its
    // state from an inherited fd and runs once it is loaded (no -S).
    if (c.monitor !== undefined) args.push('-qmp', `unix:${chardevValue(c.monitor, 'monitor')},server=on,wait=off`);
    if (c.incoming !== undefined) {
      fds.push({ child: next, parent: c.incoming });
      // With a monitor, the caller sets migration capabilities first (7.2 has no -global for
      // x-ignore-shared), then `migrate-incoming fd:<this fd>`.
      args.push('-incoming', c.monitor !== undefined ? 'defer' : `fd:${next}`);
      next++;
    }
    return { binary: QEMU_BINARY, args, fds };
  },
};
