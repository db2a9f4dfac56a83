// Credentials: the set*id family, groups, capget/capset and the capability prctls, with Linux's
// rules (src/sentry/kernel/setid.ts computes them). Root in the sentry has only what the sentry
// grants: capabilities are checked against the sentry's own model, never the host's.

import { EFAULT, EINVAL, EPERM, ESRCH } from '../../abi/errno';
import {
  CAP_FULL, CAP_SETGID, CAP_SETPCAP, capable, capValid, copyCreds, hasCap, isSecure, SECBIT_KEEP_CAPS, SECBIT_KEEP_CAPS_LOCKED,
  SECBIT_NO_CAP_AMBIENT_RAISE, SECURE_ALL_BITS, SECURE_ALL_LOCKS, type Credentials,
} from '../../kernel/creds';
import * as setid from '../../kernel/setid';
import type { Task } from '../../kernel/task';

/** Commit the result of a setid computation: the new creds, or the error. */
function commit(t: Task, r: Credentials | number): number {
  if (typeof r === 'number') return r;
  const o = t.creds;
  // commit_creds: a change of effective or fs ids, or new capabilities, makes the process
  // non-dumpable (fs.suid_dumpable = 0).
  if (o.euid !== r.euid || o.egid !== r.egid || o.fsuid !== r.fsuid || o.fsgid !== r.fsgid || (r.capPermitted & ~o.capPermitted) !== 0n) {
    t.tg.dumpable = 0;
  }
  t.creds = r;
  return 0;
}

/** Argument i as a uid/gid: -1 is "unchanged", every other 32-bit value an id. */
function id(t: Task, i: number): number {
  const v = t.argU32(i);
  return v === 0xffffffff ? -1 : v;
}

function getres(t: Task, a: number, b: number, c: number): number {
  return t.mm.writeU32(t.arg(0), a) && t.mm.writeU32(t.arg(1), b) && t.mm.writeU32(t.arg(2), c) ? 0 : -EFAULT;
}

function getgroups(t: Task): number {
  const n = t.argInt(0);
  const g = t.creds.groups;
  if (n < 0) return -EINVAL;
  if (n === 0) return g.length;
  if (n < g.length) return -EINVAL;
  for (let i = 0; i < g.length; i++) if (!t.mm.writeU32(t.arg(1) + i * 4, g[i])) return -EFAULT;
  return g.length;
}

function setgroups(t: Task): number {
  const n = t.argInt(0);
  if (!capable(t.creds, CAP_SETGID)) return -EPERM;
  if (n < 0 || n > setid.NGROUPS_MAX) return -EINVAL;
  const g: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = t.mm.readU32(t.arg(1) + i * 4);
    if (v === null) return -EFAULT;
    g.push(v === 0xffffffff ? -1 : v);
  }
  return commit(t, setid.setgroups(t.creds, g));
}

const VERSION_1 = 0x19980330;
const VERSION_2 = 0x20071026;
const VERSION_3 = 0x20080522;

/** The header's version and pid; a bad version is answered with the one the kernel prefers. */
function capHeader(t: Task): { words: number; pid: number } | number {
  const hdr = t.arg(0);
  const version = t.mm.readU32(hdr);
  const pid = t.mm.readU32(hdr + 4);
  if (version === null || pid === null) return -EFAULT;
  if (version === VERSION_1) return { words: 1, pid: pid | 0 };
  if (version === VERSION_2 || version === VERSION_3) return { words: 2, pid: pid | 0 };
  if (!t.mm.writeU32(hdr, VERSION_3)) return -EFAULT;
  return t.arg(1) ? -EINVAL : 0;
}

function capget(t: Task): number {
  const h = capHeader(t);
  if (typeof h === 'number') return h;
  if (!t.arg(1)) return 0;
  if (h.pid < 0) return -EINVAL;
  let c = t.creds;
  if (h.pid !== 0 && h.pid !== t.tid) {
    const o = t.pidns.tasks.get(h.pid);
    if (!o || o.state === 'dead') return -ESRCH;
    c = o.creds;
  }
  const b = new Uint8Array(12 * h.words);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < h.words; i++) {
    const word = (v: bigint) => Number((v >> BigInt(32 * i)) & 0xffffffffn);
    dv.setUint32(i * 12, word(c.capEffective), true);
    dv.setUint32(i * 12 + 4, word(c.capPermitted), true);
    dv.setUint32(i * 12 + 8, word(c.capInheritable), true);
  }
  return t.mm.write(t.arg(1), b) ? 0 : -EFAULT;
}

function capset(t: Task): number {
  const h = capHeader(t);
  if (typeof h === 'number') return h === 0 ? -EINVAL : h;
  if (h.pid !== 0 && h.pid !== t.tid) return -EPERM;
  const b = t.mm.read(t.arg(1), 12 * h.words);
  if (!b) return -EFAULT;
  const dv = new DataView(b.buffer, b.byteOffset);
  const set = (off: number) => {
    let v = 0n;
    for (let i = 0; i < h.words; i++) v |= BigInt(dv.getUint32(i * 12 + off, true)) << BigInt(32 * i);
    return v;
  };
  return commit(t, setid.capset(t.creds, { effective: set(0), permitted: set(4), inheritable: set(8) }));
}

const PR_GET_KEEPCAPS = 7;
const PR_SET_KEEPCAPS = 8;
const PR_CAPBSET_READ = 23;
const PR_CAPBSET_DROP = 24;
const PR_GET_SECUREBITS = 27;
const PR_SET_SECUREBITS = 28;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_GET_NO_NEW_PRIVS = 39;
const PR_CAP_AMBIENT = 47;
const AMBIENT_IS_SET = 1;
const AMBIENT_RAISE = 2;
const AMBIENT_LOWER = 3;
const AMBIENT_CLEAR_ALL = 4;

/** Change one thing in a copy of t's creds and commit it (creds are never changed in place). */
function update(t: Task, f: (n: Credentials) => void): number {
  const n = copyCreds(t.creds);
  f(n);
  t.creds = n;
  return 0;
}

function setSecurebits(t: Task, v: number): number {
  const o = t.creds.securebits;
  const locked = ((o & SECURE_ALL_LOCKS) >> 1) & (o ^ v);
  if (locked || o & SECURE_ALL_LOCKS & ~v || v & ~(SECURE_ALL_LOCKS | SECURE_ALL_BITS) || !capable(t.creds, CAP_SETPCAP)) return -EPERM;
  return update(t, (n) => (n.securebits = v));
}

function ambient(t: Task, op: number, cap: number, rest: boolean): number {
  if (op === AMBIENT_CLEAR_ALL) return cap !== 0 || rest ? -EINVAL : update(t, (n) => (n.capAmbient = 0n));
  if (!capValid(cap) || rest) return -EINVAL;
  const c = t.creds;
  if (op === AMBIENT_IS_SET) return hasCap(c.capAmbient, cap) ? 1 : 0;
  if (op === AMBIENT_LOWER) return update(t, (n) => (n.capAmbient &= ~(1n << BigInt(cap))));
  if (op !== AMBIENT_RAISE) return -EINVAL;
  if (!hasCap(c.capPermitted, cap) || !hasCap(c.capInheritable, cap) || isSecure(c, SECBIT_NO_CAP_AMBIENT_RAISE)) return -EPERM;
  return update(t, (n) => (n.capAmbient |= 1n << BigInt(cap)));
}

/** The prctl options about credentials; undefined for any other option. */
export function credsPrctl(t: Task, op: number): number | undefined {
  const a = t.arg(1);
  const c = t.creds;
  const rest = (from: number) => [2, 3, 4].slice(from - 2).some((i) => t.arg(i) !== 0);
  switch (op) {
    case PR_GET_KEEPCAPS:
      return isSecure(c, SECBIT_KEEP_CAPS) ? 1 : 0;
    case PR_SET_KEEPCAPS:
      if (a > 1) return -EINVAL;
      if (isSecure(c, SECBIT_KEEP_CAPS_LOCKED)) return -EPERM;
      return update(t, (n) => (n.securebits = a ? n.securebits | SECBIT_KEEP_CAPS : n.securebits & ~SECBIT_KEEP_CAPS));
    case PR_CAPBSET_READ:
      return capValid(a) ? (hasCap(c.capBounding, a) ? 1 : 0) : -EINVAL;
    case PR_CAPBSET_DROP:
      if (!capable(c, CAP_SETPCAP)) return -EPERM;
      if (!capValid(a)) return -EINVAL;
      return update(t, (n) => (n.capBounding &= ~(1n << BigInt(a)) & CAP_FULL));
    case PR_GET_SECUREBITS:
      return c.securebits;
    case PR_SET_SECUREBITS:
      return a > 0xffffffff ? -EPERM : setSecurebits(t, a);
    case PR_SET_NO_NEW_PRIVS:
      if (a !== 1 || rest(2)) return -EINVAL;
      return update(t, (n) => (n.noNewPrivs = true));
    case PR_GET_NO_NEW_PRIVS:
      if (a !== 0 || rest(2)) return -EINVAL;
      return c.noNewPrivs ? 1 : 0;
    case PR_CAP_AMBIENT:
      return ambient(t, a, t.arg(2), rest(3));
    default:
      return undefined;
  }
}

export const sysIdentity = {
  getuid: (t: Task) => t.creds.uid,
  geteuid: (t: Task) => t.creds.euid,
  getgid: (t: Task) => t.creds.gid,
  getegid: (t: Task) => t.creds.egid,
  getresuid: (t: Task) => getres(t, t.creds.uid, t.creds.euid, t.creds.suid),
  getresgid: (t: Task) => getres(t, t.creds.gid, t.creds.egid, t.creds.sgid),
  setuid: (t: Task) => commit(t, setid.setuid(t.creds, id(t, 0))),
  setgid: (t: Task) => commit(t, setid.setgid(t.creds, id(t, 0))),
  setreuid: (t: Task) => commit(t, setid.setreuid(t.creds, id(t, 0), id(t, 1))),
  setregid: (t: Task) => commit(t, setid.setregid(t.creds, id(t, 0), id(t, 1))),
  setresuid: (t: Task) => commit(t, setid.setresuid(t.creds, id(t, 0), id(t, 1), id(t, 2))),
  setresgid: (t: Task) => commit(t, setid.setresgid(t.creds, id(t, 0), id(t, 1), id(t, 2))),
  setfsuid: (t: Task) => {
    const old = t.creds.fsuid;
    const n = setid.setfsuid(t.creds, id(t, 0));
    if (n) commit(t, n);
    return old;
  },
  setfsgid: (t: Task) => {
    const old = t.creds.fsgid;
    const n = setid.setfsgid(t.creds, id(t, 0));
    if (n) commit(t, n);
    return old;
  },
  getgroups,
  setgroups,
  capget,
  capset,
};
