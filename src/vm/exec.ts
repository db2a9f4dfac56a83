// `moat exec` into a vm container. A relay process (moat itself, run as `moat vm-exec-relay`)
// takes a free exec channel of the VM (a virtio-serial port whose host side is a unix socket, one
// per concurrent exec), sends the exec plan, and then relays for as long as the process lives:
// its stdin to STDIN frames, STDOUT/STDERR frames to its stdout/stderr, the caller's signals as
// SIGNAL frames, a terminal's size as RESIZE frames. It exits with the process's status, so its
// host pid stands for the process (pid file, signals, exit code), also with --detach.
//
// Every frame from the guest is validated by the channel (src/vm/channel): the guest is untrusted.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import * as tty from 'node:tty';
import { readProcStat } from '../state/process';
import type { VmRecord } from '../state/store';
import { sys } from '../sys';
import { MoatError } from '../util/errors';
import { logError } from '../util/log';
import { Channel, MAX_STDIN_CHUNK, type GuestMessage } from './channel';

/** What the relay process is told (as JSON on its fd 3). */
interface RelayRequest {
  dir: string;
  /** The control channel (signals go there: never behind the process's stdin). */
  socket: string;
  slots: number;
  vmmPid: number;
  vmmStartTime: string;
  /** The exec plan, base64. */
  plan: string;
  /** With a terminal: its initial size; the console socket is the relay's fd 5. */
  terminal?: { rows: number; cols: number };
}

const REQUEST_FD = 3;
const REPORT_FD = 4;
const CONSOLE_FD = 5;
const CONNECT_TIMEOUT_MS = 30_000;
/** All exec channels busy: wait this long for one to free up. */
const BUSY_WAIT_MS = 10_000;
const RESIZE_POLL_MS = 250;
/** The process's status when its vm stopped under it (as a SIGKILL'd process: the init took it along). */
const VM_GONE_STATUS = 128 + 9;
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export interface ExecRelayOptions {
  vm: VmRecord;
  plan: Buffer;
  /** process.terminal: the size, and the connected unix socket the host pty's master goes to. */
  terminal?: { rows: number; cols: number; handoff: number };
  /** --detach: return once the process runs; the relay stays behind it. */
  detach: boolean;
}

/** Start the relay; resolves once the process runs in the guest (or throws the guest's error). */
export async function startExecRelay(o: ExecRelayOptions): Promise<{ pid: number; exited: Promise<number> }> {
  const entry = process.argv[1];
  if (!entry) throw new MoatError('EINTERNAL', 'vm exec: cannot find moat to start the relay');
  const req: RelayRequest = {
    dir: o.vm.dir,
    socket: o.vm.socket,
    slots: o.vm.execSlots ?? 0,
    vmmPid: o.vm.vmmPid,
    vmmStartTime: o.vm.vmmStartTime,
    plan: o.plan.toString('base64'),
    ...(o.terminal ? { terminal: { rows: o.terminal.rows, cols: o.terminal.cols } } : {}),
  };
  // With a terminal the relay talks to the pty, never to moat's own stdio: detached, not even its
  // stderr (a caller such as containerd's shim reads moat's output to its end, which must come).
  const stdio: import('node:child_process').StdioOptions = o.terminal
    ? ['ignore', 'ignore', o.detach ? 'ignore' : 'inherit', 'pipe', 'pipe', o.terminal.handoff]
    : ['inherit', 'inherit', 'inherit', 'pipe', 'pipe'];
  // Its own session, like the executor natively: the caller's terminal signals reach moat, which
  // forwards them to the relay, which forwards them into the guest.
  const child = spawn(process.execPath, [entry, 'vm-exec-relay'], { stdio, detached: true });
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0)));
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new MoatError('EVM', `cannot start the exec relay: ${err.message}`)));
  });
  spawnError.catch(() => undefined);
  const reqPipe = child.stdio[REQUEST_FD] as Writable;
  reqPipe.on('error', () => undefined);
  reqPipe.end(JSON.stringify(req));
  const line = await Promise.race([readLine(child.stdio[REPORT_FD] as Readable, exited), spawnError]);
  if (line.startsWith('pid ')) {
    if (o.detach) {
      child.unref();
      for (const s of [child.stdio[REQUEST_FD], child.stdio[REPORT_FD]]) (s as unknown as { unref?: () => void } | null)?.unref?.();
    }
    return { pid: child.pid!, exited };
  }
  await exited;
  if (line.startsWith('error exec: "')) throw new MoatError('EEXEC', line.slice(6));
  throw new MoatError('ESETUP', line.startsWith('error ') ? line.slice(6) : line);
}

function readLine(stream: Readable, exited: Promise<number>): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        stream.off('data', onData);
        stream.destroy();
        resolve(buf.slice(0, nl));
      }
    };
    stream.on('data', onData);
    stream.on('error', () => undefined);
    stream.once('end', () => {
      if (!buf.includes('\n')) void exited.then((code) => resolve(`error the exec relay exited (status ${code}) without reporting`));
    });
  });
}

// ---- the relay process ----

/** `moat vm-exec-relay` (started by startExecRelay only): returns the process's exit status. */
export async function execRelayMain(): Promise<number> {
  let req: RelayRequest;
  try {
    req = JSON.parse(fs.readFileSync(REQUEST_FD, 'utf8')) as RelayRequest;
    fs.closeSync(REQUEST_FD);
  } catch (err) {
    logError(`vm-exec-relay: no request on fd ${REQUEST_FD}: ${(err as Error).message}`);
    return 2;
  }
  let reported = false;
  const report = (line: string) => {
    if (reported) return;
    reported = true;
    try {
      fs.writeSync(REPORT_FD, `${line.replace(/\n/g, ' ')}\n`);
      fs.closeSync(REPORT_FD);
    } catch {
      // moat exec has gone
    }
  };
  try {
    return await relay(req, report);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (!reported) {
      report(`error ${msg}`);
      return 1;
    }
    logError(msg);
    return VM_GONE_STATUS;
  }
}

async function relay(req: RelayRequest, report: (line: string) => void): Promise<number> {
  const alive = () => readProcStat(req.vmmPid)?.startTime === req.vmmStartTime;
  // A terminal: a host pty whose master goes to the caller (console socket, or moat's foreground
  // relay); this process relays its slave (raw: the guest's pty does the line discipline).
  let pty: { master: number; slave: number; name: string } | undefined;
  if (req.terminal) {
    pty = sys().openPty(req.terminal.rows, req.terminal.cols);
    sys().sendFd(CONSOLE_FD, pty.master, pty.name);
    fs.closeSync(pty.master);
    fs.closeSync(CONSOLE_FD);
  }
  const { channel, lockFd } = await takeSlot(req, alive);
  const answer = await channel.request({ type: 'exec', plan: Buffer.from(req.plan, 'base64'), terminal: pty !== undefined }, CONNECT_TIMEOUT_MS);
  if (answer.type === 'error') throw new Error(answer.message);
  if (answer.type !== 'ready') throw new Error(`vm channel: answer to exec was ${answer.type}, expected ready`);
  report(`pid ${answer.pid}`);

  const out = pty ? pty.slave : 1;
  const err = pty ? pty.slave : 2;
  const undo: (() => void)[] = [];
  // Signals sent to this process (moat exec forwards the caller's; a shim sends its own) go in,
  // over the control channel: on the exec channel they could wait behind stdin the process does
  // not read.
  const guestPid = answer.pid;
  let signals = Promise.resolve();
  for (const sig of FORWARDED) {
    const h = () => {
      signals = signals.then(() => signalExec(req.socket, os.constants.signals[sig], guestPid, alive));
    };
    process.on(sig, h);
    undo.push(() => process.off(sig, h));
  }
  undo.push(pty ? relayPtyInput(pty.slave, channel) : relayStdin(channel));
  if (pty) undo.push(followSize(pty.slave, channel));
  try {
    for (;;) {
      let m: GuestMessage | undefined;
      try {
        m = await channel.next(60_000, true);
      } catch (e) {
        if (!alive()) return VM_GONE_STATUS; // the vm stopped: its processes are gone
        throw e;
      }
      if (!m) continue;
      if (m.type === 'stdout') writeAll(out, m.data);
      else if (m.type === 'stderr') writeAll(err, m.data);
      else if (m.type === 'exit') return m.status;
      else if (m.type === 'error') logError(`vm exec: ${m.message}`);
    }
  } finally {
    undo.forEach((u) => u());
    channel.close();
    fs.closeSync(lockFd);
    if (pty) fs.closeSync(pty.slave);
  }
}

async function signalExec(socket: string, signal: number, pid: number, alive: () => boolean): Promise<void> {
  try {
    const { channel } = await Channel.open({ socket, timeoutMs: CONNECT_TIMEOUT_MS, alive });
    try {
      await channel.request({ type: 'signalExec', signal, pid }, CONNECT_TIMEOUT_MS);
    } finally {
      channel.close();
    }
  } catch {
    // the vm or the process is gone: nothing to signal
  }
}

/** A free exec channel: its lock (held while the process runs), a connection, an idle agent side. */
async function takeSlot(req: RelayRequest, alive: () => boolean): Promise<{ channel: Channel; lockFd: number }> {
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (;;) {
    for (let slot = 0; slot < req.slots; slot++) {
      const lockFd = fs.openSync(path.join(req.dir, `exec-${slot}.lock`), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
      if (!sys().flock(lockFd, 'ex', true)) {
        fs.closeSync(lockFd);
        continue;
      }
      let channel: Channel | undefined;
      try {
        const opened = await Channel.open({ socket: path.join(req.dir, `exec-${slot}.sock`), timeoutMs: CONNECT_TIMEOUT_MS, alive, kind: 'exec' });
        channel = opened.channel;
        // A previous relay that died: its process may still be on its way out. Try another.
        if (opened.hello.phase === 'idle') return { channel, lockFd };
      } catch (err) {
        if (!alive()) throw new Error('the vm has stopped');
        throw err;
      }
      channel.close();
      fs.closeSync(lockFd);
    }
    if (!alive()) throw new Error('the vm has stopped');
    if (Date.now() > deadline) throw new Error(`all ${req.slots} exec channels of the vm are busy`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The caller's stdin, in chunks, with back-pressure; its end closes the process's stdin. */
function relayStdin(channel: Channel): () => void {
  const stdin = process.stdin;
  const onData = (chunk: Buffer) => {
    let ok = true;
    for (let off = 0; off < chunk.length; off += MAX_STDIN_CHUNK) ok = channel.send({ type: 'stdin', data: chunk.subarray(off, off + MAX_STDIN_CHUNK) }) && ok;
    if (!ok) {
      stdin.pause();
      void channel.drain().then(() => stdin.resume());
    }
  };
  const onEnd = () => channel.send({ type: 'stdinClose' });
  stdin.on('data', onData);
  stdin.once('end', onEnd);
  stdin.on('error', onEnd);
  return () => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.pause();
    stdin.destroy();
  };
}

/**
 * What is typed at the terminal (the host pty's slave) into the guest's pty. A tty stream (libuv
 * reopens the slave and polls it): a blocking read in the thread pool would hold up the exit.
 */
function relayPtyInput(slave: number, channel: Channel): () => void {
  const input = new tty.ReadStream(slave);
  input.on('data', (chunk: Buffer) => {
    let ok = true;
    for (let off = 0; off < chunk.length; off += MAX_STDIN_CHUNK) ok = channel.send({ type: 'stdin', data: chunk.subarray(off, off + MAX_STDIN_CHUNK) }) && ok;
    if (!ok) {
      input.pause();
      void channel.drain().then(() => input.resume());
    }
  });
  input.on('error', () => undefined); // EIO: the master was closed
  return () => input.destroy();
}

/** The terminal's size (the caller resizes the master) into the guest. */
function followSize(slave: number, channel: Channel): () => void {
  let last = sys().getWinsize(slave);
  const timer = setInterval(() => {
    try {
      const now = sys().getWinsize(slave);
      if (now.rows !== last.rows || now.cols !== last.cols) {
        last = now;
        channel.send({ type: 'resize', rows: now.rows, cols: now.cols });
      }
    } catch {
      // gone
    }
  }, RESIZE_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** Blocking write (the reader's pace is ours: the channel waits meanwhile). */
function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += fs.writeSync(fd, data, off);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
        continue;
      }
      return; // EPIPE, EIO: nobody reads any more; the process runs on
    }
  }
}
