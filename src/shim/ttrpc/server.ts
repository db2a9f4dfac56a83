// A ttrpc server on a unix socket: each connection's frames are decoded into ttrpc.Request, the
// handler registered for "service/method" answers with payload bytes, and a ttrpc.Response goes
// back on the request's stream. Requests on one connection are served concurrently (containerd
// keeps a Wait outstanding while it sends Kill), as ttrpc's server does.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { decode, encode } from '../proto';
import { Code, codeOf } from './status';
import { encodeFrame, FrameReader, TYPE_REQUEST, TYPE_RESPONSE } from './frame';

export type Handler = (payload: Buffer) => Promise<Buffer>;

export class TtrpcServer {
  private readonly handlers = new Map<string, Handler>();
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;

  /** onError: told of every call that failed (the shim's log). */
  constructor(private readonly onError: (method: string, err: unknown) => void = () => undefined) {}

  register(service: string, method: string, handler: Handler): void {
    this.handlers.set(`${service}/${method}`, handler);
  }

  /** Listen on a fresh socket file (mode 0600: only root's containerd talks to the shim). */
  listen(socketPath: string): Promise<void> {
    const server = net.createServer((s) => this.serve(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        fs.chmodSync(socketPath, 0o600);
        resolve();
      });
    });
  }

  close(): void {
    this.server?.close();
    for (const s of this.sockets) s.destroy();
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    const reader = new FrameReader();
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch {
        socket.destroy(); // a frame over the limit: the stream cannot be resynchronised
        return;
      }
      for (const f of frames) {
        if (f.type !== TYPE_REQUEST) continue; // streams (data frames) are not used by the task API
        void this.answer(f.streamId, f.payload).then((bytes) => {
          if (!socket.destroyed) socket.write(encodeFrame({ streamId: f.streamId, type: TYPE_RESPONSE, flags: 0, payload: bytes }));
        });
      }
    });
  }

  private async answer(_stream: number, payload: Buffer): Promise<Buffer> {
    let req;
    try {
      req = decode('ttrpc.Request', payload);
    } catch (err) {
      return encode('ttrpc.Response', { status: { code: Code.InvalidArgument, message: `ttrpc: undecodable request: ${(err as Error).message}` } });
    }
    const handler = this.handlers.get(`${req.service}/${req.method}`);
    if (!handler) {
      return encode('ttrpc.Response', { status: { code: Code.Unimplemented, message: `${req.service}/${req.method} is not implemented` } });
    }
    try {
      return encode('ttrpc.Response', { status: { code: Code.OK }, payload: await handler(req.payload as Buffer) });
    } catch (err) {
      this.onError(`${req.service}/${req.method}`, err);
      return encode('ttrpc.Response', { status: { code: codeOf(err), message: (err as Error).message ?? String(err) } });
    }
  }
}
