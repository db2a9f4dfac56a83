// Which isolation platform a container runs on, and the interface each platform implements.

import type { Bundle } from '../spec/bundle';
import type { ContainerRecord, PlatformName } from '../state/store';
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
   * bundle.rootfs is then `<scratch>/merged`.
   */
  hostRootOverlay?: { scratch: string };
}

export interface CreatedInit {
  pid: number;
  /** In run mode: resolves with the container's exit status once it has exited. */
  exited: Promise<number>;
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
}

export interface Platform {
  readonly name: PlatformName;
  create(req: CreateRequest): Promise<CreatedInit>;
  /** Start another process in the running container. */
  exec(req: ExecRequest): Promise<CreatedInit>;
}

export async function platformFor(name: PlatformName): Promise<Platform> {
  switch (name) {
    case 'native': {
      const { NativePlatform } = await import('../native/platform');
      return new NativePlatform();
    }
    case 'sentry':
    case 'vm':
      throw new MoatError('EUSAGE', `isolation ${JSON.stringify(name)} is not available in this build of moat yet; use native`);
  }
}
