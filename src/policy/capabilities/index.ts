// process.capabilities → executor ops. Names are checked here (an unknown one is an error naming
// it); the executor receives 64-bit masks.

import type { Capabilities } from '../../spec/types';
import { ConfigError } from '../../util/errors';
import type { ChildOp } from '../plan/ops';

/** Linux capability numbers (include/uapi/linux/capability.h), up to CAP_CHECKPOINT_RESTORE. */
export const CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export function capabilityNumber(name: string, field: string): number {
  const n = CAPABILITIES.indexOf(name.toUpperCase().startsWith('CAP_') ? name.toUpperCase() : `CAP_${name.toUpperCase()}`);
  if (n < 0) throw new ConfigError(field, `unknown capability ${JSON.stringify(name)}`);
  return n;
}

export function capabilityMask(names: readonly string[] | undefined, field: string): bigint {
  let mask = 0n;
  (names ?? []).forEach((name, i) => {
    mask |= 1n << BigInt(capabilityNumber(name, `${field}[${i}]`));
  });
  return mask;
}

export interface CapabilitySets {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

/** The five sets of a spec. Absent `capabilities` means none at all (runc does the same). */
export function capabilitySets(caps: Capabilities | undefined, field = 'process.capabilities'): CapabilitySets {
  const sets = {
    bounding: capabilityMask(caps?.bounding, `${field}.bounding`),
    effective: capabilityMask(caps?.effective, `${field}.effective`),
    permitted: capabilityMask(caps?.permitted, `${field}.permitted`),
    inheritable: capabilityMask(caps?.inheritable, `${field}.inheritable`),
    ambient: capabilityMask(caps?.ambient, `${field}.ambient`),
  };
  // The kernel refuses to raise an ambient capability that is not both permitted and inheritable;
  // runc skips those silently, and so do we (runc's default spec lists ambient caps without
  // inheritable ones, so refusing would break ordinary bundles).
  sets.ambient &= sets.permitted & sets.inheritable;
  return sets;
}

/**
 * The privilege-dropping sequence around the user switch, in runc's order: bounding set first
 * (needs CAP_SETPCAP), keep the permitted set across setresuid, then set the final sets.
 */
export function planCapabilities(sets: CapabilitySets, userOps: ChildOp[]): ChildOp[] {
  return [
    { op: 'cap-bounding', mask: sets.bounding },
    { op: 'keep-caps', on: true },
    ...userOps,
    { op: 'keep-caps', on: false },
    { op: 'capset', effective: sets.effective, permitted: sets.permitted, inheritable: sets.inheritable, ambient: sets.ambient },
  ];
}
