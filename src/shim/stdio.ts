// A process's stdio through containerd's FIFOs. Without a terminal, stdout and stderr are the FIFOs
// themselves, opened O_RDWR (that open never blocks, even before containerd's reader is there) and
// handed to the process: its output goes to containerd with no copy in the shim, and containerd
// reads EOF once the process (the last writer) is gone. stdin is a socketpair the shim feeds from
// the stdin FIFO, so CloseIO can end it (shutdown) whenever containerd says the client closed it.
// With a terminal, the pty master comes back from the executor over a socketpair and the shim relays
// it to and from the FIFOs (ResizePty sets its window size).

import * as fs from 'node:fs';
import * as net from 'node:net';
import { foregroundConsoleEndpoint, type ConsoleEndpoint } from '../runtime/terminal';
import { sys } from '../sys';
import { MoatError } from '../util/errors';

export interface IoPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface ProcessIo {
  /** Fds for the process's stdin, stdout, stderr (no terminal). */
  stdio?: readonly [number, number, number];
  /** Where the executor sends the pty master (terminal). */
  console?: ConsoleEndpoint;
  /** The process has its copies: close the shim's, start the relays. */
  launched(): void;
  closeStdin(): void;
  resize(width: number, height: number): void;
  /** The process has exited: let the terminal output drain (bounded), then close everything. */
  finish(): Promise<void>;
  /** Launch failed: close everything now. */
  abort(): void;
}

/** An output path: a FIFO (or a file) opened for writing; '' is /dev/null. file:// appends to a file. */
function openOutput(p: string, field: string): number {
  if (p === '') return fs.openSync('/dev/null', 'w');
  if (p.startsWith('file://')) return fs.openSync(p.slice('file://'.length), fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o640);
  if (/^[a-z]+:\/\//.test(p)) throw new MoatError('EUSAGE', `${field}: ${JSON.stringify(p)}: only FIFO paths and file:// are supported (not logging binaries)`);
  if (!p.startsWith('/')) throw new MoatError('EUSAGE', `${field}: ${JSON.stringify(p)} is not an absolute path`);
  try {
    return fs.openSync(p, fs.constants.O_RDWR);
  } catch (err) {
    throw new MoatError('ESETUP', `${field}: cannot open ${p}: ${(err as Error).message}`);
  }
}

function openStdinFifo(p: string): number {
  if (!p.startsWith('/')) throw new MoatError('EUSAGE', `stdin: ${JSON.stringify(p)} is not an absolute path`);
  try {
    return fs.openSync(p, fs.constants.O_RDWR);
  } catch (err) {
    throw new MoatError('ESETUP', `stdin: cannot open ${p}: ${(err as Error).message}`);
  }
}

const closeQuietly = (fd: number | undefined) => {
  if (fd === undefined) return;
  try {
    fs.closeSync(fd);
  } catch {
    /* closed */
  }
};

export function openIo(paths: IoPaths): ProcessIo {
  return paths.terminal ? terminalIo(paths) : pipeIo(paths);
}

function pipeIo(paths: IoPaths): ProcessIo {
  const opened: number[] = [];
  try {
    let stdin: number;
    let feed: { fifo: net.Socket; sink: net.Socket } | undefined;
    if (paths.stdin !== '') {
      const fifoFd = openStdinFifo(paths.stdin);
      opened.push(fifoFd);
      const [mine, theirs] = sys().socketpair();
      opened.push(mine, theirs);
      const fifo = new net.Socket({ fd: fifoFd, readable: true, writable: false });
      const sink = new net.Socket({ fd: mine, readable: false, writable: true });
      fifo.on('error', () => undefined);
      sink.on('error', () => undefined);
      fifo.pipe(sink);
      feed = { fifo, sink };
      stdin = theirs;
    } else {
      stdin = fs.openSync('/dev/null', 'r');
      opened.push(stdin);
    }
    const stdout = openOutput(paths.stdout, 'stdout');
    opened.push(stdout);
    const stderr = paths.stderr === paths.stdout && paths.stderr !== '' ? stdout : openOutput(paths.stderr, 'stderr');
    if (stderr !== stdout) opened.push(stderr);
    // Closed exactly once (launched or abort): a second close could hit a reused fd number.
    let ours: number[] = [...new Set([stdin, stdout, stderr])];
    const closeOurs = () => {
      ours.forEach(closeQuietly);
      ours = [];
    };
    const closeStdin = () => {
      if (!feed) return;
      feed.fifo.unpipe(feed.sink);
      feed.fifo.destroy();
      feed.sink.end();
      feed = undefined;
    };
    return {
      stdio: [stdin, stdout, stderr],
      launched: closeOurs,
      closeStdin,
      resize: () => {
        throw new MoatError('ESTATE', 'the process has no terminal to resize');
      },
      finish: async () => closeStdin(),
      abort: () => {
        closeStdin();
        closeOurs();
      },
    };
  } catch (err) {
    opened.forEach(closeQuietly);
    throw err;
  }
}

function terminalIo(paths: IoPaths): ProcessIo {
  let out: number | undefined = openOutput(paths.stdout, 'stdout');
  let inFd: number | undefined;
  try {
    inFd = paths.stdin !== '' ? openStdinFifo(paths.stdin) : undefined;
  } catch (err) {
    closeQuietly(out);
    out = undefined;
    throw err;
  }
  const console = foregroundConsoleEndpoint();
  let master: number | undefined;
  let input: net.Socket | undefined;
  let output: net.Socket | undefined;
  let drained: Promise<void> = Promise.resolve();
  const closeStdin = () => {
    input?.destroy(); // the socket owns the fd once made
    input = undefined;
    closeQuietly(inFd);
    inFd = undefined;
  };
  return {
    console,
    launched: () => {
      master = console.receiveMaster();
      const m = master!;
      output = new net.Socket({ fd: out!, readable: false, writable: true });
      out = undefined;
      output.on('error', () => undefined);
      drained = pump(m, output).then(() => {
        master = undefined; // pump closed it
      });
      if (inFd !== undefined) {
        input = new net.Socket({ fd: inFd, readable: true, writable: false });
        inFd = undefined;
        input.on('error', () => undefined);
        input.on('data', (chunk: Buffer) => {
          if (master === undefined) return; // closed: its number may belong to something else now
          try {
            fs.writeSync(master, chunk);
          } catch {
            /* the terminal is gone */
          }
        });
      }
    },
    closeStdin,
    resize: (width, height) => {
      if (master === undefined) throw new MoatError('ESTATE', 'the terminal is not set up yet');
      sys().setWinsize(master, height, width);
    },
    finish: async () => {
      await Promise.race([drained, new Promise((r) => setTimeout(r, 2000).unref())]);
      closeStdin();
      output?.end();
    },
    abort: () => {
      console.close();
      closeStdin();
      closeQuietly(out);
      out = undefined;
      output?.destroy();
    },
  };
}

/** Copy the pty master to the output until the container side is gone (EIO); the master is closed then. */
function pump(master: number, output: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const buf = Buffer.alloc(16384);
    const step = () =>
      fs.read(master, buf, 0, buf.length, null, (err, n) => {
        if (err || n === 0) {
          fs.close(master, () => resolve());
          return;
        }
        output.write(Buffer.from(buf.subarray(0, n)), () => step());
      });
    step();
  });
}
