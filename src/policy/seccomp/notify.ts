// SCMP_ACT_NOTIFY: the runtime-spec "container process state" sent with the listener fd to
// linux.seccomp.listenerPath. TypeScript writes all of it except the init's pid, which only the
// executor knows: the JSON goes out as parts, and the executor puts its pid between consecutive parts.

export interface ContainerIdentity {
  ociVersion: string;
  id: string;
  /** Absolute bundle directory. */
  bundle: string;
  annotations: Record<string, string>;
}

/** The spec's ociVersion for the container process state (runtime-spec 1.2.0, as `moat state`). */
const PROCESS_STATE_VERSION = '1.2.0';

export function processStateParts(c: ContainerIdentity, metadata: string): string[] {
  const j = JSON.stringify;
  const annotations = Object.keys(c.annotations).length > 0 ? `,"annotations":${j(c.annotations)}` : '';
  return [
    `{"ociVersion":${j(PROCESS_STATE_VERSION)},"fds":["seccompFd"],"pid":`,
    `,"metadata":${j(metadata)},"state":{"ociVersion":${j(c.ociVersion)},"id":${j(c.id)},"status":"creating","pid":`,
    `,"bundle":${j(c.bundle)}${annotations}}}`,
  ];
}
