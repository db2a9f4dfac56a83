// linux.seccomp → executor ops: the OCI profile is validated (profile.ts), compiled to classic BPF
// (compile.ts) and handed to the executor as numbers; the executor only loads it.
//
// Decisions (docs/threat-model.md has the why):
// * Unknown syscall names are skipped, as runc/libseccomp skip names they cannot resolve for an arch
//   (another architecture's syscall, or one newer than the kernel headers the tables were generated
//   from), except where skipping fails open: a denying rule under an ALLOW/LOG default is an error.
// * Architectures: x86_64 is always in the filter (libseccomp's native arch); SCMP_ARCH_X86 and
//   SCMP_ARCH_X32 when listed. Any other arch, and x32 calls (nr & 0x40000000) when x32 is not
//   listed, get libseccomp's bad-arch action: KILL_THREAD.
// * SCMP_ACT_NOTIFY: `seccomp-connect` (before the pivot, with the caller's credentials) connects to
//   listenerPath; `seccomp-notify` loads the filter with NEW_LISTENER and sends the fd (SCM_RIGHTS)
//   with the container process state JSON, then closes the connection.

import type { Linux } from '../../spec/types';
import { ConfigError } from '../../util/errors';
import type { ChildOp } from '../plan/ops';
import { compileProfile } from './compile';
import { FILTER_FLAGS, FLAG_NEW_LISTENER, FLAG_TSYNC_ESRCH } from './constants';
import { processStateParts, type ContainerIdentity } from './notify';
import { readProfile, type SeccompProfile } from './profile';

export type { ContainerIdentity } from './notify';
export { ACTIONS, FILTER_FLAGS, OPERATORS, SUPPORTED_ARCHES } from './constants';
export { compileProfile } from './compile';
export { readProfile } from './profile';
export { dockerDefaultProfile } from './default-profile';

function program(profile: SeccompProfile): number[] {
  return compileProfile(profile).flatMap((i) => [i.code, i.jt, i.jf, i.k]);
}

function listenerFlags(flags: number): number {
  // The kernel refuses TSYNC with a listener unless TSYNC_ESRCH says how to report a failure.
  return flags | FLAG_NEW_LISTENER | (flags & FILTER_FLAGS.SECCOMP_FILTER_FLAG_TSYNC ? FLAG_TSYNC_ESRCH : 0);
}

/** The filter op, just before `ready`. `container` is needed only for SCMP_ACT_NOTIFY. */
export function planSeccomp(linux: Linux | undefined, container?: ContainerIdentity): ChildOp[] {
  if (!linux?.seccomp) return [];
  const profile = readProfile(linux.seccomp);
  if (profile.listenerPath === undefined) {
    // WAIT_KILLABLE_RECV only means something with a listener (the kernel refuses it alone).
    return [{ op: 'seccomp', flags: profile.flags & ~FILTER_FLAGS.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, program: program(profile) }];
  }
  if (!container) {
    throw new ConfigError('linux.seccomp.listenerPath', 'SCMP_ACT_NOTIFY is not supported for processes started by `moat exec` yet');
  }
  return [{
    op: 'seccomp-notify',
    flags: listenerFlags(profile.flags),
    program: program(profile),
    state: processStateParts(container, profile.listenerMetadata),
  }];
}

/** With SCMP_ACT_NOTIFY: connect to listenerPath early, while the host's filesystem is visible. */
export function planSeccompConnect(linux: Linux | undefined): ChildOp[] {
  if (!linux?.seccomp) return [];
  const path = readProfile(linux.seccomp).listenerPath;
  return path === undefined ? [] : [{ op: 'seccomp-connect', path }];
}
