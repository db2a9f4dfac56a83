// The VMM driver interface: what the vm platform needs from a virtual machine monitor. One module
// per VMM (qemu.ts now; Firecracker, Cloud Hypervisor, StratoVirt later) implements it.

export type Accel = 'kvm' | 'tcg';

/** A machine description, VMM-neutral. Paths are host paths. */
export interface VmConfig {
  accel: Accel;
  memoryMiB: number;
  cpus: number;
  kernel: string;
  initrd: string;
  /** Kernel command line (the driver may add its own device descriptions). */
  cmdline: string;
  /** virtio-blk disks, in order (the first is /dev/vda in the guest). */
  disks: VmDisk[];
  /**
   * Named guest ports (virtio-serial ports here; vsock ports where a driver has them). The agent
   * finds each by name. `socket`: a unix socket the VMM listens on; `output`: a host fd of
   * moat's, passed to the VMM, that the guest's bytes are written to (`access`: the fd's open mode);
   * `input`: a host fd the VMM reads and the guest receives, whose end is the guest's EOF (at most
   * one: QEMU reads it as its own stdin).
   */
  ports: VmPort[];
  /**
   * Shared host directories (virtio-fs): a vhost-user socket a file server listens on, and the tag
   * the guest mounts it by. Their presence makes guest memory shareable with the servers.
   */
  filesystems?: { tag: string; socket: string }[];
  /**
   * Network interfaces: a tap (by name, in the VMM's network namespace; the VMM creates it, and it
   * goes with the VMM) and the guest NIC's MAC.
   */
  nics?: { tap: string; mac: string }[];
  /** Kernel console to this file (debugging); undefined: no console device at all. */
  consoleLog?: string;
  /**
   * Confinement of the VMM process once it has opened everything above and before the guest runs:
   * this uid/gid (no supplementary groups, no capabilities) and this directory as its root (an
   * empty one). Both need the VMM started as root.
   */
  runAs?: { uid: number; gid: number };
  chroot?: string;
  /** Host fds the VMM process must hold for as long as it lives (the lock on its uid). */
  holdFds?: number[];
  /**
   * Templates (docs/vm.md#templates): `incoming` is a host fd of a saved VM state to start from
   * instead of booting (the machine above must be the one that was saved); `monitor` a unix socket
   * the VMM listens on for its control protocol (QMP), with which a template is saved.
   */
  incoming?: number;
  monitor?: string;
  /**
   * Guest memory in a file (templates): `share` maps it shared (the template: its memory is the
   * file, and the saved state leaves it out), else privately, copy-on-write (a clone of it).
   * A clone's is a host fd the VMM inherits (opened again through /proc/self/fd).
   */
  memoryFile?: { path: string; share: true } | { fd: number; share: false };
}

/**
 * A disk image, by fds moat opened (a confined VMM opens no path): `fds` the image read-write and
 * read-only (a VMM saving or restoring a VM reopens its images — QEMU on inactivating and
 * activating them — in the mode it then needs). A qcow2 image's `backing` is a raw image opened
 * read-only, given to the VMM as a read-only node of its own: the path in the qcow2 header is never
 * opened, and nothing is ever written to the backing image.
 */
export interface VmDisk {
  format: 'raw' | 'qcow2';
  fds: { rw: number; ro: number };
  backing?: { fd: number };
  readonly: boolean;
}

export type VmPort =
  | { name: string; kind: 'socket'; path: string }
  | { name: string; kind: 'output'; fd: number; access: 'write-only' | 'read-write' }
  | { name: string; kind: 'input'; fd: number };

/** A planned VMM invocation: pure data, run by the platform. */
export interface VmmCommand {
  binary: string;
  args: string[];
  /** Host fds the VMM process must inherit, by their number in the VMM (child fd → parent fd). */
  fds: { child: number; parent: number }[];
}

export interface VmmDriver {
  readonly name: string;
  /** The command line for this machine. Pure. */
  command(config: VmConfig): VmmCommand;
}
