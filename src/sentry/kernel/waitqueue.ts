// Wait queues: how a parked task learns that what it waits for may have happened. A task blocked
// in a syscall is on one or more queues; notify() makes it runnable and the kernel re-runs the
// syscall from the start (handlers are written to have no effect before they block).

export interface Waiter {
  wake(): void;
}

export class WaitQueue {
  private readonly waiters = new Set<Waiter>();

  add(w: Waiter): void {
    this.waiters.add(w);
  }

  remove(w: Waiter): void {
    this.waiters.delete(w);
  }

  /** The parked waiters (for a walk over who watches this queue, e.g. epoll's nesting). */
  waiting(): IterableIterator<Waiter> {
    return this.waiters.values();
  }

  get empty(): boolean {
    return this.waiters.size === 0;
  }

  notify(): void {
    if (this.waiters.size === 0) return;
    for (const w of [...this.waiters]) w.wake();
  }
}
