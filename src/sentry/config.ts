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
  hostname?: string;
  rlimits?: Array<{ resource: number; soft: number; hard: number }>;
  /** create: block until `moat start` opens this fifo. */
  startFifo?: string;
  strace?: boolean;
  /** process.terminal: stdio is a pty slave, to become the sentry's controlling terminal. */
  terminal?: boolean;
  /** moat exec's socket (src/sentry/control.ts). */
  controlSocket?: string;
  /** Where unimplemented syscalls are reported (stderr under --strace). */
  logFile?: string;
}
