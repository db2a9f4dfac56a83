// What the shim knows about its processes: each container's init and its exec'd processes, their
// status, exit status and time, and their stdio. The container itself lives in moat's state store
// (under the namespace's root), exactly as the moat CLI keeps it.

import type { Process } from '../spec/types';
import type { CgroupRecord } from '../state/store';
import type { PodMember } from '../vm/pod';
import type { ProcessIo, IoPaths } from './stdio';
import type { SentryMember } from './sentry-pod';

export type ProcStatus = 'created' | 'running' | 'stopped';

export class ShimProcess {
  pid = 0;
  status: ProcStatus = 'created';
  exitStatus = 0;
  exitedAt: Date | undefined;
  io: ProcessIo | undefined;
  private resolveExit!: () => void;
  /** Resolves once the exit is recorded (status, time) and its output drained. */
  readonly exited = new Promise<void>((r) => (this.resolveExit = r));

  constructor(readonly execId: string, readonly paths: IoPaths, readonly spec?: Process) {}

  recordExit(code: number): void {
    this.status = 'stopped';
    this.exitStatus = code;
    this.exitedAt = new Date();
  }

  markDone(): void {
    this.resolveExit();
  }
}

export interface ShimTask {
  id: string;
  bundle: string;
  init: ShimProcess;
  execs: Map<string, ShimProcess>;
  /** Whether the shim mounted <bundle>/rootfs (and so unmounts it at delete). */
  mountedRootfs: boolean;
  /** The container's cgroups as created (the OOM counter is read there at the init's exit). */
  cgroups?: CgroupRecord;
  /** A container of a vm pod, run in its sandbox's VM (src/vm/pod.ts): no moat state of its own. */
  pod?: PodMember;
  /** A container of a sentry pod, run in its sandbox's sentry (src/shim/sentry-pod.ts): no moat state of its own. */
  sentryMember?: SentryMember;
}
