// A ttrpc client: one unix-socket connection, odd stream ids, a response matched to its request by
// stream id. The shim's `start` uses it to ask whether a pod's server is alive; tests call the
// shim with it directly.

import * as net from 'node:net';
import { decode, encode } from '../proto';
import { RpcError } from './status';
import { encodeFrame, FrameReader, TYPE_REQUEST, TYPE_RESPONSE } from './frame';

export class TtrpcClient {
  private nextStream = 1;
  private readonly pending = new Map<number, { resolve(b: Buffer): void; reject(e: Error): void }>();

  private constructor(private readonly socket: net.Socket) {
    const reader = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.failAll(err as Error);
        socket.destroy();
        return;
      }
      for (const f of frames) if (f.type === TYPE_RESPONSE) this.settle(f.streamId, f.payload);
    });
    socket.on('error', (err) => this.failAll(err));
    socket.on('close', () => this.failAll(new Error('ttrpc: connection closed')));
  }

  static connect(socketPath: string, timeoutMs = 5000): Promise<TtrpcClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`ttrpc: connecting to ${socketPath} timed out`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(new TtrpcClient(s));
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  call(service: string, method: string, payload: Buffer): Promise<Buffer> {
    const streamId = this.nextStream;
    this.nextStream += 2;
    const req = encode('ttrpc.Request', { service, method, payload });
    return new Promise((resolve, reject) => {
      this.pending.set(streamId, { resolve, reject });
      this.socket.write(encodeFrame({ streamId, type: TYPE_REQUEST, flags: 0, payload: req }));
    });
  }

  close(): void {
    this.socket.destroy();
  }

  /** Whether the connection is still there (a peer that went away closes it). */
  get open(): boolean {
    return !this.socket.destroyed;
  }

  private settle(streamId: number, payload: Buffer): void {
    const p = this.pending.get(streamId);
    if (!p) return;
    this.pending.delete(streamId);
    try {
      const res = decode('ttrpc.Response', payload);
      const code = Number(res.status?.code ?? 0);
      if (code !== 0) p.reject(new RpcError(code, String(res.status?.message ?? '')));
      else p.resolve(res.payload as Buffer);
    } catch (err) {
      p.reject(err as Error);
    }
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
