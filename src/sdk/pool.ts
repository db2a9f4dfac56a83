// N warm sandboxes of one kind, for latency: acquire() hands out one already made (or waits for
// the next), release() closes it and a fresh one is made in its place. A sandbox is never handed
// out twice: what one caller's code left in it (files, processes) never reaches the next.

import { StateError, toSandboxError, UsageError } from './errors';
import type { SandboxOptions } from './options';
import { Sandbox } from './sandbox';

export interface PoolOptions extends SandboxOptions {
  /** How many sandboxes are kept warm (made and idle). */
  size: number;
}

interface Waiter {
  resolve(sb: Sandbox): void;
  reject(err: Error): void;
}

export class SandboxPool {
  private readonly warm: Sandbox[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly out = new Set<Sandbox>();
  private making = 0;
  private closed = false;
  private failure: Error | undefined;
  private readonly opts: SandboxOptions;
  readonly size: number;

  constructor(opts: PoolOptions) {
    const { size, ...rest } = opts;
    if (!Number.isSafeInteger(size) || size < 1 || size > 256) throw new UsageError(`size: an integer from 1 to 256, got ${JSON.stringify(size)}`);
    this.size = size;
    this.opts = rest;
    this.fill();
  }

  /** Sandboxes ready to hand out now. */
  get available(): number {
    return this.warm.length;
  }

  /** Resolves once `size` sandboxes are warm (or rejects with a failure to make one meanwhile). */
  async ready(): Promise<void> {
    this.failure = undefined;
    this.fill();
    while (this.warm.length < this.size) {
      if (this.closed) throw new StateError('the pool is closed');
      if (this.failure) throw this.failure;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** A warm sandbox, yours until release(). */
  acquire(): Promise<Sandbox> {
    if (this.closed) return Promise.reject(new StateError('the pool is closed'));
    const sb = this.warm.shift();
    if (sb) {
      this.out.add(sb);
      this.fill();
      return Promise.resolve(sb);
    }
    const p = new Promise<Sandbox>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.fill();
    return p;
  }

  /** Give a sandbox back: it is closed (never reused) and a fresh one made. */
  async release(sb: Sandbox): Promise<void> {
    this.out.delete(sb);
    this.fill();
    await sb.close();
  }

  /** acquire, run `fn`, release (also when `fn` throws). */
  async use<T>(fn: (sb: Sandbox) => Promise<T>): Promise<T> {
    const sb = await this.acquire();
    try {
      return await fn(sb);
    } finally {
      await this.release(sb);
    }
  }

  /** Close every sandbox (warm and handed out); waiting acquires reject. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new StateError('the pool is closed'));
    const all = [...this.warm.splice(0), ...this.out];
    this.out.clear();
    await Promise.allSettled(all.map((sb) => sb.close()));
    // Sandboxes still being made are closed as they arrive (give()).
    while (this.making > 0) await new Promise((r) => setTimeout(r, 20));
  }

  /** `await using pool = new SandboxPool(...)` closes it at the end of the block (Node ≥ 20.4). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private fill(): void {
    while (!this.closed && this.warm.length + this.making < this.size + this.waiters.length) {
      this.making++;
      Sandbox.create(this.opts).then(
        (sb) => this.give(sb),
        (err) => {
          this.making--;
          // The oldest waiter learns why; a pool with no waiter tries again at the next acquire.
          this.failure = toSandboxError(err);
          this.waiters.shift()?.reject(this.failure);
        },
      );
    }
  }

  private give(sb: Sandbox): void {
    this.making--;
    if (this.closed) {
      void sb.close();
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      this.out.add(sb);
      w.resolve(sb);
    } else this.warm.push(sb);
  }
}
