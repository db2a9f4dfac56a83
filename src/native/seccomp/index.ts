// linux.seccomp → a classic BPF program for the executor's `seccomp` op.
// (The compiler lands with the seccomp work; until then a spec asking for seccomp is refused.)

import type { Linux } from '../../spec/types';
import { ConfigError } from '../../util/errors';
import type { ChildOp } from '../plan/ops';

export function planSeccomp(linux: Linux | undefined): ChildOp[] {
  if (!linux?.seccomp) return [];
  throw new ConfigError('linux.seccomp', 'seccomp is not supported by this build yet');
}
