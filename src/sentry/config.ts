// What the sentry platform hands the sentry process (written as JSON in the container's state dir).

import type { TmpfsMountConfig } from './tmpfs-mount';

/**
 * A bind mount: container destination → gofer tree index. writable: the gofer serves the tree
 * read-write, and writes reach the host (no in-memory overlay: runsc's default for binds).
 */
export interface BindMountConfig {
  destination: string;
  tree: number;
  readonly: boolean;
  writable?: boolean;
  type?: 'bind';
  /**
   * A writable directory bind of a pod's container: the host directory's identity ("dev:ino"), by
   * which the pod's containers that bind the same volume share what the sentry keeps of it (the
   * socket files bound there).
   */
  shareKey?: string;
}

export interface SentryConfig {
  /** Host path of the rootfs (served through the gofer when goferFd ≥ 0). */
  rootfs: string;
  goferFd?: number;
  readonlyRootfs?: boolean;
  /** The bundle's mounts, in order: binds (served by the gofer) and tmpfs mounts. */
  mounts?: Array<BindMountConfig | TmpfsMountConfig>;
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  groups?: number[];
  /** process.capabilities, each set a hex mask (absent: uid 0 has all, others none). */
  caps?: CapsWire;
  /** process.noNewPrivileges. */
  noNewPrivs?: boolean;
  hostname?: string;
  /**
   * The spec's `uts` namespace path (a CRI container joins its pod's): without `hostname`, the
   * sandbox's host name is that namespace's.
   */
  utsPath?: string;
  rlimits?: Array<{ resource: number; soft: number; hard: number }>;
  /** create: block until `moat start` opens this fifo. */
  startFifo?: string;
  strace?: boolean;
  /** process.terminal: stdio is a pty slave, to become the sentry's controlling terminal. */
  terminal?: boolean;
  /** `moat do`: the pid of the moat process the sentry dies with (PR_SET_PDEATHSIG), even killed by SIGKILL. */
  dieWithParent?: number;
  /** The container's exit status goes here at the end ("N\n"; src/runtime/exit-record.ts). */
  statusFile?: string;
  /** moat exec's socket (src/sentry/control.ts). */
  controlSocket?: string;
  /**
   * The network namespace the sentry serves the sandbox's sockets in (docs/sentry.md,
   * "Networking"): join a path (Docker, CNI), a new one (lo up), or the host's (no network
   * namespace in the spec, as runsc's network=host). Absent: a new one.
   */
  network?: { mode: 'new' | 'host' } | { mode: 'join'; path: string };
  /** annotation dev.moat.network.egress, validated at create (src/sentry/net/egress.ts). */
  egress?: string;
  /**
   * The events file in the state directory (src/sentry/report.ts): one JSON line per unimplemented
   * syscall or sentry bug first seen, which `moat events` shows.
   */
  logFile?: string;
  /** moat's --log file and format: the sentry adds its records there too. */
  moatLog?: { file: string; format: 'text' | 'json' };
  /**
   * The container's cgroups (`<dir>/cgroup.procs` of each hierarchy): the sentry joins them first
   * thing, before it starts any stub, so that every process of the sandbox is counted there.
   */
  cgroupProcs?: string[];
  /** The machine file (kernel/machine.ts): the memory and CPUs the application is shown. */
  machineFile?: string;
  /**
   * Started as root: the sandbox's own unprivileged host uid (and gid, the same number,
   * src/state/sandbox-uid.ts) the sentry and its stubs switch to when it confines itself. Its lock
   * is the sentry's fd 5, held for the sentry's life.
   */
  hostUid?: number;
  /**
   * Under a memory limit: the sentry makes itself the OOM killer's last choice and gives each stub
   * this oom_score_adj (process.oomScoreAdj, else 0), so that the application process that grew is
   * the one killed, as under runc.
   */
  stubOomScoreAdj?: number;
}

/** The five capability sets on the wire: hex masks (JSON has no 64-bit integers). */
export interface CapsWire {
  bounding: string;
  effective: string;
  permitted: string;
  inheritable: string;
  ambient: string;
}

export const CAP_SET_NAMES = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const;

export function capsToWire(s: Record<(typeof CAP_SET_NAMES)[number], bigint>): CapsWire {
  return {
    bounding: s.bounding.toString(16),
    effective: s.effective.toString(16),
    permitted: s.permitted.toString(16),
    inheritable: s.inheritable.toString(16),
    ambient: s.ambient.toString(16),
  };
}

/** The sets back, or a message naming the bad field. */
export function capsFromWire(w: unknown, field: string): Record<(typeof CAP_SET_NAMES)[number], bigint> | string {
  if (typeof w !== 'object' || w === null) return `${field}: an object`;
  const r = w as Record<string, unknown>;
  const out = { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n };
  for (const k of CAP_SET_NAMES) {
    const v = r[k];
    if (typeof v !== 'string' || !/^[0-9a-f]{1,16}$/.test(v)) return `${field}.${k}: a hex mask`;
    out[k] = BigInt(`0x${v}`);
  }
  return out;
}
