// Extended attributes: no file in the sentry has any, and none can be set. The path or fd is
// still checked (a missing file is ENOENT, not ENODATA), as Linux would.

import { ENODATA, EOPNOTSUPP } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import { AT_FDCWD } from '../../vfs/constants';
import { fileOf, targetAt } from './vfs_args';

function byPath(t: Task, follow: boolean, result: number): number {
  const x = targetAt(t, AT_FDCWD, t.arg(0), 0, follow);
  return typeof x === 'number' ? x : result;
}

function byFd(t: Task, result: number): number {
  const f = fileOf(t, t.argInt(0));
  return typeof f === 'number' ? f : result;
}

export const sysXattr = {
  getxattr: (t: Task) => byPath(t, true, -ENODATA),
  lgetxattr: (t: Task) => byPath(t, false, -ENODATA),
  fgetxattr: (t: Task) => byFd(t, -ENODATA),
  listxattr: (t: Task) => byPath(t, true, 0),
  llistxattr: (t: Task) => byPath(t, false, 0),
  flistxattr: (t: Task) => byFd(t, 0),
  setxattr: (t: Task) => byPath(t, true, -EOPNOTSUPP),
  lsetxattr: (t: Task) => byPath(t, false, -EOPNOTSUPP),
  fsetxattr: (t: Task) => byFd(t, -EOPNOTSUPP),
  removexattr: (t: Task) => byPath(t, true, -ENODATA),
  lremovexattr: (t: Task) => byPath(t, false, -ENODATA),
  fremovexattr: (t: Task) => byFd(t, -ENODATA),
};

