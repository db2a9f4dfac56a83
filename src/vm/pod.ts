// A Kubernetes pod in one VM (docs/vm.md#pods), as Kata runs it. The pod's sandbox (pause)
// container boots the VM as any vm container does, with one more virtio-fs share: the pod's
// shared directory `<state>/<sandbox>/vm/pod` (a mount point of its own with shared propagation;
// its virtiofsd's namespace is a slave of the host's, so what moat binds under it later reaches the
// guest). Each later container of the pod gets, under it, `<id>/rootfs` (a bind of the bundle's
// rootfs) and `<id>/vol/N` (a bind of each bind mount's source), and runs in the running guest as a
// container plan on one of the VM's exec channels: the agent runs it like an exec (moat-exec in
// run mode), a relay of moat's holds the channel and stands for the container on the host (its
// pid, stdio and exit status). Nothing is added to the VM after boot.
//
// The guest cannot change the shared directory's own tree: its server's view of it is read-only
// (only the binds under it are writable where the spec says so), so the host's mkdir/mount targets
// there cannot be swapped for symlinks by the guest.

import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConsoleRequest } from '../platform/types';
import type { Namespace, NamespaceType, Process, Spec } from '../spec/types';
import type { HostPathKind } from '../policy/plan/facts';
import type { Resources } from '../policy/cgroups';
import { describePlan, encodePlan, planContainer } from '../policy/plan';
import { planExec } from '../policy/plan/exec';
import type { VmRecord } from '../state/store';
import { readProcStat } from '../state/process';
import { ConfigError, MoatError } from '../util/errors';
import { debugLog } from '../util/log';
import { ownMounts } from '../util/mountinfo';
import { signalGuestPid, startExecRelay } from './exec';
import { checkVmSpec, GUEST_CONSOLE_FD, guestCgroup, guestFacts, memberKey } from './spec';
import { Channel } from './channel/client';
import { MEMBER_WRITABLE, type GuestMessage, type HostMessage } from './channel/protocol';
import { v2Stats, type CgroupStats } from '../policy/cgroups/stats';
import { socketFd } from './stdio';
import { GUEST_VOLUMES, planVolumes, type Volume } from './volumes';

/** Exec channels of a pod's VM: its containers and their execs share them (the agent has 8 ports). */
export const POD_EXEC_SLOTS = 8;
/** CRI's annotations (containerd's pkg/cri/annotations). */
import { CRI_CONTAINER_TYPE, CRI_SANDBOX_CPU_PERIOD, CRI_SANDBOX_CPU_QUOTA, CRI_SANDBOX_ID, CRI_SANDBOX_MEMORY } from './cri-annotations';
export { CRI_CONTAINER_TYPE, CRI_SANDBOX_CPU_PERIOD, CRI_SANDBOX_CPU_QUOTA, CRI_SANDBOX_ID, CRI_SANDBOX_MEMORY };
const REQUEST_TIMEOUT_MS = 30_000;

const NS_FILE: Record<NamespaceType, string> = { pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', user: 'user', cgroup: 'cgroup', time: 'time' };

/**
 * The pod's shared directory as a volume of the sandbox's VM (index `n`, after the spec's own):
 * read-only in its server's view (the guest cannot touch the tree moat mounts into), mounted
 * read-write by the agent (the binds under it are writable where the spec says so).
 */
export function podShare(vmDir: string, n: number): { volume: Volume } {
  return {
    volume: {
      field: "the pod's shared directory",
      host: path.join(vmDir, 'pod'),
      kind: 'dir',
      readonly: true,
      recursive: true,
      tag: `moat.v${n}`,
      guestSource: `${GUEST_VOLUMES}/${n}`,
      followHost: true,
    },
  };
}

/**
 * What a pod's VM is sized from: the sandbox's own resources, with the pod's (CRI's sandbox
 * annotations: memory in bytes, CPU quota and period) in their place where given — microvm cannot
 * hotplug memory or CPUs, so the VM has room for every container of the pod from its boot, as
 * Kata sizes its VM from the same annotations. 0 or absent: not set. Pure.
 */
export function podVmResources(own: Resources, annotations: Record<string, string> | undefined): Resources {
  const num = (key: string): number | undefined => {
    const v = annotations?.[key];
    if (v === undefined || v === '' || v === '0') return undefined;
    if (!/^\d{1,15}$/.test(v)) throw new ConfigError(`annotations[${JSON.stringify(key)}]`, `expected a positive integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const memory = num(CRI_SANDBOX_MEMORY);
  const quota = num(CRI_SANDBOX_CPU_QUOTA);
  const period = num(CRI_SANDBOX_CPU_PERIOD);
  return {
    ...own,
    ...(memory !== undefined ? { memory: { ...own.memory, limit: memory } } : {}),
    ...(quota !== undefined ? { cpu: { ...own.cpu, quota, ...(period !== undefined ? { period } : {}) } } : {}),
  };
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 30_000 }, (err, _out, stderr) => {
      if (err) reject(new MoatError('ESETUP', `${cmd} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve();
    });
  });
}

/**
 * The shared directory: a bind of itself, made shared. Under a shared parent (a systemd host) it
 * stays in the parent's peer group, so its binds and their unmounts propagate as containerd's own
 * rootfs mounts do (never made private: a copy a peer got could then never be unmounted from
 * here); under a private parent it becomes a peer group of its own. Either way its server's
 * namespace, a slave, sees what is bound under it.
 */
export async function preparePodShare(shared: string): Promise<void> {
  fs.mkdirSync(shared, { mode: 0o755 });
  await run('mount', ['--bind', '--', shared, shared]);
  await run('mount', ['--make-shared', '--', shared]);
}

/** Mount points at or under `dir` (deepest first), from this process's mountinfo. */
function mountsUnder(dir: string): string[] {
  return ownMounts()
    .map((m) => m.mountPoint)
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Unmount the shared directory and everything under it (the VM is gone or going). True when
 * nothing is mounted there any more, so that removing the files cannot reach through a bind.
 */
export function releasePodShare(shared: string): boolean {
  for (let i = 0; i < 4 && mountsUnder(shared).length > 0; i++) {
    if (spawnSync('umount', ['-R', '--', shared], { stdio: 'ignore' }).status !== 0) spawnSync('umount', ['-R', '-l', '--', shared], { stdio: 'ignore' });
  }
  return mountsUnder(shared).length === 0;
}

/** A container of a pod, run in the pod's VM. */
export interface PodMember {
  id: string;
  /** Its directory under the shared directory (host). */
  dir: string;
  /** The spec as the guest sees it (sources under the share, namespaces mapped to the sandbox's). */
  spec: Spec & { process: Process };
  vm: VmRecord;
  bundle: string;
  /** Kinds of its volumes' guest sources, for the planner. */
  kinds: Map<string, HostPathKind>;
  /** Its init as the guest numbers it (once started): exec joins its namespaces. */
  guestPid?: number;
  /** Its group in the guest is frozen (Pause). */
  paused?: boolean;
}

/**
 * A namespace the CRI spec joins by path (the pause container's ipc, uts, network …): in the guest
 * the sandbox's own namespace of that type, or, when the sandbox has none of its own there (it
 * shares the guest's, e.g. the network of a joined host namespace), the guest's: the entry goes.
 */
export function mapNamespaces(namespaces: readonly Namespace[], sandbox: readonly Namespace[], sandboxGuestPid: number): Namespace[] {
  const out: Namespace[] = [];
  for (const ns of namespaces) {
    if (ns.path === undefined) {
      out.push(ns);
      continue;
    }
    if (ns.type === 'user' || ns.type === 'mount') throw new ConfigError(`linux.namespaces (${ns.type})`, 'a container of a vm pod cannot join another container\'s namespace of this type');
    const own = sandbox.find((s) => s.type === ns.type);
    if (own && own.path === undefined) out.push({ type: ns.type, path: `/proc/${sandboxGuestPid}/ns/${NS_FILE[ns.type]}` });
  }
  return out;
}

/**
 * Make a container of the pod ready to start in its VM: its rootfs and volumes bound under the
 * shared directory (read-only binds made read-only before they enter the share: a remount does
 * not propagate), its spec rewritten for the guest. Nothing runs yet.
 */
export async function createPodMember(o: { id: string; bundle: string; rootfs: string; spec: Spec & { process: Process }; sandbox: { vm: VmRecord; spec: Spec } }): Promise<PodMember> {
  const vm = o.sandbox.vm;
  if (!vm.pod || vm.guestPid === undefined) throw new MoatError('ESTATE', `container ${o.id}: its pod's vm has no shared directory (the sandbox was not created as a pod)`);
  if (readProcStat(vm.vmmPid)?.startTime !== vm.vmmStartTime) throw new MoatError('ESTATE', `container ${o.id}: its pod's vm has stopped`);
  const linux = o.spec.linux;
  const namespaces = mapNamespaces(linux?.namespaces ?? [], o.sandbox.spec.linux?.namespaces ?? [], vm.guestPid);
  // What needs the host is refused as for any vm container (the mapped joins are the guest's own).
  checkVmSpec({ ...o.spec, ...(linux ? { linux: { ...linux, namespaces: namespaces.filter((n) => n.path === undefined) } } : {}) }, 0);
  const vols = planVolumes(o.spec);
  const dir = path.join(vm.pod.shared, o.id);
  const guestDir = `${vm.pod.guest}/${o.id}`;
  fs.mkdirSync(dir, { mode: 0o755 }); // fails if it exists: one member per id
  const kinds = new Map<string, HostPathKind>();
  const member: PodMember = { id: o.id, dir, spec: o.spec, vm, bundle: o.bundle, kinds };
  try {
    fs.mkdirSync(path.join(dir, 'rootfs'), { mode: 0o755 });
    await run('mount', ['--rbind', '--', o.rootfs, path.join(dir, 'rootfs')]);
    const stage = path.join(path.dirname(vm.pod.shared), 'pod-stage', o.id);
    const sources = new Map<string, string>();
    if (vols.volumes.length > 0) fs.mkdirSync(path.join(dir, 'vol'), { mode: 0o755 });
    for (const [n, v] of vols.volumes.entries()) {
      const target = path.join(dir, 'vol', String(n));
      if (v.kind === 'dir') fs.mkdirSync(target, { mode: 0o755 });
      else fs.writeFileSync(target, '', { mode: 0o644 });
      await bindInto(v, target, path.join(stage, String(n)));
      sources.set(v.guestSource, `${guestDir}/vol/${n}`);
      kinds.set(`${guestDir}/vol/${n}`, v.kind);
    }
    if (mountsUnder(stage).length === 0) fs.rmSync(stage, { recursive: true, force: true });
    const mounts = vols.spec.mounts?.map((m) => (m.source !== undefined && sources.has(m.source) ? { ...m, source: sources.get(m.source)! } : m));
    member.spec = {
      ...vols.spec,
      ...(mounts ? { mounts } : {}),
      ...(linux ? { linux: { ...linux, namespaces } } : {}),
    };
    return member;
  } catch (err) {
    await removePodMember(member);
    throw err;
  }
}

/** A bind source into the share; a read-only one through a read-only stage (a remount does not propagate). */
async function bindInto(v: Volume, target: string, stage: string): Promise<void> {
  const how = v.recursive ? '--rbind' : '--bind';
  if (!v.readonly) return run('mount', [how, '--', v.host, target]);
  if (v.kind === 'dir') fs.mkdirSync(stage, { recursive: true, mode: 0o700 });
  else {
    fs.mkdirSync(path.dirname(stage), { recursive: true, mode: 0o700 });
    fs.writeFileSync(stage, '', { mode: 0o600 });
  }
  await run('mount', [how, '--', v.host, stage]);
  try {
    await run('mount', ['-o', 'remount,bind,ro', '--', stage]);
    await run('mount', ['--rbind', '--', stage, target]);
  } finally {
    await run('umount', ['-R', '-l', '--', stage]).catch(() => undefined);
  }
}

/**
 * Start the container in the guest: its plan (rootfs and volumes from the share, its own mount,
 * pid and cgroup namespaces, the sandbox's ipc/uts/network) on an exec channel, held by a relay
 * whose pid stands for it on the host.
 */
export async function startPodMember(m: PodMember, io: { stdio?: readonly [number, number, number]; console?: ConsoleRequest }): Promise<{ pid: number; exited: Promise<number> }> {
  const terminal = m.spec.process.terminal === true;
  if (terminal && !io.console) throw new MoatError('EUSAGE', 'process.terminal is set: a console is required');
  // Its own cgroup in the guest, beside the sandbox's: its limits, Stats, Pause/Resume and Update.
  const cgroup = guestCgroup(m.spec, `member-${memberKey(m.id)}`);
  for (const line of cgroup.ignored) debugLog(() => `pod member ${m.id}: ${line}`);
  await memberCgroup(m, { type: 'cgroup', verb: 'mkdir', member: memberKey(m.id) });
  const plan = planContainer({
    spec: m.spec,
    rootfs: `${m.vm.pod!.guest}/${m.id}/rootfs`,
    noPivot: false,
    preserveFds: 0,
    facts: guestFacts(m.kinds),
    container: { id: m.id, bundle: m.bundle },
    cgroup: { join: cgroup.create, dirs: cgroup.dirs },
    sessionKeyring: `_ses.${m.id}`,
    ...(terminal && io.console ? { console: { fd: GUEST_CONSOLE_FD, rows: io.console.rows, cols: io.console.cols } } : {}),
  });
  debugLog(() => `guest plan for pod member ${m.id}:\n${describePlan(plan)}`);
  const relay = await startExecRelay({
    vm: m.vm,
    plan: encodePlan(plan),
    detach: true,
    ...(terminal && io.console ? { terminal: { rows: io.console.rows, cols: io.console.cols, handoff: socketFd(io.console.handoff) } } : {}),
    ...(io.stdio ? { stdio: io.stdio } : {}),
  });
  if (relay.sandboxPid !== undefined) m.guestPid = relay.sandboxPid;
  return { pid: relay.pid, exited: relay.exited };
}

/** Another process in a running member: it joins the member's namespaces by its guest pid. */
export async function execInPodMember(m: PodMember, process: Process, io: { stdio?: readonly [number, number, number]; console?: ConsoleRequest }): Promise<{ pid: number; exited: Promise<number> }> {
  if (m.guestPid === undefined) throw new MoatError('ESTATE', `container ${m.id} is not running: cannot exec in it`);
  const terminal = process.terminal === true;
  if (terminal && !io.console) throw new MoatError('EUSAGE', 'exec: a process with a terminal needs a console');
  const plan = planExec({
    initPid: m.guestPid,
    namespaces: (m.spec.linux?.namespaces ?? []).map((n) => n.type),
    process,
    linux: m.spec.linux,
    preserveFds: 0,
    // Into the member's own group, as its init went (a native exec joins its container's cgroups).
    parentPrelude: guestCgroup(m.spec, `member-${memberKey(m.id)}`).join,
    ...(terminal && io.console ? { console: { fd: GUEST_CONSOLE_FD, rows: io.console.rows, cols: io.console.cols } } : {}),
  });
  return startExecRelay({
    vm: m.vm,
    plan: encodePlan(plan),
    detach: true,
    ...(terminal && io.console ? { terminal: { rows: io.console.rows, cols: io.console.cols, handoff: socketFd(io.console.handoff) } } : {}),
    ...(io.stdio ? { stdio: io.stdio } : {}),
  });
}

/**
 * A signal for the member's init, over the VM's control channel (never behind its stdin). Its init
 * is pid 1 of its own pid namespace: SIGKILL ends every process of the container.
 */
export async function signalPodMember(m: PodMember, signal: number): Promise<void> {
  if (m.guestPid === undefined) throw new MoatError('ESTATE', `container ${m.id} is not running`);
  const vm = m.vm;
  const alive = () => readProcStat(vm.vmmPid)?.startTime === vm.vmmStartTime;
  if (!alive()) throw new MoatError('ESTATE', `container ${m.id}: container not running (its pod's vm has stopped)`);
  const refused = await signalGuestPid(vm.socket, signal, m.guestPid, alive, REQUEST_TIMEOUT_MS);
  if (refused !== undefined) throw new MoatError('ESTATE', `container ${m.id}: container not running (${refused})`);
}

/** One request on the control channel of the member's VM. */
async function requestGuest(m: PodMember, msg: HostMessage, timeoutMs = REQUEST_TIMEOUT_MS): Promise<GuestMessage> {
  const vm = m.vm;
  const alive = () => readProcStat(vm.vmmPid)?.startTime === vm.vmmStartTime;
  if (!alive()) throw new MoatError('ESTATE', `container ${m.id}: its pod's vm has stopped`);
  const { channel } = await Channel.open({ socket: vm.socket, timeoutMs, alive });
  try {
    return await channel.request(msg, timeoutMs);
  } finally {
    channel.close();
  }
}

async function memberCgroup(m: PodMember, msg: Extract<HostMessage, { type: 'cgroup' }>): Promise<void> {
  const answer = await requestGuest(m, msg);
  if (answer.type === 'error') throw new MoatError('EVM', `container ${m.id}: its cgroup in the pod's vm: ${answer.message}`);
  if (answer.type !== 'ok') throw new MoatError('EVM', `container ${m.id}: the agent answered ${answer.type} to a cgroup request`);
}

/** The member's figures from its group in the guest (CPU, memory, pids, I/O), as a native container's. */
export async function podMemberStats(m: PodMember, timeoutMs: number): Promise<CgroupStats> {
  const answer = await requestGuest(m, { type: 'stats', member: memberKey(m.id) }, timeoutMs);
  if (answer.type === 'error') throw new MoatError('EVM', `container ${m.id}: stats: ${answer.message}`);
  if (answer.type !== 'stats') throw new MoatError('EVM', `container ${m.id}: the agent answered ${answer.type} to stats`);
  const files = answer.files;
  if (files.size === 0) throw new MoatError('ESTATE', `container ${m.id}: no cgroup of its own in the pod's vm`);
  return v2Stats('', { read: (f) => files.get(f.replace(/^\//, '')), list: () => [] });
}

/** Pause or resume the member alone: its group's freezer in the guest (the pod's other containers run on). */
export async function setPodMemberPaused(m: PodMember, paused: boolean): Promise<void> {
  if (m.guestPid === undefined) throw new MoatError('ESTATE', `container ${m.id} is not running`);
  await memberCgroup(m, { type: 'cgroup', verb: 'write', member: memberKey(m.id), file: 'cgroup.freeze', value: paused ? '1' : '0' });
  m.paused = paused;
}

/**
 * New limits for the member (an OCI LinuxResources), written into its group in the guest by the same
 * compiler as at its start. Only what can change in a running guest: the VM's size is fixed at boot.
 */
export async function updatePodMember(m: PodMember, resources: unknown): Promise<void> {
  const group = `member-${memberKey(m.id)}`;
  const plan = guestCgroup(m.spec, group, resources);
  const writes = plan.create.filter((op): op is Extract<typeof op, { op: 'write' }> => op.op === 'write' && op.path.startsWith(`/sys/fs/cgroup/${group}/`));
  for (const w of writes) {
    const file = w.path.slice(`/sys/fs/cgroup/${group}/`.length);
    if (file === 'cgroup.procs') continue;
    if (!MEMBER_WRITABLE.has(file)) throw new ConfigError('linux.resources', `${file} cannot be changed in a container of a vm pod`);
    await memberCgroup(m, { type: 'cgroup', verb: 'write', member: memberKey(m.id), file, value: w.data });
  }
}

/** Take the member's binds out of the share and remove its directory (the share may be gone already). */
export async function removePodMember(m: PodMember): Promise<void> {
  // Its group in the guest, once its processes are gone (the VM may be gone too: nothing to do).
  await memberCgroup(m, { type: 'cgroup', verb: 'rmdir', member: memberKey(m.id) }).catch((err: Error) => debugLog(() => `pod member ${m.id}: ${err.message}`));
  for (const mp of mountsUnder(m.dir)) {
    await run('umount', ['-R', '--', mp]).catch(() => run('umount', ['-R', '-l', '--', mp]).catch(() => undefined));
  }
  const stage = path.join(path.dirname(m.vm.pod!.shared), 'pod-stage', m.id);
  if (mountsUnder(stage).length === 0) fs.rmSync(stage, { recursive: true, force: true });
  if (mountsUnder(m.dir).length > 0) throw new MoatError('ESTATE', `${m.dir}: still mounted after unmounting; left in place`);
  fs.rmSync(m.dir, { recursive: true, force: true });
}
