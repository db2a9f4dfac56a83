// A container's status as the runtime-spec names it, derived from its record and the live system.

import type { ContainerStateJson } from '../spec/types';
import { isLive } from '../state/process';
import type { ContainerRecord } from '../state/store';

export type Status = ContainerStateJson['status'];

export function statusOf(rec: ContainerRecord | undefined): Status {
  if (!rec || rec.pid === 0) {
    const creatorAlive = rec?.creator !== undefined && isLive(rec.creator.pid, rec.creator.startTime);
    return rec?.phase === 'creating' && creatorAlive ? 'creating' : 'stopped';
  }
  if (!isLive(rec.pid, rec.pidStartTime)) return 'stopped';
  // A vm's namespace holder during the create-time hooks (its creator dead: created, so that
  // delete kills it).
  if (rec.phase === 'creating') return rec.creator !== undefined && isLive(rec.creator.pid, rec.creator.startTime) ? 'creating' : 'created';
  if (rec.paused) return 'paused';
  return rec.phase === 'running' ? 'running' : 'created';
}

export function stateJson(rec: ContainerRecord): ContainerStateJson {
  const status = statusOf(rec);
  const out: ContainerStateJson = {
    ociVersion: rec.ociVersion,
    id: rec.id,
    status,
    pid: status === 'stopped' ? 0 : rec.pid,
    bundle: rec.bundle,
    rootfs: rec.rootfs,
    created: rec.created,
    owner: rec.owner,
  };
  if (Object.keys(rec.annotations).length > 0) out.annotations = rec.annotations;
  return out;
}

/**
 * The state poststart hooks get: the container as `start` left it, running with its init's pid, even
 * when a short-lived process has already exited by the time the hooks run (statusOf would then say
 * stopped with pid 0, and the hook could not tell which process it was about).
 */
export function startedState(rec: ContainerRecord): ContainerStateJson {
  return { ...stateJson(rec), status: 'running', pid: rec.pid };
}
