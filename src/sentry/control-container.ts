// A container of the pod started in a running sentry (docs/sentry.md#pods): the control socket's
// `container` request. The shim (src/shim/sentry-pod.ts) sends it with four fds attached — stdin,
// stdout, stderr and the container's own gofer channel (its rootfs and volumes) — and the sentry
// builds the container's mount tree over that gofer and starts its init there, with the request's
// creds, capabilities, environment, cwd and rlimits. Every field is validated here: the socket is
// the sandbox owner's alone, but the sentry trusts nothing it is handed.

import type { BindMountConfig } from './config';
import type { TmpfsMountConfig } from './tmpfs-mount';
import { isContainerId, parseProcessFields, parseRequestJson, type ExecRequestWire } from './control-wire';

export interface ContainerRequestWire extends Omit<ExecRequestWire, 'type'> {
  type: 'container';
  /** The container's id (CRI's): what later execs and signals name. */
  id: string;
  rlimits: Array<{ resource: number; soft: number; hard: number }>;
  readonlyRootfs: boolean;
  mounts: Array<BindMountConfig | TmpfsMountConfig>;
  /** The sandbox's PID namespace (CRI's POD: shareProcessNamespace) rather than one of its own. */
  sharePids: boolean;
  /** process.terminal: the three fds are one pty slave, the container's /dev/console and /dev/tty. */
  terminal?: boolean;
}

const MAX_MOUNTS = 63; // the gofer serves 64 trees: the rootfs and 63 binds

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isCount = (v: unknown, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
const isPath = (v: unknown): v is string => typeof v === 'string' && v.startsWith('/') && v.length <= 4096 && !v.includes('\0');

function parseMount(v: unknown, i: number): BindMountConfig | TmpfsMountConfig | string {
  const f = `request.mounts[${i}]`;
  if (!isObj(v) || !isPath(v.destination)) return `${f}.destination: an absolute path`;
  if (v.type === 'tmpfs') {
    if (!isBool(v.readonly) || !isBool(v.nosuid) || !isBool(v.nodev) || !isBool(v.noexec)) return `${f}: readonly, nosuid, nodev, noexec are booleans`;
    if (typeof v.options !== 'string' || v.options.length > 4096) return `${f}.options: a string`;
    for (const k of ['size', 'inodes'] as const) if (v[k] !== undefined && !isCount(v[k], Number.MAX_SAFE_INTEGER)) return `${f}.${k}: a count`;
    if (v.mode !== undefined && !isCount(v.mode, 0o7777)) return `${f}.mode: a mode`;
    for (const k of ['uid', 'gid'] as const) if (v[k] !== undefined && !isCount(v[k], 0xfffffffe)) return `${f}.${k}: an id`;
    return {
      destination: v.destination, type: 'tmpfs', readonly: v.readonly, nosuid: v.nosuid, nodev: v.nodev, noexec: v.noexec, options: v.options,
      ...(v.size !== undefined ? { size: v.size as number } : {}), ...(v.inodes !== undefined ? { inodes: v.inodes as number } : {}),
      ...(v.mode !== undefined ? { mode: v.mode as number } : {}), ...(v.uid !== undefined ? { uid: v.uid as number } : {}),
      ...(v.gid !== undefined ? { gid: v.gid as number } : {}),
    };
  }
  if (v.type !== undefined && v.type !== 'bind') return `${f}.type: "bind" or "tmpfs"`;
  if (!isCount(v.tree, MAX_MOUNTS) || v.tree === 0) return `${f}.tree: a gofer tree 1..${MAX_MOUNTS}`;
  if (!isBool(v.readonly) || (v.writable !== undefined && !isBool(v.writable))) return `${f}: readonly and writable are booleans`;
  if (v.shareKey !== undefined && (typeof v.shareKey !== 'string' || !/^\d{1,20}:\d{1,20}$/.test(v.shareKey))) return `${f}.shareKey: "dev:ino"`;
  return {
    destination: v.destination, tree: v.tree as number, readonly: v.readonly, ...(v.writable !== undefined ? { writable: v.writable } : {}),
    ...(v.shareKey !== undefined ? { shareKey: v.shareKey as string } : {}),
  };
}

export function parseContainerRequest(raw: Buffer): ContainerRequestWire | string {
  const v = parseRequestJson(raw);
  return typeof v === 'string' ? v : containerRequestOf(v);
}

/** A parsed request whose type is `container`, checked field by field. */
export function containerRequestOf(v: Record<string, unknown>): ContainerRequestWire | string {
  if (v.type !== 'container') return 'request.type: must be "container"';
  if (!isContainerId(v.id)) return 'request.id: a container id (letters, digits, _ . -; at most 128)';
  if (v.container !== undefined) return 'request.container: only an exec names a container';
  // The process fields are an exec's, checked the same way.
  const p = parseProcessFields(v);
  if (typeof p === 'string') return p;
  if (!Array.isArray(v.rlimits) || v.rlimits.length > 16) return 'request.rlimits: an array';
  const rlimits: ContainerRequestWire['rlimits'] = [];
  for (const [i, r] of v.rlimits.entries()) {
    if (!isObj(r) || !isCount(r.resource, 15) || typeof r.soft !== 'number' || typeof r.hard !== 'number' || !(r.soft >= 0) || !(r.hard >= 0)) {
      return `request.rlimits[${i}]: {resource 0..15, soft, hard}`;
    }
    rlimits.push({ resource: r.resource as number, soft: r.soft, hard: r.hard });
  }
  if (!isBool(v.readonlyRootfs)) return 'request.readonlyRootfs: a boolean';
  if (!isBool(v.sharePids)) return 'request.sharePids: a boolean';
  if (v.terminal !== undefined && !isBool(v.terminal)) return 'request.terminal: a boolean';
  if (!Array.isArray(v.mounts) || v.mounts.length > 1024) return 'request.mounts: an array';
  const mounts: ContainerRequestWire['mounts'] = [];
  for (const [i, m] of v.mounts.entries()) {
    const r = parseMount(m, i);
    if (typeof r === 'string') return r;
    mounts.push(r);
  }
  const { type: _t, ...proc } = p;
  void _t;
  return { ...proc, type: 'container', id: v.id, rlimits, readonlyRootfs: v.readonlyRootfs, mounts, sharePids: v.sharePids, ...(v.terminal === true ? { terminal: true } : {}) };
}
