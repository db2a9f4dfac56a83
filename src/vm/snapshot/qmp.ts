// A minimal QMP client (QEMU's JSON monitor protocol) over the unix socket a template's QEMU
// listens on: the greeting, qmp_capabilities, then one command at a time. Used only on the QEMU
// that boots a template (trusted: it has run nothing but moat's kernel and agent), never on a
// container's. Answers are bounded; events are skipped.

import * as net from 'node:net';
import { sys } from '../../sys';
import { MoatError } from '../../util/errors';
import { socketFd } from '../stdio';

/** Longest line accepted from QEMU (its answers here are small). */
const MAX_LINE = 1 << 20;

export class Qmp {
  private buf = '';
  private lines: string[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(
    private readonly sock: net.Socket,
    private readonly path: string,
  ) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      if (this.buf.length > MAX_LINE) sock.destroy();
      this.waiter?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    sock.on('error', () => undefined);
  }

  static async connect(path: string, timeoutMs: number): Promise<Qmp> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    const q = new Qmp(sock, path);
    const greeting = await q.next(timeoutMs);
    if (!('QMP' in greeting)) throw new MoatError('EVM', `${path}: not a QMP greeting`);
    await q.command('qmp_capabilities', undefined, timeoutMs);
    return q;
  }

  /** Runs one command (with an fd passed along, for getfd) and returns its `return` value. */
  async command(execute: string, args: Record<string, unknown> | undefined, timeoutMs: number, fd?: number): Promise<unknown> {
    const text = JSON.stringify(args ? { execute, arguments: args } : { execute }) + '\n';
    if (fd !== undefined) sys().sendFd(socketFd(this.sock), fd, text);
    else this.sock.write(text);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.next(deadline - Date.now());
      if ('return' in m) return m.return;
      if ('error' in m) {
        const e = m.error as { desc?: unknown };
        throw new MoatError('EVM', `${this.path}: ${execute}: ${typeof e?.desc === 'string' ? e.desc : JSON.stringify(m.error)}`);
      }
      // an event: skip
    }
  }

  close(): void {
    this.sock.destroy();
  }

  private async next(timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    while (this.lines.length === 0) {
      if (this.closed) throw new MoatError('EVM', `${this.path}: QEMU closed its monitor`);
      const left = deadline - Date.now();
      if (left <= 0) throw new MoatError('EVM', `${this.path}: no answer from QEMU within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    const line = this.lines.shift()!;
    try {
      const v: unknown = JSON.parse(line);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // fall through
    }
    throw new MoatError('EVM', `${this.path}: not a QMP message: ${line.slice(0, 200)}`);
  }
}
