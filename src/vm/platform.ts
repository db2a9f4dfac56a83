// The vm platform: each container in its own light VM (QEMU microvm, the Debian cloud kernel, an
// initramfs whose /init is moat-agent). The container is set up inside the guest by moat-exec from
// the same plan the native platform computes. The state's pid is the VMM's.

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CreatedInit, CreateRequest, ExecRequest, Platform } from '../platform/types';
import type { Spec } from '../spec/types';
import { readProcStat } from '../state/process';
import { killAndWait } from '../runtime/processes';
import type { CgroupRecord, ContainerRecord, VmRecord } from '../state/store';
import { executorPath, sys } from '../sys';
import { MoatError } from '../util/errors';
import { debugLog, logWarning } from '../util/log';
import { cgroupPids, collectStats, hostCgroupFiles, parseResources, removeCgroups, setFrozen } from '../policy/cgroups';
import { createVmmCgroups, moveIntoCgroups, updateVmm } from './host-cgroup';
import { describePlan, encodePlan, planContainer } from '../policy/plan';
import { planExec } from '../policy/plan/exec';
import { Channel, type GuestMessage } from './channel';
import { startExecRelay } from './exec';
import { ensureInitramfs, findGuestKernel } from './guest';
import { buildRootfsImage, ensureBusyboxRootfs } from './rootfs';
import { checkVmExec, checkVmSpec, doSpecForVm, GUEST_CONSOLE_FD, GUEST_ROOTFS, GUEST_START_FIFO, guestCgroup, guestFacts, vmSize } from './spec';
import { allocateVmUid } from './uid';
import { connectTaps, disconnectTaps, networkCmdline, readNetns, tapsExist, type GuestInterface } from './network';
import { planVolumes, startVolumeServers, stopVolumeServers, volumesCmdline, type VolumeServer } from './volumes';
import { parseAccel, qemuDriver, resolveAccel, type VmPort } from './vmm';

export { VM_CPUS, VM_MEMORY_MIB } from './spec';
/** Boot to a ready agent: seconds under TCG on a busy machine; generous. */
const BOOT_TIMEOUT_MS = 120_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Exec channels per VM: as many `moat exec` processes can run at once (virtio-serial ports). */
export const VM_EXEC_SLOTS = 4;
/** How often a foreground run looks at its terminal's size (to forward a resize). */
const RESIZE_POLL_MS = 250;

/**
 * Kernel command line: quiet, fast, and power off (reboot + -no-reboot) on panic. Under TCG the
 * guest's TSC is the host's, and calibrating it against the emulated PIT fails on a loaded host
 * (the kernel then hangs without a clocksource): `tscKhz` gives the kernel the frequency instead.
 */
export function guestCmdline(console: boolean, tscKhz?: number): string {
  return [
    ...(tscKhz ? [`tsc_early_khz=${tscKhz}`] : []),
    console ? 'console=ttyS0' : 'console=none quiet loglevel=0',
    'panic=-1 reboot=t',
    'tsc=reliable no_timer_check noreplace-smp cryptomgr.notests rcupdate.rcu_expedited=1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd',
    'random.trust_cpu=on mitigations=off',
  ].join(' ');
}

/** State root of this container's state directory: the vm cache (initramfs, accel verdict) lives there. */
function cacheDirFor(stateDir: string): string {
  // `@` is not allowed in container ids, so this is never listed as a container.
  return path.join(path.dirname(stateDir), '@vm');
}

export class VmPlatform implements Platform {
  readonly name = 'vm' as const;

  async create(req: CreateRequest): Promise<CreatedInit> {
    if (!req.stateDir) throw new MoatError('EINTERNAL', 'vm platform: no state directory given');
    const accelChoice = parseAccel(req.vmAccel ?? process.env.MOAT_VM_ACCEL, req.vmAccel !== undefined ? '--vm-accel' : 'MOAT_VM_ACCEL');
    let spec = req.bundle.spec;
    if (req.hostRootOverlay) spec = doSpecForVm(spec);
    checkVmSpec(spec, req.preserveFds);
    // Bind mounts: host directories (or single files) shared into the guest at /vol/N.
    const vols = planVolumes(spec);
    spec = vols.spec;
    // A network namespace given by path: QEMU joins it and its interfaces become the guest's; the
    // container then lives in the guest's own network namespace, which holds them.
    const netns = spec.linux?.namespaces.find((n) => n.type === 'network' && n.path !== undefined)?.path;
    const ifaces = netns !== undefined ? readNetns(netns) : [];
    if (netns !== undefined) spec = { ...spec, linux: { ...spec.linux!, namespaces: spec.linux!.namespaces.filter((n) => n.type !== 'network') } };
    const terminal = spec.process.terminal === true;
    if (terminal && !req.console) throw new MoatError('EUSAGE', 'process.terminal is set: a --console-socket is required');
    const cacheDir = cacheDirFor(req.stateDir);
    const kernel = findGuestKernel();
    const agent = path.join(path.dirname(executorPath()), 'moat-agent');
    if (!fs.existsSync(agent)) throw new MoatError('ENATIVE', `${agent}: the guest agent is not built (run \`npm run build\`)`);
    const initrd = ensureInitramfs({ agent, executor: executorPath(), kernel }, cacheDir);
    const accel = resolveAccel(accelChoice, kernel.image, cacheDir, (line, fresh) => {
      if (fresh) logWarning(line);
      else debugLog(() => line);
    });
    // linux.resources: the VM's size, and cgroup v2 limits inside the guest.
    const cgroup = guestCgroup(spec);
    for (const line of cgroup.ignored) debugLog(() => line);
    const size = vmSize(parseResources(spec.linux?.resources), { cpus: os.cpus().length, memoryMiB: Math.floor(os.totalmem() / (1 << 20)) });
    const plan = planContainer({
      spec,
      rootfs: GUEST_ROOTFS,
      startFifo: GUEST_START_FIFO,
      noPivot: req.noPivot,
      preserveFds: 0,
      facts: guestFacts(vols.kinds),
      container: { id: req.id, bundle: req.bundle.dir },
      cgroup: { join: cgroup.create, dirs: cgroup.dirs },
      ...(terminal && req.console ? { console: { fd: GUEST_CONSOLE_FD, rows: req.console.rows, cols: req.console.cols } } : {}),
      ...(req.noNewKeyring ? {} : { sessionKeyring: `_ses.${req.id}` }),
    });
    debugLog(() => `guest plan for ${req.id}:\n${describePlan(plan)}`);

    const dir = path.join(req.stateDir, 'vm');
    const socket = path.join(dir, 'ctl.sock');
    const execSockets = Array.from({ length: VM_EXEC_SLOTS }, (_, i) => execSocketPath(dir, i));
    for (const p of [socket, ...execSockets]) {
      if (Buffer.byteLength(p) > 107) throw new MoatError('EVM', `${p}: path too long for a unix socket (use a shorter --root)`);
    }
    fs.mkdirSync(dir, { mode: 0o700 });
    const image = path.join(dir, 'rootfs.img');
    // `moat do`: the host's root is not visible in a guest; a busybox rootfs stands in (docs/vm.md).
    buildRootfsImage(req.hostRootOverlay ? ensureBusyboxRootfs(cacheDir) : req.bundle.rootfs, image);
    const statusFile = path.join(dir, 'exit-status');
    const debugConsole = process.env.MOAT_VM_DEBUG === '1';
    // Confinement: QEMU opens everything as root, then chroots into an empty directory and becomes
    // a uid/gid of its own (docs/vm.md#confining-qemu). Only root can do either.
    const root = (process.getuid?.() ?? 0) === 0;
    if (!root && vols.volumes.length > 0) throw new MoatError('EUSAGE', `${vols.volumes[0]!.field}: bind mounts in a vm need root (their file server runs as root)`);
    const chroot = path.join(dir, 'chroot');
    if (root) fs.mkdirSync(chroot, { mode: 0o555 });

    const opened: number[] = [];
    let child: ChildProcess | undefined;
    let master: number | undefined;
    let ptyName = '';
    let stopPump: (() => void) | undefined;
    let servers: VolumeServer[] = [];
    let tapsConnected = false;
    try {
      // The VMM's host cgroups (placement: pause, stats, update of its CPU time); removed by destroy.
      const vmmCgroups = createVmmCgroups(req.id, spec, req.systemdCgroup ?? false, (c) => req.recordCgroups?.(c));
      servers = await startVolumeServers(vols.volumes, dir, () => undefined);
      // The container's stdio: the caller's fds as QEMU can use them, or a host pty for a terminal.
      let input: number;
      let out: VmPort;
      let err: VmPort;
      if (terminal) {
        // Everything on the terminal, nothing on moat's own stdio (which a caller may wait on).
        const pty = sys().openPty(req.console!.rows, req.console!.cols);
        master = pty.master;
        ptyName = pty.name;
        track(pty.slave, opened);
        input = pty.slave;
        const toSlave = () => track(fs.openSync(`/proc/self/fd/${pty.slave}`, fs.constants.O_WRONLY | fs.constants.O_NOCTTY), opened);
        out = { name: 'moat.out', kind: 'output', fd: toSlave(), access: 'write-only' };
        err = { name: 'moat.err', kind: 'output', fd: toSlave(), access: 'write-only' };
      } else {
        const stdin = inputFd(req.mode === 'run', opened);
        input = stdin.fd;
        stopPump = stdin.stop;
        out = outputPort('moat.out', 1, opened);
        err = outputPort('moat.err', 2, opened);
      }
      const uid = root ? allocateVmUid(path.join(cacheDir, 'uids'), `${req.stateDir}`) : undefined;
      if (uid) track(uid.lockFd, opened);
      const ports: VmPort[] = [
        { name: 'moat.ctl', kind: 'socket', path: socket },
        { name: 'moat.in', kind: 'input', fd: input },
        out,
        err,
        { name: 'moat.status', kind: 'output', fd: track(fs.openSync(statusFile, 'w', 0o600), opened), access: 'write-only' },
        ...execSockets.map((p, i): VmPort => ({ name: `moat.exec.${i}`, kind: 'socket', path: p })),
      ];
      const cmd = qemuDriver.command({
        accel,
        memoryMiB: size.memoryMiB,
        cpus: size.cpus,
        kernel: kernel.image,
        initrd,
        // The disk is mounted read-write; a read-only root is the plan's `remount-ro /`, as natively.
        cmdline: [guestCmdline(debugConsole, accel === 'tcg' ? hostTscKhz() : undefined), `moat.exec=${VM_EXEC_SLOTS}`, volumesCmdline(vols.volumes), networkCmdline(ifaces)].filter(Boolean).join(' '),
        disks: [{ path: image, readonly: false }],
        ports,
        filesystems: servers.map((v) => ({ tag: v.tag, socket: v.socket })),
        nics: ifaces.map((i) => ({ tap: i.tap, mac: i.mac })),
        ...(debugConsole ? { consoleLog: path.join(dir, 'console.log') } : {}),
        ...(uid ? { runAs: { uid: uid.uid, gid: uid.uid }, chroot, holdFds: [uid.lockFd] } : {}),
      });
      debugLog(() => `vmm: ${cmd.binary} ${cmd.args.join(' ')}`);
      // QEMU's own messages: to moat's stderr while moat runs; after a create returns, nowhere (a
      // caller such as containerd's shim reads moat's stderr to its end, which must come).
      const stdio: StdioOptions = ['ignore', 'ignore', req.mode === 'run' ? 'inherit' : 'pipe'];
      for (const f of cmd.fds) stdio[f.child] = f.parent;
      for (let i = 3; i < stdio.length; i++) stdio[i] ??= 'ignore';
      // Its own session: the caller's terminal signals reach moat, which forwards them to the container.
      // In the joined network namespace (nsenter execs QEMU: the pid is QEMU's).
      const [bin, argv] = netns !== undefined ? ['nsenter', [`--net=${netns}`, '--', cmd.binary, ...cmd.args]] : [cmd.binary, cmd.args];
      child = spawn(bin, argv, { stdio, detached: true });
      const spawned = child;
      spawned.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
      spawned.stderr?.on('error', () => undefined);
      const spawnError = new Promise<never>((_, reject) => {
        spawned.once('error', (err) => reject(new MoatError('EVM', `cannot run ${cmd.binary}: ${err.message} (install qemu-system-x86)`)));
      });
      spawnError.catch(() => undefined);
      for (const fd of opened.splice(0)) fs.closeSync(fd);
      let stopResize: (() => void) | undefined;
      const exited = new Promise<number>((resolve) => {
        spawned.once('exit', (code, signal) => {
          // Before the caller drains the terminal: our copy of the master must not keep it open.
          stopResize?.();
          stopPump?.();
          resolve(containerStatus(statusFile, req.id, code, signal));
        });
      });
      const pid = await Promise.race([waitPid(spawned), spawnError]);
      const st = readProcStat(pid);
      if (!st) {
        await exited;
        throw new MoatError('EVM', `${cmd.binary} exited at once (see its message above)`);
      }
      if (vmmCgroups) for (const p of [pid, ...servers.map((s) => s.pid)]) moveIntoCgroups(vmmCgroups, p);
      const vm: VmRecord = { dir, socket, vmmPid: pid, vmmStartTime: st.startTime, execSlots: VM_EXEC_SLOTS, ...(terminal ? { terminal: true } : {}), ...(servers.length > 0 ? { volumeServers: servers.map((v) => ({ pid: v.pid, startTime: v.startTime })) } : {}), ...(netns !== undefined && ifaces.length > 0 ? { network: { netns, interfaces: ifaces.map((i) => i.name) } } : {}) };
      req.recordVm?.(vm);
      const alive = () => spawned.exitCode === null && spawned.signalCode === null;
      if (netns !== undefined && ifaces.length > 0) {
        await waitTaps(netns, ifaces, alive);
        connectTaps(netns, ifaces);
        tapsConnected = true;
      }

      const { channel, hello } = await Promise.race([Channel.open({ socket, timeoutMs: BOOT_TIMEOUT_MS, alive }), spawnError]);
      try {
        if (hello.phase !== 'idle') throw new MoatError('EVM', `vm of ${req.id}: the guest agent is ${hello.phase}, expected idle`);
        const answer = await channel.request({ type: 'plan', plan: encodePlan(plan), terminal }, REQUEST_TIMEOUT_MS);
        if (answer.type === 'error') {
          // As natively (and runc): a missing program is exit status 127 with runc's words.
          if (answer.message.startsWith('exec: "')) throw new MoatError('EEXEC', answer.message);
          throw new MoatError('ESETUP', `container ${req.id}: in the vm: ${answer.message}`);
        }
        if (answer.type !== 'ready') expect(answer, 'ready', 'plan');
        else req.recordVm?.({ ...vm, guestPid: answer.pid });
      } finally {
        channel.close();
      }
      if (master !== undefined) {
        // The terminal's master goes where runc would send the container's: --console-socket, or
        // moat's own relay in the foreground. (Its name is the host pty's: the guest's is not ours.)
        sys().sendFd(socketFd(req.console!.handoff), master, ptyName);
        if (req.mode === 'run') {
          const m = master;
          stopResize = followResize(m, vm);
        } else {
          fs.closeSync(master);
        }
        master = undefined;
      }
      if (req.mode === 'create') {
        stopPump?.();
        spawned.stderr?.destroy(); // QEMU ignores SIGPIPE: its later writes fail quietly
        spawned.unref();
      }
      return { pid, exited };
    } catch (err) {
      for (const fd of opened) fs.closeSync(fd);
      if (master !== undefined) fs.closeSync(master);
      stopPump?.();
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child!.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      }
      stopVolumeServers(servers);
      if (tapsConnected && netns !== undefined) disconnectTaps(netns, ifaces.map((i) => i.name));
      throw err;
    }
  }

  async start(rec: ContainerRecord): Promise<void> {
    const answer = await requestOnce(rec, { type: 'start' });
    if (answer.type === 'error') throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} cannot be started: ${answer.message}`);
    expect(answer, 'started', 'start');
  }

  async kill(rec: ContainerRecord, signal: number, all: boolean): Promise<void> {
    const answer = await requestOnce(rec, { type: 'signal', signal, all });
    if (answer.type === 'error') throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)}: ${answer.message}`);
    expect(answer, 'ok', 'signal');
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
    });
    return { pid: relay.pid, exited: relay.exited };
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
   * From QEMU's cgroup on the host: the CPU time of the VM (vCPUs and emulation), its memory (the
   * guest RAM QEMU has touched, and QEMU's own), its threads. Not the guest's own accounting.
   */
  stats(rec: ContainerRecord): unknown {
    return collectStats(vmmCgroupsOf(rec, 'events'), hostCgroupFiles);
  }

  /** Stop the VMM (verified by start time) and remove the disk image, sockets and status file. */
  destroy(rec: ContainerRecord): void {
    if (!rec.vm) {
      if (rec.cgroups) removeCgroups(rec.cgroups); // a create that failed before the VMM existed
      return;
    }
    stopVmm(rec.vm);
    // They exit when QEMU disconnects; stopped here too if moat died between the two.
    stopVolumeServers(rec.vm.volumeServers ?? []);
    if (rec.vm.network) disconnectTaps(rec.vm.network.netns, rec.vm.network.interfaces);
    fs.rmSync(rec.vm.dir, { recursive: true, force: true });
    if (rec.cgroups) removeCgroups(rec.cgroups);
  }
}

/** Wait until QEMU has made its taps (at its start-up, before the guest runs). */
async function waitTaps(netns: string, ifaces: GuestInterface[], alive: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!tapsExist(netns, ifaces)) {
    if (!alive()) throw new MoatError('EVM', 'the vmm exited before making its network taps (see its message above)');
    if (Date.now() > deadline) throw new MoatError('EVM', `network namespace ${netns}: the vmm's taps did not appear`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The host's TSC frequency (kHz) from /proc/cpuinfo, when the CPU says it is constant. */
export function hostTscKhz(cpuinfo?: string): number | undefined {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return undefined;
    }
  }
  const flags = /^flags\s*:(.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? [];
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)$/m.exec(text)?.[1]);
  if (!flags.includes('constant_tsc') || !Number.isFinite(mhz) || mhz <= 0) return undefined;
  return Math.round(mhz * 1000);
}

function track(fd: number, opened: number[]): number {
  opened.push(fd);
  return fd;
}

export function execSocketPath(dir: string, slot: number): string {
  return path.join(dir, `exec-${slot}.sock`);
}

/** The raw fd of a console handoff (a connected unix socket: an fd of ours, or a net.Socket). */
function socketFd(handoff: number | import('node:net').Socket): number {
  if (typeof handoff === 'number') return handoff;
  const fd = (handoff as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new MoatError('EINTERNAL', 'console socket: no file descriptor');
  return fd;
}

/** In the foreground: follow the size of the terminal's master (the relay resizes it) into the guest. */
function followResize(master: number, vm: VmRecord): () => void {
  let last = sys().getWinsize(master);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    let now: { rows: number; cols: number };
    try {
      now = sys().getWinsize(master);
    } catch {
      return;
    }
    if (now.rows === last.rows && now.cols === last.cols) return;
    last = now;
    busy = true;
    requestOnce({ vm } as ContainerRecord, { type: 'resize', rows: now.rows, cols: now.cols })
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, RESIZE_POLL_MS);
  timer.unref();
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    fs.closeSync(master);
  };
}

/**
 * The container's stdin, as QEMU reads it (its own fd 0, the one chardev that sees an end of
 * input): a socket as it is; a pipe, fifo, file or device reopened read-only and non-blocking (a
 * description of our own: QEMU makes it non-blocking, and must not do that to the caller's); a
 * terminal, which QEMU would put in raw mode, through a pipe fed by moat in the foreground (a
 * created container then gets an empty stdin). No stdin: /dev/null.
 */
function inputFd(foreground: boolean, opened: number[]): { fd: number; stop?: () => void } {
  let st: fs.Stats | undefined;
  try {
    st = fs.fstatSync(0);
  } catch {
    st = undefined;
  }
  if (st?.isSocket()) return { fd: 0 };
  if (st && process.stdin.isTTY) {
    if (!foreground) return { fd: track(fs.openSync('/dev/null', 'r'), opened) };
    const [r, w] = pipeFds();
    track(r, opened);
    const onData = (chunk: Buffer) => {
      try {
        fs.writeSync(w, chunk);
      } catch {
        // the guest side has gone
      }
    };
    process.stdin.on('data', onData);
    const onEnd = () => stop();
    process.stdin.once('end', onEnd);
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      process.stdin.off('data', onData);
      process.stdin.off('end', onEnd);
      process.stdin.pause();
      fs.closeSync(w);
    };
    return { fd: r, stop };
  }
  try {
    return { fd: track(fs.openSync(st ? '/proc/self/fd/0' : '/dev/null', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY), opened) };
  } catch {
    return { fd: track(fs.openSync('/dev/null', 'r'), opened) };
  }
}

/** A pipe (read end, write end), close-on-exec. */
function pipeFds(): [number, number] {
  // Node has no pipe(2): a fifo made and opened in a private directory, then removed.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-pipe-'));
  try {
    const fifo = path.join(dir, 'p');
    sys().mkfifo(fifo, 0o600);
    const r = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const w = fs.openSync(fifo, fs.constants.O_WRONLY);
    // QEMU reads the read end; clear O_NONBLOCK-dependence: it sets its own.
    return [r, w];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The container's stdout/stderr: the caller's fd, as the VMM can open it. QEMU opens fd sets with a
 * fixed access mode: a socket (O_RDWR) is passed as is; anything else is reopened write-only.
 */
function outputPort(name: string, fd: number, opened: number[]): VmPort {
  let st: fs.Stats | undefined;
  try {
    st = fs.fstatSync(fd);
  } catch {
    st = undefined;
  }
  if (st?.isSocket()) return { name, kind: 'output', fd, access: 'read-write' };
  let reopened: number;
  try {
    reopened = fs.openSync(st ? `/proc/self/fd/${fd}` : '/dev/null', fs.constants.O_WRONLY | fs.constants.O_APPEND);
  } catch {
    reopened = fs.openSync('/dev/null', 'w');
  }
  return { name, kind: 'output', fd: track(reopened, opened), access: 'write-only' };
}

function waitPid(child: ChildProcess): Promise<number> {
  if (child.pid !== undefined) return Promise.resolve(child.pid);
  return new Promise((resolve) => child.once('spawn', () => resolve(child.pid!)));
}

/** The container's exit status once the VMM has exited: what the agent wrote, else the VMM's fate. */
export function containerStatus(statusFile: string, id: string, code: number | null, signal: NodeJS.Signals | null): number {
  let text = '';
  try {
    text = fs.readFileSync(statusFile, 'utf8');
  } catch {
    // removed by delete meanwhile
  }
  // Written by the untrusted guest: a number 0..255 on one line, or nothing we believe.
  const m = /^(\d{1,3})\n$/.exec(text);
  if (m && Number(m[1]) <= 255) return Number(m[1]);
  if (signal) return 128 + (os.constants.signals[signal] ?? 9);
  logWarning(`container ${id}: its vm stopped without reporting an exit status (vmm exit status ${code ?? '?'})`);
  return 255;
}

function expect(m: GuestMessage, type: GuestMessage['type'], what: string): void {
  if (m.type !== type) throw new MoatError('EVM', `vm channel: answer to ${what} was ${m.type}, expected ${type}`);
}

async function requestOnce(rec: ContainerRecord, m: Parameters<Channel['send']>[0]): Promise<GuestMessage> {
  if (!rec.vm) throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} has no vm`);
  const vm = rec.vm;
  const alive = () => readProcStat(vm.vmmPid)?.startTime === vm.vmmStartTime;
  const { channel } = await Channel.open({ socket: vm.socket, timeoutMs: REQUEST_TIMEOUT_MS, alive });
  try {
    return await channel.request(m, REQUEST_TIMEOUT_MS);
  } finally {
    channel.close();
  }
}

function vmmCgroupsOf(rec: ContainerRecord, what: string): CgroupRecord {
  if (!rec.cgroups) throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)}: its VMM has no cgroups (none on this host, or not delegated to a rootless caller): cannot ${what}`);
  return rec.cgroups;
}

function stopVmm(vm: VmRecord): void {
  killAndWait(vm.vmmPid, vm.vmmStartTime);
}
