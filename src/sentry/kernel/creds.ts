// A task's credentials as Linux keeps them (struct cred): real, effective, saved and file-system
// uid and gid, supplementary groups, the five capability sets, securebits and no_new_privs.
// Each task has its own copy (clone copies them, CLONE_THREAD included: glibc's setuid reaches
// every thread by signalling each to make the call itself). The rules for changing them are
// kernel/sys.c's and security/commoncap.c's; the sentry has one user namespace, so "capable"
// means "the bit is in the effective set".

import { EPERM } from '../abi/errno';

/** Capability numbers (include/uapi/linux/capability.h) the sentry's checks name. */
export const CAP_CHOWN = 0;
export const CAP_DAC_OVERRIDE = 1;
export const CAP_DAC_READ_SEARCH = 2;
export const CAP_FOWNER = 3;
export const CAP_FSETID = 4;
export const CAP_KILL = 5;
export const CAP_SETGID = 6;
export const CAP_SETUID = 7;
export const CAP_SETPCAP = 8;
export const CAP_LINUX_IMMUTABLE = 9;
export const CAP_NET_BIND_SERVICE = 10;
export const CAP_NET_BROADCAST = 11;
export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;
export const CAP_IPC_LOCK = 14;
export const CAP_SYS_CHROOT = 18;
export const CAP_SYS_PTRACE = 19;
export const CAP_SYS_ADMIN = 21;
export const CAP_SYS_NICE = 23;
export const CAP_SYS_RESOURCE = 24;
export const CAP_SYS_TIME = 25;
export const CAP_MKNOD = 27;
export const CAP_MAC_OVERRIDE = 32;
export const CAP_LAST_CAP = 40;

/** Every capability this kernel knows (CAP_VALID_MASK). */
export const CAP_FULL = (1n << BigInt(CAP_LAST_CAP + 1)) - 1n;
const bit = (cap: number) => 1n << BigInt(cap);
/** The capabilities a change of fsuid to or from 0 drops or raises (CAP_FS_SET). */
export const CAP_FS_SET = [CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_LINUX_IMMUTABLE, CAP_MKNOD, CAP_MAC_OVERRIDE]
  .reduce((m, c) => m | bit(c), 0n);

/** securebits (include/uapi/linux/securebits.h): each bit has a lock bit above it. */
export const SECBIT_NOROOT = 1 << 0;
export const SECBIT_NO_SETUID_FIXUP = 1 << 2;
export const SECBIT_KEEP_CAPS = 1 << 4;
export const SECBIT_KEEP_CAPS_LOCKED = 1 << 5;
export const SECBIT_NO_CAP_AMBIENT_RAISE = 1 << 6;
export const SECURE_ALL_BITS = 0x55;
export const SECURE_ALL_LOCKS = 0xaa;

export interface Credentials {
  uid: number;
  euid: number;
  suid: number;
  fsuid: number;
  gid: number;
  egid: number;
  sgid: number;
  fsgid: number;
  /** Supplementary groups, sorted (set_groups sorts them; getgroups returns them so). */
  groups: number[];
  capPermitted: bigint;
  capEffective: bigint;
  capInheritable: bigint;
  capBounding: bigint;
  capAmbient: bigint;
  securebits: number;
  /** PR_SET_NO_NEW_PRIVS (a task flag in Linux, inherited on clone and kept across exec). */
  noNewPrivs: boolean;
}

export interface CapSets {
  permitted: bigint;
  effective: bigint;
  inheritable: bigint;
  bounding: bigint;
  ambient: bigint;
}

/**
 * The credentials a process starts with: the ids of the spec's process.user and its capability
 * sets (absent sets: none; runc's rule). Without `caps`, what Linux gives a process of that uid
 * after exec from a fully privileged parent: uid 0 gets every capability, others none.
 */
export function initialCreds(uid: number, gid: number, groups: readonly number[], caps?: CapSets, noNewPrivs = false): Credentials {
  const full = uid === 0 ? CAP_FULL : 0n;
  const s = caps ?? { permitted: full, effective: full, inheritable: 0n, bounding: CAP_FULL, ambient: 0n };
  const m = (v: bigint) => v & CAP_FULL;
  return {
    uid, euid: uid, suid: uid, fsuid: uid, gid, egid: gid, sgid: gid, fsgid: gid,
    groups: [...new Set(groups)].sort((a, b) => a - b),
    capPermitted: m(s.permitted),
    capEffective: m(s.effective & s.permitted),
    capInheritable: m(s.inheritable),
    capBounding: m(s.bounding),
    capAmbient: m(s.ambient & s.permitted & s.inheritable),
    securebits: 0,
    noNewPrivs,
  };
}

export function copyCreds(c: Credentials): Credentials {
  return { ...c, groups: [...c.groups] };
}

/** capable(cap): the bit is in the effective set. */
export function capable(c: { capEffective: bigint }, cap: number): boolean {
  return ((c.capEffective >> BigInt(cap)) & 1n) === 1n;
}

export function capValid(cap: number): boolean {
  return Number.isInteger(cap) && cap >= 0 && cap <= CAP_LAST_CAP;
}

export function hasCap(set: bigint, cap: number): boolean {
  return ((set >> BigInt(cap)) & 1n) === 1n;
}

export function inGroupP(c: { fsgid: number; groups: readonly number[] }, gid: number): boolean {
  return c.fsgid === gid || c.groups.includes(gid);
}

export function isSecure(c: Credentials, bitMask: number): boolean {
  return (c.securebits & bitMask) !== 0;
}

interface SignalTarget {
  creds: Credentials;
  tg: { tgid: number; sid: number };
}

/**
 * check_kill_permission: a signal from user space to another process needs the sender's real or
 * effective uid to be the target's real or saved uid, or CAP_KILL; SIGCONT may also go to any
 * process of the sender's session. Signal 0 is checked the same way. 0 or -EPERM.
 */
export function mayKill(sender: SignalTarget, target: SignalTarget, sig: number): number {
  if (sender.tg.tgid === target.tg.tgid) return 0;
  const s = sender.creds;
  const c = target.creds;
  if (s.euid === c.suid || s.euid === c.uid || s.uid === c.suid || s.uid === c.uid || capable(s, CAP_KILL)) return 0;
  if (sig === SIGCONT && sender.tg.sid === target.tg.sid) return 0;
  return -EPERM;
}

const SIGCONT = 18;
