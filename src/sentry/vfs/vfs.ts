// The VFS root object the kernel talks to. BOOTSTRAP: executables are read from the host rootfs
// path; the gofer-backed implementation replaces this.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { EACCES, ENOENT } from '../abi/errno';
import type { ExecSource } from '../loader/loader';
import type { Task } from '../kernel/task';

export interface VfsOptions {
  /** Host path of the container's root filesystem. */
  rootfs: string;
  /** The gofer's socket (fd in this process), -1 for none. */
  goferFd: number;
  readonly: boolean;
  mounts: Array<{ destination: string; tree: number; readonly: boolean }>;
}

export interface ExecFile extends ExecSource {
  /** The absolute path inside the container (for /proc/pid/exe). */
  path: string;
  close(): void;
}

export class Vfs {
  constructor(readonly opts: VfsOptions) {}

  /** Open path (relative to the task's cwd) for execve: a regular, executable file. */
  openExec(t: Task, p: string): ExecFile | number {
    const abs = path.posix.resolve(t.fs.cwd, p);
    const host = path.join(this.opts.rootfs, abs);
    let fd: number;
    try {
      fd = fs.openSync(host, 'r');
    } catch {
      return -ENOENT;
    }
    const st = fs.fstatSync(fd);
    if (!st.isFile() || (st.mode & 0o111) === 0) {
      fs.closeSync(fd);
      return -EACCES;
    }
    return {
      path: abs,
      size: st.size,
      info: { name: abs, dev: st.dev, ino: st.ino },
      pread(dst: Uint8Array, pos: number): number {
        let total = 0;
        while (total < dst.length) {
          const n = fs.readSync(fd, dst, total, dst.length - total, pos + total);
          if (n <= 0) break;
          total += n;
        }
        return total;
      },
      close(): void {
        fs.closeSync(fd);
      },
    };
  }
}
