// What the sentry platform hands the sentry process (written as JSON in the container's state dir).

export interface SentryConfig {
  /** Host path of the rootfs (served through the gofer when goferFd ≥ 0). */
  rootfs: string;
  goferFd?: number;
  readonlyRootfs?: boolean;
  /**
   * Bind mounts: container destination → gofer tree index. writable: the gofer serves the tree
   * read-write, and writes reach the host (no in-memory overlay: runsc's default for binds).
   */
  mounts?: Array<{ destination: string; tree: number; readonly: boolean; writable?: boolean }>;
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
  /**
   * The network namespace the sentry serves the sandbox's sockets in (docs/sentry.md,
   * "Networking"): join a path (Docker, CNI), a new one (lo up), or the host's (no network
   * namespace in the spec, as runsc's network=host). Absent: a new one.
   */
  network?: { mode: 'new' | 'host' } | { mode: 'join'; path: string };
  /** annotation dev.moat.network.egress, validated at create (src/sentry/net/egress.ts). */
  egress?: string;
  /** Where unimplemented syscalls are reported (stderr under --strace). */
  logFile?: string;
}
