// Whether a shim server listens on a socket: a plain connect, no ttrpc call (so `start`, which asks
// it for every container, loads no protobuf code).

import * as fs from 'node:fs';

/**
 * Whether a server listens on the socket. Only a refused connection (a SIGKILLed server's socket
 * file) or no file counts as dead: a server slow to answer on a loaded host is still the pod's, and
 * replacing its socket would orphan it.
 */
export function alive(socket: string, timeoutMs = 10_000): Promise<boolean> {
  // No file: dead, without loading node:net (~9 ms of CPU; `delete` after a normal end finds the
  // socket removed by its server).
  if (!fs.existsSync(socket)) return Promise.resolve(false);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const net = require('node:net') as typeof import('node:net');
  return new Promise((resolve) => {
    const s = net.connect(socket);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(true); // slow, not refused
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      const code = (err as { code?: string }).code;
      resolve(!(code === 'ECONNREFUSED' || code === 'ENOENT'));
    });
  });
}
