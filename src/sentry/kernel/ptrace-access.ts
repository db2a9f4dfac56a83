// ptrace_may_access(PTRACE_MODE_READ_REALCREDS): may one task read another's private state
// (get_robust_list; Linux asks the same for /proc/pid/mem, kcmp, process_vm_readv)? Its own
// process always; another when the caller's real uid and gid are each of the target's (real,
// effective, saved), the target is dumpable and holds no capability the caller lacks — or the
// caller has CAP_SYS_PTRACE (one user namespace: the sandbox's).

import { CAP_SYS_PTRACE, capable } from './creds';
import type { Task } from './task';

export function mayReadTask(t: Task, target: Task): boolean {
  if (t.tg === target.tg) return true;
  if (capable(t.creds, CAP_SYS_PTRACE)) return true;
  const c = t.creds;
  const o = target.creds;
  const ids = c.uid === o.uid && c.uid === o.euid && c.uid === o.suid && c.gid === o.gid && c.gid === o.egid && c.gid === o.sgid;
  if (!ids || target.tg.dumpable !== 1) return false;
  return (o.capPermitted & ~c.capPermitted) === 0n;
}
