// A container's exit status kept in its state directory (`exit-status`), written by what outlives
// the process that created it: the executor (native, run mode), the sentry, the vm's guest agent.
// Read by moat's shim `delete` after its server was killed (docs/shim.md, Crash safety): the
// container's real status instead of 137.

import * as fs from 'node:fs';
import * as path from 'node:path';

export const EXIT_RECORD = 'exit-status';

export function exitRecordPath(stateDir: string): string {
  return path.join(stateDir, EXIT_RECORD);
}

/**
 * The status written there, or undefined: none yet (the container still runs or was killed), or
 * bytes that are not one "N\n" with N in 0..255 (the vm's file is the guest's: believe nothing else).
 */
export function readExitRecord(stateDir: string): number | undefined {
  let text: string;
  try {
    const fd = fs.openSync(exitRecordPath(stateDir), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(8);
      text = buf.toString('latin1', 0, fs.readSync(fd, buf, 0, buf.length, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const m = /^(\d{1,3})\n$/.exec(text);
  return m && Number(m[1]) <= 255 ? Number(m[1]) : undefined;
}
