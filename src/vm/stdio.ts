// The container's stdio as the VMM holds it: the caller's fds reopened as QEMU can use them, or a
// host pty when process.terminal is set (its master goes where runc would send the container's).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tty from 'node:tty';
import { sys } from '../sys';
import { MoatError } from '../util/errors';
import type { VmPort } from './vmm';

/** What the VMM is given for the container's stdio, and what the caller must close or hand on. */
export interface GuestStdio {
  input: number;
  out: VmPort;
  err: VmPort;
  /** fds of ours to close once the VMM holds its copies (or on failure). */
  opened: number[];
  /** With a terminal: the host pty's master and its name, for the console handoff. */
  master?: number;
  ptyName?: string;
  /** A foreground terminal's stdin pump: stops it (idempotent). */
  stopPump?: () => void;
}

/**
 * Opens the container's stdio. With a terminal everything is on the pty, nothing on moat's own stdio
 * (which a caller may wait on); otherwise `fds` (the request's stdio: the SDK's pipes or /dev/null;
 * default moat's own 0-2) as QEMU can use them.
 */
export function openGuestStdio(terminal: { rows: number; cols: number } | undefined, foreground: boolean, fds: readonly [number, number, number] = [0, 1, 2]): GuestStdio {
  const opened: number[] = [];
  let master: number | undefined;
  try {
    if (terminal) {
      const pty = sys().openPty(terminal.rows, terminal.cols);
      master = pty.master;
      track(pty.slave, opened);
      const toSlave = () => track(fs.openSync(`/proc/self/fd/${pty.slave}`, fs.constants.O_WRONLY | fs.constants.O_NOCTTY), opened);
      return {
        input: pty.slave,
        out: { name: 'moat.out', kind: 'output', fd: toSlave(), access: 'write-only' },
        err: { name: 'moat.err', kind: 'output', fd: toSlave(), access: 'write-only' },
        opened,
        master: pty.master,
        ptyName: pty.name,
      };
    }
    const stdin = inputFd(foreground, opened, fds[0]);
    return {
      input: stdin.fd,
      out: outputPort('moat.out', fds[1], opened),
      err: outputPort('moat.err', fds[2], opened),
      opened,
      ...(stdin.stop ? { stopPump: stdin.stop } : {}),
    };
  } catch (err) {
    for (const fd of opened) fs.closeSync(fd);
    if (master !== undefined) fs.closeSync(master);
    throw err;
  }
}

export function track(fd: number, opened: number[]): number {
  opened.push(fd);
  return fd;
}

/** The raw fd of a console handoff (a connected unix socket: an fd of ours, or a net.Socket). */
export function socketFd(handoff: number | import('node:net').Socket): number {
  if (typeof handoff === 'number') return handoff;
  const fd = (handoff as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new MoatError('EINTERNAL', 'console socket: no file descriptor');
  return fd;
}

/**
 * In the foreground: follow the size of the terminal's master (the relay resizes it) and hand each
 * change to `resize`. Returns a stop function that also closes the master.
 */
export function followResize(master: number, pollMs: number, resize: (rows: number, cols: number) => Promise<unknown>): () => void {
  let last = sys().getWinsize(master);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    let now: { rows: number; cols: number };
    try {
      now = sys().getWinsize(master);
    } catch {
      return;
    }
    if (now.rows === last.rows && now.cols === last.cols) return;
    last = now;
    busy = true;
    resize(now.rows, now.cols)
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, pollMs);
  timer.unref();
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    fs.closeSync(master);
  };
}

/**
 * The container's stdin, as QEMU reads it (its own fd 0, the one chardev that sees an end of
 * input): a socket as it is; a pipe, fifo, file or device reopened read-only and non-blocking (a
 * description of our own: QEMU makes it non-blocking, and must not do that to the caller's); a
 * terminal, which QEMU would put in raw mode, through a pipe fed by moat in the foreground (a
 * created container then gets an empty stdin). No stdin: /dev/null.
 */
function inputFd(foreground: boolean, opened: number[], fd: number): { fd: number; stop?: () => void } {
  let st: fs.Stats | undefined;
  try {
    st = fs.fstatSync(fd);
  } catch {
    st = undefined;
  }
  if (st?.isSocket()) return { fd };
  // Another terminal than moat's own stdin (which the pump below reads): nothing to read from it.
  if (st && fd !== 0 && tty.isatty(fd)) return { fd: track(fs.openSync('/dev/null', 'r'), opened) };
  if (st && fd === 0 && process.stdin.isTTY) {
    if (!foreground) return { fd: track(fs.openSync('/dev/null', 'r'), opened) };
    const [r, w] = pipeFds();
    track(r, opened);
    const onData = (chunk: Buffer) => {
      try {
        fs.writeSync(w, chunk);
      } catch {
        // the guest side has gone
      }
    };
    process.stdin.on('data', onData);
    const onEnd = () => stop();
    process.stdin.once('end', onEnd);
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      process.stdin.off('data', onData);
      process.stdin.off('end', onEnd);
      process.stdin.pause();
      fs.closeSync(w);
    };
    return { fd: r, stop };
  }
  // A regular file is read at the caller's offset, through its own description (as under runc):
  // a reopened one would start at 0. (O_NONBLOCK, which QEMU sets, means nothing to a file.)
  if (st?.isFile()) return { fd };
  try {
    return { fd: track(fs.openSync(st ? `/proc/self/fd/${fd}` : '/dev/null', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY), opened) };
  } catch {
    return { fd: track(fs.openSync('/dev/null', 'r'), opened) };
  }
}

/** A pipe (read end, write end), close-on-exec. */
function pipeFds(): [number, number] {
  // Node has no pipe(2): a fifo made and opened in a private directory, then removed.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-pipe-'));
  try {
    const fifo = path.join(dir, 'p');
    sys().mkfifo(fifo, 0o600);
    const r = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const w = fs.openSync(fifo, fs.constants.O_WRONLY);
    // QEMU reads the read end; clear O_NONBLOCK-dependence: it sets its own.
    return [r, w];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The container's stdout/stderr: the caller's fd, as the VMM can open it. QEMU opens fd sets with a
 * fixed access mode: a socket (O_RDWR) is passed as is, and so is a write-only regular file; anything
 * else is reopened write-only. A regular file must keep the caller's description: a reopened one has
 * an offset of its own, and whatever the caller wrote after the container (`{ moat do … ; echo
 * done; } > log`) overwrote the container's output. QEMU's chardev sets O_APPEND on it (append=on,
 * which spares the file QEMU's O_TRUNC): the caller's later writes go to the end, where they would
 * have gone.
 */
function outputPort(name: string, fd: number, opened: number[]): VmPort {
  let st: fs.Stats | undefined;
  try {
    st = fs.fstatSync(fd);
  } catch {
    st = undefined;
  }
  if (st?.isSocket()) return { name, kind: 'output', fd, access: 'read-write' };
  if (st?.isFile() && accessMode(fd) === fs.constants.O_WRONLY) return { name, kind: 'output', fd, access: 'write-only' };
  let reopened: number;
  try {
    reopened = fs.openSync(st ? `/proc/self/fd/${fd}` : '/dev/null', fs.constants.O_WRONLY | fs.constants.O_APPEND);
  } catch {
    reopened = fs.openSync('/dev/null', 'w');
  }
  return { name, kind: 'output', fd: track(reopened, opened), access: 'write-only' };
}

/** O_RDONLY, O_WRONLY or O_RDWR of one of this process's fds (fdinfo's octal flags); undefined if unreadable. */
function accessMode(fd: number): number | undefined {
  try {
    const m = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m ? parseInt(m[1]!, 8) & 3 : undefined;
  } catch {
    return undefined;
  }
}
