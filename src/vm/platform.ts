// The vm platform: each container in its own light VM (QEMU microvm, the Debian cloud kernel, an
// initramfs whose /init is moat-agent). The container is set up inside the guest by moat-exec from
// the same plan the native platform computes. The state's pid is the VMM's.

import * as fs from 'node:fs';
import type { CreatedInit, CreateRequest, ExecRequest, Platform } from '../platform/types';
import type { Spec } from '../spec/types';
import { readProcStat, signalVerified } from '../state/process';
import { killAndWait } from '../runtime/processes';
import type { CgroupRecord, ContainerRecord, VmRecord } from '../state/store';
import { MoatError } from '../util/errors';
import { sys } from '../sys';
import { debugLog } from '../util/log';
import { mark } from '../util/profile';
import { cgroupPids, collectStats, hostCgroupFiles, parseFlatKeyed, removeCgroups, setFrozen, v2Stats, type CgroupStats } from '../policy/cgroups';
import { describePlan, encodePlan } from '../policy/plan';
import { createVmmCgroups, moveIntoCgroups, updateVmm } from './host-cgroup';
import { planExec } from '../policy/plan/exec';
import { closeBase, connectGuest, expectAnswer, handOnTerminal, launchVmm, makeVmFiles, planVm, REQUEST_TIMEOUT_MS, settleNetwork, type Vmm } from './builder';
import { startNetnsHolder, type NetnsHolder } from './holder';
import { Channel, type GuestMessage } from './channel';
import { startExecRelay } from './exec';
import { checkVmExec, GUEST_CONSOLE_FD, guestCgroup } from './spec';
import { disconnectTaps } from './network';
import { followResize, openGuestStdio, socketFd, type GuestStdio } from './stdio';
import { removeSocketAlias } from './sockets';
import { startVolumeServers, stopVolumeServers, type VolumeServer } from './volumes';
import { preparePodShare, releasePodShare } from './pod';

export { VM_CPUS, VM_MEMORY_MIB } from './spec';
/**
 * A watcher kills these processes once this moat process is gone (its fd, kept open until this
 * process ends, is the signal). Taken at once after the processes started: none has been reaped.
 */
function watchRunner(pids: number[]): void {
  const pidfds = pids.map((pid) => sys().pidfdOpen(pid));
  try {
    sys().watchRunner(pidfds);
  } finally {
    for (const fd of pidfds) fs.closeSync(fd);
  }
}

/** How long `events --stats` waits for the guest's figures before taking QEMU's host cgroup's. */
const STATS_TIMEOUT_MS = 3000;

/** How often a foreground run looks at its terminal's size (to forward a resize). */
const RESIZE_POLL_MS = 250;

export class VmPlatform implements Platform {
  readonly name = 'vm' as const;

  /** Plan, launch, connect (src/vm/builder.ts); on failure, undo what was done. */
  async create(req: CreateRequest): Promise<CreatedInit> {
    if (!req.stateDir) throw new MoatError('EINTERNAL', 'vm platform: no state directory given');
    const p = planVm(req, req.stateDir);
    mark('vm planned');
    // The rootfs: its base image found (by its tree's manifest) or built, and an overlay made
    // (bench/vm-rootfs.ts times it).
    await makeVmFiles(p);
    mark('vm rootfs image');
    let io: GuestStdio | undefined;
    let vmm: Vmm | undefined;
    let servers: VolumeServer[] = [];
    let tapsConnected = false;
    let holder: NetnsHolder | undefined;
    try {
      // A pod's sandbox: the shared directory its later containers are bound into (pod.ts).
      if (p.pod) await preparePodShare(p.pod.shared);
      // The VMM's host cgroups (placement: pause, stats, update of its CPU time); removed by destroy.
      const vmmCgroups = createVmmCgroups(req.id, p.spec, req.systemdCgroup ?? false, (c) => req.recordCgroups?.(c));
      // Create-time hooks before the boot, as Kata runs them: a microvm takes no NIC once booted.
      if (req.runCreateHooks && hasCreateHooks(req.bundle.spec)) {
        holder = await startNetnsHolder(p.netns !== undefined ? p.netns : p.ownNetns ? undefined : null);
        if (vmmCgroups) moveIntoCgroups(vmmCgroups, holder.pid);
        await req.runCreateHooks(holder.pid, holder.startTime);
        if (p.netns !== undefined) settleNetwork(p, req, p.netns, false);
        else if (p.ownNetns) settleNetwork(p, req, holder.netns, true);
      }
      // The host root of `moat do` is one more share, served like a read-only volume.
      const shares = p.guestRoot.kind === 'host' ? [...p.volumes, p.guestRoot.share] : p.volumes;
      servers = await startVolumeServers(shares, p.dir, () => undefined);
      io = openGuestStdio(p.terminal ? req.console : undefined, req.mode === 'run', req.stdio);
      const stdio = io;
      vmm = await launchVmm(p, io, servers, req);
      if (vmmCgroups) for (const pid of [vmm.pid, ...servers.map((s) => s.pid)]) moveIntoCgroups(vmmCgroups, pid);
      // `moat do`: QEMU and its file servers die with the runner, even one killed by SIGKILL (the
      // sentry and native sandboxes carry a parent-death signal; QEMU's -runas would clear one).
      if (req.dieWithRunner) watchRunner([vmm.pid, ...servers.map((s) => s.pid)]);
      await connectGuest(p, vmm, req, () => (tapsConnected = true));
      mark('vm guest connected');
      // QEMU holds the namespace now (it runs in it since its start-up).
      holder?.stop();
      if (stdio.master !== undefined) {
        handOnTerminal(stdio, req);
        if (req.mode === 'run') {
          // In the foreground moat's relay resizes the master: follow it into the guest.
          const record = vmm.record;
          vmm.onExit.unshift(followResize(stdio.master, RESIZE_POLL_MS, (rows, cols) => requestOnce({ vm: record } as ContainerRecord, { type: 'resize', rows, cols })));
        } else {
          fs.closeSync(stdio.master);
        }
        delete stdio.master;
      }
      if (req.mode === 'create') {
        stdio.stopPump?.();
        vmm.child.stderr?.destroy(); // QEMU ignores SIGPIPE: its later writes fail quietly
        vmm.child.unref();
      }
      return { pid: vmm.pid, exited: vmm.exited };
    } catch (err) {
      closeBase(p);
      if (io) {
        for (const fd of io.opened) fs.closeSync(fd);
        if (io.master !== undefined) fs.closeSync(io.master);
        io.stopPump?.();
      }
      const child = vmm?.child;
      if (child && child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      }
      stopVolumeServers(servers);
      if (p.pod) releasePodShare(p.pod.shared);
      if (tapsConnected && p.netns !== undefined) disconnectTaps(p.netns, p.ifaces.map((i) => i.name));
      holder?.stop();
      removeSocketAlias(p.dir);
      throw err;
    }
  }

  async start(rec: ContainerRecord): Promise<void> {
    const answer = await requestOnce(rec, { type: 'start' });
    if (answer.type === 'error') throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} cannot be started: ${answer.message}`);
    expectAnswer(answer, 'started', 'start');
  }

  async kill(rec: ContainerRecord, signal: number, all: boolean): Promise<void> {
    if (rec.vm?.guestPid === undefined) {
      // The guest never took the container (its create died during the hooks or the boot): the
      // signal goes to what stands for it, the namespace holder or QEMU; delete removes the rest.
      const hit = [signalVerified(rec.pid, rec.pidStartTime, signal), rec.vm !== undefined && signalVerified(rec.vm.vmmPid, rec.vm.vmmStartTime, signal)];
      if (!hit.some(Boolean)) throw new MoatError('ESTATE', `cannot signal container ${JSON.stringify(rec.id)}: container not running (stopped)`);
      return;
    }
    const answer = await requestOnce(rec, { type: 'signal', signal, all });
    if (answer.type === 'error') throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)}: ${answer.message}`);
    expectAnswer(answer, 'ok', 'signal');
  }

  /**
   * Another process in the guest: a relay process of moat's (src/vm/exec.ts) holds one of the VM's
   * exec channels for as long as the process lives and exits with its status; its pid stands for
   * the process on the host (pid file, signals, the exit code of `moat exec`).
   */
  async exec(req: ExecRequest): Promise<CreatedInit> {
    const vm = req.record.vm;
    if (!vm || !vm.execSlots || vm.guestPid === undefined) {
      throw new MoatError('ESTATE', `container ${JSON.stringify(req.record.id)}: its vm has no exec channel (made by an older moat?)`);
    }
    if (req.executable !== undefined || req.stdin !== undefined) throw new MoatError('EINTERNAL', 'vm exec: hooks do not run in the guest');
    checkVmExec(req.preserveFds);
    const terminal = req.process.terminal === true;
    if (terminal && !req.console) throw new MoatError('EUSAGE', 'exec: a process with a terminal needs a --console-socket or --tty in the foreground');
    const plan = planExec({
      initPid: vm.guestPid,
      namespaces: (req.spec.linux?.namespaces ?? []).map((n) => n.type),
      process: req.process,
      linux: req.spec.linux,
      preserveFds: 0,
      parentPrelude: guestCgroup(req.spec).join,
      ...(terminal && req.console ? { console: { fd: GUEST_CONSOLE_FD, rows: req.console.rows, cols: req.console.cols } } : {}),
    });
    debugLog(() => `guest exec plan for ${req.record.id}:\n${describePlan(plan)}`);
    const relay = await startExecRelay({
      vm,
      plan: encodePlan(plan),
      ...(terminal && req.console ? { terminal: { rows: req.console.rows, cols: req.console.cols, handoff: socketFd(req.console.handoff) } } : {}),
      detach: req.mode === 'create',
      ...(req.stdio ? { stdio: req.stdio } : {}),
    });
    return { pid: relay.pid, exited: relay.exited, signal: relay.signal };
  }

  /** The cgroup freezer on QEMU: every vCPU and I/O thread stops, the guest with them. */
  setPaused(rec: ContainerRecord, paused: boolean): void {
    setFrozen(vmmCgroupsOf(rec, paused ? 'pause' : 'resume'), paused);
  }

  /** The CPU time QEMU gets (quota, period, shares); the rest is fixed at boot: refused naming the field. */
  update(rec: ContainerRecord, spec: Spec, resources: unknown, field: string): void {
    updateVmm(vmmCgroupsOf(rec, 'update'), spec, resources, field);
  }

  pids(rec: ContainerRecord): number[] | undefined {
    // What the host sees of a vm container is its VMM (and its volume servers).
    if (rec.cgroups) return cgroupPids(rec.cgroups);
    return rec.vm && readProcStat(rec.vm.vmmPid)?.startTime === rec.vm.vmmStartTime ? [rec.vm.vmmPid] : [];
  }

  signalAll(_rec: ContainerRecord, _signal: number): boolean {
    return false; // kill goes through kill() above
  }

  /**
   * The container's own figures, as Kata reports them: its cgroup in the guest, read by the agent
   * (CPU time, memory and its high-water mark, OOM events, pids, I/O of the guest's processes).
   * When the guest cannot answer (paused, an agent without STATS, a busy guest past STATS_TIMEOUT_MS),
   * QEMU's cgroup on the host: what the VM costs (vCPUs and emulation, the guest RAM QEMU touched).
   */
  async stats(rec: ContainerRecord): Promise<unknown> {
    const guest = rec.paused ? undefined : await guestStats(rec).catch((err: Error) => {
      debugLog(() => `vm: ${rec.id}: no stats from the guest (${err.message}); QEMU's host cgroup instead`);
      return undefined;
    });
    return guest ?? collectStats(vmmCgroupsOf(rec, 'events'), hostCgroupFiles);
  }

  /** OOM kills in the container's cgroup in the guest (its memory.events): the host sees none of them. */
  async oomKills(rec: ContainerRecord): Promise<number> {
    if (rec.paused || !rec.vm) return 0;
    const answer = await requestOnce(rec, { type: 'stats' }, STATS_TIMEOUT_MS);
    if (answer.type !== 'stats') return 0;
    const events = parseFlatKeyed(answer.files.get('memory.events'));
    return Number(events.oom_kill ?? 0);
  }

  /** Stop the VMM (verified by start time) and remove the disk image, sockets and status file. */
  destroy(rec: ContainerRecord): void {
    if (!rec.vm) {
      if (rec.cgroups) removeCgroups(rec.cgroups); // a create that failed before the VMM existed
      return;
    }
    // A namespace only QEMU held (/proc/<its pid>/ns/net, the holder's; Docker may keep it by a
    // bind mount): its redirection goes while that path is still QEMU's, never after.
    const net = rec.vm.network;
    const ownNetns = net?.netns === `/proc/${rec.vm.vmmPid}/ns/net`;
    if (net && ownNetns && readProcStat(rec.vm.vmmPid)?.startTime === rec.vm.vmmStartTime) disconnectTaps(net.netns, net.interfaces);
    stopVmm(rec.vm);
    // They exit when QEMU disconnects; stopped here too if moat died between the two.
    stopVolumeServers(rec.vm.volumeServers ?? []);
    if (net && !ownNetns) disconnectTaps(net.netns, net.interfaces);
    // A pod's VM: its members' binds go before any file is removed (never through a bind).
    if (rec.vm.pod && !releasePodShare(rec.vm.pod.shared)) {
      throw new MoatError('ESTATE', `${rec.vm.pod.shared}: still mounted after unmounting; the vm's files are left in place`);
    }
    removeSocketAlias(rec.vm.dir);
    fs.rmSync(rec.vm.dir, { recursive: true, force: true });
    if (rec.cgroups) removeCgroups(rec.cgroups);
  }
}

/** prestart/createRuntime hooks (createContainer and startContainer are refused: spec.ts). */
function hasCreateHooks(spec: Spec): boolean {
  return (spec.hooks?.prestart ?? []).length > 0 || (spec.hooks?.createRuntime ?? []).length > 0;
}

async function requestOnce(rec: ContainerRecord, m: Parameters<Channel['send']>[0], timeoutMs = REQUEST_TIMEOUT_MS): Promise<GuestMessage> {
  if (!rec.vm) throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} has no vm`);
  const vm = rec.vm;
  const alive = () => readProcStat(vm.vmmPid)?.startTime === vm.vmmStartTime;
  const { channel } = await Channel.open({ socket: vm.socket, timeoutMs, alive });
  try {
    return await channel.request(m, timeoutMs);
  } finally {
    channel.close();
  }
}

/** The guest's answer to STATS, parsed as a native container's cgroup v2 files are. */
async function guestStats(rec: ContainerRecord): Promise<CgroupStats | undefined> {
  if (!rec.vm) return undefined;
  const answer = await requestOnce(rec, { type: 'stats' }, STATS_TIMEOUT_MS);
  if (answer.type !== 'stats') return undefined; // an agent without STATS: "unknown message type"
  const files = answer.files;
  return v2Stats('', { read: (f) => files.get(f.replace(/^\//, '')), list: () => [] });
}

function vmmCgroupsOf(rec: ContainerRecord, what: string): CgroupRecord {
  if (!rec.cgroups) throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)}: its VMM has no cgroups (none on this host, or not delegated to a rootless caller): cannot ${what}`);
  return rec.cgroups;
}

function stopVmm(vm: VmRecord): void {
  killAndWait(vm.vmmPid, vm.vmmStartTime);
}
