// The host end of a channel: connect to the VMM's unix socket for the agent's port, say hello,
// then send requests and read answers. Each moat command opens its own short connection to the
// control channel; an exec holds one exec channel for its process's lifetime (streaming).

import * as net from 'node:net';
import { MoatError } from '../../util/errors';
import { checkAllowed, encodeHostMessage, GuestFrameReader, PROTOCOL_VERSION, ProtocolError, type GuestMessage, type HostMessage } from './protocol';

export interface ChannelOptions {
  socket: string;
  /** Give up after this long (ms) waiting for the socket or an answer. */
  timeoutMs: number;
  /** Still worth waiting? (false once the VMM has exited). */
  alive?: () => boolean;
  /** Which messages are legal: the control channel (default) or an exec channel (output streams). */
  kind?: 'ctl' | 'exec';
}

/** Messages read ahead of their consumer before the socket is paused (back-pressure). */
const QUEUE_HIGH = 64;

export class Channel {
  private reader = new GuestFrameReader();
  private queue: GuestMessage[] = [];
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;

  private constructor(
    private readonly sock: net.Socket,
    private readonly opts: ChannelOptions,
  ) {
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const m of this.reader.push(chunk)) {
          checkAllowed(m, opts.kind ?? 'ctl');
          this.queue.push(m);
        }
        if (this.queue.length > QUEUE_HIGH) sock.pause();
      } catch (err) {
        this.failure = err instanceof ProtocolError ? new MoatError('EVM', `vm channel ${opts.socket}: ${err.message}`) : (err as Error);
        sock.destroy();
      }
      this.waiter?.();
    });
    sock.on('close', () => {
      this.failure ??= new MoatError('EVM', `vm channel ${opts.socket}: the guest closed the channel (the vm has stopped)`);
      this.waiter?.();
    });
    sock.on('error', () => undefined);
  }

  /** Connect, retrying while the socket does not exist yet, and exchange hellos. */
  static async open(opts: ChannelOptions): Promise<{ channel: Channel; hello: Extract<GuestMessage, { type: 'hello' }> }> {
    const deadline = Date.now() + opts.timeoutMs;
    let sock: net.Socket | undefined;
    let lastErr = '';
    while (!sock) {
      try {
        sock = await connect(opts.socket);
      } catch (err) {
        lastErr = (err as Error).message;
        if (Date.now() > deadline || (opts.alive && !opts.alive())) {
          throw new MoatError('EVM', `vm channel ${opts.socket}: cannot connect: ${lastErr}`);
        }
        await sleep(10);
      }
    }
    const channel = new Channel(sock, opts);
    // The agent may be busy booting, or a previous client's bytes may be in flight: say hello
    // until the agent answers one (it answers each).
    let hello: GuestMessage | undefined;
    while (!hello) {
      channel.send({ type: 'hello' });
      hello = await channel.next(Math.min(1000, Math.max(1, deadline - Date.now())), true);
      if (!hello && Date.now() > deadline) {
        channel.close();
        throw new MoatError('EVM', `vm channel ${opts.socket}: the guest agent did not answer within ${opts.timeoutMs} ms`);
      }
      if (hello && hello.type !== 'hello') hello = undefined; // a stale answer to someone else
    }
    if (hello.type !== 'hello') throw new Error('unreachable');
    if (hello.version !== PROTOCOL_VERSION) {
      channel.close();
      throw new MoatError('EVM', `vm channel: guest agent speaks protocol ${hello.version}, this moat ${PROTOCOL_VERSION}`);
    }
    // Drop any extra hello answers that arrive later: the next request waits for its own answer.
    return { channel, hello };
  }

  /** Queue a message; false when the socket's buffer is full (wait for drain()). */
  send(m: HostMessage): boolean {
    return this.sock.write(encodeHostMessage(m));
  }

  drain(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.sock.writableNeedDrain || this.sock.destroyed) return resolve();
      const done = () => {
        this.sock.off('drain', done);
        this.sock.off('close', done);
        resolve();
      };
      this.sock.on('drain', done);
      this.sock.on('close', done);
    });
  }

  /** The next message, or undefined after timeoutMs when `soft`; otherwise a timeout throws. */
  async next(timeoutMs: number, soft = false): Promise<GuestMessage | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.queue.shift();
      if (this.queue.length < QUEUE_HIGH / 2 && this.sock.isPaused()) this.sock.resume();
      if (m) return m;
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) {
        if (soft) return undefined;
        throw new MoatError('EVM', `vm channel ${this.opts.socket}: no answer from the guest agent within ${timeoutMs} ms`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
      if (this.opts.alive && !this.opts.alive() && this.queue.length === 0) {
        throw new MoatError('EVM', `vm channel ${this.opts.socket}: the vm exited`);
      }
    }
  }

  /** Send a request and wait for its answer, skipping stale hellos. */
  async request(m: HostMessage, timeoutMs: number): Promise<GuestMessage> {
    this.send(m);
    for (;;) {
      const answer = await this.next(timeoutMs);
      if (answer && answer.type !== 'hello') return answer;
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path });
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => reject(err));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
