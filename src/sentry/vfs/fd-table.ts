// The file descriptor table (struct files_struct): shared by CLONE_FILES threads, copied by fork.

import { EBADF, EMFILE } from '../abi/errno';
import type { FileDescription } from './file';
import { dropPosixLocks } from './lock';

export interface FdEntry {
  file: FileDescription;
  cloexec: boolean;
}

export class FdTable {
  readonly fds = new Map<number, FdEntry>();
  refs = 1;
  limit = 1024;

  /** fd is open with FD_CLOEXEC. */
  isCloexec(fd: number): boolean {
    return this.fds.get(fd)?.cloexec ?? false;
  }

  get(fd: number): FileDescription | undefined {
    return this.fds.get(fd)?.file;
  }

  /** Install at the lowest free fd ≥ min; takes over the caller's reference. */
  install(file: FileDescription, cloexec: boolean, min = 0): number {
    let fd = min;
    while (this.fds.has(fd)) fd++;
    if (fd >= this.limit) {
      file.decRef();
      return -EMFILE;
    }
    this.fds.set(fd, { file, cloexec });
    return fd;
  }

  /** Install at exactly fd (dup2), closing what was there. */
  installAt(fd: number, file: FileDescription, cloexec: boolean): number {
    if (fd < 0 || fd >= this.limit) {
      file.decRef();
      return -EBADF;
    }
    const old = this.fds.get(fd);
    this.fds.set(fd, { file, cloexec });
    if (old) {
      dropPosixLocks(old.file, this);
      old.file.decRef();
    }
    return fd;
  }

  close(fd: number): number {
    const e = this.fds.get(fd);
    if (!e) return -EBADF;
    this.fds.delete(fd);
    // POSIX locks belong to the fd table (Linux's files_struct): any close of the file drops them.
    dropPosixLocks(e.file, this);
    e.file.decRef();
    return 0;
  }

  fork(): FdTable {
    const t = new FdTable();
    t.limit = this.limit;
    for (const [fd, e] of this.fds) t.fds.set(fd, { file: e.file.incRef(), cloexec: e.cloexec });
    return t;
  }

  closeOnExec(): void {
    for (const [fd, e] of [...this.fds]) if (e.cloexec) this.close(fd);
  }

  /** The last task using this table is gone. */
  release(): void {
    if (--this.refs > 0) return;
    for (const fd of [...this.fds.keys()]) this.close(fd);
  }
}
