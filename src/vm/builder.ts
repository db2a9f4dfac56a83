// How a vm container comes to be, in three steps as Firecracker's builder has them:
//   planVm     decides everything from the request (spec checks, volumes, network, kernel, size,
//              the guest's container plan, file names) and touches nothing but moat's caches;
//   launchVmm  makes the state files and the disk image, opens stdio, and starts the VMM;
//   connectGuest waits for the guest agent, connects the taps, sends the plan, hands on a terminal.
// VmPlatform.create (platform.ts) runs them in order and undoes what was done when one fails.

import { exitRecordPath, readExitRecord } from '../runtime/exit-record';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CreateRequest } from '../platform/types';
import type { Process, Spec } from '../spec/types';
import { readProcStat } from '../state/process';
import type { VmRecord } from '../state/store';
import { executorPath, sys } from '../sys';
import { ConfigError, MoatError } from '../util/errors';
import { debugLog, logWarning } from '../util/log';
import { parseResources } from '../policy/cgroups';
import { describePlan, encodePlan, planContainer } from '../policy/plan';
import { Channel, FILE_BYTES_MAX, type GuestFile, type GuestMessage } from './channel';
import { ensureInitramfs, findGuestKernel } from './guest';
import { acquireBase, imageRoot, type BaseImage } from './disk/base';
import { createOverlay } from './disk/overlay';
import { checkVmSpec, GUEST_CONSOLE_FD, GUEST_ROOTFS, GUEST_START_FIFO, guestCgroup, guestFacts, vmSize } from './spec';
import { allocateSandboxUid } from '../state/sandbox-uid';
import { connectTaps, networkCmdline, readNetns, restoreNetworkWords, tapsExist, templateMac, type GuestInterface } from './network';
import { podShare, podVmResources, POD_EXEC_SLOTS } from './pod';
import { hostRootShare, planVolumes, volumesCmdline, type CopiedFile, type Volume, type VolumeServer } from './volumes';
import { socketFd, track, type GuestStdio } from './stdio';
import { execSocketPath, makeSocketAlias, socketDir } from './sockets';
import { parseAccel, qemuDriver, resolveAccel, type Accel, type VmConfig, type VmDisk, type VmmCommand, type VmPort } from './vmm';
import { acquireTemplate, checkTemplate, coldReason, dropTemplate, restoreGuest, startIncoming, templateMemory, templateRoot } from './snapshot';

/** Boot to a ready agent: seconds under TCG on a busy machine; generous. */
export const BOOT_TIMEOUT_MS = 120_000;
export const REQUEST_TIMEOUT_MS = 30_000;
/** Exec channels per VM: as many `moat exec` processes can run at once (virtio-serial ports). */
export const VM_EXEC_SLOTS = 4;

/** Everything decided before anything is made. */
export interface VmLaunchPlan {
  id: string;
  spec: Spec & { process: Process };
  volumes: Volume[];
  /** Small client files (/etc/hosts, …) copied into the guest rather than shared (volumes.ts). */
  copies: CopiedFile[];
  volumeKinds: VolumeKinds;
  /** A network namespace given by path: QEMU joins it; its interfaces become the guest's. */
  netns?: string;
  /**
   * A new network namespace asked for (no path): QEMU runs in an empty one of its own, so that what
   * hooks do to /proc/<pid>/ns/net of the reported pid (QEMU's: Docker's prestart hook moves the
   * container's veth there and configures it) never lands in the host's namespace.
   */
  ownNetns: boolean;
  /**
   * `netns` is the namespace holder's (src/vm/holder.ts), which QEMU alone keeps once the holder
   * is gone: recorded as /proc/<QEMU's pid>/ns/net, valid only while QEMU lives.
   */
  netnsOwned?: boolean;
  ifaces: GuestInterface[];
  terminal: boolean;
  cacheDir: string;
  kernel: string;
  initrd: string;
  accel: Accel;
  size: { cpus: number; memoryMiB: number };
  /** The container's plan, as moat-exec runs it inside the guest. */
  guest: ReturnType<typeof planContainer>;
  /** The container's state directory; its vm directory, and the files in that. */
  stateDir: string;
  dir: string;
  socket: string;
  execSockets: string[];
  /** Exec channels: VM_EXEC_SLOTS, or POD_EXEC_SLOTS for a pod's VM (its containers use them too). */
  execSlots: number;
  /** A pod's sandbox: the host directory shared with the guest for the pod's later containers. */
  pod?: { shared: string; guest: string };
  /** The container's copy-on-write overlay (qcow2) of the base image of its rootfs. */
  overlay: string;
  /** Where base images are cached (disk/base.ts). */
  imageRoot: string;
  /** The base image, open read-only from makeVmFiles until QEMU has its copy (closeBase). */
  base?: BaseImage;
  statusFile: string;
  /**
   * The container's root: a disk image made from the bundle's rootfs, or (`moat do`) the host's root
   * shared read-only and overlaid in the guest by a writable layer in memory.
   */
  guestRoot: { kind: 'image'; rootfs: string } | { kind: 'host'; share: Volume };
  debugConsole: boolean;
  /** Root confines QEMU (own uid, empty chroot) and may serve bind mounts. */
  root: boolean;
  chroot: string;
}

type VolumeKinds = ReturnType<typeof planVolumes>['kinds'];

export function planVm(req: CreateRequest, stateDir: string): VmLaunchPlan {
  const accelChoice = parseAccel(req.vmAccel ?? process.env.MOAT_VM_ACCEL, req.vmAccel !== undefined ? '--vm-accel' : 'MOAT_VM_ACCEL');
  let spec = req.bundle.spec;
  checkVmSpec(spec, req.preserveFds);
  // Bind mounts: host directories (or single files) shared into the guest at /vol/N; a client's
  // /etc/hosts, hostname and resolv.conf copied to /files/N.
  const vols = planVolumes(spec, undefined, true);
  spec = vols.spec;
  const dir = path.join(stateDir, 'vm');
  // A pod's sandbox: one more share, the pod's shared directory, after the spec's own volumes.
  const pod = req.podSandbox ? podShare(dir, vols.volumes.length) : undefined;
  if (pod) vols.volumes.push(pod.volume);
  // A joined network namespace: the container then lives in the guest's own network namespace,
  // which holds the namespace's interfaces.
  const netns = spec.linux?.namespaces.find((n) => n.type === 'network' && n.path !== undefined)?.path;
  const ifaces = netns !== undefined ? readNetns(netns) : [];
  const ownNetns = netns === undefined && (process.getuid?.() ?? 0) === 0 && spec.linux?.namespaces.some((n) => n.type === 'network') === true;
  if (netns !== undefined) spec = inGuestNetns(spec);
  const terminal = spec.process.terminal === true;
  if (terminal && !req.console) throw new MoatError('EUSAGE', 'process.terminal is set: a --console-socket is required');
  const root = (process.getuid?.() ?? 0) === 0;
  if (!root && vols.volumes.length > 0) throw new MoatError('EUSAGE', `${vols.volumes[0]!.field}: bind mounts in a vm need root (their file server runs as root)`);

  const cacheDir = cacheDirFor(stateDir);
  const kernel = findGuestKernel();
  const agent = path.join(path.dirname(executorPath()), 'moat-agent');
  if (!fs.existsSync(agent)) throw new MoatError('ENATIVE', `${agent}: the guest agent is not built (run \`npm run build\`)`);
  const initrd = ensureInitramfs({ agent, executor: executorPath(), kernel }, cacheDir);
  const accel = resolveAccel(accelChoice, kernel.image, cacheDir, (line, fresh) => {
    if (fresh) logWarning(line);
    else debugLog(() => line);
  });
  // linux.resources: the VM's size, and cgroup v2 limits inside the guest.
  for (const line of guestCgroup(spec).ignored) debugLog(() => line);
  // A pod's VM: room for all of the pod's containers (CRI's sandbox annotations), not the pause's.
  const own = parseResources(spec.linux?.resources);
  const size = vmSize(req.podSandbox ? podVmResources(own, spec.annotations) : own, { cpus: os.cpus().length, memoryMiB: Math.floor(os.totalmem() / (1 << 20)) });
  const guest = planGuest(req, spec, vols.kinds, terminal);

  const socket = path.join(socketDir(dir), 'ctl.sock');
  const execSlots = pod ? POD_EXEC_SLOTS : VM_EXEC_SLOTS;
  const execSockets = Array.from({ length: execSlots }, (_, i) => execSocketPath(dir, i));
  for (const p of [socket, ...execSockets]) {
    if (Buffer.byteLength(p) > 107) throw new MoatError('EVM', `${p}: path too long for a unix socket (use a shorter --root)`);
  }
  return {
    id: req.id,
    spec,
    volumes: vols.volumes,
    copies: vols.copies,
    volumeKinds: vols.kinds,
    ...(netns !== undefined ? { netns } : {}),
    ownNetns,
    ifaces,
    terminal,
    cacheDir,
    kernel: kernel.image,
    initrd,
    accel,
    size,
    guest,
    stateDir,
    dir,
    socket,
    execSockets,
    execSlots,
    ...(pod ? { pod: { shared: pod.volume.host, guest: pod.volume.guestSource } } : {}),
    overlay: path.join(dir, 'rootfs.qcow2'),
    imageRoot: imageRoot(cacheDir, root),
    statusFile: exitRecordPath(stateDir),
    guestRoot: req.hostRootOverlay ? { kind: 'host', share: hostRootShare(vols.volumes.length) } : { kind: 'image', rootfs: req.bundle.rootfs },
    debugConsole: process.env.MOAT_VM_DEBUG === '1',
    root,
    chroot: path.join(dir, 'chroot'),
  };
}

/** The container's plan as moat-exec runs it in the guest. */
function planGuest(req: CreateRequest, spec: Spec & { process: Process }, kinds: VolumeKinds, terminal: boolean): ReturnType<typeof planContainer> {
  const cgroup = guestCgroup(spec);
  const guest = planContainer({
    spec,
    rootfs: GUEST_ROOTFS,
    startFifo: GUEST_START_FIFO,
    noPivot: req.noPivot,
    preserveFds: 0,
    facts: guestFacts(kinds),
    container: { id: req.id, bundle: req.bundle.dir },
    cgroup: { join: cgroup.create, dirs: cgroup.dirs },
    ...(terminal && req.console ? { console: { fd: GUEST_CONSOLE_FD, rows: req.console.rows, cols: req.console.cols } } : {}),
    ...(req.noNewKeyring ? {} : { sessionKeyring: `_ses.${req.id}` }),
  });
  debugLog(() => `guest plan for ${req.id}:\n${describePlan(guest)}`);
  return guest;
}

/**
 * After the create-time hooks (docs/vm.md#networking): QEMU runs in `netns` — the holder's, which
 * the VM then owns (`own`), or the spec's path — with the interfaces that are there now (Docker's
 * veth, moved in by its hook). With interfaces, the container lives in the guest's own network
 * namespace, which holds them (its network entry dropped, as for a path).
 */
export function settleNetwork(p: VmLaunchPlan, req: CreateRequest, netns: string, own: boolean): void {
  p.netns = netns;
  p.ownNetns = false;
  if (own) p.netnsOwned = true;
  p.ifaces = readNetns(netns);
  const namespaces = p.spec.linux?.namespaces ?? [];
  if (p.ifaces.length > 0 && namespaces.some((n) => n.type === 'network' && n.path !== GUEST_NETNS)) {
    p.spec = inGuestNetns(p.spec);
    p.guest = planGuest(req, p.spec, p.volumeKinds, p.terminal);
  }
}

/** The guest's own network namespace (its init's), which holds the NICs. */
const GUEST_NETNS = '/proc/1/ns/net';

/**
 * The container joins the guest's own network namespace, which holds the NICs: a namespace of the
 * VM's, hence the container's own, so its net.* sysctls apply there (Docker sets
 * net.ipv4.ip_unprivileged_port_start) as runc applies them in the namespace it made.
 */
function inGuestNetns<S extends Spec>(spec: S): S {
  const namespaces = spec.linux!.namespaces.map((n) => (n.type === 'network' ? { type: 'network' as const, path: GUEST_NETNS } : n));
  return { ...spec, linux: { ...spec.linux!, namespaces } };
}

/**
 * Makes the vm directory, the disk — the base image of the rootfs (built once per tree content,
 * disk/base.ts) and the container's overlay of it — and QEMU's empty chroot.
 */
export async function makeVmFiles(p: VmLaunchPlan): Promise<void> {
  fs.mkdirSync(p.dir, { mode: 0o700 });
  makeSocketAlias(p.dir);
  // Confinement: QEMU opens everything as root, then chroots into an empty directory and becomes
  // a uid/gid of its own (docs/vm.md#confining-qemu). Only root can do either.
  if (p.root) fs.mkdirSync(p.chroot, { mode: 0o555 });
  if (p.guestRoot.kind === 'image') {
    p.base = await acquireBase(p.guestRoot.rootfs, p.imageRoot);
    try {
      createOverlay(p.base.path, p.base.bytes, p.overlay);
    } catch (err) {
      closeBase(p);
      throw err;
    }
  }
}

/** Closes the base image's fd (QEMU has its own once started; or the create failed). */
export function closeBase(p: VmLaunchPlan): void {
  if (p.base?.fd === undefined || p.base.fd < 0) return;
  fs.closeSync(p.base.fd);
  p.base.fd = -1;
}

/** The disk as QEMU gets it: the overlay (both ways) over the base (read-only), by fds tracked in `opened`. */
function openDisk(p: VmLaunchPlan, opened: number[]): VmDisk {
  if (!p.base || p.base.fd < 0) throw new MoatError('EINTERNAL', `${p.overlay}: no base image open`);
  const rw = track(fs.openSync(p.overlay, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW), opened);
  const ro = track(fs.openSync(p.overlay, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW), opened);
  const base = track(p.base.fd, opened);
  p.base.fd = -1; // closed with `opened` now
  return { format: 'qcow2', fds: { rw, ro }, backing: { fd: base }, readonly: false };
}

/** A started VMM. `exited` resolves with the container's status once it is gone. */
export interface Vmm {
  child: ChildProcess;
  pid: number;
  exited: Promise<number>;
  record: VmRecord;
  alive: () => boolean;
  /** Rejects if the VMM could not be run at all. */
  spawnError: Promise<never>;
  /** Called when the VMM exits, before `exited` resolves (stops the stdin pump and resize follower). */
  onExit: (() => void)[];
}

/** Opens stdio and starts QEMU (in the joined network namespace, if any). */
export async function launchVmm(p: VmLaunchPlan, io: GuestStdio, servers: VolumeServer[], req: CreateRequest): Promise<Vmm> {
  const uid = p.root ? allocateSandboxUid(p.stateDir) : undefined;
  if (uid) track(uid.lockFd, io.opened);
  const ports: VmPort[] = [
    { name: 'moat.ctl', kind: 'socket', path: p.socket },
    { name: 'moat.in', kind: 'input', fd: io.input },
    io.out,
    io.err,
    { name: 'moat.status', kind: 'output', fd: track(fs.openSync(p.statusFile, 'w', 0o600), io.opened), access: 'write-only' },
    ...p.execSockets.map((s, i): VmPort => ({ name: `moat.exec.${i}`, kind: 'socket', path: s })),
  ];
  // The machine's command line but for the NICs' words: a template's (a clone gets those in RESTORE).
  const baseCmdline = [
    guestCmdline(p.debugConsole, p.accel === 'tcg' ? hostTscKhz() : undefined),
    `moat.exec=${p.execSlots}`,
    volumesCmdline(p.volumes),
    p.guestRoot.kind === 'host' ? `moat.root=${p.guestRoot.share.tag}` : '',
  ].filter(Boolean).join(' ');
  const config: VmConfig = {
    accel: p.accel,
    memoryMiB: p.size.memoryMiB,
    cpus: p.size.cpus,
    kernel: p.kernel,
    initrd: p.initrd,
    // The disk is mounted read-write; a read-only root is the plan's `remount-ro /`, as natively.
    cmdline: [baseCmdline, networkCmdline(p.ifaces)].filter(Boolean).join(' '),
    disks: p.guestRoot.kind === 'image' ? [openDisk(p, io.opened)] : [],
    ports,
    filesystems: servers.map((v) => ({ tag: v.tag, socket: v.socket })),
    nics: p.ifaces.map((i) => ({ tap: i.tap, mac: i.mac })),
    ...(p.debugConsole ? { consoleLog: path.join(p.dir, 'console.log') } : {}),
    ...(uid ? { runAs: { uid: uid.uid, gid: uid.uid }, chroot: p.chroot, holdFds: [uid.lockFd] } : {}),
  };
  // From a template of this machine if it has one (src/vm/snapshot, docs/vm.md#templates), else a boot.
  const restored = await startFromTemplate(p, config, baseCmdline, (c) => spawnVmm(p, c, req, true), (pid, startTime) =>
    // Recorded at once: a moat killed while the guest is restored leaves a QEMU that delete stops.
    req.recordVm?.({ dir: p.dir, socket: p.socket, vmmPid: pid, vmmStartTime: startTime, execSlots: p.execSlots }),
  );
  const { cmd, child, spawnError } = restored ?? spawnVmm(p, qemuDriver.command(config), req, false);
  // QEMU holds its copies now.
  for (const fd of io.opened.splice(0)) fs.closeSync(fd);
  const onExit: (() => void)[] = io.stopPump ? [io.stopPump] : [];
  const exited = new Promise<number>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      // Before the caller drains the terminal: our copy of the master must not keep it open.
      for (const f of onExit) f();
      resolve(containerStatus(p.statusFile, p.id, code, signal));
    };
    // A restored QEMU may have exited while its guest was being restored.
    if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode, child.signalCode);
    else child.once('exit', done);
  });
  const pid = await Promise.race([waitPid(child), spawnError]);
  const st = readProcStat(pid);
  if (!st) {
    await exited;
    throw new MoatError('EVM', `${cmd.binary} exited at once (see its message above)`);
  }
  const record: VmRecord = {
    dir: p.dir,
    socket: p.socket,
    vmmPid: pid,
    vmmStartTime: st.startTime,
    execSlots: p.execSlots,
    ...(p.pod ? { pod: p.pod } : {}),
    ...(p.terminal ? { terminal: true } : {}),
    ...(servers.length > 0 ? { volumeServers: servers.map((v) => ({ pid: v.pid, startTime: v.startTime })) } : {}),
    ...(p.netns !== undefined && p.ifaces.length > 0 ? { network: { netns: p.netnsOwned ? `/proc/${pid}/ns/net` : p.netns, interfaces: p.ifaces.map((i) => i.name) } } : {}),
    ...(restored ? { template: restored.template } : {}),
  };
  req.recordVm?.(record);
  return { child, pid, exited, record, spawnError, onExit, alive: () => child.exitCode === null && child.signalCode === null };
}

interface Spawned {
  cmd: VmmCommand;
  child: ChildProcess;
  spawnError: Promise<never>;
  /** Forward QEMU's messages from now on (those held until then first). */
  release: () => void;
  /** The last line QEMU said while its messages were held. */
  held: () => string;
}

/**
 * Spawns the VMM detached (its own session: the caller's terminal signals reach moat, which
 * forwards them to the container), in the joined network namespace if any (nsenter execs QEMU: the
 * pid is QEMU's). QEMU's own messages go to moat's stderr while moat runs; after a create returns,
 * nowhere (a caller such as containerd's shim reads moat's stderr to its end, which must come).
 * `hold`: keep them until `release` (a restore attempt that fails is reported by moat instead).
 */
function spawnVmm(p: VmLaunchPlan, cmd: VmmCommand, req: CreateRequest, hold: boolean): Spawned {
  debugLog(() => `vmm: ${cmd.binary} ${cmd.args.join(' ')}`);
  const stdio: StdioOptions = ['ignore', 'ignore', req.mode === 'run' && !hold ? 'inherit' : 'pipe'];
  for (const f of cmd.fds) stdio[f.child] = f.parent;
  for (let i = 3; i < stdio.length; i++) stdio[i] ??= 'ignore';
  // nsenter and unshare exec QEMU: the pid is QEMU's.
  const [bin, argv] = p.netns !== undefined
    ? ['nsenter', [`--net=${p.netns}`, '--', cmd.binary, ...cmd.args]]
    : p.ownNetns ? ['unshare', ['--net', '--', cmd.binary, ...cmd.args]] : [cmd.binary, cmd.args];
  const child = spawn(bin, argv, { stdio, detached: true });
  let held: Buffer[] | undefined = hold ? [] : undefined;
  child.stderr?.on('data', (d: Buffer) => (held ? held.push(d) : process.stderr.write(d)));
  child.stderr?.on('error', () => undefined);
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new MoatError('EVM', `cannot run ${cmd.binary}: ${err.message} (install qemu-system-x86)`)));
  });
  spawnError.catch(() => undefined);
  return {
    cmd,
    child,
    spawnError,
    release: () => {
      for (const d of held ?? []) process.stderr.write(d);
      held = undefined;
    },
    held: () => Buffer.concat(held ?? []).toString('utf8').trim().split('\n').pop() ?? '',
  };
}

/**
 * Starts the container's QEMU from the template of its machine (made now if this is the first such
 * container) and brings the restored guest to where it takes the plan. Undefined if the container
 * boots cold: it cannot use a template (said at debug level), or the template could not be made or
 * restored (said as a warning; a template that fails to restore is discarded). Never fails.
 */
async function startFromTemplate(
  p: VmLaunchPlan,
  config: VmConfig,
  baseCmdline: string,
  spawnIt: (cmd: VmmCommand) => Spawned,
  recordIt: (pid: number, startTime: string) => void,
): Promise<(Spawned & { template: string }) | undefined> {
  const cold = coldReason({ root: p.root, imageRoot: p.guestRoot.kind === 'image', volumes: p.volumes.length, nics: p.ifaces.length, debugConsole: p.debugConsole });
  const root = templateRoot();
  if (cold !== undefined || root === undefined) {
    debugLog(() => `vm: ${p.id} boots cold: ${cold}`);
    return undefined;
  }
  const machine = { accel: config.accel, memoryMiB: config.memoryMiB, cpus: config.cpus, kernel: config.kernel, initrd: config.initrd, cmdline: baseCmdline, execSlots: p.execSlots, nics: p.ifaces.length };
  const tpl = await acquireTemplate(machine, root, (seed) => allocateSandboxUid(seed), BOOT_TIMEOUT_MS);
  if (!tpl) return undefined;
  let s: Spawned | undefined;
  let memoryFd: number | undefined;
  // Whether a failure is the template's (its memory or state do not check out, or QEMU died loading
  // or running it): only then is it discarded for everyone. A slow restore, a spawn error or this
  // container's own refusal (its NIC words) leaves it for the next container.
  let templateFault = false;
  try {
    // The disk's fds are the config's (both ways: QEMU reopens the overlay on activating it once the
    // state is loaded); they stay open for a cold boot if this fails.
    // The template's memory, shared with the other clones running, mapped privately.
    templateFault = true;
    const memory = templateMemory(tpl, config.memoryMiB << 20);
    templateFault = false;
    memoryFd = memory.fd;
    const monitor = path.join(socketDir(p.dir), 'qmp.sock');
    // The NICs are the template's (its MACs: the device state carries them anyway) on the
    // container's taps; the agent gives them the interfaces' MACs on RESTORE.
    const nics = p.ifaces.map((i, n) => ({ tap: i.tap, mac: templateMac(n) }));
    const cmd = qemuDriver.command({ ...config, cmdline: baseCmdline, nics, incoming: tpl.fd, monitor, memoryFile: { fd: memory.fd, share: false } });
    s = spawnIt(cmd);
    const c = s.child;
    const alive = (): boolean => c.exitCode === null && c.signalCode === null;
    const t0 = Date.now();
    const st = readProcStat(await Promise.race([waitPid(c), s.spawnError]));
    if (st) recordIt(c.pid!, st.startTime);
    await Promise.race([startIncoming(monitor, cmd.fds.find((f) => f.parent === tpl.fd)!.child, alive), s.spawnError]);
    // A corrupt state or memory is caught here, before the guest gets anything (pread: QEMU's
    // offset stays); the other CPU loads the state meanwhile.
    templateFault = true;
    checkTemplate(tpl, memory);
    templateFault = false;
    fs.closeSync(memoryFd);
    memoryFd = undefined;
    await Promise.race([restoreGuest(p.socket, alive, restoreNetworkWords(p.ifaces)), s.spawnError]);
    debugLog(() => `vm: ${p.id} restored from template ${tpl.key} in ${Date.now() - t0} ms`);
    s.release();
    return { ...s, template: tpl.key };
  } catch (err) {
    const c = s?.child;
    if (c?.pid !== undefined && (c.exitCode !== null || c.signalCode !== null)) templateFault = true; // QEMU ended by itself
    if (c && c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    }
    const said = s?.held();
    const why = (err as Error).message + (said ? `; qemu: ${said}` : '');
    logWarning(`vm: template ${tpl.dir} could not be restored (${why}): ${templateFault ? 'discarded, ' : ''}booting cold`);
    if (templateFault) await dropTemplate(root, tpl.key);
    // The cold QEMU listens on the same socket paths.
    for (const f of [p.socket, ...p.execSockets, path.join(socketDir(p.dir), 'qmp.sock')]) fs.rmSync(f, { force: true });
    return undefined;
  } finally {
    fs.closeSync(tpl.fd);
    if (memoryFd !== undefined) fs.closeSync(memoryFd);
  }
}

/** Connects the taps (once QEMU made them), then gives the ready agent the container's plan. */
export async function connectGuest(p: VmLaunchPlan, vmm: Vmm, req: CreateRequest, onTaps: () => void): Promise<void> {
  if (p.netns !== undefined && p.ifaces.length > 0) {
    await waitTaps(p.netns, p.ifaces, vmm.alive);
    connectTaps(p.netns, p.ifaces);
    onTaps();
  }
  const { channel, hello } = await Promise.race([Channel.open({ socket: p.socket, timeoutMs: BOOT_TIMEOUT_MS, alive: vmm.alive }), vmm.spawnError]);
  try {
    if (hello.phase !== 'idle') throw new MoatError('EVM', `vm of ${p.id}: the guest agent is ${hello.phase}, expected idle`);
    if (p.copies.length > 0) {
      const copied = await channel.request({ type: 'files', files: p.copies.map(readCopiedFile) }, REQUEST_TIMEOUT_MS);
      if (copied.type === 'error') throw new MoatError('ESETUP', `container ${p.id}: in the vm: ${copied.message}`);
      expectAnswer(copied, 'ok', 'files');
    }
    const answer = await channel.request({ type: 'plan', plan: encodePlan(p.guest), terminal: p.terminal }, REQUEST_TIMEOUT_MS);
    if (answer.type === 'error') {
      // As natively (and runc): a missing program is exit status 127 with runc's words.
      if (answer.message.startsWith('exec: "')) throw new MoatError('EEXEC', answer.message);
      throw new MoatError('ESETUP', `container ${p.id}: in the vm: ${answer.message}`);
    }
    if (answer.type !== 'ready') expectAnswer(answer, 'ready', 'plan');
    else req.recordVm?.({ ...vmm.record, guestPid: answer.pid });
  } finally {
    channel.close();
  }
}

/** A copied file as it is now (its owner and mode too); one that grew past the limit since the plan is refused. */
function readCopiedFile(c: CopiedFile): GuestFile {
  const fd = fs.openSync(c.host, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > FILE_BYTES_MAX) throw new ConfigError(c.field, `${c.host}: no longer a regular file of at most ${FILE_BYTES_MAX} bytes`);
    const data = Buffer.alloc(st.size);
    const n = fs.readSync(fd, data, 0, st.size, 0);
    return { mode: st.mode & 0o777, uid: st.uid, gid: st.gid, data: data.subarray(0, n) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The terminal's master goes where runc would send the container's: --console-socket. (Its name is
 * the host pty's: the guest's is not ours.)
 */
export function handOnTerminal(io: GuestStdio, req: CreateRequest): void {
  if (io.master === undefined) return;
  sys().sendFd(socketFd(req.console!.handoff), io.master, io.ptyName ?? '');
}

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


/** State root of this container's state directory: the vm cache (initramfs, accel verdict) lives there. */
function cacheDirFor(stateDir: string): string {
  // `@` is not allowed in container ids, so this is never listed as a container.
  return path.join(path.dirname(stateDir), '@vm');
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

function waitPid(child: ChildProcess): Promise<number> {
  if (child.pid !== undefined) return Promise.resolve(child.pid);
  return new Promise((resolve) => child.once('spawn', () => resolve(child.pid!)));
}

/** The container's exit status once the VMM has exited: what the agent wrote, else the VMM's fate. */
export function containerStatus(statusFile: string, id: string, code: number | null, signal: NodeJS.Signals | null): number {
  // Written by the untrusted guest: a number 0..255 on one line, or nothing we believe.
  const status = readExitRecord(path.dirname(statusFile));
  if (status !== undefined) return status;
  if (signal) return 128 + (os.constants.signals[signal] ?? 9);
  logWarning(`container ${id}: its vm stopped without reporting an exit status (vmm exit status ${code ?? '?'})`);
  return 255;
}

export function expectAnswer(m: GuestMessage, type: GuestMessage['type'], what: string): void {
  if (m.type !== type) throw new MoatError('EVM', `vm channel: answer to ${what} was ${m.type}, expected ${type}`);
}
