// The host uid (and gid, the same number) a sandbox's privileged-by-default host process drops to:
// a VM's QEMU (docs/vm.md#confining-qemu) and a sentry with its stubs (docs/sentry.md, "The
// sentry's own confinement"). One per running sandbox, from a range no host account uses, so that
// code that takes over a VMM or a sentry is an unprivileged process that cannot signal, trace or
// read host root's processes or another sandbox's.
//
// Allocation without a registry that can go stale: a lock file per uid, flock'ed by moat and then
// held by the sandbox's process itself (an inherited fd). The lock lives exactly as long as that
// process, even when moat is killed; a uid whose lock can be taken is free. One directory for the
// host (not one per --root, as userns-ranges.ts's claims): two state roots never hand out the same
// uid, and QEMU and a sentry never share one. /run is a tmpfs: no lock outlives a reboot.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { sys } from '../sys';
import { MoatError } from '../util/errors';

/** 0x4d4f0000 ("MO"): 65536 ids far above any host account's, below the user-namespace ranges
 * (0x70000000 up, userns-ranges.ts) and the 32-bit overflow ids. */
export const SANDBOX_UID_BASE = 0x4d4f0000;
export const SANDBOX_UID_COUNT = 0x10000;
export const SANDBOX_UID_DIR = '/run/moat-uids';

/** First candidate for a seed (the state directory): sandboxes started together start apart. */
export function firstCandidate(seed: string): number {
  // Required here: the sentry's bundle takes this module's constants, and node:crypto at its
  // top level would cost every sentry start ~5 ms (docs/sentry.md "Start-up").
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const crypto = require('node:crypto') as typeof import('node:crypto');
  return crypto.createHash('sha256').update(seed).digest().readUInt16LE(0);
}

/** A free uid and the fd of its lock: hand the fd to the process that runs as the uid. */
export function allocateSandboxUid(seed: string, lockDir = SANDBOX_UID_DIR): { uid: number; lockFd: number } {
  fs.mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  const start = firstCandidate(seed);
  for (let i = 0; i < SANDBOX_UID_COUNT; i++) {
    const uid = SANDBOX_UID_BASE + ((start + i) % SANDBOX_UID_COUNT);
    const fd = fs.openSync(path.join(lockDir, String(uid)), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    if (sys().flock(fd, 'ex', true)) return { uid, lockFd: fd };
    fs.closeSync(fd);
  }
  throw new MoatError('ESETUP', `no free sandbox uid in ${SANDBOX_UID_BASE}..${SANDBOX_UID_BASE + SANDBOX_UID_COUNT - 1} (${lockDir})`);
}
