// PID namespaces (Linux's struct pid_namespace), as a pod's containers have them: the sandbox's
// (the sentry's first) and one per later container that asks for its own (CRI's PID namespace
// CONTAINER, Kubernetes' default), or the sandbox's shared (shareProcessNamespace: CRI's POD).
// The namespaces are siblings: no task ever sees into another, so a task's pids, tids, process
// group and session ids are numbers of its own namespace, kept in that namespace's tables.

import type { Task, ThreadGroup } from './task';

/** The inode /proc/<pid>/ns/pid shows for the first namespace (Linux's initial one's), then one more each. */
const FIRST_INO = 4026531836;
let nextIno = 4026532300;

export class PidNamespace {
  readonly tasks = new Map<number, Task>();
  readonly groups = new Map<number, ThreadGroup>();
  /** Its pid 1 (the child reaper: orphans go to it), once started. */
  init: ThreadGroup | undefined;
  readonly ino: number;
  private nextPid = 1;

  constructor(first = false) {
    this.ino = first ? FIRST_INO : nextIno++;
  }

  allocPid(): number {
    while (this.tasks.has(this.nextPid) || this.groups.has(this.nextPid)) this.nextPid = this.nextPid >= 4194304 ? 2 : this.nextPid + 1;
    return this.nextPid++;
  }
}
