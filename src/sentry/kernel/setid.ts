// The set*id family and capset as kernel/sys.c, kernel/capability.c and security/commoncap.c
// compute them. Each takes the task's credentials and returns the new ones (a copy) or -errno:
// nothing is changed on failure. -1 leaves an id as it is; (uid_t)-1 is the only invalid id
// (the sentry has one user namespace that maps every other value).

import {
  CAP_FS_SET, CAP_FULL, CAP_SETGID, CAP_SETPCAP, CAP_SETUID, capable, copyCreds, isSecure,
  SECBIT_KEEP_CAPS, SECBIT_NO_SETUID_FIXUP, type Credentials,
} from './creds';

const EPERM = 1;
const EINVAL = 22;
const KEEP = -1;

const valid = (id: number) => Number.isInteger(id) && id >= -1 && id < 0xffffffff;
const anyOf = (v: number, ...ids: number[]) => ids.includes(v);

/** cap_emulate_setxuid: leaving uid 0 drops capabilities unless kept; euid 0 ↔ effective set. */
function fixupSetuid(n: Credentials, o: Credentials): void {
  if (isSecure(o, SECBIT_NO_SETUID_FIXUP)) return;
  const wasRoot = o.uid === 0 || o.euid === 0 || o.suid === 0;
  const isRoot = n.uid === 0 || n.euid === 0 || n.suid === 0;
  if (wasRoot && !isRoot) {
    if (!isSecure(o, SECBIT_KEEP_CAPS)) {
      n.capPermitted = 0n;
      n.capEffective = 0n;
    }
    n.capAmbient = 0n;
  }
  if (o.euid === 0 && n.euid !== 0) n.capEffective = 0n;
  if (o.euid !== 0 && n.euid === 0) n.capEffective = n.capPermitted;
}

/** The fs part of the fixup: fsuid leaving 0 drops CAP_FS_SET, returning to 0 raises it (if permitted). */
function fixupFsuid(n: Credentials, oldFsuid: number, o: Credentials): void {
  if (isSecure(o, SECBIT_NO_SETUID_FIXUP)) return;
  if (oldFsuid === 0 && n.fsuid !== 0) n.capEffective &= ~CAP_FS_SET;
  if (oldFsuid !== 0 && n.fsuid === 0) n.capEffective |= CAP_FS_SET & n.capPermitted;
}

export function setuid(o: Credentials, uid: number): Credentials | number {
  if (!valid(uid) || uid === KEEP) return -EINVAL;
  const n = copyCreds(o);
  if (capable(o, CAP_SETUID)) {
    n.uid = n.suid = uid;
  } else if (uid !== o.uid && uid !== o.suid) {
    return -EPERM;
  }
  n.euid = n.fsuid = uid;
  fixupSetuid(n, o);
  return n;
}

export function setreuid(o: Credentials, r: number, e: number): Credentials | number {
  if (!valid(r) || !valid(e)) return -EINVAL;
  const priv = capable(o, CAP_SETUID);
  const n = copyCreds(o);
  if (r !== KEEP) {
    if (!priv && !anyOf(r, o.uid, o.euid)) return -EPERM;
    n.uid = r;
  }
  if (e !== KEEP) {
    if (!priv && !anyOf(e, o.uid, o.euid, o.suid)) return -EPERM;
    n.euid = e;
  }
  if (r !== KEEP || (e !== KEEP && e !== o.uid)) n.suid = n.euid;
  n.fsuid = n.euid;
  fixupSetuid(n, o);
  return n;
}

export function setresuid(o: Credentials, r: number, e: number, s: number): Credentials | number {
  if (!valid(r) || !valid(e) || !valid(s)) return -EINVAL;
  const ok = (v: number) => v === KEEP || capable(o, CAP_SETUID) || anyOf(v, o.uid, o.euid, o.suid);
  if (!ok(r) || !ok(e) || !ok(s)) return -EPERM;
  const n = copyCreds(o);
  if (r !== KEEP) n.uid = r;
  if (e !== KEEP) n.euid = e;
  if (s !== KEEP) n.suid = s;
  n.fsuid = n.euid;
  fixupSetuid(n, o);
  return n;
}

/** setfsuid: returns the old fsuid always; the new creds only if the change was allowed. */
export function setfsuid(o: Credentials, uid: number): Credentials | null {
  if (!valid(uid) || uid === KEEP) return null;
  if (!anyOf(uid, o.uid, o.euid, o.suid, o.fsuid) && !capable(o, CAP_SETUID)) return null;
  if (uid === o.fsuid) return null;
  const n = copyCreds(o);
  n.fsuid = uid;
  fixupFsuid(n, o.fsuid, o);
  return n;
}

export function setgid(o: Credentials, gid: number): Credentials | number {
  if (!valid(gid) || gid === KEEP) return -EINVAL;
  const n = copyCreds(o);
  if (capable(o, CAP_SETGID)) {
    n.gid = n.sgid = gid;
  } else if (gid !== o.gid && gid !== o.sgid) {
    return -EPERM;
  }
  n.egid = n.fsgid = gid;
  return n;
}

export function setregid(o: Credentials, r: number, e: number): Credentials | number {
  if (!valid(r) || !valid(e)) return -EINVAL;
  const priv = capable(o, CAP_SETGID);
  const n = copyCreds(o);
  if (r !== KEEP) {
    if (!priv && !anyOf(r, o.gid, o.egid)) return -EPERM;
    n.gid = r;
  }
  if (e !== KEEP) {
    if (!priv && !anyOf(e, o.gid, o.egid, o.sgid)) return -EPERM;
    n.egid = e;
  }
  if (r !== KEEP || (e !== KEEP && e !== o.gid)) n.sgid = n.egid;
  n.fsgid = n.egid;
  return n;
}

export function setresgid(o: Credentials, r: number, e: number, s: number): Credentials | number {
  if (!valid(r) || !valid(e) || !valid(s)) return -EINVAL;
  const ok = (v: number) => v === KEEP || capable(o, CAP_SETGID) || anyOf(v, o.gid, o.egid, o.sgid);
  if (!ok(r) || !ok(e) || !ok(s)) return -EPERM;
  const n = copyCreds(o);
  if (r !== KEEP) n.gid = r;
  if (e !== KEEP) n.egid = e;
  if (s !== KEEP) n.sgid = s;
  n.fsgid = n.egid;
  return n;
}

export function setfsgid(o: Credentials, gid: number): Credentials | null {
  if (!valid(gid) || gid === KEEP) return null;
  if (!anyOf(gid, o.gid, o.egid, o.sgid, o.fsgid) && !capable(o, CAP_SETGID)) return null;
  if (gid === o.fsgid) return null;
  const n = copyCreds(o);
  n.fsgid = gid;
  return n;
}

export const NGROUPS_MAX = 65536;

export function setgroups(o: Credentials, groups: number[]): Credentials | number {
  if (!capable(o, CAP_SETGID)) return -EPERM;
  if (groups.length > NGROUPS_MAX) return -EINVAL;
  if (groups.some((g) => !valid(g) || g === KEEP)) return -EINVAL;
  const n = copyCreds(o);
  n.groups = [...groups].sort((a, b) => a - b);
  return n;
}

export interface CapsetArgs {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

/** capset(2) on oneself (cap_capset's rules). */
export function capset(o: Credentials, a: CapsetArgs): Credentials | number {
  const e = a.effective & CAP_FULL;
  const p = a.permitted & CAP_FULL;
  const i = a.inheritable & CAP_FULL;
  const subset = (x: bigint, y: bigint) => (x & ~y) === 0n;
  if (!capable(o, CAP_SETPCAP) && !subset(i, o.capInheritable | o.capPermitted)) return -EPERM;
  if (!subset(i, o.capInheritable | o.capBounding)) return -EPERM;
  if (!subset(p, o.capPermitted)) return -EPERM;
  if (!subset(e, p)) return -EPERM;
  const n = copyCreds(o);
  n.capEffective = e;
  n.capPermitted = p;
  n.capInheritable = i;
  n.capAmbient &= p & i;
  return n;
}
