// dev.moat.userns=auto: the container gets a user namespace of its own, its root mapped to a host
// id range nothing else uses (src/state/userns-ranges.ts), and its rootfs idmapped to match.
// `moat do` asks for it by default (--userns=host opts out). Native platform only: a sentry's or a
// VM's root is not the host's root to begin with.

import type { Spec } from '../spec/types';
import { ConfigError } from '../util/errors';
import type { IdRange } from '../state/userns-ranges';

export const USERNS_ANNOTATION = 'dev.moat.userns';

/** true for `auto`, false for `host` or no annotation; anything else is refused. */
export function wantsOwnUserns(annotations: Record<string, string> | undefined): boolean {
  const v = annotations?.[USERNS_ANNOTATION];
  if (v === undefined || v === 'host') return false;
  if (v === 'auto') return true;
  throw new ConfigError(`annotations.${USERNS_ANNOTATION}`, `must be "auto" or "host", got ${JSON.stringify(v)}`);
}

/**
 * The spec with a new user namespace mapping container ids 0..size-1 to `range`. A spec that
 * already has a user namespace (its own mappings) is refused: the two would contradict.
 */
export function withOwnUserns<S extends Spec>(spec: S, range: IdRange): S {
  const linux = spec.linux ?? { namespaces: [], uidMappings: [], gidMappings: [], devices: [], sysctl: {}, maskedPaths: [], readonlyPaths: [] };
  if ((linux.namespaces ?? []).some((n) => n.type === 'user') || (linux.uidMappings ?? []).length > 0 || (linux.gidMappings ?? []).length > 0) {
    throw new ConfigError(`annotations.${USERNS_ANNOTATION}`, 'auto cannot be combined with a user namespace or id mappings of the spec\'s own');
  }
  const map = [{ containerID: 0, hostID: range.start, size: range.size }];
  return {
    ...spec,
    linux: {
      ...linux,
      // User first: it owns the namespaces created with it.
      namespaces: [{ type: 'user' }, ...(linux.namespaces ?? [])],
      uidMappings: map,
      gidMappings: map,
    },
  };
}
