// The sentry confines itself once start-up is over and before the application's first
// instruction (main.ts): everything it will need from the host is open by then (the gofer
// channel, stdio, the control socket, its log files, the /proc/net files of its namespace), the
// template stub is spawned (platform/ptrace: later stubs are forks of it, never an exec), and then
//   1. a mount namespace of its own over an empty, read-only root (pivot_root into a tmpfs): a
//      path the sentry (or a sentry taken over) opens resolves to nothing on the host;
//   2. started as root: the sandbox's own unprivileged host uid/gid (src/state/sandbox-uid.ts),
//      its stubs already that uid (platform/ptrace: the template stub switched at its start): kill,
//      tgkill and ptrace then reach the sentry's own stubs and nothing of host root's or of
//      another sandbox's (seccomp cannot look at a kill's target);
//   3. every capability dropped but CAP_NET_BIND_SERVICE (kept across the uid switch);
//   4. no_new_privs and the seccomp allow-list of profile.ts on every thread: no open, no exec, no
//      fork, sockets of the networking families only; anything else kills the sentry.
// MOAT_SENTRY_SECCOMP=measure in moat's environment (with MOAT_SENTRY_SECCOMP_LOG=<file>) loads the
// same filter with SCMP_ACT_TRAP as its default and a SIGSYS handler that appends each trapped
// syscall's number to the file and then makes the call itself (native/bindings/confine.c): the
// sentry runs as if unfiltered and the file lists what the allow-list lacks. How it was measured.

import * as fs from 'node:fs';
import { compileProfile, readProfile } from '../../policy/seccomp';
import { sentrySys } from '../native';
import { sentrySeccompSpec } from './profile';

export interface ConfineOptions {
  /** An existing directory to mount the empty root on (hidden in the new namespace only). */
  rootDir: string;
  /** Measure instead of enforcing: the file that collects the syscall numbers the list lacks. */
  measureLog?: string;
  /** The sandbox's host uid (= gid) to become; none: the uid stays (rootless, or not given one). */
  hostUid?: number;
  /** `moat do`: the runner's pid; the uid switch clears the parent-death signal, so it is set again. */
  dieWithParent?: number;
}

/**
 * The one capability the sentry keeps: CAP_NET_BIND_SERVICE, for a port below 1024 that the
 * sandbox's root binds (a host socket of the sentry's). The rest — CAP_SYS_ADMIN, CAP_NET_ADMIN,
 * CAP_DAC_OVERRIDE, CAP_SYS_PTRACE… — is dropped from every set: a sentry taken over is root
 * without root's powers (its tracees were attached before; files come from the gofer).
 */
const CAP_NET_BIND_SERVICE = 10;
export const KEPT_CAPS = 2 ** CAP_NET_BIND_SERVICE;

const ERRNO_TEXT: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 13: 'EACCES', 22: 'EINVAL', 38: 'ENOSYS' };

function errText(r: number): string {
  return ERRNO_TEXT[-r] ?? `errno ${-r}`;
}

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_RET_K = 0x06;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const IP_OFFSET = 8; // seccomp_data.instruction_pointer

/**
 * The compiled filter as the addon takes it: (code, jt, jf, k) quadruples. With measureIp (the
 * measuring handler's gadget), a prefix first allows any syscall made from that address.
 */
export function sentryFilterProgram(measureIp?: readonly [number, number]): { program: Int32Array; flags: number } {
  const profile = readProfile(sentrySeccompSpec(measureIp !== undefined));
  const insns = compileProfile(profile).map((i) => [i.code, i.jt, i.jf, i.k | 0]);
  const prefix = measureIp
    ? [
      [BPF_LD_W_ABS, 0, 0, IP_OFFSET], [BPF_JEQ_K, 0, 3, measureIp[0] | 0],
      [BPF_LD_W_ABS, 0, 0, IP_OFFSET + 4], [BPF_JEQ_K, 0, 1, measureIp[1] | 0],
      [BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW],
    ]
    : [];
  return { program: Int32Array.from([...prefix, ...insns].flat()), flags: profile.flags };
}

/** Confine the calling sentry. Returns an error text, or undefined when done. */
export function confineSentry(opts: ConfineOptions): string | undefined {
  const n = sentrySys();
  let measureIp: [number, number] | undefined;
  if (opts.measureLog !== undefined) {
    const fd = fs.openSync(opts.measureLog, 'a', 0o600);
    const ip = n.measureMode(fd);
    measureIp = [ip[0]!, ip[1]!];
  }
  const r = n.confineRoot(opts.rootDir);
  // An unprivileged caller (rootless) cannot make a mount namespace without a user namespace: its
  // sentry runs on in the caller's root, unprivileged, under the same filter (no open, no exec).
  const rootless = r === -1 && process.geteuid?.() !== 0;
  if (r < 0 && !rootless) return `cannot move into an empty root (mount namespace over ${opts.rootDir}): ${errText(r)}`;
  const c = n.confineCaps(KEPT_CAPS, opts.hostUid);
  if (c < 0) return `cannot drop the sentry's capabilities${opts.hostUid !== undefined ? ` and become uid ${opts.hostUid}` : ''}: ${errText(c)}`;
  if (opts.hostUid !== undefined && opts.dieWithParent !== undefined && n.dieWithParent(opts.dieWithParent) !== 0) return 'the moat do that started this sandbox is gone';
  const { program, flags } = sentryFilterProgram(measureIp);
  const f = n.confineFilter(program, flags);
  if (f < 0) return `cannot load the sentry's seccomp filter: ${errText(f)}`;
  return undefined;
}
