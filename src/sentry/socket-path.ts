// A unix socket path of any length: sun_path holds 107 bytes, and Docker's state directories are
// longer. Past that, the socket is named through an fd of its directory (/proc/self/fd/N/name),
// which both bind and connect resolve.

import * as fs from 'node:fs';
import * as path from 'node:path';

const SUN_PATH_MAX = 107;

export function withSocketPath<T>(full: string, fn: (p: string) => T): T {
  if (Buffer.byteLength(full) <= SUN_PATH_MAX) return fn(full);
  const dir = fs.openSync(path.dirname(full), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return fn(`/proc/self/fd/${dir}/${path.basename(full)}`);
  } finally {
    fs.closeSync(dir);
  }
}
