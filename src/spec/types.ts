// The subset of the OCI runtime-spec (config.json, v1.2) that moat reads, as validated types.
// Field names follow the spec exactly; see https://github.com/opencontainers/runtime-spec.

export interface Spec {
  ociVersion: string;
  root?: Root;
  mounts: Mount[];
  process?: Process;
  hostname?: string;
  domainname?: string;
  annotations: Record<string, string>;
  linux?: Linux;
  hooks?: Hooks;
}

export interface Root {
  path: string;
  readonly?: boolean;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits: Rlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids: number[];
}

export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface Rlimit {
  type: string;
  hard: number;
  soft: number;
}

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface Namespace {
  type: NamespaceType;
  path?: string;
}

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Device {
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface TimeOffset {
  secs?: number;
  nanosecs?: number;
}

export interface Linux {
  namespaces: Namespace[];
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
  timeOffsets?: Record<string, TimeOffset>;
  devices: Device[];
  cgroupsPath?: string;
  resources?: Record<string, unknown>;
  rootfsPropagation?: string;
  seccomp?: Record<string, unknown>;
  sysctl: Record<string, string>;
  maskedPaths: string[];
  readonlyPaths: string[];
  mountLabel?: string;
  personality?: Record<string, unknown>;
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface Hooks {
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

/** The runtime-spec's state object, as `moat state` prints it (plus `created`, like runc). */
export interface ContainerStateJson {
  ociVersion: string;
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped' | 'paused';
  pid: number;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}
