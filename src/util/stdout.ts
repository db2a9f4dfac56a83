// Output of the commands that clients run often (`state`; the containerd shim's `start` and
// `delete`, once per container each): written to fd 1 directly. The first use of
// process.stdout builds a stream (for a pipe, a net.Socket with the stream machinery): measurable in
// a command whose whole work is a few file reads (docs/cli-speed.md). Same bytes, same order.

import * as fs from 'node:fs';
import { caller } from './caller';

let pause: Int32Array | undefined;

export function writeStdout(text: string | Uint8Array): void {
  const c = caller();
  if (c) return c.write(1, text);
  let buf = Buffer.from(text);
  while (buf.length > 0) {
    try {
      buf = buf.subarray(fs.writeSync(1, buf));
    } catch (err) {
      // A non-blocking pipe the reader has not emptied yet: wait a little, as a stream would.
      if ((err as { code?: string }).code !== 'EAGAIN') throw err;
      Atomics.wait((pause ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, 1);
    }
  }
}
