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
   * The events file in the state directory (src/sentry/report.ts): one JSON line per unimplemented
   * syscall or sentry bug first seen, which `moat events` shows.
   */
  logFile?: string;
  /** moat's --log file and format: the sentry adds its records there too. */
  moatLog?: { file: string; format: 'text' | 'json' };
}
