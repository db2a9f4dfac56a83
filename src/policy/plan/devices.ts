// /dev inside the container: the default device nodes every container gets, the spec's
// linux.devices, and the standard symlinks. In a user namespace mknod is not permitted, so the host's
// node is bind-mounted instead (what runc does).

import type { Device } from '../../spec/types';
import { MS, S_IFBLK, S_IFCHR, S_IFIFO } from './constants';
import type { ChildOp } from './ops';

export const DEFAULT_DEVICES: readonly Required<Device>[] = [
  { type: 'c', path: '/dev/null', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/zero', major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/full', major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/random', major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/urandom', major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { type: 'c', path: '/dev/tty', major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

export const DEV_SYMLINKS: readonly [target: string, link: string][] = [
  ['/proc/self/fd', '/dev/fd'],
  ['/proc/self/fd/0', '/dev/stdin'],
  ['/proc/self/fd/1', '/dev/stdout'],
  ['/proc/self/fd/2', '/dev/stderr'],
];

function typeBits(type: Device['type']): number {
  if (type === 'b') return S_IFBLK;
  if (type === 'p') return S_IFIFO;
  return S_IFCHR; // 'c' and 'u' (unbuffered character device)
}

export interface DevicePlanOptions {
  /** mknod is impossible (user namespace): bind-mount the host's node instead. */
  bindInsteadOfMknod: boolean;
  /** Create /dev/ptmx -> pts/ptmx (when a devpts is mounted at /dev/pts). */
  ptmxSymlink: boolean;
}

export function planDevice(d: Device, opts: DevicePlanOptions): ChildOp[] {
  if (opts.bindInsteadOfMknod) {
    // The host path must hold the same device; we bind it, so its permissions are the host's.
    return [{ op: 'mountat', src: d.path, dest: d.path, fstype: '', flags: MS.BIND, data: '', create: 'file' }];
  }
  return [
    {
      op: 'mknodat',
      path: d.path,
      mode: typeBits(d.type) | (d.fileMode ?? 0o666),
      major: d.major ?? 0,
      minor: d.minor ?? 0,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
    },
  ];
}

/** Default devices (minus any the spec overrides), the spec's devices, then the /dev symlinks. */
export function planDevices(specDevices: readonly Device[], opts: DevicePlanOptions): ChildOp[] {
  const overridden = new Set(specDevices.map((d) => d.path));
  const ops: ChildOp[] = [];
  for (const d of DEFAULT_DEVICES) if (!overridden.has(d.path)) ops.push(...planDevice(d, opts));
  for (const d of specDevices) ops.push(...planDevice(d, opts));
  for (const [target, link] of DEV_SYMLINKS) ops.push({ op: 'symlinkat', target, linkpath: link });
  if (opts.ptmxSymlink) ops.push({ op: 'symlinkat', target: 'pts/ptmx', linkpath: '/dev/ptmx' });
  return ops;
}
