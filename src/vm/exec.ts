// `moat exec` into a vm container. A relay process (moat itself, run as `moat vm-exec-relay`)
// takes a free exec channel of the VM (a virtio-serial port whose host side is a unix socket, one
// per concurrent exec), sends the exec plan, and then relays for as long as the process lives:
// its stdin to STDIN frames, STDOUT/STDERR frames to its stdout/stderr, the caller's signals as
// SIGNAL frames, a terminal's size as RESIZE frames. It exits with the process's status, so its
// host pid stands for the process (pid file, signals, exit code), also with --detach.
//
// Every frame from the guest is validated by the channel (src/vm/channel): the guest is untrusted.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tty from 'node:tty';
import { readProcStat } from '../state/process';
import type { VmRecord } from '../state/store';
import { sys } from '../sys';
import { MoatError } from '../util/errors';
import { logError } from '../util/log';
import { forwardSignals, relayMain, RELAY_GONE_STATUS, startRelay } from '../runtime/exec-relay';
import { Channel, MAX_STDIN_CHUNK, type GuestMessage } from './channel';
import { execSocketPath } from './sockets';

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

/** With a terminal: the console socket the host pty's master goes to (startRelay's first extra fd). */
const CONSOLE_FD = 5;
const CONNECT_TIMEOUT_MS = 30_000;
/** All exec channels busy: wait this long for one to free up. */
const BUSY_WAIT_MS = 10_000;
const RESIZE_POLL_MS = 250;
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export interface ExecRelayOptions {
  vm: VmRecord;
  plan: Buffer;
  /** process.terminal: the size, and the connected unix socket the host pty's master goes to. */
  terminal?: { rows: number; cols: number; handoff: number };
  /** --detach: return once the process runs; the relay stays behind it. */
  detach: boolean;
  /** Without a terminal: the process's stdin, stdout, stderr (fds of moat's; the SDK's pipes); default moat's own. */
  stdio?: readonly [number, number, number];
}

/** Start the relay; resolves once the process runs in the guest (or throws the guest's error). */
export async function startExecRelay(o: ExecRelayOptions): Promise<{ pid: number; exited: Promise<number>; sandboxPid?: number; signal(signal: number): void }> {
  const request: RelayRequest = {
    dir: o.vm.dir,
    socket: o.vm.socket,
    slots: o.vm.execSlots ?? 0,
    vmmPid: o.vm.vmmPid,
    vmmStartTime: o.vm.vmmStartTime,
    plan: o.plan.toString('base64'),
    ...(o.terminal ? { terminal: { rows: o.terminal.rows, cols: o.terminal.cols } } : {}),
  };
  const relay = await startRelay({
    command: 'vm-exec-relay',
    request,
    // With a terminal the relay talks to the pty, never to moat's own stdio: detached, not even its
    // stderr (a caller such as containerd's shim reads moat's output to its end, which must come).
    stdio: o.terminal ? ['ignore', 'ignore', o.detach ? 'ignore' : 'inherit'] : (o.stdio ?? ['inherit', 'inherit', 'inherit']),
    ...(o.terminal ? { extra: [o.terminal.handoff] } : {}),
    detach: o.detach,
    // As natively (and runc): a missing program is exit status 127 with runc's words.
    failure: (message) => (message.startsWith('exec: "') ? new MoatError('EEXEC', message) : new MoatError('ESETUP', message)),
  });
  // Any signal, SIGKILL included (the relay itself cannot pass that one on), straight to the
  // process in the guest over the control channel: the relay said its guest pid.
  const guestPid = relay.sandboxPid;
  const alive = () => readProcStat(o.vm.vmmPid)?.startTime === o.vm.vmmStartTime;
  return {
    pid: relay.pid,
    exited: relay.exited,
    ...(guestPid !== undefined ? { sandboxPid: guestPid } : {}),
    signal: (signal) => {
      if (guestPid !== undefined && guestPid > 0) void signalExec(o.vm.socket, signal, guestPid, alive);
      else process.kill(relay.pid, signal);
    },
  };
}

// ---- the relay process ----

/** `moat vm-exec-relay` (started by startExecRelay only): returns the process's exit status. */
export function execRelayMain(): Promise<number> {
  return relayMain<RelayRequest>('vm-exec-relay', relay);
}

async function relay(req: RelayRequest, started: (guestPid: number) => void): Promise<number> {
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
  started(answer.pid);

  const out = pty ? pty.slave : 1;
  const err = pty ? pty.slave : 2;
  const undo: (() => void)[] = [];
  // Signals sent to this process (moat exec forwards the caller's; a shim sends its own) go in,
  // over the control channel: on the exec channel they could wait behind stdin the process does
  // not read.
  const guestPid = answer.pid;
  let signals = Promise.resolve();
  undo.push(forwardSignals(FORWARDED, (signal) => {
    signals = signals.then(() => signalExec(req.socket, signal, guestPid, alive));
  }));
  undo.push(pty ? relayPtyInput(pty.slave, channel) : relayStdin(channel));
  if (pty) undo.push(followSize(pty.slave, channel));
  try {
    for (;;) {
      let m: GuestMessage | undefined;
      try {
        m = await channel.next(60_000, true);
      } catch (e) {
        if (!alive()) return RELAY_GONE_STATUS; // the vm stopped: its processes are gone
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

/**
 * A signal for a process of the guest (an exec's, or a pod member's init) over the VM's control
 * channel; resolves with the agent's refusal (no such process), undefined once sent. Throws when the
 * channel cannot be had (the VM is gone).
 */
export async function signalGuestPid(socket: string, signal: number, pid: number, alive: () => boolean, timeoutMs = CONNECT_TIMEOUT_MS): Promise<string | undefined> {
  const { channel } = await Channel.open({ socket, timeoutMs, alive });
  try {
    const answer = await channel.request({ type: 'signalExec', signal, pid }, timeoutMs);
    return answer.type === 'error' ? answer.message : undefined;
  } finally {
    channel.close();
  }
}

async function signalExec(socket: string, signal: number, pid: number, alive: () => boolean): Promise<void> {
  // the vm or the process gone: nothing to signal
  await signalGuestPid(socket, signal, pid, alive).catch(() => undefined);
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
        const opened = await Channel.open({ socket: execSocketPath(req.dir, slot), timeoutMs: CONNECT_TIMEOUT_MS, alive, kind: 'exec' });
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
