// Making a template (docs/vm.md#templates): boot the machine every container of this key will
// have — the same QEMU command line but for `moat.template` on the kernel's (the agent then leaves
// the disk alone) and a small placeholder disk — confined as a container's QEMU is, wait until the
// agent answers on its channel (idle, every port open), stop it and save its state (QMP `migrate`
// to a file passed with `getfd`: QEMU's sandbox forbids `exec:`, and 7.2 has no `file:`). The state
// is written in a private directory that is renamed into place only when complete.

import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MoatError } from '../../util/errors';
import { Channel } from '../channel';
import { qemuDriver, type VmConfig, type VmPort } from '../vmm';
import { Qmp } from './qmp';
import { memoryFile, stateFile, writeMeta } from './store';
import { templateMac } from '../network';
import { createOverlay } from '../disk/overlay';

/** The machine a template is made of: a container's, less its own files and fds. */
export interface TemplateMachine {
  accel: VmConfig['accel'];
  memoryMiB: number;
  cpus: number;
  kernel: string;
  initrd: string;
  /** The kernel command line of a cold boot of this machine. */
  cmdline: string;
  execSlots: number;
  /** virtio-net devices (each with the template's MAC, network.ts templateMac). */
  nics: number;
}

/** The placeholder disk's size: any; the restored guest re-probes its own. */
const PLACEHOLDER_BYTES = 1 << 20;
const QMP_TIMEOUT_MS = 10_000;
const SAVE_TIMEOUT_MS = 120_000;

/** Ports in the order a container's QEMU has them (builder.ts launchVmm): the device set. */
export function templatePortNames(execSlots: number): string[] {
  return ['moat.ctl', 'moat.in', 'moat.out', 'moat.err', 'moat.status', ...Array.from({ length: execSlots }, (_, i) => `moat.exec.${i}`)];
}

/**
 * Boots the machine, saves it into `<root>/<key>` (atomically), and stops it. The caller holds the
 * key's lock. Throws on any failure, leaving nothing behind.
 */
/** Allocates the uid a VMM runs as (held while `lockFd` is open), as for a container's. */
export type UidAllocator = (seed: string) => { uid: number; lockFd: number };

export async function buildTemplate(m: TemplateMachine, root: string, key: string, allocUid: UidAllocator, bootTimeoutMs: number): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(root, `.build-${key}-`));
  const opened: number[] = [];
  let child: ReturnType<typeof spawn> | undefined;
  let stderr = '';
  try {
    fs.chmodSync(tmp, 0o700);
    // The device graph of a container's disk (an overlay over a read-only base), on placeholders.
    const base = path.join(tmp, 'base.img');
    fs.writeFileSync(base, '', { mode: 0o400 });
    fs.truncateSync(base, PLACEHOLDER_BYTES);
    const disk = path.join(tmp, 'disk.qcow2');
    createOverlay(base, PLACEHOLDER_BYTES, disk);
    const chroot = path.join(tmp, 'chroot');
    fs.mkdirSync(chroot, { mode: 0o555 });
    const uid = allocUid(tmp);
    opened.push(uid.lockFd);
    const keep = (fd: number): number => {
      opened.push(fd);
      return fd;
    };
    const devnull = (flags: string): number => keep(fs.openSync('/dev/null', flags));
    const ctl = path.join(tmp, 'ctl.sock');
    const names = templatePortNames(m.execSlots);
    const ports: VmPort[] = names.map((name): VmPort => {
      if (name === 'moat.in') return { name, kind: 'input', fd: devnull('r') };
      if (name === 'moat.ctl') return { name, kind: 'socket', path: ctl };
      if (name.startsWith('moat.exec.')) return { name, kind: 'socket', path: path.join(tmp, `${name}.sock`) };
      return { name, kind: 'output', fd: devnull('w'), access: 'write-only' };
    });
    const qmpSocket = path.join(tmp, 'qmp.sock');
    const cmd = qemuDriver.command({
      accel: m.accel,
      memoryMiB: m.memoryMiB,
      cpus: m.cpus,
      kernel: m.kernel,
      initrd: m.initrd,
      cmdline: `${m.cmdline} moat.template`,
      disks: [{ format: 'qcow2', fds: { rw: keep(fs.openSync(disk, 'r+')), ro: keep(fs.openSync(disk, 'r')) }, backing: { fd: keep(fs.openSync(base, 'r')) }, readonly: false }],
      ports,
      runAs: { uid: uid.uid, gid: uid.uid },
      chroot,
      holdFds: [uid.lockFd],
      monitor: qmpSocket,
      memoryFile: { path: memoryFile(tmp), share: true },
      // The NICs' backend is a tap in a network namespace of the template QEMU's own (unshare
      // below: it goes with QEMU, and with it the taps). The backend is not in the saved state, only
      // the device; a tap here and in the clone keeps the negotiated features (vnet header,
      // offloads) identical. The guest never brings these NICs up.
      nics: Array.from({ length: m.nics }, (_, i) => ({ tap: `tap${i}_moat`, mac: templateMac(i) })),
    });
    const stdio: StdioOptions = ['ignore', 'ignore', 'pipe'];
    for (const f of cmd.fds) stdio[f.child] = f.parent;
    for (let i = 3; i < stdio.length; i++) stdio[i] ??= 'ignore';
    // Under `timeout`: if moat is killed while making it, this QEMU (of no container, recorded
    // nowhere) still ends. SIGTERM to `timeout` is passed on to QEMU.
    const limit = Math.ceil((bootTimeoutMs + SAVE_TIMEOUT_MS) / 1000) + 30;
    const argv = ['timeout', '--signal=KILL', String(limit), cmd.binary, ...cmd.args];
    const c = m.nics > 0 ? spawn('unshare', ['--net', '--', ...argv], { stdio, detached: true }) : spawn(argv[0]!, argv.slice(1), { stdio, detached: true });
    child = c;
    c.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    c.on('error', () => undefined);
    for (const fd of opened.splice(0)) fs.closeSync(fd);
    const alive = (): boolean => c.exitCode === null && c.signalCode === null;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));

    const { channel, hello } = await Channel.open({ socket: ctl, timeoutMs: bootTimeoutMs, alive });
    channel.close();
    if (hello.phase !== 'idle') throw new MoatError('EVM', `template guest: the agent is ${hello.phase}, expected idle`);

    const qmp = await Qmp.connect(qmpSocket, QMP_TIMEOUT_MS);
    try {
      // Not stopped first: the state records the run state, and a clone of a stopped guest would
      // start stopped. The idle guest dirties next to nothing while its memory is copied.
      // QEMU 7.2 limits migration to 32 MiB/s by default: this is a local file.
      await qmp.command('migrate-set-parameters', { 'max-bandwidth': 2 ** 40 }, QMP_TIMEOUT_MS);
      // The memory is the file: the state leaves it out.
      await qmp.command('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] }, QMP_TIMEOUT_MS);
      const out = fs.openSync(stateFile(tmp), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      try {
        await qmp.command('getfd', { fdname: 'state' }, QMP_TIMEOUT_MS, out);
      } finally {
        fs.closeSync(out);
      }
      await qmp.command('migrate', { uri: 'fd:state' }, QMP_TIMEOUT_MS);
      const deadline = Date.now() + SAVE_TIMEOUT_MS;
      for (;;) {
        const st = (await qmp.command('query-migrate', undefined, QMP_TIMEOUT_MS)) as { status?: string; 'error-desc'?: string };
        if (st.status === 'completed') break;
        if (st.status === 'failed' || st.status === 'cancelled') throw new MoatError('EVM', `saving the template failed: ${st['error-desc'] ?? st.status}`);
        if (Date.now() > deadline) throw new MoatError('EVM', `saving the template took more than ${SAVE_TIMEOUT_MS} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await qmp.command('quit', undefined, QMP_TIMEOUT_MS).catch(() => undefined);
    } finally {
      qmp.close();
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (alive()) c.kill('SIGTERM');
    await exited;
    // Keep only the state, the memory and the meta; publish.
    for (const f of fs.readdirSync(tmp)) if (f !== 'state' && f !== 'memory') fs.rmSync(path.join(tmp, f), { recursive: true, force: true });
    // The guest touched every page (the agent zeroed its free memory): give the zero ones back.
    spawnSync('fallocate', ['--dig-holes', memoryFile(tmp)], { stdio: 'ignore' });
    writeMeta(tmp, key);
    fs.renameSync(tmp, path.join(root, key));
  } catch (err) {
    if (child && child.exitCode === null && child.signalCode === null) {
      const c = child;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await gone;
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    const why = err instanceof Error ? err.message : String(err);
    throw new MoatError('EVM', stderr.trim() ? `${why} (qemu: ${stderr.trim().split('\n').pop()})` : why);
  } finally {
    for (const fd of opened) fs.closeSync(fd);
  }
}
