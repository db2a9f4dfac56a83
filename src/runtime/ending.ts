// `moat do`: a signal to moat ends the sandbox. SIGTERM, SIGINT and SIGHUP are forwarded to the
// sandbox's init; if the sandbox has not ended after the grace period, or a second such signal
// comes, the whole sandbox is killed and moat exits with 128+signal. (The init of a pid namespace
// ignores a signal it has no handler for, so forwarding alone would leave `sleep 100` running.)
// `moat run` does not use this: it forwards only, as runc does.

import { constants } from 'node:os';

export const ENDING_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/** `moat do --grace`'s default: time for a clean shutdown, short enough for a command runner. */
export const DEFAULT_GRACE_MS = 3000;

/** What an ending signal acts on, once the sandbox runs. */
export interface EndTarget {
  /** Pass the signal to the sandbox's init. */
  forward(signal: number): void;
  /** Kill every process of the sandbox (its VM) now. */
  kill(): void;
}

/**
 * Catches the ending signals from before the sandbox exists (moat must not die halfway through a
 * create and leave it behind) until moat is done cleaning up. Pure of any platform: the target
 * says how to forward and how to kill.
 */
export class SandboxEnder {
  /** The first ending signal (its number), if one came. */
  signal: number | undefined;
  /** The sandbox was killed by us (not ended on its own within the grace period). */
  killed = false;
  /** Called at the first ending signal while nothing is attached yet (the sandbox is being made). */
  beforeAttach: ((signal: number) => void) | undefined;
  private target: EndTarget | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly handlers: [NodeJS.Signals, () => void][] = [];

  constructor(
    readonly graceMs: number,
    private readonly setTimer: (fn: () => void, ms: number) => NodeJS.Timeout = setTimeout,
  ) {}

  /** Start catching the signals (moat's default action, dying, is off from now on). */
  install(): this {
    for (const name of ENDING_SIGNALS) {
      const h = () => this.receive((constants.signals as Record<string, number>)[name]!);
      process.on(name, h);
      this.handlers.push([name, h]);
    }
    return this;
  }

  /** A signal came: forward the first and start the grace period; a second one kills at once. */
  receive(signal: number): void {
    if (this.signal !== undefined) {
      this.killNow();
      return;
    }
    this.signal = signal;
    if (!this.target) {
      // Not running yet: the maker is told (it removes the sandbox unstarted).
      this.beforeAttach?.(signal);
      return;
    }
    this.target.forward(signal);
    this.startGrace();
  }

  /** The sandbox runs: ending signals act on it from now on. */
  attach(target: EndTarget): void {
    this.target = target;
    if (this.signal !== undefined) this.killNow();
  }

  /** The sandbox has ended: nothing left to kill (signals are still caught until dispose). */
  detach(): void {
    this.target = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** moat's exit status: the sandbox's own, unless we killed it (then 128+signal, as a shell says it). */
  exitCode(sandboxCode: number): number {
    return this.killed && this.signal !== undefined ? 128 + this.signal : sandboxCode;
  }

  dispose(): void {
    this.detach();
    for (const [name, h] of this.handlers.splice(0)) process.off(name, h);
  }

  private startGrace(): void {
    if (this.graceMs === 0) {
      this.killNow();
      return;
    }
    this.timer = this.setTimer(() => this.killNow(), this.graceMs);
  }

  private killNow(): void {
    if (!this.target || this.killed) return;
    this.killed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.target.kill();
  }
}
