// Start-up from a template (docs/vm.md#templates): which containers can, finding or making the
// template of their machine, and bringing a restored guest to the point where it takes a PLAN.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { debugLog, logRecord, logWarning } from '../../util/log';
import { MoatError } from '../../util/errors';
import { Channel } from '../channel';
import { QEMU_BINARY } from '../vmm';
import { RESTORE_SEED_BYTES } from '../channel/protocol';
import { Qmp } from './qmp';
import { buildTemplate, templatePortNames, type TemplateMachine, type UidAllocator } from './build';
import { checkDigest, digestPages, discardTemplate, fileIdentity, lockTemplate, memoryFile, openTemplate, stateFile, pruneTemplates, templateKey, templateRoot } from './store';
import { sys } from '../../sys';
import { MAX_GUEST_INTERFACES } from '../network';

export type { TemplateMachine } from './build';
export { templateRoot } from './store';

/** A restored guest must answer within this (under TCG it does in well under a second). */
export const RESTORE_TIMEOUT_MS = 20_000;

/** Why a container boots cold (undefined: it may start from a template). */
export function coldReason(c: { root: boolean; imageRoot: boolean; volumes: number; nics: number; debugConsole: boolean }, env = process.env): string | undefined {
  if (templateRoot(env) === undefined) return 'MOAT_VM_TEMPLATES=off';
  if (!c.root) return 'not root (templates are root-only files)';
  if (!c.imageRoot) return 'the root is the host root over virtio-fs (vhost-user-fs cannot be migrated by QEMU 7.2)';
  if (c.volumes > 0) return 'bind mounts are virtio-fs shares (vhost-user-fs cannot be migrated by QEMU 7.2)';
  if (c.nics > MAX_GUEST_INTERFACES) return `${c.nics} network interfaces (a template has at most ${MAX_GUEST_INTERFACES})`;
  if (c.debugConsole) return 'MOAT_VM_DEBUG=1 (the console device is not in the template device set)';
  return undefined;
}

export interface Template {
  key: string;
  dir: string;
  /** The saved state, open read-only (QEMU's `-incoming fd:`); the caller closes it. */
  fd: number;
  /** Its recorded digest: checked by the caller while QEMU loads it (`checkTemplate`). */
  sha256: string;
  memorySha256: string;
}

/**
 * The template's guest memory for a clone to map privately: a sealed memfd (nobody, root
 * included, can change its content again). Shared by every clone of the template that runs at the
 * same time: taken from a running clone's QEMU if there is one (checked: root's, sealed, the right
 * size), else made from the template's memory file (`fresh`: its digest is still to be checked).
 */
export function templateMemory(t: Template, bytes: number): { fd: number; fresh: boolean } {
  const name = `moat-tpl-${t.key}`;
  const want = `/memfd:${name} (deleted)`;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!fs.readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('qemu-system')) continue;
      for (const n of fs.readdirSync(`/proc/${pid}/fd`)) {
        if (fs.readlinkSync(`/proc/${pid}/fd/${n}`) !== want) continue;
        const fd = fs.openSync(`/proc/${pid}/fd/${n}`, 'r');
        const st = fs.fstatSync(fd);
        if (st.uid === 0 && st.size === bytes && (sys().memfdSeals(fd) & SEALED) === SEALED) return { fd, fresh: false };
        fs.closeSync(fd);
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return { fd: sys().templateMemfd(memoryFile(t.dir), name), fresh: true };
}

/** F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE */
const SEALED = 0x1 | 0x2 | 0x4 | 0x8;

/**
 * Throws if the state, or a memory just made from the template's file, is not what was saved (on
 * a 2-CPU host this runs while QEMU loads them).
 */
export function checkTemplate(t: Template, memory: { fd: number; fresh: boolean }): void {
  checkDigest(stateFile(t.dir), t.fd, t.sha256);
  if (memory.fresh) checkDigest(memoryFile(t.dir), memory.fd, t.memorySha256, digestPages);
}

function which(bin: string): string {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const f = path.join(d, bin);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return f;
    } catch {
      // next
    }
  }
  throw new MoatError('EVM', `${bin}: not found in PATH (install qemu-system-x86)`);
}

export function machineKey(m: TemplateMachine): string {
  return templateKey({
    qemu: fileIdentity(which(QEMU_BINARY)),
    kernel: fileIdentity(m.kernel),
    // Content-addressed by its name (initramfs-<kver>-<sha256>); its directory is the state root's,
    // which does not matter: one template serves every --root.
    initrd: path.basename(m.initrd),
    accel: m.accel,
    memoryMiB: m.memoryMiB,
    cpus: m.cpus,
    cmdline: m.cmdline,
    ports: templatePortNames(m.execSlots),
    // One virtio-blk disk: a qcow2 node over a read-only raw node (vmm/qemu.ts).
    disks: ['qcow2+raw'],
    // virtio-net devices with the template's MACs (network.ts templateMac): one template per count.
    nics: m.nics,
  });
}

/**
 * The template of this machine, made now if there is none (under its lock; a concurrent first
 * start waits for it). Undefined, with a notice, when none can be had: the container boots cold.
 */
export async function acquireTemplate(m: TemplateMachine, root: string, allocUid: UidAllocator, bootTimeoutMs: number): Promise<Template | undefined> {
  let key: string;
  try {
    key = machineKey(m);
  } catch (err) {
    logWarning(`vm: no start-up template (${(err as Error).message}): booting cold`);
    return undefined;
  }
  const dir = path.join(root, key);
  const open = async (locked = false): Promise<Template | undefined> => {
    try {
      return { key, dir, ...openTemplate(dir, key) };
    } catch (err) {
      logWarning(`vm: template ${dir} is unusable (${(err as Error).message}): discarded, booting cold`);
      if (locked) discardTemplate(root, key);
      else await dropTemplate(root, key);
      return undefined;
    }
  };
  if (fs.existsSync(dir)) return open();
  const failed = path.join(root, `${key}.failed`);
  if (fs.existsSync(failed)) {
    debugLog(() => `vm: making template ${key} failed before (${failed}): booting cold`);
    return undefined;
  }
  const lock = await lockTemplate(root, key, bootTimeoutMs);
  if (lock === undefined) {
    logWarning(`vm: template ${dir} is still being made by another moat: booting cold`);
    return undefined;
  }
  try {
    if (fs.existsSync(dir)) return open(true);
    const msg = `vm: making a start-up template for this kernel, agent and VM size (once): ${dir}`;
    logRecord('info', msg);
    if (process.stderr.isTTY) process.stderr.write(`moat: ${msg}\n`);
    const t0 = Date.now();
    try {
      await buildTemplate(m, root, key, allocUid, bootTimeoutMs);
    } catch (err) {
      fs.writeFileSync(failed, `${(err as Error).message}\n`, { mode: 0o600 });
      logWarning(`vm: could not make a start-up template (${(err as Error).message}): booting cold (${failed} keeps it from being tried again)`);
      return undefined;
    }
    debugLog(() => `vm: template ${key} made in ${Date.now() - t0} ms`);
    try {
      pruneTemplates(root);
    } catch (err) {
      debugLog(() => `vm: pruning ${root}: ${(err as Error).message}`);
    }
    return open(true);
  } finally {
    fs.closeSync(lock);
  }
}

/** Removes a template found corrupt or unrestorable (under its lock, so no maker is disturbed). */
export async function dropTemplate(root: string, key: string): Promise<void> {
  const lock = await lockTemplate(root, key, 10_000);
  try {
    discardTemplate(root, key);
  } finally {
    if (lock !== undefined) fs.closeSync(lock);
  }
}

/**
 * A guest just restored: wait for its agent, then RESTORE (the host's clock, fresh random bytes;
 * the agent re-probes and mounts the container's disk, and configures the NICs from `network`,
 * network.ts restoreNetworkWords). Throws if the guest does not come up.
 */
export async function restoreGuest(socket: string, alive: () => boolean, network = ''): Promise<void> {
  const { channel, hello } = await Channel.open({ socket, timeoutMs: RESTORE_TIMEOUT_MS, alive });
  try {
    if (hello.phase !== 'idle') throw new MoatError('EVM', `restored guest: the agent is ${hello.phase}, expected idle`);
    const timeNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e3)) * 1000n;
    const answer = await channel.request({ type: 'restore', timeNs, seed: crypto.randomBytes(RESTORE_SEED_BYTES), ...(network ? { network } : {}) }, RESTORE_TIMEOUT_MS);
    if (answer.type === 'error') throw new MoatError('EVM', `restored guest: ${answer.message}`);
    if (answer.type !== 'ok') throw new MoatError('EVM', `restored guest: answer to restore was ${answer.type}`);
  } finally {
    channel.close();
  }
}

/**
 * A clone's QEMU waits (`-incoming defer`) for its migration capabilities: the template's memory is
 * not in the state (x-ignore-shared; QEMU 7.2 cannot set it on the command line). Then it loads the
 * state from the fd it inherited as `incomingFd` and runs the guest.
 */
export async function startIncoming(monitor: string, incomingFd: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + RESTORE_TIMEOUT_MS;
  let qmp: Qmp | undefined;
  while (!qmp) {
    try {
      qmp = await Qmp.connect(monitor, RESTORE_TIMEOUT_MS);
    } catch (err) {
      if (!alive() || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  try {
    await qmp.command('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] }, RESTORE_TIMEOUT_MS);
    // No self-announcement once loaded: QEMU would send RARPs from the template's MAC out of the
    // container's tap (onto Docker's bridge) before the agent gives the NIC the interface's MAC.
    await qmp.command('migrate-set-parameters', { 'announce-rounds': 0 }, RESTORE_TIMEOUT_MS);
    await qmp.command('migrate-incoming', { uri: `fd:${incomingFd}` }, RESTORE_TIMEOUT_MS);
  } finally {
    qmp.close();
  }
}
