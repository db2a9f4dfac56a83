// The whole container plan: a validated Spec plus host facts in, an ExecutorPlan out. Every decision
// the native platform makes about a container is made here, as a pure function.

import type { Linux, Namespace, NamespaceType, Process, Spec } from '../../spec/types';
import { ConfigError } from '../../util/errors';
import { CLONE, MS, NAMESPACE_CLONE_FLAG } from './constants';
import { planDevices } from './devices';
import type { HostFacts } from './facts';
import { planMount } from './mounts';
import { planProcess } from './process';
import { planSeccompConnect } from '../seccomp';
import type { AfterCloneOp, ChildOp, ExecutorPlan, ParentOp } from './ops';

export interface ContainerPlanInput {
  spec: Spec & { process: Process };
  /** Absolute host path of the root filesystem. */
  rootfs: string;
  /** The exec fifo `moat start` opens; undefined = start at once (no create/start split). */
  startFifo?: string;
  noPivot: boolean;
  /** Number of fds after stdio passed through to the container (--preserve-fds). */
  preserveFds: number;
  facts: HostFacts;
  /**
   * Ops that run in the new mount namespace before the rootfs is bound (used by `moat do` to build
   * its overlay). They end with the rootfs already being a mount point.
   */
  rootfsPrelude?: ChildOp[];
  /** process.terminal: the executor's fd number of the console socket, and the window size. */
  console?: ConsolePlan;
  /** Container id and bundle dir: the state a seccomp listener (SCMP_ACT_NOTIFY) receives. */
  container?: { id: string; bundle: string };
  /** The container's cgroups: parent ops joining them (run first), and its directory per hierarchy. */
  cgroup?: CgroupJoin;
  /** Name of a fresh session keyring for the container (`_ses.<id>`); undefined: --no-new-keyring. */
  sessionKeyring?: string;
  /**
   * In a new user namespace: P clones the mount at `source` idmapped with it (host ids 0..n show as
   * the container's 0..n) and sends it to the init. `rootfs`: it becomes the rootfs, in place of
   * the rootfs bound onto itself; otherwise the prelude attaches it (`moat do`'s overlay lower).
   */
  idmapTree?: { source: string; attrs: number; rootfs: boolean };
}

/** idmap-tree attributes (MOUNT_ATTR_*). */
export const IDMAP_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4 } as const;

export interface CgroupJoin {
  join: ParentOp[];
  /** Keyed by mount name under /sys/fs/cgroup (`memory`, `unified`; `` on a v2 host). */
  dirs: Record<string, string>;
}

export interface ConsolePlan {
  fd: number;
  rows: number;
  cols: number;
}

/** The pty op for a process: its peer end belongs to the process's user. */
export function consoleOp(c: ConsolePlan, p: Process): ChildOp {
  return { op: 'console-setup', fd: c.fd, rows: c.rows, cols: c.cols, uid: p.user.uid, gid: p.user.gid };
}

/** The order runc joins namespaces in: user first (it decides the rights for the rest), mount last. */
const JOIN_ORDER: NamespaceType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

export interface NamespacePlan {
  cloneFlags: number;
  joins: ParentOp[];
  newNs: Set<NamespaceType>;
  joined: Set<NamespaceType>;
  unshareTime: boolean;
}

export function planNamespaces(namespaces: readonly Namespace[]): NamespacePlan {
  const plan: NamespacePlan = { cloneFlags: 0, joins: [], newNs: new Set(), joined: new Set(), unshareTime: false };
  const byType = new Map(namespaces.map((ns) => [ns.type, ns]));
  for (const type of JOIN_ORDER) {
    const ns = byType.get(type);
    if (!ns) continue;
    if (ns.path !== undefined) {
      plan.joins.push({ op: 'setns', path: ns.path, nstype: NAMESPACE_CLONE_FLAG[type] });
      plan.joined.add(type);
    } else if (type === 'time') {
      // clone(2) cannot take CLONE_NEWTIME (it collides with the exit-signal bits): unshare in P,
      // which puts P's future children in the new time namespace.
      plan.unshareTime = true;
      plan.newNs.add(type);
    } else {
      plan.cloneFlags |= NAMESPACE_CLONE_FLAG[type];
      plan.newNs.add(type);
    }
  }
  return plan;
}

function idMap(maps: Linux['uidMappings']): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

function mapsId(maps: Linux['uidMappings'], id: number): boolean {
  return maps.some((m) => id >= m.containerID && id < m.containerID + m.size);
}

function checkUserNamespace(linux: Linux, ns: NamespacePlan): void {
  const hasMaps = linux.uidMappings.length > 0 || linux.gidMappings.length > 0;
  if (ns.newNs.has('user')) {
    if (linux.uidMappings.length === 0) throw new ConfigError('linux.uidMappings', 'a new user namespace needs uid mappings');
    if (linux.gidMappings.length === 0) throw new ConfigError('linux.gidMappings', 'a new user namespace needs gid mappings');
    if (!mapsId(linux.uidMappings, 0)) throw new ConfigError('linux.uidMappings', 'must map container uid 0');
    if (!mapsId(linux.gidMappings, 0)) throw new ConfigError('linux.gidMappings', 'must map container gid 0');
  } else if (hasMaps && !ns.joined.has('user')) {
    throw new ConfigError('linux.uidMappings', 'id mappings given without a user namespace');
  }
}

/**
 * Sysctls must be namespaced by a namespace the container owns, or a container could change the
 * host's kernel settings (runc's rule).
 */
export function sysctlPath(key: string, ns: NamespacePlan): string {
  const field = `linux.sysctl.${key}`;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/.test(key) || key.split(/[./]/).some((p) => p === '' || p === '..')) {
    throw new ConfigError(field, 'not a valid sysctl name');
  }
  const own = (t: NamespaceType) => ns.newNs.has(t) || ns.joined.has(t);
  const ipcKeys = ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'];
  let needs: NamespaceType | undefined;
  if (ipcKeys.includes(key) || key.startsWith('fs.mqueue.')) needs = 'ipc';
  else if (key.startsWith('net.')) needs = 'network';
  else if (key === 'kernel.hostname' || key === 'kernel.domainname') needs = 'uts';
  if (needs === undefined) throw new ConfigError(field, 'not a namespaced sysctl; it would change the host');
  if (!own(needs)) throw new ConfigError(field, `needs the container's own ${needs} namespace`);
  return key.replace(/\./g, '/');
}




function parentOps(linux: Linux, ns: NamespacePlan): ParentOp[] {
  const ops: ParentOp[] = [...ns.joins];
  if (ns.unshareTime) {
    ops.push({ op: 'unshare', flags: CLONE.NEWTIME });
    const lines = Object.entries(linux.timeOffsets ?? {}).map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}\n`);
    // One write per clock: the kernel parses one offset per line but older kernels take one per write.
    for (const line of lines) ops.push({ op: 'write', path: '/proc/self/timens_offsets', data: line });
  } else if (linux.timeOffsets && Object.keys(linux.timeOffsets).length > 0) {
    throw new ConfigError('linux.timeOffsets', 'needs a new time namespace');
  }
  return ops;
}

function afterCloneOps(spec: Spec & { process: Process }, linux: Linux, ns: NamespacePlan, facts: HostFacts, idmapTree: ContainerPlanInput['idmapTree']): AfterCloneOp[] {
  const ops: AfterCloneOp[] = [];
  if (ns.newNs.has('user')) {
    // An unprivileged caller may only map its own ids, and only after denying setgroups.
    if (facts.uid !== 0) ops.push({ op: 'child-write', name: 'setgroups', data: 'deny' });
    ops.push({ op: 'child-write', name: 'uid_map', data: idMap(linux.uidMappings) });
    ops.push({ op: 'child-write', name: 'gid_map', data: idMap(linux.gidMappings) });
  }
  if (spec.process.oomScoreAdj !== undefined) {
    ops.push({ op: 'child-write', name: 'oom_score_adj', data: String(spec.process.oomScoreAdj) });
  }
  if (idmapTree) {
    if (!ns.newNs.has('user')) throw new ConfigError('linux.namespaces', 'an idmapped rootfs needs a new user namespace');
    ops.push({ op: 'idmap-tree', path: idmapTree.source, attrs: idmapTree.attrs });
  }
  return ops;
}

function rootPropagation(linux: Linux): number {
  const p = linux.rootfsPropagation;
  if (p === undefined) return MS.REC | MS.SLAVE;
  const flags: Record<string, number> = {
    shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
    slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC,
    private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC,
    unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE | MS.REC,
  };
  return flags[p]!;
}

export function planContainer(input: ContainerPlanInput): ExecutorPlan {
  const { spec, facts } = input;
  const linux: Linux = spec.linux ?? { namespaces: [], uidMappings: [], gidMappings: [], devices: [], sysctl: {}, maskedPaths: [], readonlyPaths: [] };
  const ns = planNamespaces(linux.namespaces);
  if (!ns.newNs.has('mount') && !ns.joined.has('mount')) {
    throw new ConfigError('linux.namespaces', 'a mount namespace is required (moat never changes the host mount table)');
  }
  checkUserNamespace(linux, ns);
  const ownUts = ns.newNs.has('uts') || ns.joined.has('uts');
  if (spec.hostname !== undefined && spec.hostname !== '' && !ownUts) {
    throw new ConfigError('hostname', 'setting a hostname needs the container\'s own uts namespace');
  }
  if (spec.domainname !== undefined && spec.domainname !== '' && !ownUts) {
    throw new ConfigError('domainname', 'setting a domainname needs the container\'s own uts namespace');
  }
  const inUserNs = ns.newNs.has('user') || ns.joined.has('user');
  // umask 0 while building: modes in the plan are exact. The process's umask is set later.
  const child: ChildOp[] = [{ op: 'setsid' }, { op: 'umask', mode: 0 }];
  // The exec fifo lives in moat's private state dir: open it while the init still has the caller's
  // host uid (owner access), before a user namespace's setresuid makes it an unprivileged one.
  if (input.startFifo !== undefined) child.push({ op: 'open-start', fifo: input.startFifo });
  // Likewise the seccomp listener socket (SCMP_ACT_NOTIFY), with the caller's view of the host.
  child.push(...planSeccompConnect(linux));
  if (ns.newNs.has('user')) {
    child.push({ op: 'setresgid', r: 0, e: 0, s: 0 }, { op: 'setresuid', r: 0, e: 0, s: 0 });
  }
  if (input.sessionKeyring !== undefined) child.push({ op: 'session-keyring', name: input.sessionKeyring });

  // The rootfs: make our copy of the mount table non-shared, so nothing we mount reaches the host,
  // then bind the rootfs onto itself so that it is a mount point pivot_root accepts.
  const propagation = rootPropagation(linux);
  const initialProp = propagation & MS.PRIVATE ? MS.REC | MS.PRIVATE : MS.REC | MS.SLAVE;
  child.push({ op: 'mount', src: '', target: '/', fstype: '', flags: initialProp, data: '' });
  child.push(...(input.rootfsPrelude ?? []));
  if (input.idmapTree?.rootfs) child.push({ op: 'attach-tree', target: input.rootfs });
  else child.push({ op: 'mount', src: input.rootfs, target: input.rootfs, fstype: '', flags: MS.BIND | MS.REC, data: '' });
  child.push({ op: 'rootfs', path: input.rootfs });

  const ownCgroupNs = ns.newNs.has('cgroup') || ns.joined.has('cgroup');
  const cgroupView = input.cgroup && !ownCgroupNs ? { ownCgroups: input.cgroup.dirs } : {};
  spec.mounts.forEach((m, i) => child.push(...planMount(m, i, { facts, ...cgroupView })));

  const devMount = spec.mounts.find((m) => m.destination.replace(/\/+$/, '') === '/dev');
  const devIsHostBind = devMount !== undefined && (devMount.options ?? []).some((o) => o === 'bind' || o === 'rbind');
  if (!devIsHostBind) {
    const devpts = spec.mounts.some((m) => m.destination.replace(/\/+$/, '') === '/dev/pts' && m.type === 'devpts');
    child.push(...planDevices(linux.devices, { bindInsteadOfMknod: inUserNs, ptmxSymlink: devpts }));
  }
  child.push({ op: 'mkdirat', path: spec.process.cwd, mode: 0o755 });
  child.push(input.noPivot ? { op: 'move-root' } : { op: 'pivot-root' });
  if (linux.rootfsPropagation !== undefined) {
    child.push({ op: 'mount', src: '', target: '/', fstype: '', flags: propagation, data: '' });
  }

  // After the pivot: the pty comes from the container's own devpts (its /dev/ptmx).
  if (input.console) child.push(consoleOp(input.console, spec.process));
  for (const [key, value] of Object.entries(linux.sysctl)) {
    child.push({ op: 'write-beneath', base: '/proc/sys', relpath: sysctlPath(key, ns), data: value });
  }
  for (const p of linux.readonlyPaths) child.push({ op: 'readonly', path: p });
  for (const p of linux.maskedPaths) child.push({ op: 'mask', path: p });
  if (spec.root?.readonly) child.push({ op: 'remount-ro', path: '/' });
  if (spec.hostname) child.push({ op: 'sethostname', name: spec.hostname });
  if (spec.domainname) child.push({ op: 'setdomainname', name: spec.domainname });
  // A network namespace made for the container gets its loopback up, as runc does; a joined one
  // (`path`) is someone else's and is left as it is.
  if (ns.newNs.has('network')) child.push({ op: 'loopback-up' });

  const seccompContainer = input.container && { ...input.container, ociVersion: spec.ociVersion, annotations: spec.annotations ?? {} };
  child.push(...planProcess(spec.process, linux, {
    preserveFds: input.preserveFds,
    waitForStart: input.startFifo !== undefined,
    setgroupsDenied: ns.newNs.has('user') && facts.uid !== 0,
    ...(seccompContainer ? { seccompContainer } : {}),
  }));

  return { parent: [...(input.cgroup?.join ?? []), ...parentOps(linux, ns)], cloneFlags: ns.cloneFlags, afterClone: afterCloneOps(spec, linux, ns, facts, input.idmapTree), child };
}
