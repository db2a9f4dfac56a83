// Sandbox.create's and Sandbox.spawn's options, checked (each error names the option), and the spec
// they make: `moat do`'s spec (src/runtime/do-spec.ts) with an idle init or the caller's command,
// the caller's limits, network, mounts, environment and user. Pure: unit-tested.

import * as path from 'node:path';
import { doSpec } from '../runtime/do-spec';
import type { Mount, Process, Spec } from '../spec/types';
import { EGRESS_ANNOTATION } from '../sentry/net/egress';
import { parseByteSize, parseUidGid } from '../util/ids';
import { UsageError } from './errors';

export type Isolation = 'native' | 'sentry' | 'vm';

export interface Limits {
  /** Memory of the whole sandbox in bytes, or a size such as '256m', '1g' (swap off). */
  memory?: number | string;
  /** CPUs (a fraction is a CFS quota: 0.5 = half a CPU). */
  cpus?: number;
  /** Processes (host tasks: under the sentry also its stubs; default 1024); 'max': no limit of its own. */
  pids?: number | 'max';
  /** The sandbox's whole lifetime in ms: it is closed after that, whatever runs in it. */
  wallTime?: number;
}

export interface MountOption {
  /** A host path. */
  source: string;
  /** Where it appears in the sandbox (absolute). */
  target: string;
  /** Default true. */
  readonly?: boolean;
}

/**
 * 'none' and 'loopback': a network namespace of its own with only lo up (native, vm), or the
 * sentry's own stack with nothing but loopback ('none': not even that). A list of rules
 * (`10.0.0.0/8`, `192.168.1.5:443`, `[2001:db8::/32]:80-89`, 'loopback'): the host's network,
 * filtered by the sentry (dev.moat.network.egress); refused by native and vm, which cannot enforce it.
 */
export type NetworkOption = 'none' | 'loopback' | readonly string[];

export interface SandboxOptions {
  /** Default 'native'. */
  isolation?: Isolation;
  /** A root filesystem directory (never written: the sandbox writes to an in-memory layer). */
  rootfs?: string;
  /** Run over a read-only view of the host's root instead of a rootfs (as `moat do`). */
  hostRoot?: boolean;
  limits?: Limits;
  /** Default 'loopback'. */
  network?: NetworkOption;
  mounts?: readonly MountOption[];
  /** The environment of every exec (PATH defaults to the usual one). */
  env?: Record<string, string>;
  /** uid or 'uid[:gid]' every exec runs as (default 0: root of the sandbox). */
  user?: number | string;
  /** The sandbox's hostname (default 'moat'). */
  hostname?: string;
  /** moat's state directory (default /run/moat, as the CLI's --root). */
  root?: string;
  /** vm: auto | kvm | tcg (the CLI's --vm-accel). */
  vmAccel?: string;
  /**
   * native, run as root: 'auto' (default) gives the sandbox a user namespace of its own (its root an
   * unprivileged host id); 'host' runs it as the host's root, confined by capabilities, seccomp and
   * namespaces only (`moat do --userns=host`).
   */
  userns?: 'auto' | 'host';
  /** The id's prefix: 'sdk-' (default) or 'do-' (`moat do`'s); the sweep knows only these two. */
  idPrefix?: 'sdk-' | 'do-';
  /** Cgroups through systemd (the CLI's --systemd-cgroup). */
  systemdCgroup?: boolean;
  /** sentry: trace the code's system calls to moat's log (the CLI's --strace). */
  strace?: boolean;
}

/** What the init runs when it is the caller's command (Sandbox.spawn) rather than the idle init. */
export interface InitCommand {
  args: readonly string[];
  cwd?: string;
  terminal?: boolean;
}

/** The init every sandbox keeps while it lives; execs join it. Needs only `sleep` in the rootfs. */
export const IDLE_INIT = ['sleep', '2147483647'];
export const DEFAULT_PIDS = 1024;
const ISOLATIONS: readonly Isolation[] = ['native', 'sentry', 'vm'];

/** '256m' → bytes; a number is bytes. */
export function parseSize(v: number | string, option: string): number {
  const n = typeof v === 'number' ? v : parseByteSize(v);
  if (n === undefined) throw new UsageError(`${option}: ${JSON.stringify(v)} is not a size (bytes, or e.g. 256m, 1g)`);
  if (!Number.isSafeInteger(n) || n < 4 * 1024 * 1024) throw new UsageError(`${option}: ${v} is out of range (at least 4 MiB)`);
  return n;
}

/**
 * A uid, or 'uid:gid'. Without a gid the SDK gives the uid's number as the gid, where the CLI's
 * `exec --user` gives 0 as runc does: code run through the SDK is untrusted by definition, and
 * group 0 would open every root-group file of the image to it.
 */
export function parseUser(v: number | string, option: string): { uid: number; gid: number } {
  const text = String(v);
  const u = parseUidGid(text);
  if (u === 'syntax') throw new UsageError(`${option}: takes a uid or 'uid:gid' as numbers, got ${JSON.stringify(v)}`);
  if (u === 'range') throw new UsageError(`${option}: ${text}: id out of range`);
  return { uid: u.uid, gid: u.gid ?? u.uid };
}

function positive(v: unknown, option: string, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isSafeInteger(v))) {
    throw new UsageError(`${option}: must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function checkEnv(env: Record<string, string> | undefined, option: string): string[] {
  return Object.entries(env ?? {}).map(([k, v]) => {
    if (k === '' || k.includes('=') || k.includes('\0')) throw new UsageError(`${option}: bad variable name ${JSON.stringify(k)}`);
    if (typeof v !== 'string' || v.includes('\0')) throw new UsageError(`${option}.${k}: must be a string without NUL`);
    return `${k}=${v}`;
  });
}

export interface Checked {
  isolation: Isolation;
  rootfs: string | undefined;
  wallTimeMs: number | undefined;
  spec: Spec & { process: Process };
}

/** Check the options and build the sandbox's spec. */
export function sandboxSpec(o: SandboxOptions, opts: { ownUserns: boolean; init?: InitCommand }): Checked {
  const isolation = o.isolation ?? 'native';
  if (!ISOLATIONS.includes(isolation)) throw new UsageError(`isolation: unknown isolation ${JSON.stringify(isolation)} (one of ${ISOLATIONS.join(', ')})`);
  if (o.userns !== undefined && o.userns !== 'auto' && o.userns !== 'host') throw new UsageError(`userns: 'auto' or 'host', got ${JSON.stringify(o.userns)}`);
  if (o.idPrefix !== undefined && o.idPrefix !== 'sdk-' && o.idPrefix !== 'do-') throw new UsageError(`idPrefix: 'sdk-' or 'do-', got ${JSON.stringify(o.idPrefix)}`);
  if ((o.rootfs === undefined) === (o.hostRoot !== true)) throw new UsageError('rootfs, hostRoot: give exactly one (a rootfs directory, or hostRoot: true)');
  if (o.rootfs !== undefined && !path.isAbsolute(o.rootfs)) throw new UsageError(`rootfs: must be an absolute path, got ${JSON.stringify(o.rootfs)}`);
  const limits = o.limits ?? {};
  const env = checkEnv(o.env, 'env');
  const init = opts.init === undefined ? { args: IDLE_INIT, cwd: '/' } : checkInit(opts.init);
  const spec = doSpec({ args: [...init.args], env: {}, cwd: init.cwd ?? '/', userns: opts.ownUserns, ...(o.hostname !== undefined ? { hostname: o.hostname } : {}) });
  if (opts.init?.terminal) spec.process.terminal = true;
  spec.process.env = [...env, ...(env.some((e) => e.startsWith('PATH=')) ? [] : spec.process.env)];
  if (o.user !== undefined) spec.process.user = { ...parseUser(o.user, 'user'), additionalGids: [] };
  const linux = spec.linux!;
  const resources: Record<string, unknown> = limits.pids === 'max' ? {} : { pids: { limit: limits.pids === undefined ? DEFAULT_PIDS : positive(limits.pids, 'limits.pids', true) } };
  if (limits.memory !== undefined) {
    const bytes = parseSize(limits.memory, 'limits.memory');
    resources.memory = { limit: bytes, swap: bytes };
  }
  if (limits.cpus !== undefined) {
    const cpus = positive(limits.cpus, 'limits.cpus', false);
    resources.cpu = { quota: Math.max(1000, Math.round(cpus * 100_000)), period: 100_000 };
  }
  linux.resources = resources;
  const wallTimeMs = limits.wallTime === undefined ? undefined : positive(limits.wallTime, 'limits.wallTime', true);
  spec.mounts = [...spec.mounts!, ...(o.mounts ?? []).map((m, i) => bindMount(m, `mounts[${i}]`))];
  if (o.network !== undefined) applyNetwork(spec, isolation, o.network);
  return { isolation, rootfs: o.rootfs, wallTimeMs, spec };
}

function checkInit(init: InitCommand): InitCommand {
  if (!Array.isArray(init.args) || init.args.length === 0 || !init.args.every((a) => typeof a === 'string' && !a.includes('\0'))) {
    throw new UsageError('spawn: argv must be a non-empty array of strings without NUL');
  }
  if (init.cwd !== undefined && (typeof init.cwd !== 'string' || !path.isAbsolute(init.cwd) || init.cwd.includes('\0'))) {
    throw new UsageError(`cwd: must be an absolute path, got ${JSON.stringify(init.cwd)}`);
  }
  return init;
}

function bindMount(m: MountOption, option: string): Mount {
  if (!m || typeof m.source !== 'string' || !path.isAbsolute(m.source)) throw new UsageError(`${option}.source: must be an absolute host path`);
  if (typeof m.target !== 'string' || !path.isAbsolute(m.target) || m.target.split('/').includes('..')) throw new UsageError(`${option}.target: must be an absolute path without '..'`);
  return { destination: m.target, type: 'bind', source: m.source, options: ['rbind', m.readonly === false ? 'rw' : 'ro', 'nosuid', 'nodev'] };
}

function applyNetwork(spec: Spec, isolation: Isolation, net: NetworkOption): void {
  if (net === 'none' || net === 'loopback') {
    // A network namespace of its own (doSpec's) with lo up; the sentry's stack is told too. (Not
    // given: the same namespace, and the sentry's default, which within it reaches only lo.)
    if (isolation === 'sentry') spec.annotations = { ...spec.annotations, [EGRESS_ANNOTATION]: net };
    return;
  }
  if (!Array.isArray(net) || net.length === 0 || !net.every((r) => typeof r === 'string' && r !== '' && !r.includes(','))) {
    throw new UsageError(`network: 'none', 'loopback' or a non-empty list of egress rules (e.g. ['10.0.0.0/8', '192.168.1.5:443']), got ${JSON.stringify(net)}`);
  }
  if (isolation !== 'sentry') {
    throw new UsageError(`network: an egress list is enforced only by isolation 'sentry' (its network stack filters every connection); ${isolation} cannot enforce one: use 'none' or 'loopback' there`);
  }
  // The host's network (no namespace of its own), every connection checked by the sentry.
  spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'network');
  spec.annotations = { ...spec.annotations, [EGRESS_ANNOTATION]: net.join(',') };
}
