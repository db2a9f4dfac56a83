// The one way a throwaway sandbox is made, by the SDK (src/sdk: Sandbox.create, and Sandbox.spawn,
// which `moat do` is): a fresh id under a prefix the sweep knows (sweep.ts), a writable in-memory
// layer over a read-only lower tree (the host's root, or a rootfs directory), and the sandbox dying
// with the process that made it, even killed by SIGKILL. What runs in it is the caller's: an idle
// init that execs join (create), or the caller's command as the init (spawn).

import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { selectPlatform, type ConsoleRequest } from '../platform';
import type { Process, Spec } from '../spec/types';
import type { Created, Runtime } from './lifecycle';

export interface SandboxRequest {
  /** The id's prefix: `do-` or `sdk-` (both swept once their creator is dead). */
  prefix: string;
  spec: Spec & { process: Process };
  /** A directory to run over (read-only, never written); default: the host's root. */
  rootfs?: string;
  console?: ConsoleRequest;
  /** The init's stdin, stdout, stderr (default: the caller's own). */
  stdio?: readonly [number, number, number];
}

export async function createSandbox(rt: Runtime, o: SandboxRequest): Promise<Created> {
  const id = `${o.prefix}${crypto.randomBytes(6).toString('hex')}`;
  const dir = rt.store.dir(id);
  const scratch = path.join(dir, 'scratch');
  const platform = selectPlatform(rt.opts.isolation, o.spec.annotations ?? {});
  // A native sandbox over a rootfs gets the same overlay as the host root: sandboxes sharing one
  // rootfs never write to it. The sentry (its in-memory layer) and a vm (a disk image copied from
  // the rootfs) never write to it anyway, and take it as the bundle's rootfs.
  const overlay = o.rootfs === undefined || platform === 'native';
  return rt.create({
    id,
    bundle: { dir, spec: o.spec, rootfs: overlay ? path.join(scratch, 'merged') : o.rootfs! },
    mode: 'run',
    noPivot: false,
    preserveFds: 0,
    ...(overlay ? { hostRootOverlay: { scratch, ...(o.rootfs !== undefined ? { lower: o.rootfs } : {}) } } : {}),
    dieWithRunner: true,
    ...(o.console ? { console: o.console } : {}),
    ...(o.stdio ? { stdio: o.stdio } : {}),
  });
}
