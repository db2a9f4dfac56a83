// The credentials a task has after execve (fs/exec.c bprm_fill_uid and security/commoncap.c
// cap_bprm_creds_from_file), for a file without file capabilities (the sentry's file systems
// keep no security.capability attributes, so "file caps" are always empty):
//   - a set-user-ID / set-group-ID (with group x) file sets the effective uid / gid, unless the
//     mount is nosuid or the task has no_new_privs;
//   - uid 0 (real or effective, unless SECBIT_NOROOT) gets the bounding and inheritable sets as
//     permitted, and as effective when it is the effective uid; anyone else keeps only ambient;
//   - a change of id clears the ambient set; with no_new_privs nothing is gained;
//   - SECBIT_KEEP_CAPS is cleared; AT_SECURE is set for a privilege-raising exec.

import {
  copyCreds, isSecure, SECBIT_KEEP_CAPS, SECBIT_NOROOT, type Credentials,
} from './creds';

export interface ExecFileIds {
  mode: number;
  uid: number;
  gid: number;
  /** The file's mount is nosuid. */
  nosuid: boolean;
}

const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_IXGRP = 0o010;

export function execCreds(o: Credentials, f: ExecFileIds): { creds: Credentials; secure: boolean } {
  const n = copyCreds(o);
  if (!f.nosuid && !o.noNewPrivs) {
    if (f.mode & S_ISUID) n.euid = f.uid;
    if ((f.mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) n.egid = f.gid;
  }
  n.capPermitted = 0n;
  let effective = false;
  if (!isSecure(o, SECBIT_NOROOT)) {
    if (n.euid === 0 || n.uid === 0) n.capPermitted = o.capBounding | o.capInheritable;
    if (n.euid === 0) effective = true;
  }
  const gained = (n.capPermitted & ~o.capPermitted) !== 0n;
  const isSetid = n.euid !== o.uid || n.egid !== o.gid;
  if ((isSetid || gained) && o.noNewPrivs) {
    n.euid = n.uid;
    n.egid = n.gid;
    n.capPermitted &= o.capPermitted;
  }
  n.suid = n.fsuid = n.euid;
  n.sgid = n.fsgid = n.egid;
  if (isSetid) n.capAmbient = 0n;
  n.capPermitted |= n.capAmbient;
  n.capEffective = effective ? n.capPermitted : n.capAmbient;
  n.securebits &= ~SECBIT_KEEP_CAPS;
  const grew = (n.capPermitted & ~n.capAmbient) !== 0n;
  const secure = isSetid || (n.uid !== 0 && (effective || grew));
  return { creds: n, secure };
}
