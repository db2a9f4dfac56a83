// signalfd/signalfd4 (the file is vfs/signalfd.ts): a new file, or a new mask for an existing one.

import { EBADF, EFAULT, EINVAL } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import { O_CLOEXEC, O_NONBLOCK } from '../../vfs/constants';
import { SignalFdFile } from '../../vfs/signalfd';

function signalfd(t: Task, fd: number, maskAddr: number, size: number, flags: number): number {
  if (size !== 8 || flags & ~(O_CLOEXEC | O_NONBLOCK)) return -EINVAL;
  const b = t.mm.read(maskAddr, 8);
  if (!b) return -EFAULT;
  const mask = new DataView(b.buffer).getBigUint64(0, true);
  if (fd !== -1) {
    const f = t.files.get(fd);
    if (!f) return -EBADF;
    if (!(f instanceof SignalFdFile)) return -EINVAL;
    f.setMask(mask);
    return fd;
  }
  const f = new SignalFdFile(t, 0n, 2 | (flags & O_NONBLOCK));
  f.setMask(mask);
  return t.files.install(f, (flags & O_CLOEXEC) !== 0);
}

export const sysSignalfd = {
  signalfd: (t: Task) => signalfd(t, t.argInt(0), t.arg(1), t.arg(2), 0),
  signalfd4: (t: Task) => signalfd(t, t.argInt(0), t.arg(1), t.arg(2), t.argInt(3)),
};
