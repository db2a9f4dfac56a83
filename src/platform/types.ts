// The interface each isolation platform implements, and how a container's platform is chosen.
// Platforms import this file; the registry (registry.ts) imports the platforms.

import type { Bundle } from '../spec/bundle';
import type { CgroupRecord, ContainerRecord, LxcfsRecord, PlatformName, SentryRecord, VmRecord } from '../state/store';
import type { Process, Spec } from '../spec/types';
import { MoatError } from '../util/errors';

export type { PlatformName };

export const ISOLATION_ANNOTATION = 'dev.moat.isolation';
export const PLATFORMS: readonly PlatformName[] = ['native', 'sentry', 'vm'];

function parsePlatform(value: string, source: string): PlatformName {
  if ((PLATFORMS as readonly string[]).includes(value)) return value as PlatformName;
  throw new MoatError('EUSAGE', `${source}: unknown isolation ${JSON.stringify(value)} (one of ${PLATFORMS.join(', ')})`);
}

/**
 * The operator's flag (`--isolation`, set in Docker's runtimeArgs or a RuntimeClass) wins over the
 * bundle's annotation: a container must not pick a weaker boundary than the one it was given.
 */
export function selectPlatform(flag: string | undefined, annotations: Record<string, string>): PlatformName {
  if (flag !== undefined) return parsePlatform(flag, '--isolation');
  const ann = annotations[ISOLATION_ANNOTATION];
  if (ann !== undefined) return parsePlatform(ann, `annotations.${ISOLATION_ANNOTATION}`);
  return 'native';
}

export interface CreateRequest {
  id: string;
  bundle: Bundle;
  /** Exec fifo the init waits on until `start`; undefined = start immediately. */
  startFifo: string | undefined;
  mode: 'create' | 'run';
  noPivot: boolean;
  preserveFds: number;
  /**
   * `moat do`: the rootfs is a read-only view of the host's root with a writable in-memory layer,
   * built inside the container's own mount namespace under `scratch` (so it vanishes with it).
   * bundle.rootfs is then `<scratch>/merged`. `lower` (native; the SDK's rootfs sandboxes): that
   * directory read-only instead of the host's root, so sandboxes sharing one rootfs never write it.
   */
  hostRootOverlay?: { scratch: string; lower?: string };
  /**
   * The spec has a user namespace moat chose (dev.moat.userns=auto): the rootfs (or the host root
   * under `hostRootOverlay`) is mounted idmapped with it, so ownership looks right inside.
   */
  idmapped?: boolean;
  console?: ConsoleRequest;
  /** --no-new-keyring: keep the caller's session keyring instead of a fresh one. */
  noNewKeyring?: boolean;
  /** The global --systemd-cgroup flag: linux.cgroupsPath is slice:prefix:name. */
  systemdCgroup?: boolean;
  /** Called as soon as the container's cgroups exist, to record them (delete removes them). */
  recordCgroups?: (cgroups: CgroupRecord) => void;
  /** The container's state directory (the vm platform keeps its disk image and sockets there). */
  stateDir?: string;
  /** The global --vm-accel flag: auto | kvm | tcg. */
  vmAccel?: string;
  /** The global --strace flag: the sentry logs every application syscall. */
  strace?: boolean;
  /** `moat do`: the sandbox dies with this moat process, even killed by SIGKILL (native, sentry). */
  dieWithRunner?: boolean;
  /**
   * Run mode (moat's shim): keep the container's exit status in stateDir (src/runtime/exit-record.ts)
   * from a process that outlives this one, for a `delete` after this process was killed.
   */
  recordExit?: boolean;
  /** stdin, stdout, stderr of the container (fds of moat's; the shim's FIFOs); default: moat's own. */
  stdio?: readonly [number, number, number];
  /** vm: this container is a pod's sandbox; its VM will run the pod's other containers (src/vm/pod.ts). */
  podSandbox?: boolean;
  /**
   * vm: run the create-time hooks (prestart, createRuntime, createContainer) now, with `pid` (a
   * process in the container's network namespace, verified by its start time) as the state's pid,
   * before the platform reads what they set up; the runtime then does not run them again.
   */
  runCreateHooks?: (pid: number, startTime: string) => Promise<void>;
  /** Called as soon as the VMM exists, to record it (delete stops it and removes its files). */
  recordVm?: (vm: VmRecord) => void;
  /** Called once the sentry is configured, to record where `moat exec` reaches it. */
  recordSentry?: (s: SentryRecord) => void;
  /** Called as soon as the container's lxcfs daemon exists (native, dev.moat.lxcfs), to record it. */
  recordLxcfs?: (l: LxcfsRecord) => void;
}

/** process.terminal: a connected unix socket the executor sends the pty master over, and the size. */
export interface ConsoleRequest {
  handoff: number | import('node:net').Socket;
  rows: number;
  cols: number;
}

export interface CreatedInit {
  pid: number;
  /** In run mode: resolves with the container's exit status once it has exited. */
  exited: Promise<number>;
  /** Signal this process where `pid` does not stand for it (a sentry exec in run mode: moat's own pid). */
  signal?(signal: number): void;
}

export interface ExecRequest {
  /** The container's record (its init pid, platform data). */
  record: ContainerRecord;
  /** The container's validated spec, as saved at create. */
  spec: Spec;
  process: Process;
  /** run: wait and report the exit status; create: return once the process runs (--detach). */
  mode: 'create' | 'run';
  preserveFds: number;
  /** Given to the process on stdin (hooks get the state JSON); default: moat's stdin. */
  stdin?: Buffer;
  /** Run exactly this path (hooks) instead of searching PATH for process.args[0]. */
  executable?: string;
  console?: ConsoleRequest;
  /** stdin, stdout, stderr of the process (fds of moat's); default: moat's own. */
  stdio?: readonly [number, number, number];
}

export interface Platform {
  readonly name: PlatformName;
  create(req: CreateRequest): Promise<CreatedInit>;
  /** Start another process in the running container. */
  exec(req: ExecRequest): Promise<CreatedInit>;
  /** Freeze (true) or thaw (false) every process of the container. */
  setPaused(rec: ContainerRecord, paused: boolean): void;
  /** Apply a LinuxResources object (untrusted JSON; errors name `field`) to a live container. */
  update(rec: ContainerRecord, spec: Spec, resources: unknown, field: string): void;
  /** Host pids of every process of the container (from its cgroup); undefined if not known. */
  pids(rec: ContainerRecord): number[] | undefined;
  /** Signal every process of the container's cgroup; false if it has none (kill --all). */
  signalAll(rec: ContainerRecord, signal: number): boolean;
  /** Resource usage, as runc's `events` prints it in "data" (the vm asks its guest: a promise). */
  stats(rec: ContainerRecord): unknown | Promise<unknown>;
  /** Remove what create set up outside the container (cgroups), killing what is left in it. */
  destroy(rec: ContainerRecord): void;
  /** Platforms whose init does not wait on the host's exec fifo (vm): let it run. */
  start?(rec: ContainerRecord): Promise<void>;
  /** Platforms whose container init is not a host process (vm): signal it. */
  kill?(rec: ContainerRecord, signal: number, all: boolean): Promise<void>;
  /**
   * Platforms whose OOM kills happen out of the host's sight (vm: in the guest's kernel): how many
   * the container's memory cgroup has seen (`oom_kill` of its memory.events). Others: the host's
   * cgroup files say it.
   */
  oomKills?(rec: ContainerRecord): Promise<number>;
}
