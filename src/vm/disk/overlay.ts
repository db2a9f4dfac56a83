// A container's copy-on-write overlay of its base image (base.ts): an empty qcow2 image in the VM's
// state directory, made by `qemu-img create` (Debian's qemu-utils, the tool QEMU's own docs use:
// the format's allocation tables are QEMU's to get right, and 20–30 ms is a small price). Its header
// names the base and its format, for `qemu-img info` and check; QEMU itself never opens that path
// (the base is its own read-only node, given by fd: vmm/qemu.ts). The guest's writes land here,
// never in the base; it goes with the state directory.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { MoatError } from '../../util/errors';

/** Makes `overlay` (mode 0600) over the raw image `base` of `bytes`; nothing is left on failure. */
export function createOverlay(base: string, bytes: number, overlay: string): void {
  try {
    // -u: the base is not opened (its size is given); -F raw: never probed for a format.
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, '-u', overlay, String(bytes)], { stdio: ['ignore', 'ignore', 'pipe'] });
    fs.chmodSync(overlay, 0o600);
  } catch (err) {
    fs.rmSync(overlay, { force: true });
    const e = err as { stderr?: Buffer; code?: string; message: string };
    if (e.code === 'ENOENT') throw new MoatError('EVM', 'qemu-img: not found; install qemu-utils');
    throw new MoatError('EVM', `qemu-img create ${overlay}: ${(e.stderr?.toString() || e.message).trim().split('\n').pop()}`);
  }
}
