// The containers of a pod in one sentry kernel (docs/sentry.md#pods). Every process belongs to one
// container: the sandbox's (the sentry's own, started from its config) or one the shim started
// later through the control socket (control.ts). A container has its own mount tree (a Vfs over
// its own gofer: its root filesystem and volumes) — Linux's mount namespace — and a PID namespace
// of its own or the sandbox's (kernel/pidns.ts); the pod's processes share the kernel's SysV/POSIX
// IPC and the pod's network namespace.

import type { Vfs } from '../vfs';
import type { PidNamespace } from './pidns';
import type { ThreadGroup } from './task';

let nextMntIno = 4026532100;

export class PodContainer {
  /** The container's init once started (its exit is the container's). */
  init: ThreadGroup | undefined;
  /** /proc/<pid>/ns/mnt's inode: the sandbox's is Linux's initial one's (0: that), then one each. */
  readonly mntIno: number;
  /**
   * Pause (the shim's, as a cgroup freezer): none of its tasks is resumed on the host until thawed
   * (Kernel.freeze/thaw); SIGKILL still ends them.
   */
  frozen = false;
  /** CPU time (ns) of its processes that have exited (their live ones' is read from them). */
  exitedCpuNs = 0n;

  constructor(readonly id: string, readonly vfs: Vfs, readonly pidns: PidNamespace) {
    this.mntIno = id === '' ? 0 : nextMntIno++;
  }
}

/** Every live process of container c (kill --all, the end of its init). */
export function processesOf(groups: Iterable<ThreadGroup>, c: PodContainer): ThreadGroup[] {
  const out: ThreadGroup[] = [];
  for (const tg of groups) if (tg.container === c && tg.alive) out.push(tg);
  return out;
}
