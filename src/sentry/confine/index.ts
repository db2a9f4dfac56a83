// The sentry confines itself once start-up is over and before the application's first
// instruction (main.ts): everything it will need from the host is open by then (the gofer
// channel, stdio, the control socket, its log files, the /proc/net files of its namespace), the
// template stub is spawned (platform/ptrace: later stubs are forks of it, never an exec), and then
//   1. a mount namespace of its own over an empty, read-only root (pivot_root into a tmpfs): a
//      path the sentry (or a sentry taken over) opens resolves to nothing on the host;
//   2. no_new_privs and the seccomp allow-list of profile.ts on every thread: no open, no exec, no
//      fork, sockets of the networking families only; anything else kills the sentry.
// MOAT_SENTRY_SECCOMP=log in moat's environment loads the same filter with SCMP_ACT_LOG as its
// default (the kernel logs what the list lacks, nothing is refused): how the list was measured.

import { compileProfile, readProfile } from '../../policy/seccomp';
import { ptraceSys } from '../platform/ptrace/native';
import { sentrySeccompSpec } from './profile';

export interface ConfineOptions {
  /** An existing directory to mount the empty root on (hidden in the new namespace only). */
  rootDir: string;
  /** Load the filter with a logging default instead of killing. */
  measure?: boolean;
}

const ERRNO_TEXT: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 13: 'EACCES', 22: 'EINVAL', 38: 'ENOSYS' };

function errText(r: number): string {
  return ERRNO_TEXT[-r] ?? `errno ${-r}`;
}

/** The compiled filter as the addon takes it: (code, jt, jf, k) quadruples. */
export function sentryFilterProgram(measure = false): { program: Int32Array; flags: number } {
  const profile = readProfile(sentrySeccompSpec(measure));
  const insns = compileProfile(profile);
  return { program: Int32Array.from(insns.flatMap((i) => [i.code, i.jt, i.jf, i.k | 0])), flags: profile.flags };
}

/** Confine the calling sentry. Returns an error text, or undefined when done. */
export function confineSentry(opts: ConfineOptions): string | undefined {
  const n = ptraceSys();
  const r = n.confineRoot(opts.rootDir);
  if (r < 0) return `cannot move into an empty root (mount namespace over ${opts.rootDir}): ${errText(r)}`;
  const { program, flags } = sentryFilterProgram(opts.measure === true);
  const f = n.confineFilter(program, flags);
  if (f < 0) return `cannot load the sentry's seccomp filter: ${errText(f)}`;
  return undefined;
}
