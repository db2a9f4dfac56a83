// spec.mounts → executor ops. Pure: what the host looks like comes in through HostFacts.

import type { Mount } from '../../spec/types';
import { ConfigError } from '../../util/errors';
import { MS } from './constants';
import type { HostFacts } from './facts';
import type { ChildOp, CreateKind } from './ops';

/** Options that set a flag, and options that clear one (`rw` clears `ro`, …). */
const SET_FLAGS: Record<string, number> = {
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  sync: MS.SYNCHRONOUS,
  mand: MS.MANDLOCK,
  dirsync: MS.DIRSYNC,
  nosymfollow: MS.NOSYMFOLLOW,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
  silent: MS.SILENT,
  lazytime: MS.LAZYTIME,
};
const CLEAR_FLAGS: Record<string, number> = {
  rw: MS.RDONLY,
  suid: MS.NOSUID,
  dev: MS.NODEV,
  exec: MS.NOEXEC,
  async: MS.SYNCHRONOUS,
  nomand: MS.MANDLOCK,
  atime: MS.NOATIME,
  diratime: MS.NODIRATIME,
  norelatime: MS.RELATIME,
  nostrictatime: MS.STRICTATIME,
  loud: MS.SILENT,
  nolazytime: MS.LAZYTIME,
};
const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};
/** Options runc accepts that change nothing here, or that only apply to features moat lacks. */
const IGNORED = new Set(['defaults', 'tmpcopyup', 'nofail']);

export interface ParsedMountOptions {
  flags: number;
  propagation: number[];
  bind: boolean;
  recursive: boolean;
  data: string;
}

export function parseMountOptions(options: readonly string[], field: string): ParsedMountOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  let bind = false;
  let recursive = false;
  for (const [i, opt] of options.entries()) {
    if (opt === 'bind' || opt === 'rbind') {
      bind = true;
      recursive ||= opt === 'rbind';
    } else if (opt in SET_FLAGS) {
      flags |= SET_FLAGS[opt]!;
    } else if (opt in CLEAR_FLAGS) {
      flags &= ~CLEAR_FLAGS[opt]!;
    } else if (opt in PROPAGATION) {
      propagation.push(PROPAGATION[opt]!);
    } else if (opt === 'idmap' || opt === 'ridmap') {
      throw new ConfigError(`${field}[${i}]`, `${opt} mounts are not supported yet`);
    } else if (IGNORED.has(opt)) {
      continue;
    } else {
      if (opt.includes(',')) throw new ConfigError(`${field}[${i}]`, `option ${JSON.stringify(opt)} contains a comma`);
      data.push(opt);
    }
  }
  return { flags, propagation, bind, recursive, data: data.join(',') };
}

export interface MountPlanContext {
  facts: HostFacts;
  /**
   * The container's own cgroup directory per hierarchy (mount name → host dir), given when it has
   * no cgroup namespace: a `cgroup` mount then binds these instead of whole hierarchies.
   */
  ownCgroups?: Record<string, string>;
}

export function planMount(m: Mount, index: number, ctx: MountPlanContext): ChildOp[] {
  const field = `mounts[${index}]`;
  const opts = parseMountOptions(m.options ?? [], `${field}.options`);
  const type = m.type ?? (opts.bind ? 'bind' : '');
  if (type === 'cgroup' || type === 'cgroup2') return planCgroupMount(m, opts, ctx.facts, ctx.ownCgroups);
  if (opts.bind || type === 'bind') return planBindMount(m, field, opts, ctx.facts);
  if (type === '' || type === 'none') {
    throw new ConfigError(`${field}.type`, `mount of ${m.destination} needs a filesystem type or a bind option`);
  }
  const ops: ChildOp[] = [
    { op: 'mountat', src: m.source ?? type, dest: m.destination, fstype: type, flags: opts.flags, data: opts.data, create: 'dir' },
  ];
  return [...ops, ...propagationOps(m.destination, opts)];
}

function propagationOps(dest: string, opts: ParsedMountOptions): ChildOp[] {
  return opts.propagation.map((flags) => ({ op: 'mountat', src: '', dest, fstype: '', flags, data: '', create: 'none' }));
}

function planBindMount(m: Mount, field: string, opts: ParsedMountOptions, facts: HostFacts): ChildOp[] {
  const source = m.source;
  if (source === undefined || source === '') throw new ConfigError(`${field}.source`, 'a bind mount needs a source');
  if (!source.startsWith('/')) {
    throw new ConfigError(`${field}.source`, `bind source must be an absolute host path, got ${JSON.stringify(source)}`);
  }
  const kind = facts.pathKind(source);
  if (kind === 'missing') throw new ConfigError(`${field}.source`, `${source} does not exist`);
  const create: CreateKind = kind === 'dir' ? 'dir' : 'file';
  // The executor applies per-mount flags of a bind with a remount (the kernel ignores them on the
  // bind itself), retrying with the source's locked flags in a user namespace, as runc does.
  const flags = MS.BIND | (opts.recursive ? MS.REC : 0) | opts.flags;
  const ops: ChildOp[] = [{ op: 'mountat', src: source, dest: m.destination, fstype: '', flags, data: '', create }];
  return [...ops, ...propagationOps(m.destination, opts)];
}

/**
 * A `cgroup` mount. On a unified (v2) host this is one cgroup2 mount. On a v1 or hybrid host it is a
 * tmpfs holding one mount per hierarchy, plus the co-mount symlinks (cpu -> cpu,cpuacct), as runc
 * builds it. The tmpfs is made read-only last when the mount asks for `ro`.
 *
 * Mounted from inside a new cgroup namespace each hierarchy shows only the namespace's root, which
 * is the container's own cgroup. Without one, a fresh mount would show the host's whole tree, so
 * where the container has cgroups (`own`) their directories are bind-mounted instead (runc's way).
 */
function planCgroupMount(m: Mount, opts: ParsedMountOptions, facts: HostFacts, own?: Record<string, string>): ChildOp[] {
  const dest = m.destination.replace(/\/+$/, '') || '/';
  const hierarchies = facts.cgroupHierarchies();
  const v1 = hierarchies.filter((h) => h.type === 'cgroup');
  const v2 = hierarchies.find((h) => h.type === 'cgroup2');
  const flags = opts.flags;
  const mountHierarchy = (name: string, fstype: string, data: string, target: string): ChildOp => {
    const ownDir = own?.[name];
    if (ownDir !== undefined) return { op: 'mountat', src: ownDir, dest: target, fstype: '', flags: MS.BIND | flags, data: '', create: 'dir' };
    return { op: 'mountat', src: fstype, dest: target, fstype, flags, data, create: 'dir' };
  };
  if (v1.length === 0) return [mountHierarchy(v2?.name ?? '', 'cgroup2', '', dest)];
  const ops: ChildOp[] = [
    { op: 'mountat', src: 'tmpfs', dest, fstype: 'tmpfs', flags: flags & ~MS.RDONLY, data: 'mode=755', create: 'dir' },
  ];
  for (const h of v1) {
    ops.push(mountHierarchy(h.name, 'cgroup', h.options, `${dest}/${h.name}`));
    if (h.name.includes(',')) {
      for (const part of h.name.split(',')) ops.push({ op: 'symlinkat', target: h.name, linkpath: `${dest}/${part}` });
    }
  }
  if (v2) ops.push(mountHierarchy(v2.name, 'cgroup2', '', `${dest}/${v2.name}`));
  if (flags & MS.RDONLY) {
    ops.push({ op: 'mountat', src: '', dest, fstype: '', flags: MS.REMOUNT | flags, data: 'mode=755', create: 'none' });
  }
  return ops;
}
