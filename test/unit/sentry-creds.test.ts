// The sentry's credential rules as pure functions: set*id and capset (kernel/setid.ts), the
// capability transition of execve (kernel/exec-creds.ts), signal permission, and the VFS's
// discretionary access checks (vfs/permission.ts). Each case is a rule of Linux's, with the
// outcome Linux gives.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EACCES, EINVAL, EPERM } from '../../src/sentry/abi/errno';
import {
  CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_FULL, CAP_KILL, CAP_MKNOD,
  CAP_NET_BIND_SERVICE, CAP_SETUID, SECBIT_KEEP_CAPS, SECBIT_NO_SETUID_FIXUP, SECBIT_NOROOT, capable, initialCreds,
  mayKill, type Credentials,
} from '../../src/sentry/kernel/creds';
import { execCreds } from '../../src/sentry/kernel/exec-creds';
import * as setid from '../../src/sentry/kernel/setid';
import {
  accessCreds, chmodMode, MAY_EXEC, MAY_READ, MAY_WRITE, mayChown, mayDelete, mayFollowLink, mayHardlink, mayMknodDevice,
  permission, type FsCreds,
} from '../../src/sentry/vfs/permission';
import type { Inode } from '../../src/sentry/vfs/inode';

const bit = (c: number) => 1n << BigInt(c);
const root = () => initialCreds(0, 0, []);
const user = (uid = 1000, gid = 1000, groups: number[] = []) => initialCreds(uid, gid, groups);
const ok = (r: Credentials | number): Credentials => {
  assert.equal(typeof r, 'object', `expected new credentials, got ${String(r)}`);
  return r as Credentials;
};
const fs = (c: Credentials): FsCreds => c;
const withCaps = (c: Credentials, caps: bigint): Credentials => ({ ...c, capEffective: caps, capPermitted: caps });
const inode = (mode: number, uid: number, gid: number) => ({ attr: () => ({ mode, uid, gid }) }) as unknown as Inode;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

// ---- set*id ----

test('initial credentials: uid 0 holds every capability, others none; groups sorted and unique', () => {
  assert.equal(root().capEffective, CAP_FULL);
  assert.equal(user().capEffective, 0n);
  assert.deepEqual(initialCreds(5, 5, [30, 10, 30]).groups, [10, 30]);
  const c = initialCreds(1000, 1000, [], { permitted: bit(1), effective: bit(1) | bit(2), inheritable: 0n, bounding: CAP_FULL, ambient: bit(1) });
  assert.equal(c.capEffective, bit(1), 'effective is within permitted');
  assert.equal(c.capAmbient, 0n, 'ambient needs permitted and inheritable');
});

test('setuid: root sets all three ids and loses its capabilities; a user may only return to its real or saved uid', () => {
  const r = ok(setid.setuid(root(), 1000));
  assert.deepEqual([r.uid, r.euid, r.suid, r.fsuid], [1000, 1000, 1000, 1000]);
  assert.equal(r.capPermitted, 0n);
  assert.equal(r.capEffective, 0n);
  assert.equal(setid.setuid(r, 0), -EPERM);
  assert.equal(setid.setuid(r, -1), -EINVAL);
  const swapped = { ...user(), uid: 1000, euid: 2000, suid: 3000 };
  assert.equal(ok(setid.setuid(swapped, 3000)).euid, 3000);
  assert.equal(ok(setid.setuid(swapped, 3000)).uid, 1000, 'without CAP_SETUID only the effective id changes');
  assert.equal(setid.setuid(swapped, 4000), -EPERM);
});

test('setreuid: the saved uid follows the new euid when the real uid is set or the euid differs from it', () => {
  const c = { ...user(), uid: 1000, euid: 1000, suid: 1000 };
  const priv = withCaps(c, bit(CAP_SETUID));
  const n = ok(setid.setreuid(priv, -1, 2000));
  assert.deepEqual([n.uid, n.euid, n.suid], [1000, 2000, 2000]);
  assert.equal(setid.setreuid(c, 2000, -1), -EPERM, 'the real uid only to the real or effective');
  assert.equal(setid.setreuid({ ...c, suid: 5 }, 5, -1), -EPERM, 'not to the saved one');
  assert.equal(ok(setid.setreuid({ ...c, suid: 5 }, -1, 5)).euid, 5);
});

test('setresuid: euid 0 → non-0 empties the effective set, back to 0 refills it; leaving 0 entirely clears permitted', () => {
  let c = ok(setid.setresuid(root(), 1000, 0, 0));
  assert.equal(c.capEffective, CAP_FULL, 'euid stays 0');
  c = ok(setid.setresuid(c, -1, 1000, -1));
  assert.equal(c.capEffective, 0n);
  assert.equal(c.capPermitted, CAP_FULL, 'the saved uid is still 0');
  c = ok(setid.setresuid(c, -1, 0, -1));
  assert.equal(c.capEffective, CAP_FULL);
  c = ok(setid.setresuid(c, 1000, 1000, 1000));
  assert.equal(c.capPermitted, 0n);
  assert.equal(setid.setresuid(c, 0, 0, 0), -EPERM);
});

test('PR_SET_KEEPCAPS keeps permitted (not effective, not ambient) across leaving uid 0; SECBIT_NO_SETUID_FIXUP keeps all', () => {
  const base = { ...root(), capInheritable: bit(CAP_NET_BIND_SERVICE), capAmbient: bit(CAP_NET_BIND_SERVICE) };
  const kept = ok(setid.setresuid({ ...base, securebits: SECBIT_KEEP_CAPS }, 1000, 1000, 1000));
  assert.equal(kept.capPermitted, CAP_FULL);
  assert.equal(kept.capEffective, 0n);
  assert.equal(kept.capAmbient, 0n);
  const fixed = ok(setid.setresuid({ ...base, securebits: SECBIT_NO_SETUID_FIXUP }, 1000, 1000, 1000));
  assert.equal(fixed.capEffective, CAP_FULL);
  assert.equal(fixed.capAmbient, bit(CAP_NET_BIND_SERVICE));
});

test('setfsuid: refused changes leave everything; fsuid leaving 0 drops the fs capabilities, returning raises them', () => {
  const u = user();
  assert.equal(setid.setfsuid(u, 0), null);
  const r = root();
  const n = setid.setfsuid(r, 1000);
  assert.ok(n);
  assert.ok(!capable(n, CAP_DAC_OVERRIDE) && !capable(n, CAP_CHOWN) && !capable(n, CAP_MKNOD));
  assert.ok(capable(n, CAP_KILL), 'other capabilities stay');
  const back = setid.setfsuid(n, 0);
  assert.ok(back && capable(back, CAP_DAC_OVERRIDE));
});

test('setgroups needs CAP_SETGID and sorts; gids follow the uid rules with CAP_SETGID', () => {
  assert.equal(setid.setgroups(user(), [1]), -EPERM);
  assert.deepEqual(ok(setid.setgroups(root(), [30, 4, 10])).groups, [4, 10, 30]);
  assert.equal(setid.setgroups(root(), [-1]), -EINVAL);
  assert.equal(setid.setgid(user(), 0), -EPERM);
  const g = ok(setid.setresgid(root(), 5, 6, 7));
  assert.deepEqual([g.gid, g.egid, g.sgid, g.fsgid], [5, 6, 7, 6]);
  assert.equal(g.capEffective, CAP_FULL, 'gid changes touch no capability');
});

test('capset: permitted only shrinks, effective within permitted, inheritable within bounding (and permitted without CAP_SETPCAP)', () => {
  const r = root();
  assert.equal(setid.capset(r, { effective: bit(1), permitted: bit(2), inheritable: 0n }), -EPERM);
  const n = ok(setid.capset(r, { effective: bit(1), permitted: bit(1) | bit(2), inheritable: 0n }));
  assert.equal(setid.capset(n, { effective: bit(3), permitted: bit(3), inheritable: 0n }), -EPERM);
  assert.equal(setid.capset(n, { effective: 0n, permitted: bit(1), inheritable: bit(5) }), -EPERM, 'no CAP_SETPCAP');
  assert.equal(setid.capset({ ...r, capBounding: bit(1) }, { effective: 0n, permitted: CAP_FULL, inheritable: bit(2) }), -EPERM);
  const amb = { ...r, capInheritable: bit(3), capAmbient: bit(3) };
  assert.equal(ok(setid.capset(amb, { effective: 0n, permitted: CAP_FULL, inheritable: 0n })).capAmbient, 0n);
});

// ---- exec ----

const file = (mode: number, uid = 0, gid = 0, nosuid = false) => ({ mode: S_IFREG | mode, uid, gid, nosuid });

test('exec by root: permitted and effective become the bounding set (plus inheritable); by a user: only ambient', () => {
  const r = { ...root(), capBounding: bit(1) | bit(2), capPermitted: bit(1), capEffective: 0n };
  const e = execCreds(r, file(0o755));
  assert.equal(e.creds.capPermitted, bit(1) | bit(2));
  assert.equal(e.creds.capEffective, bit(1) | bit(2));
  assert.equal(e.secure, false);
  const u = { ...user(), capPermitted: bit(CAP_NET_BIND_SERVICE), capInheritable: bit(CAP_NET_BIND_SERVICE), capAmbient: bit(CAP_NET_BIND_SERVICE) };
  const x = execCreds(u, file(0o755));
  assert.equal(x.creds.capPermitted, bit(CAP_NET_BIND_SERVICE));
  assert.equal(x.creds.capEffective, bit(CAP_NET_BIND_SERVICE));
  assert.equal(execCreds(user(), file(0o755)).creds.capPermitted, 0n);
  const noroot = execCreds({ ...root(), securebits: SECBIT_NOROOT, capPermitted: 0n }, file(0o755));
  assert.equal(noroot.creds.capPermitted, 0n, 'SECBIT_NOROOT: uid 0 is not special');
});

test('exec of a set-user-ID root file by a user: euid 0, full capabilities, AT_SECURE; ambient cleared', () => {
  const u = { ...user(), capPermitted: bit(10), capInheritable: bit(10), capAmbient: bit(10) };
  const e = execCreds(u, file(0o4755));
  assert.deepEqual([e.creds.uid, e.creds.euid, e.creds.suid, e.creds.fsuid], [1000, 0, 0, 0]);
  assert.equal(e.creds.capEffective, CAP_FULL);
  assert.equal(e.creds.capAmbient, 0n);
  assert.equal(e.secure, true);
});

test('set-ID bits are ignored on a nosuid mount and under no_new_privs; set-group-ID needs group x', () => {
  assert.equal(execCreds(user(), file(0o4755, 0, 0, true)).creds.euid, 1000);
  const nnp = execCreds({ ...user(), noNewPrivs: true }, file(0o4755));
  assert.equal(nnp.creds.euid, 1000);
  assert.equal(nnp.creds.capPermitted, 0n);
  assert.equal(execCreds(user(), file(0o2755, 0, 50)).creds.egid, 50);
  assert.equal(execCreds(user(), file(0o2745, 0, 50)).creds.egid, 1000);
  const rootNnp = execCreds({ ...root(), noNewPrivs: true, capPermitted: bit(1) }, file(0o755));
  assert.equal(rootNnp.creds.capPermitted, bit(1), 'no_new_privs: root gains nothing it did not have');
});

test('exec clears SECBIT_KEEP_CAPS', () => {
  assert.equal(execCreds({ ...root(), securebits: SECBIT_KEEP_CAPS }, file(0o755)).creds.securebits, 0);
});

// ---- signals ----

const proc = (c: Credentials, tgid: number, sid = 1) => ({ creds: c, tg: { tgid, sid } });

test('kill permission: real or effective uid against real or saved uid, CAP_KILL, SIGCONT in the session', () => {
  const a = user(1000);
  const b = user(2000);
  assert.equal(mayKill(proc(a, 10), proc(b, 11), 15), -EPERM);
  assert.equal(mayKill(proc(a, 10), proc(b, 11), 0), -EPERM);
  assert.equal(mayKill(proc(a, 10), proc({ ...b, suid: 1000 }, 11), 15), 0);
  assert.equal(mayKill(proc({ ...a, euid: 2000 }, 10), proc(b, 11), 15), 0);
  assert.equal(mayKill(proc({ ...a, capEffective: bit(CAP_KILL) }, 10), proc(b, 11), 9), 0);
  assert.equal(mayKill(proc(a, 10, 1), proc(b, 11, 1), 18), 0, 'SIGCONT within the session');
  assert.equal(mayKill(proc(a, 10, 1), proc(b, 11, 2), 18), -EPERM);
  assert.equal(mayKill(proc(a, 10), proc(b, 10), 9), 0, 'one own thread group');
});

// ---- DAC ----

test('permission: owner, group (supplementary too), other; no capability, no override', () => {
  const u = user(1000, 100, [200]);
  assert.equal(permission(u, { mode: S_IFREG | 0o600, uid: 1000, gid: 0 }, MAY_READ | MAY_WRITE), 0);
  assert.equal(permission(u, { mode: S_IFREG | 0o060, uid: 1000, gid: 100 }, MAY_READ), -EACCES, 'the owner bits decide for the owner');
  assert.equal(permission(u, { mode: S_IFREG | 0o040, uid: 0, gid: 200 }, MAY_READ), 0);
  assert.equal(permission(u, { mode: S_IFREG | 0o004, uid: 0, gid: 0 }, MAY_READ), 0);
  assert.equal(permission(u, { mode: S_IFREG | 0o004, uid: 0, gid: 0 }, MAY_WRITE), -EACCES);
});

test('CAP_DAC_OVERRIDE: anything but executing a file with no x bit; CAP_DAC_READ_SEARCH: reading and searching only', () => {
  const o = withCaps(user(), bit(CAP_DAC_OVERRIDE));
  assert.equal(permission(o, { mode: S_IFREG | 0o000, uid: 0, gid: 0 }, MAY_READ | MAY_WRITE), 0);
  assert.equal(permission(o, { mode: S_IFREG | 0o600, uid: 0, gid: 0 }, MAY_EXEC), -EACCES);
  assert.equal(permission(o, { mode: S_IFREG | 0o100, uid: 0, gid: 0 }, MAY_EXEC), 0);
  assert.equal(permission(o, { mode: S_IFDIR | 0o000, uid: 0, gid: 0 }, MAY_EXEC | MAY_WRITE), 0);
  const rs = withCaps(user(), bit(CAP_DAC_READ_SEARCH));
  assert.equal(permission(rs, { mode: S_IFREG | 0o000, uid: 0, gid: 0 }, MAY_READ), 0);
  assert.equal(permission(rs, { mode: S_IFREG | 0o000, uid: 0, gid: 0 }, MAY_WRITE), -EACCES);
  assert.equal(permission(rs, { mode: S_IFDIR | 0o000, uid: 0, gid: 0 }, MAY_READ | MAY_EXEC), 0);
  assert.equal(permission(rs, { mode: S_IFDIR | 0o000, uid: 0, gid: 0 }, MAY_WRITE | MAY_EXEC), -EACCES);
  assert.equal(permission(withCaps(root(), 0n), { mode: S_IFREG | 0o600, uid: 1000, gid: 1000 }, MAY_READ), -EACCES, 'uid 0 without capabilities is no one special');
});

test('sticky directories: only the owner of the file or the directory, or CAP_FOWNER, removes', () => {
  const dir = inode(S_IFDIR | 0o1777, 0, 0);
  const theirs = inode(S_IFREG | 0o666, 2000, 0);
  assert.equal(mayDelete(user(), dir, theirs), -EPERM);
  assert.equal(mayDelete(user(2000), dir, theirs), 0);
  assert.equal(mayDelete(withCaps(user(), bit(CAP_FOWNER)), dir, theirs), 0);
  assert.equal(mayDelete(user(), inode(S_IFDIR | 0o1777, 1000, 0), theirs), 0, 'the directory owner');
  assert.equal(mayDelete(user(), inode(S_IFDIR | 0o1755, 0, 0), theirs), -EACCES, 'write permission first');
});

test('chmod: owner or CAP_FOWNER; set-group-ID dropped outside the group unless CAP_FSETID', () => {
  const f = inode(S_IFREG | 0o644, 1000, 50);
  assert.equal(chmodMode(user(2000), f, 0o600), -EPERM);
  assert.equal(chmodMode(user(), f, 0o2755), 0o755);
  assert.equal(chmodMode(user(1000, 1000, [50]), f, 0o2755), 0o2755);
  assert.equal(chmodMode(withCaps(user(2000), bit(CAP_FOWNER)), f, 0o2755), 0o755);
  assert.equal(chmodMode(withCaps(user(2000), bit(CAP_FOWNER) | bit(CAP_FSETID)), f, 0o2755), 0o2755);
});

test('chown: CAP_CHOWN for anything; the owner may only "change" the owner to itself and the group to its own', () => {
  const a = { mode: S_IFREG | 0o644, uid: 1000, gid: 1000 };
  const u = user(1000, 1000, [50]);
  assert.equal(mayChown(u, a, 1000, -1), 0);
  assert.equal(mayChown(u, a, 0, -1), -EPERM);
  assert.equal(mayChown(u, a, -1, 50), 0);
  assert.equal(mayChown(u, a, -1, 0), -EPERM);
  assert.equal(mayChown(user(2000), a, -1, 1000), -EPERM, 'not the owner: even an unchanged group');
  assert.equal(mayChown(withCaps(user(2000), bit(CAP_CHOWN)), a, 0, 0), 0);
});

test('protected_hardlinks and protected_symlinks (both 1, as distributions set them)', () => {
  const u = user();
  assert.equal(mayHardlink(u, { mode: S_IFREG | 0o644, uid: 0, gid: 0 }), -EPERM, 'not writable');
  assert.equal(mayHardlink(u, { mode: S_IFREG | 0o666, uid: 0, gid: 0 }), 0);
  assert.equal(mayHardlink(u, { mode: S_IFREG | 0o4777, uid: 0, gid: 0 }), -EPERM, 'set-user-ID');
  assert.equal(mayHardlink(u, { mode: S_IFREG | 0o600, uid: 1000, gid: 0 }), 0, 'one own file');
  assert.equal(mayHardlink(withCaps(u, bit(CAP_FOWNER)), { mode: S_IFREG | 0o600, uid: 0, gid: 0 }), 0);
  const tmp = { mode: S_IFDIR | 0o1777, uid: 0, gid: 0 };
  assert.equal(mayFollowLink(u, tmp, { mode: 0o120777, uid: 2000, gid: 0 }), -EACCES);
  assert.equal(mayFollowLink(u, tmp, { mode: 0o120777, uid: 1000, gid: 0 }), 0);
  assert.equal(mayFollowLink(u, tmp, { mode: 0o120777, uid: 0, gid: 0 }), 0, 'owned by the directory owner');
  assert.equal(mayFollowLink(u, { ...tmp, mode: S_IFDIR | 0o777 }, { mode: 0o120777, uid: 2000, gid: 0 }), 0);
});

test('mknod of a device needs CAP_MKNOD; access() checks with the real ids and the capabilities of an exec by them', () => {
  assert.equal(mayMknodDevice(root()), 0);
  assert.equal(mayMknodDevice(user()), -EPERM);
  const c = { ...root(), uid: 1000 };
  const a = accessCreds(c, true);
  assert.equal(a.fsuid, 1000);
  assert.equal(a.capEffective, 0n);
  assert.equal(accessCreds({ ...root(), capEffective: 0n }, true).capEffective, CAP_FULL, 'real uid 0: the permitted set');
  assert.equal(accessCreds({ ...c, capEffective: bit(CAP_DAC_READ_SEARCH) }, false).capEffective, bit(CAP_DAC_READ_SEARCH));
  assert.equal(fs(c).fsuid, 0);
});
