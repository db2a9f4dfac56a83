// Credentials: the ids of the container's user. Changing them follows the usual rules; root in
// the sentry has only what the sentry grants (it is not root on the host).

import { EFAULT, EINVAL, EPERM } from '../../abi/errno';
import type { Credentials, Task } from '../../kernel/task';

const isRoot = (c: Credentials) => c.euid === 0;

function setresuid(t: Task, r: number, e: number, s: number): number {
  const c = t.creds;
  const allowed = (v: number) => v === -1 || isRoot(c) || v === c.uid || v === c.euid || v === c.suid;
  if (!allowed(r) || !allowed(e) || !allowed(s)) return -EPERM;
  if (r !== -1) c.uid = r;
  if (e !== -1) c.euid = e;
  if (s !== -1) c.suid = s;
  c.fsuid = c.euid;
  return 0;
}

function setresgid(t: Task, r: number, e: number, s: number): number {
  const c = t.creds;
  const allowed = (v: number) => v === -1 || isRoot(c) || v === c.gid || v === c.egid || v === c.sgid;
  if (!allowed(r) || !allowed(e) || !allowed(s)) return -EPERM;
  if (r !== -1) c.gid = r;
  if (e !== -1) c.egid = e;
  if (s !== -1) c.sgid = s;
  c.fsgid = c.egid;
  return 0;
}

function getres(t: Task, a: number, b: number, c: number): number {
  return t.mm.writeU32(t.arg(0), a) && t.mm.writeU32(t.arg(1), b) && t.mm.writeU32(t.arg(2), c) ? 0 : -EFAULT;
}

export const sysIdentity = {
  getuid: (t: Task) => t.creds.uid,
  geteuid: (t: Task) => t.creds.euid,
  getgid: (t: Task) => t.creds.gid,
  getegid: (t: Task) => t.creds.egid,
  getresuid: (t: Task) => getres(t, t.creds.uid, t.creds.euid, t.creds.suid),
  getresgid: (t: Task) => getres(t, t.creds.gid, t.creds.egid, t.creds.sgid),
  setuid: (t: Task) => {
    const u = t.argInt(0);
    if (u < 0) return -EINVAL;
    return isRoot(t.creds) ? setresuid(t, u, u, u) : setresuid(t, -1, u, -1);
  },
  setgid: (t: Task) => {
    const g = t.argInt(0);
    if (g < 0) return -EINVAL;
    return isRoot(t.creds) ? setresgid(t, g, g, g) : setresgid(t, -1, g, -1);
  },
  setreuid: (t: Task) => setresuid(t, t.argInt(0), t.argInt(1), -1),
  setregid: (t: Task) => setresgid(t, t.argInt(0), t.argInt(1), -1),
  setresuid: (t: Task) => setresuid(t, t.argInt(0), t.argInt(1), t.argInt(2)),
  setresgid: (t: Task) => setresgid(t, t.argInt(0), t.argInt(1), t.argInt(2)),
  setfsuid: (t: Task) => {
    const old = t.creds.fsuid;
    if (isRoot(t.creds)) t.creds.fsuid = t.argInt(0);
    return old;
  },
  setfsgid: (t: Task) => {
    const old = t.creds.fsgid;
    if (isRoot(t.creds)) t.creds.fsgid = t.argInt(0);
    return old;
  },
  getgroups: (t: Task) => {
    const n = t.argInt(0);
    const g = t.creds.groups;
    if (n === 0) return g.length;
    if (n < g.length) return -EINVAL;
    for (let i = 0; i < g.length; i++) if (!t.mm.writeU32(t.arg(1) + i * 4, g[i])) return -EFAULT;
    return g.length;
  },
  setgroups: (t: Task) => {
    if (!isRoot(t.creds)) return -EPERM;
    const n = t.argInt(0);
    if (n < 0 || n > 65536) return -EINVAL;
    const g: number[] = [];
    for (let i = 0; i < n; i++) {
      const v = t.mm.readU32(t.arg(1) + i * 4);
      if (v === null) return -EFAULT;
      g.push(v);
    }
    t.creds.groups = g;
    return 0;
  },
  capget: (t: Task) => {
    // Version 3 header; root holds the container's bounding set, others nothing.
    if (!t.arg(1)) return 0;
    const full = isRoot(t.creds) ? 0xffffffff : 0;
    const b = new Uint8Array(24);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < 2; i++) {
      dv.setUint32(i * 12, full, true);
      dv.setUint32(i * 12 + 4, full, true);
    }
    return t.mm.write(t.arg(1), b) ? 0 : -EFAULT;
  },
  capset: (t: Task) => (isRoot(t.creds) ? 0 : -EPERM),
};
