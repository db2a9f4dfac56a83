// Whether a shim server listens on a socket: a plain connect, no ttrpc call (so `start`, which asks
// it for every container, loads no protobuf code).

import * as net from 'node:net';

/**
 * Whether a server listens on the socket. Only a refused connection (a SIGKILLed server's socket
 * file) or no file counts as dead: a server slow to answer on a loaded host is still the pod's, and
 * replacing its socket would orphan it.
 */
export function alive(socket: string, timeoutMs = 10_000): Promise<boolean> {
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
