// Terminals: where a container's pty master goes. With --console-socket it is sent to the caller's
// unix socket (what containerd and Docker expect); in the foreground without one, moat receives it
// over a socketpair and relays it to its own terminal, window size included.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { sys } from '../sys';
import { MoatError } from '../util/errors';
import { callerPath } from '../util/caller';

export interface ConsoleEndpoint {
  /** What to hand to the executor: a connected unix socket. */
  handoff: number | net.Socket;
  /** After launch: the pty master, when moat itself is the receiver (foreground). */
  receiveMaster(): number | undefined;
  /** Close moat's ends (after the executor has its copy). */
  close(): void;
}

export async function consoleSocketEndpoint(path: string): Promise<ConsoleEndpoint> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const abs = callerPath(path);
    const s = net.connect(abs);
    s.once('connect', () => resolve(s));
    // The message names the path as given (in a service it was resolved against the caller's cwd).
    s.once('error', (err) => reject(new MoatError('EUSAGE', `--console-socket ${path}: ${err.message.split(abs).join(path)}`)));
  });
  return { handoff: socket, receiveMaster: () => undefined, close: () => socket.destroy() };
}

export function foregroundConsoleEndpoint(): ConsoleEndpoint {
  const [mine, theirs] = sys().socketpair();
  let closedTheirs = false;
  const closeTheirs = () => {
    if (!closedTheirs) fs.closeSync(theirs);
    closedTheirs = true;
  };
  return {
    handoff: theirs,
    receiveMaster: () => {
      closeTheirs();
      const got = sys().recvFd(mine);
      fs.closeSync(mine);
      if (!got) throw new MoatError('ESETUP', 'the executor did not send the terminal');
      return got.fd;
    },
    close: closeTheirs,
  };
}

/** The caller's window size, when stdout is a terminal. */
export function callerWindowSize(): { rows: number; cols: number } {
  return process.stdout.isTTY ? { rows: process.stdout.rows, cols: process.stdout.columns } : { rows: 0, cols: 0 };
}

/**
 * Relay the pty master to moat's stdin/stdout until the container side closes (EIO), with the
 * caller's terminal in raw mode and its size followed. Resolves when the output is drained.
 */
export function relayTerminal(master: number): { done: Promise<void>; stop(): void } {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  const onInput = (chunk: Buffer) => {
    try {
      fs.writeSync(master, chunk);
    } catch {
      // the container side is gone
    }
  };
  stdin.on('data', onInput);
  const onResize = () => {
    try {
      sys().setWinsize(master, process.stdout.rows, process.stdout.columns);
    } catch {
      // gone
    }
  };
  process.stdout.on('resize', onResize);
  const stop = () => {
    stdin.off('data', onInput);
    process.stdout.off('resize', onResize);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  };
  const done = new Promise<void>((resolve) => {
    const buf = Buffer.alloc(16384);
    const pump = () =>
      fs.read(master, buf, 0, buf.length, null, (err, n) => {
        if (err || n === 0) {
          fs.close(master, () => resolve());
          return;
        }
        process.stdout.write(buf.subarray(0, n), () => pump());
      });
    pump();
  });
  return { done, stop };
}
