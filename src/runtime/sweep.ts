// `moat do` sandboxes whose runner is gone. A `moat do` killed by SIGKILL cannot clean up: its
// sandbox dies with it (the executor's or the sentry's parent-death signal, `dieWithRunner`), but
// the state entry, the cgroups and the scratch layer stay. Every moat invocation that opens the
// runtime sweeps them: a `do-*` entry whose creator (the `moat do` process, pid + start time) is
// no longer alive is deleted as `delete --force` would (processes killed, cgroups removed, state
// gone). A live runner's entry is never touched, and never waited for: the state file is read
// without the lock first.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isLive } from '../state/process';
import type { ContainerRecord } from '../state/store';
import { debugLog } from '../util/log';
import type { Runtime } from './lifecycle';

export const DO_PREFIX = 'do-';
/** The SDK's sandboxes (src/sdk): swept the same way when their owning process is gone. */
export const SDK_PREFIX = 'sdk-';

function deadRunner(file: string): boolean {
  let rec: Partial<ContainerRecord>;
  try {
    rec = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ContainerRecord>;
  } catch {
    return false; // being written, or gone: not ours to judge
  }
  const c = rec.creator;
  return c !== undefined && typeof c.pid === 'number' && typeof c.startTime === 'string' && !isLive(c.pid, c.startTime);
}

/** Delete the `do-*` and `sdk-*` entries whose runner is dead; returns their ids. Never throws. */
export function sweepStaleDo(rt: Runtime): string[] {
  const swept: string[] = [];
  let ids: string[];
  try {
    ids = rt.store.ids().filter((id) => id.startsWith(DO_PREFIX) || id.startsWith(SDK_PREFIX));
  } catch {
    return swept;
  }
  for (const id of ids) {
    if (!deadRunner(path.join(rt.store.dir(id), 'state.json'))) continue;
    try {
      const { handle, rec } = rt.open(id);
      // Re-checked under the lock: another moat may have swept it meanwhile.
      if (!rec.creator || isLive(rec.creator.pid, rec.creator.startTime)) {
        handle.release();
        continue;
      }
      rt.delete(handle, rec, true);
      swept.push(id);
      debugLog(() => `swept ${id}: its moat do (pid ${rec.creator!.pid}) is gone`);
    } catch {
      /* deleted by another moat meanwhile, or not deletable now: the next run tries again */
    }
  }
  return swept;
}
