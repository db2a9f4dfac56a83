// One caller of `moat service`: its front-end's connection, the command it asked for, and the
// Caller (src/util/caller.ts) the command runs with. Whatever the front-end does — dies mid-command,
// sends garbage, never sends anything — this ends with the socket closed and nothing of it kept.

import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import { constants } from 'node:os';
import { sys } from '../sys';
import { MoatError } from '../util/errors';
import type { Caller } from '../util/caller';
import type { LogConfig } from '../util/log';
import { requestProfile } from '../util/profile';
import type { SpawnedExecutor, Spawner, SpawnRequest } from '../native/spawner';
import { EXIT, FrameReader, NOT_MINE, OUTPUT, PID, REQUEST, SIGNAL, SPAWN, WAITED, frame, intFrame, parseRequest, spawnPayload, type Request } from './wire';

/** How long a front-end may take to send its request once connected. */
const REQUEST_TIMEOUT_MS = 5000;

export class Connection {
  private readonly reader = new FrameReader();
  private gone = false;
  private pendingPid: { resolve(pid: number): void } | undefined;
  private waited: { resolve(code: number): void; promise: Promise<number> } | undefined;
  readonly signals = new EventEmitter();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly sock: net.Socket,
    private readonly onRequest: (c: Connection, req: Request) => void,
    private readonly log: (msg: string) => void,
  ) {
    this.timer = setTimeout(() => this.fail('no request within 5 s'), REQUEST_TIMEOUT_MS);
    let requested = false;
    sock.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = this.reader.push(chunk);
      } catch (err) {
        return this.fail((err as Error).message);
      }
      for (const f of frames) {
        if (this.gone) return;
        if (!requested) {
          if (f.type !== REQUEST) return this.fail(`the first frame is of type ${f.type}, not a request`);
          requested = true;
          clearTimeout(this.timer);
          let req: Request;
          try {
            req = parseRequest(f.payload);
          } catch (err) {
            return this.fail((err as Error).message);
          }
          this.onRequest(this, req);
          continue;
        }
        if (f.payload.length !== 4 || (f.type !== PID && f.type !== WAITED && f.type !== SIGNAL)) return this.fail(`an unexpected frame of type ${f.type}`);
        const v = f.payload.readInt32LE(0);
        if (f.type === PID) {
          const p = this.pendingPid;
          this.pendingPid = undefined;
          if (!p) return this.fail('a pid nobody asked for');
          p.resolve(v);
        } else if (f.type === WAITED) {
          if (!this.waited) return this.fail('an exit status of nothing it was asked to start');
          this.waited.resolve(v);
        } else if (v > 0 && v < 65) this.signals.emit('signal', v);
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => this.closed());
  }

  /** A malformed request: one line on the caller's stderr, status 2, the connection closed. */
  private fail(why: string): void {
    if (this.gone) return;
    this.log(`a front-end's request refused: ${why}`);
    this.sock.end(Buffer.concat([frame(OUTPUT, Buffer.concat([Buffer.from([2]), Buffer.from(`moat: service: bad request: ${why}\n`)])), intFrame(EXIT, 2)]));
    this.closed();
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }

  private closed(): void {
    if (this.gone) return;
    this.gone = true;
    clearTimeout(this.timer);
    // What a command still waits for ends now: no executor was started by a dead front-end, and
    // a `run`'s executor lost its parent (the command goes on to delete the container).
    this.pendingPid?.resolve(-constants.errno.EPIPE);
    this.pendingPid = undefined;
    this.waited?.resolve(128 + 9);
    this.signals.removeAllListeners();
  }

  get closedByPeer(): boolean {
    return this.gone;
  }

  notMine(): void {
    if (!this.gone) this.sock.end(frame(NOT_MINE));
  }

  exit(code: number): void {
    if (!this.gone) this.sock.end(intFrame(EXIT, code));
    this.gone = true;
  }

  write(fd: 1 | 2, data: string | Uint8Array): void {
    if (this.gone) return;
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < bytes.length || off === 0; off += 65536) {
      this.sock.write(frame(OUTPUT, Buffer.concat([Buffer.from([fd]), bytes.subarray(off, off + 65536)])));
      if (bytes.length === 0) break;
    }
  }

  caller(req: Request): Caller {
    const log: LogConfig = { format: 'text', debug: false };
    return {
      cwd: req.cwd, env: req.env, write: (fd, d) => this.write(fd, d), log, signals: this.signals, spawner: this.spawner,
      ...(req.env.MOAT_PROFILE === '1' ? { profile: requestProfile() } : {}),
    };
  }

  /** Fork+exec in the front-end, fds attached; resolves to its pid or -errno. */
  private async spawnRemote(payload: Buffer, fds: number[]): Promise<number> {
    if (this.gone) return -constants.errno.EPIPE;
    if (this.pendingPid) throw new MoatError('EINTERNAL', 'service: one spawn at a time per command');
    // Every OUTPUT frame written so far first (the fds ride on the SPAWN frame's bytes).
    while (this.sock.writableLength > 0 && !this.gone) await new Promise((r) => setTimeout(r, 1));
    const fd = (this.sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd === undefined || fd < 0) return -constants.errno.EPIPE;
    const bytes = frame(SPAWN, payload);
    let sent = 0;
    for (let tries = 0; sent === 0; tries++) {
      try {
        sent = sys().sendMsg(fd, bytes, fds);
      } catch (err) {
        if ((err as { code?: string }).code !== 'EAGAIN' || tries > 5000 || this.gone) return -constants.errno.EPIPE;
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    // The rest of a frame the socket took only in part: no fds with it.
    if (sent < bytes.length) this.sock.write(bytes.subarray(sent));
    let resolve!: (pid: number) => void;
    const pid = new Promise<number>((r) => (resolve = r));
    this.pendingPid = { resolve };
    let done!: (code: number) => void;
    this.waited = { resolve: (c) => done(c), promise: new Promise<number>((r) => (done = r)) };
    return pid;
  }

  readonly spawner: Spawner = {
    spawn: async (req: SpawnRequest): Promise<SpawnedExecutor> => {
      if (req.stdio || req.stdinPipe) throw new MoatError('EINTERNAL', 'service: an executor with its own stdio is not served');
      const net = require('node:net') as typeof import('node:net'); // eslint-disable-line @typescript-eslint/no-require-imports
      const [planMine, planTheirs] = sys().socketpair();
      const [reportMine, reportTheirs] = sys().socketpair();
      const fds = [planTheirs, reportTheirs];
      if (req.console !== undefined) fds.push(typeof req.console === 'number' ? req.console : (req.console as unknown as { _handle: { fd: number } })._handle.fd);
      let pid: number;
      try {
        pid = await this.spawnRemote(spawnPayload(req.preserveFds, req.mode === 'run', [req.file, ...req.args]), fds);
      } finally {
        fs.closeSync(planTheirs);
        fs.closeSync(reportTheirs);
      }
      if (pid <= 0) {
        fs.closeSync(planMine);
        fs.closeSync(reportMine);
        const code = Object.entries(constants.errno).find(([, n]) => n === -pid)?.[0] ?? `errno ${-pid}`;
        throw new MoatError('ENATIVE', `cannot run ${req.file}: spawn ${req.file} ${code}`);
      }
      const plan = new net.Socket({ fd: planMine, readable: false, writable: true });
      plan.on('finish', () => plan.destroy());
      const report = new net.Socket({ fd: reportMine, readable: true, writable: false });
      return { pid, plan, report, exited: this.waited!.promise, failed: new Promise<never>(() => undefined) };
    },
  };
}
