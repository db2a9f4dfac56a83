// The uid (and gid, the same number) a VM's QEMU runs as: one of its own per running VM, from a
// range no host account uses, so that a guest that breaks into its VMM is an unprivileged process
// that cannot signal, trace or read another VM's QEMU (docs/vm.md#confining-qemu).
//
// Allocation without a registry that can go stale: a lock file per uid, flock'ed by moat and then
// held by the QEMU process itself (an inherited fd). The lock lives exactly as long as the VMM,
// even when moat is killed; a uid whose lock can be taken is free.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sys } from '../sys';
import { MoatError } from '../util/errors';

/** 0x4d4f0000 ("MO"): 65536 ids far above any host account's and below the 32-bit overflow ids. */
export const VM_UID_BASE = 0x4d4f0000;
export const VM_UID_COUNT = 0x10000;

/** First candidate for a seed (the state directory): different roots start at different places. */
export function firstCandidate(seed: string): number {
  return crypto.createHash('sha256').update(seed).digest().readUInt16LE(0);
}

export function allocateVmUid(lockDir: string, seed: string): { uid: number; lockFd: number } {
  fs.mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  const start = firstCandidate(seed);
  for (let i = 0; i < VM_UID_COUNT; i++) {
    const uid = VM_UID_BASE + ((start + i) % VM_UID_COUNT);
    const fd = fs.openSync(path.join(lockDir, String(uid)), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    if (sys().flock(fd, 'ex', true)) return { uid, lockFd: fd };
    fs.closeSync(fd);
  }
  throw new MoatError('EVM', `no free vm uid in ${VM_UID_BASE}..${VM_UID_BASE + VM_UID_COUNT - 1} (${lockDir})`);
}
