// The vm platform: each container in its own light VM (QEMU microvm, the Debian cloud kernel, an
// initramfs whose /init is moat-agent). The container is set up inside the guest by moat-exec from
// the same plan the native platform computes. The state's pid is the VMM's.

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CreatedInit, CreateRequest, ExecRequest, Platform } from '../platform';
import type { Spec } from '../spec/types';
import { openVerifiedPidfd, readProcStat } from '../state/process';
import type { ContainerRecord, VmRecord } from '../state/store';
import { executorPath, sys } from '../sys';
import { MoatError } from '../util/errors';
import { debugLog, logWarning } from '../util/log';
import { describePlan, encodePlan, planContainer } from '../native/plan';
import { Channel, type GuestMessage } from './channel';
import { ensureInitramfs, findGuestKernel } from './guest';
import { buildRootfsImage, ensureBusyboxRootfs } from './rootfs';
import { checkVmSpec, doSpecForVm, GUEST_ROOTFS, GUEST_START_FIFO, guestFacts } from './spec';
import { parseAccel, qemuDriver, resolveAccel, type VmPort } from './vmm';

/** Guest memory (MiB) and vCPUs. TCG touches only what the guest uses. */
export const VM_MEMORY_MIB = 256;
export const VM_CPUS = 1;
/** Boot to a ready agent: seconds under TCG on a busy machine; generous. */
const BOOT_TIMEOUT_MS = 120_000;
const REQUEST_TIMEOUT_MS = 30_000;

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
    const cacheDir = cacheDirFor(req.stateDir);
    const kernel = findGuestKernel();
    const agent = path.join(path.dirname(executorPath()), 'moat-agent');
    if (!fs.existsSync(agent)) throw new MoatError('ENATIVE', `${agent}: the guest agent is not built (run \`npm run build\`)`);
    const initrd = ensureInitramfs({ agent, executor: executorPath(), kernel }, cacheDir);
    const accel = resolveAccel(accelChoice, kernel.image, cacheDir, (line, fresh) => {
      if (fresh) logWarning(line);
      else debugLog(() => line);
    });
    const plan = planContainer({
      spec,
      rootfs: GUEST_ROOTFS,
      startFifo: GUEST_START_FIFO,
      noPivot: req.noPivot,
      preserveFds: 0,
      facts: guestFacts(),
      container: { id: req.id, bundle: req.bundle.dir },
      ...(req.noNewKeyring ? {} : { sessionKeyring: `_ses.${req.id}` }),
    });
    debugLog(() => `guest plan for ${req.id}:\n${describePlan(plan)}`);

    const dir = path.join(req.stateDir, 'vm');
    const socket = path.join(dir, 'ctl.sock');
    if (Buffer.byteLength(socket) > 107) throw new MoatError('EVM', `${socket}: path too long for a unix socket (use a shorter --root)`);
    fs.mkdirSync(dir, { mode: 0o700 });
    const image = path.join(dir, 'rootfs.img');
    // `moat do`: the host's root is not visible in a guest; a busybox rootfs stands in (docs/vm.md).
    buildRootfsImage(req.hostRootOverlay ? ensureBusyboxRootfs(cacheDir) : req.bundle.rootfs, image);
    const statusFile = path.join(dir, 'exit-status');
    const debugConsole = process.env.MOAT_VM_DEBUG === '1';

    const opened: number[] = [];
    let child: ChildProcess | undefined;
    try {
      const ports: VmPort[] = [
        { name: 'moat.ctl', kind: 'socket', path: socket },
        outputPort('moat.out', 1, opened),
        outputPort('moat.err', 2, opened),
        { name: 'moat.status', kind: 'output', fd: track(fs.openSync(statusFile, 'w', 0o600), opened), access: 'write-only' },
      ];
      const cmd = qemuDriver.command({
        accel,
        memoryMiB: VM_MEMORY_MIB,
        cpus: VM_CPUS,
        kernel: kernel.image,
        initrd,
        // The disk is mounted read-write; a read-only root is the plan's `remount-ro /`, as natively.
        cmdline: guestCmdline(debugConsole, accel === 'tcg' ? hostTscKhz() : undefined),
        disks: [{ path: image, readonly: false }],
        ports,
        ...(debugConsole ? { consoleLog: path.join(dir, 'console.log') } : {}),
      });
      debugLog(() => `vmm: ${cmd.binary} ${cmd.args.join(' ')}`);
      const stdio: StdioOptions = ['ignore', 'ignore', 'inherit'];
      for (const f of cmd.fds) stdio[f.child] = f.parent;
      for (let i = 3; i < stdio.length; i++) stdio[i] ??= 'ignore';
      // Its own session: the caller's terminal signals reach moat, which forwards them to the container.
      child = spawn(cmd.binary, cmd.args, { stdio, detached: true });
      const spawned = child;
      const spawnError = new Promise<never>((_, reject) => {
        spawned.once('error', (err) => reject(new MoatError('EVM', `cannot run ${cmd.binary}: ${err.message} (install qemu-system-x86)`)));
      });
      spawnError.catch(() => undefined);
      for (const fd of opened.splice(0)) fs.closeSync(fd);
      const exited = new Promise<number>((resolve) => {
        spawned.once('exit', (code, signal) => resolve(containerStatus(statusFile, req.id, code, signal)));
      });
      const pid = await Promise.race([waitPid(spawned), spawnError]);
      const st = readProcStat(pid);
      if (!st) throw new MoatError('EVM', `${cmd.binary} exited at once (see its message above)`);
      req.recordVm?.({ dir, socket, vmmPid: pid, vmmStartTime: st.startTime });
      const alive = () => spawned.exitCode === null && spawned.signalCode === null;

      const { channel, hello } = await Promise.race([Channel.open({ socket, timeoutMs: BOOT_TIMEOUT_MS, alive }), spawnError]);
      try {
        if (hello.phase !== 'idle') throw new MoatError('EVM', `vm of ${req.id}: the guest agent is ${hello.phase}, expected idle`);
        const answer = await channel.request({ type: 'plan', plan: encodePlan(plan) }, REQUEST_TIMEOUT_MS);
        if (answer.type === 'error') throw new MoatError('ESETUP', `container ${req.id}: in the vm: ${answer.message}`);
        expect(answer, 'ready', 'plan');
      } finally {
        channel.close();
      }
      if (req.mode === 'create') spawned.unref();
      return { pid, exited };
    } catch (err) {
      for (const fd of opened) fs.closeSync(fd);
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child!.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      }
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

  exec(_req: ExecRequest): Promise<CreatedInit> {
    return Promise.reject(new MoatError('EUSAGE', 'exec is not supported by the vm platform yet'));
  }

  setPaused(_rec: ContainerRecord, _paused: boolean): void {
    throw new MoatError('EUSAGE', 'pause/resume is not supported by the vm platform yet');
  }

  update(_rec: ContainerRecord, _spec: Spec, _resources: unknown, _field: string): void {
    throw new MoatError('EUSAGE', 'update is not supported by the vm platform yet');
  }

  pids(rec: ContainerRecord): number[] | undefined {
    // What the host sees of a vm container is its VMM.
    return rec.vm && readProcStat(rec.vm.vmmPid)?.startTime === rec.vm.vmmStartTime ? [rec.vm.vmmPid] : [];
  }

  signalAll(_rec: ContainerRecord, _signal: number): boolean {
    return false; // kill goes through kill() above
  }

  stats(_rec: ContainerRecord): unknown {
    throw new MoatError('EUSAGE', 'events/stats are not supported by the vm platform yet');
  }

  /** Stop the VMM (verified by start time) and remove the disk image, sockets and status file. */
  destroy(rec: ContainerRecord): void {
    if (!rec.vm) return;
    stopVmm(rec.vm);
    fs.rmSync(rec.vm.dir, { recursive: true, force: true });
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

function stopVmm(vm: VmRecord): void {
  const fd = openVerifiedPidfd(vm.vmmPid, vm.vmmStartTime);
  if (fd === undefined) return;
  try {
    sys().pidfdSendSignal(fd, 9);
    sys().pidfdWaitExit(fd, 10_000);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ESRCH') throw err;
  } finally {
    fs.closeSync(fd);
  }
}
