// Host volumes of a vm container (docs/vm.md#host-volumes): each bind mount of the spec is a
// virtio-fs share served by its own virtiofsd, mounted by the agent at /vol/N in the guest; the
// guest plan then bind-mounts /vol/N (or the one file in it) into the container, as natively.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MS } from '../policy/plan/constants';
import type { HostPathKind } from '../policy/plan/facts';
import { parseMountOptions } from '../policy/plan/mounts';
import type { Mount, Spec } from '../spec/types';
import { readProcStat } from '../state/process';
import { killAndWait } from '../runtime/processes';
import { ConfigError, MoatError } from '../util/errors';
import { FILE_BYTES_MAX } from './channel';
import { socketDir } from './sockets';

/**
 * The files a client binds into every container (Docker's and CRI's /etc/hosts, hostname,
 * resolv.conf) are copied into the guest instead of shared, as Kata copies them when it does not
 * share a file system: a share is a vhost-user-fs device, which QEMU 7.2 cannot migrate, so one
 * such bind made every Docker and Kubernetes container boot cold. The container reads the file as
 * it was at create; what it writes to it stays in its VM.
 */
export const COPIED_FILES: ReadonlySet<string> = new Set(['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']);
/** Larger files are shared as any other bind (the agent's limit per file). */
export const COPY_MAX = FILE_BYTES_MAX;
/** Where the agent writes copied file N in the guest (outside the container's rootfs). */
export const GUEST_FILES = '/files';

/** A bind of a small file copied into the guest (COPIED_FILES): written by the agent before the plan runs. */
export interface CopiedFile {
  field: string;
  host: string;
  guestSource: string;
}

/** Debian 12's qemu-system-common ships the C virtiofsd (QEMU ≤ 7.2) here. */
export const VIRTIOFSD = process.env.MOAT_VIRTIOFSD ?? '/usr/lib/qemu/virtiofsd';
/** Where the agent mounts volume N in the guest (outside the container's rootfs). */
export const GUEST_VOLUMES = '/vol';
const SERVER_READY_MS = 10_000;

export interface Volume {
  /** mounts[field] of the spec. */
  field: string;
  /** The bind source on the host, symlinks resolved (as mount(2) follows them). */
  host: string;
  kind: 'dir' | 'file';
  readonly: boolean;
  recursive: boolean;
  /** virtio-fs tag (moat.vN) and the source the guest plan binds (/vol/N or /vol/N/<name>). */
  tag: string;
  guestSource: string;
  /**
   * A pod's shared directory (src/vm/pod.ts): its server's namespace is a slave of the host's, so
   * the binds moat makes under it later (each container's rootfs and volumes) reach the guest.
   */
  followHost?: boolean;
}

export interface VolumePlan {
  /** The spec with each bind's source replaced by its guest path. */
  spec: Spec;
  volumes: Volume[];
  /** Binds of COPIED_FILES, when asked for (`copy`). */
  copies: CopiedFile[];
  /** Kinds of the guest sources, for the planner (guestFacts). */
  kinds: Map<string, HostPathKind>;
}

function isBind(m: Mount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

type Stat = (p: string) => { real: string; kind: 'dir' | 'file' | 'other'; size?: number } | undefined;

function hostStat(p: string): ReturnType<Stat> {
  try {
    const real = fs.realpathSync(p);
    const st = fs.statSync(real);
    return { real, kind: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other', size: st.size };
  } catch {
    return undefined;
  }
}

/**
 * The volumes of a spec's bind mounts, validated (absolute, existing, a directory or a regular file).
 * `copy`: binds of COPIED_FILES (regular files up to COPY_MAX) are copies, not shares.
 */
export function planVolumes<S extends Spec>(spec: S, stat: Stat = hostStat, copy = false): VolumePlan & { spec: S } {
  const volumes: Volume[] = [];
  const copies: CopiedFile[] = [];
  const kinds = new Map<string, HostPathKind>();
  const mounts = (spec.mounts ?? []).map((m, i): Mount => {
    if (!isBind(m)) return m;
    const field = `mounts[${i}].source`;
    const source = m.source ?? '';
    if (!source.startsWith('/')) throw new ConfigError(field, `bind source must be an absolute host path, got ${JSON.stringify(source)}`);
    const st = stat(source);
    if (!st) throw new ConfigError(field, `${source} does not exist`);
    if (st.kind === 'other') throw new ConfigError(field, `${source}: only directories and regular files can be shared into a vm (not sockets or devices)`);
    const opts = parseMountOptions(m.options ?? [], `mounts[${i}].options`);
    if (copy && st.kind === 'file' && COPIED_FILES.has(path.posix.normalize(m.destination)) && (st.size ?? Infinity) <= COPY_MAX) {
      const guestSource = `${GUEST_FILES}/${copies.length}`;
      copies.push({ field, host: st.real, guestSource });
      kinds.set(guestSource, 'file');
      return { ...m, source: guestSource };
    }
    const n = volumes.length;
    const dir = `${GUEST_VOLUMES}/${n}`;
    const guestSource = st.kind === 'dir' ? dir : `${dir}/${path.basename(st.real)}`;
    volumes.push({
      field,
      host: st.real,
      kind: st.kind,
      readonly: (opts.flags & MS.RDONLY) !== 0,
      recursive: opts.recursive,
      tag: `moat.v${n}`,
      guestSource,
    });
    kinds.set(guestSource, st.kind);
    return { ...m, source: guestSource };
  });
  return { spec: spec.mounts ? { ...spec, mounts } : spec, volumes, copies, kinds };
}

/**
 * `moat do` in a vm: the host's root filesystem (only it, no submounts: what the native overlay's
 * lower layer shows), served read-only like any read-only volume; the agent overlays it with a
 * writable layer in the guest's memory (tag moat.root, `moat.root=` on the command line). `n`: the
 * index after the spec's own volumes (it names the server's files).
 */
export function hostRootShare(n: number): Volume {
  return { field: 'the host root (moat do)', host: '/', kind: 'dir', readonly: true, recursive: false, tag: 'moat.root', guestSource: `${GUEST_VOLUMES}/${n}` };
}

/** The agent's view of the volumes on the kernel command line: r or w per volume. */
export function volumesCmdline(volumes: Volume[]): string {
  // A pod's shared directory is read-only in its server's view only: the binds under it are writable.
  return volumes.length > 0 ? `moat.vols=${volumes.map((v) => (v.readonly && !v.followHost ? 'r' : 'w')).join('')}` : '';
}

export interface VolumeServer {
  tag: string;
  socket: string;
  pid: number;
  startTime: string;
}

/*
 * Each server runs in a private mount namespace of its own (unshare), where the host source is
 * bind-mounted onto <dir>/vol/N (a directory) or onto <dir>/vol/N/<name> (a file's placeholder:
 * a single-file bind shares only that file, never its siblings, in a directory the guest cannot
 * write), read-only there when the bind is
 * read-only, and virtiofsd serves that directory from its own sandbox (mount, pid and net
 * namespaces, pivot_root into it, seccomp, a reduced capability set). Nothing is mounted in the
 * host's namespace: the mounts go with the server.
 */
const SERVE_SCRIPT = [
  'set -e',
  // A file: its placeholder in a read-only view of its own directory (the guest cannot add siblings).
  'if [ "$3" = file ]; then t="$6/$(basename -- "$1")"; : > "$t"; mount --bind -- "$6" "$6"; mount -o remount,bind,ro -- "$6"; mount "$4" -- "$1" "$t";',
  'else mount "$4" -- "$1" "$6"; t="$6"; fi',
  '[ "$5" = rw ] || mount -o remount,bind,ro -- "$t"',
  'exec "$2" --socket-path="$7" -o source="$6" -o cache=none -o log_level=err -o sandbox=namespace',
].join('\n');

/** Start one virtiofsd per volume and wait until each listens. On failure, those started are stopped. */
export async function startVolumeServers(volumes: Volume[], dir: string, onStarted: (s: VolumeServer) => void): Promise<VolumeServer[]> {
  const servers: VolumeServer[] = [];
  try {
    for (const [n, v] of volumes.entries()) {
      const server = await startServer(v, n, dir);
      servers.push(server);
      onStarted(server);
    }
    return servers;
  } catch (err) {
    stopVolumeServers(servers);
    throw err;
  }
}

async function startServer(v: Volume, n: number, dir: string): Promise<VolumeServer> {
  const stage = path.join(dir, 'vol', String(n));
  const socket = path.join(socketDir(dir), `fs-${n}.sock`);
  if (Buffer.byteLength(socket) > 107) throw new MoatError('EVM', `${socket}: path too long for a unix socket (use a shorter --root)`);
  if (stage.includes(',')) throw new MoatError('EVM', `${stage}: a comma in the state directory cannot be passed to virtiofsd`);
  if (!fs.existsSync(VIRTIOFSD)) throw new MoatError('EVM', `${VIRTIOFSD}: virtiofsd is missing (install qemu-system-common) — it serves ${v.field} to the vm`);
  fs.mkdirSync(stage, { recursive: true, mode: 0o700 });
  const log = path.join(dir, `fs-${n}.log`);
  const logFd = fs.openSync(log, 'w', 0o600);
  const args = ['--mount', '--propagation', v.followHost ? 'slave' : 'private', '--', '/bin/sh', '-c', SERVE_SCRIPT, 'moat-volume', v.host, VIRTIOFSD, v.kind, v.recursive ? '--rbind' : '--bind', v.readonly ? 'ro' : 'rw', stage, socket];
  let child;
  try {
    child = spawn('unshare', args, { stdio: ['ignore', logFd, logFd], detached: true });
  } finally {
    fs.closeSync(logFd);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);
  child.unref();
  const deadline = Date.now() + SERVER_READY_MS;
  while (!fs.existsSync(socket)) {
    const done = await Promise.race([exited.then(() => true), sleep(20).then(() => false)]);
    if (done || Date.now() > deadline) {
      if (!done) child.kill('SIGKILL');
      const text = readText(log).trim().split('\n').slice(-3).join('; ');
      throw new MoatError('EVM', `${v.field}: the file server for ${v.host} did not start${text ? `: ${text}` : ''}`);
    }
  }
  const pid = child.pid!;
  return { tag: v.tag, socket, pid, startTime: readProcStat(pid)?.startTime ?? '' };
}

/** SIGKILL the servers (verified by start time); their sandboxed children follow (parent-death signal). */
export function stopVolumeServers(servers: readonly { pid: number; startTime: string }[]): void {
  for (const srv of servers) killAndWait(srv.pid, srv.startTime);
}

function readText(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
