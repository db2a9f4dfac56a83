// read/write and the vectored forms on open files (the VFS owns the files; this is the copy
// between them and application memory).

import { EBADF, EFAULT, EINVAL, EAGAIN } from '../../abi/errno';
import { BLOCK, type Task } from '../../kernel/task';
import { O_NONBLOCK } from '../../vfs/file';
import type { FileDescription } from '../../vfs';

const IOV_MAX = 1024;

/** Views of application memory for an iovec array; null on EFAULT. */
export function iovecViews(t: Task, iov: number, cnt: number, write: boolean): Uint8Array[] | null | number {
  if (cnt < 0 || cnt > IOV_MAX) return -EINVAL;
  const raw = t.mm.read(iov, cnt * 16);
  if (!raw) return null;
  const dv = new DataView(raw.buffer);
  const out: Uint8Array[] = [];
  for (let i = 0; i < cnt; i++) {
    const base = dv.getUint32(i * 16 + 4, true) * 0x1_0000_0000 + dv.getUint32(i * 16, true);
    const len = dv.getUint32(i * 16 + 12, true) * 0x1_0000_0000 + dv.getUint32(i * 16 + 8, true);
    if (len > 0x7ffff000) return -EINVAL;
    const vs = t.mm.views(base, len, write);
    if (!vs) return null;
    out.push(...vs);
  }
  return out;
}

/** Block on the file if it would block and is not O_NONBLOCK. */
export function maybeBlock(t: Task, f: FileDescription, r: number): number {
  if (r !== -EAGAIN || f.flags & O_NONBLOCK) return r;
  const host = f.hostWatchFd();
  const b = t.block([f.waitQueue]);
  if (host >= 0) t.kernel.watchHostFd(t, host);
  return b;
}

function doRead(t: Task, fd: number, views: Uint8Array[] | null | number, pos: number): number {
  const f = t.files.get(fd);
  if (!f) return -EBADF;
  if (views === null) return -EFAULT;
  if (typeof views === 'number') return views;
  return maybeBlock(t, f, f.read(t, views, pos));
}

function doWrite(t: Task, fd: number, views: Uint8Array[] | null | number, pos: number): number {
  const f = t.files.get(fd);
  if (!f) return -EBADF;
  if (views === null) return -EFAULT;
  if (typeof views === 'number') return views;
  return maybeBlock(t, f, f.write(t, views, pos));
}

export const sysIo = {
  read: (t: Task) => doRead(t, t.argInt(0), t.mm.views(t.arg(1), Math.min(t.arg(2), 0x7ffff000), true), -1),
  write: (t: Task) => doWrite(t, t.argInt(0), t.mm.views(t.arg(1), Math.min(t.arg(2), 0x7ffff000), false), -1),
  readv: (t: Task) => doRead(t, t.argInt(0), iovecViews(t, t.arg(1), t.argInt(2), true), -1),
  writev: (t: Task) => doWrite(t, t.argInt(0), iovecViews(t, t.arg(1), t.argInt(2), false), -1),
  pread64: (t: Task) => (t.argS64(3) < 0 ? -EINVAL : doRead(t, t.argInt(0), t.mm.views(t.arg(1), Math.min(t.arg(2), 0x7ffff000), true), t.argS64(3))),
  pwrite64: (t: Task) => (t.argS64(3) < 0 ? -EINVAL : doWrite(t, t.argInt(0), t.mm.views(t.arg(1), Math.min(t.arg(2), 0x7ffff000), false), t.argS64(3))),
  preadv: (t: Task) => doRead(t, t.argInt(0), iovecViews(t, t.arg(1), t.argInt(2), true), t.argS64(3)),
  pwritev: (t: Task) => doWrite(t, t.argInt(0), iovecViews(t, t.arg(1), t.argInt(2), false), t.argS64(3)),
  close: (t: Task) => t.files.close(t.argInt(0)),
};

void BLOCK;
