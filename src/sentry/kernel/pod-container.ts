// The containers of a pod in one sentry kernel (docs/sentry.md#pods). Every process belongs to one
// container: the sandbox's (the sentry's own, started from its config) or one the shim started
// later through the control socket (control.ts). A container has its own mount tree (a Vfs over
// its own gofer: its root filesystem and volumes) — Linux's mount namespace; the pod's processes
// share one PID namespace, the kernel's SysV/POSIX IPC and the pod's network namespace.

import type { Vfs } from '../vfs';
import type { ThreadGroup } from './task';

export class PodContainer {
  /** The container's init once started (its exit is the container's). */
  init: ThreadGroup | undefined;

  constructor(readonly id: string, readonly vfs: Vfs) {}
}

/** Every live process of container c (kill --all, the end of its init). */
export function processesOf(groups: Iterable<ThreadGroup>, c: PodContainer): ThreadGroup[] {
  const out: ThreadGroup[] = [];
  for (const tg of groups) if (tg.container === c && tg.alive) out.push(tg);
  return out;
}
