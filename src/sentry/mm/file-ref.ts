// Private file pages by reference: a private mapping of a file that the application cannot write
// through (no PROT_WRITE) maps the file's own host pages into the stub, read-only, instead of a
// copy in the address space's memory file. The host's page cache is then the one copy of a
// library's text for every process of the sandbox (and the host), read lazily by the host kernel,
// and a file's later changes show in the pages no process has written, as Linux's MAP_PRIVATE
// does. A page becomes the process's own (copied into its memory file) the moment it could be
// written: mprotect adding PROT_WRITE, a debugger's poke (mm.ts, breakRef).
//
// The stub holds a host fd of the file (fetched with pidfd_getfd, as it fetches shared objects'
// memfds); the application cannot reach it: it has no host syscall but those the sentry injects.
// The sentry never maps the file itself: a file cut short under a mapping would SIGBUS the sentry.
// It reads these pages with pread on the fd (a short read past the end is EFAULT, as the fault
// would be).

import * as fs from 'node:fs';
import { PAGE } from './layout';

/** A host fd of a file's bytes, held (not closed, not reused) until release. */
export interface HostFile {
  readonly fd: number;
  release(): void;
}

/** The most FileRefs alive at once (mappings made by reference, before splits and forks share them). */
const MAX_HELD = 4096;

export class FileRef {
  refs = 1;
  /** The host file's identity (st_dev:st_ino): the key of the stubs' fds of it. */
  readonly key: string;

  private constructor(readonly host: HostFile, key: string) {
    this.key = key;
  }

  /** The sentry's host fd of the file (what the platform's address space maps from). */
  get fd(): number {
    return this.host.fd;
  }

  /** Host files held by mappings now (each holds a host fd of the sentry's open past its close). */
  static live = 0;

  /**
   * A reference to the file behind host (which it now owns), or undefined if it cannot be stat'd
   * or MAX_HELD are held already (the mapping is then a copy: an application mapping many files
   * must not pin as many host fds in the sentry).
   */
  static of(host: HostFile): FileRef | undefined {
    if (FileRef.live >= MAX_HELD) {
      host.release();
      return undefined;
    }
    try {
      const st = fs.fstatSync(host.fd, { bigint: true });
      if (!st.isFile()) {
        host.release();
        return undefined;
      }
      FileRef.live++;
      return new FileRef(host, `${st.dev}:${st.ino}`);
    } catch {
      host.release();
      return undefined;
    }
  }

  ref(): this {
    this.refs++;
    return this;
  }

  unref(): void {
    if (--this.refs > 0) return;
    FileRef.live--;
    this.host.release();
  }

  /**
   * What a mapping of the file shows at file offset pos, into dst: the file's bytes, then zeroes to
   * the end of its last page. Returns how many bytes of dst that covers; short where the mapping
   * would fault (past the last page, or the file cannot be read).
   */
  read(dst: Uint8Array, pos: number): number {
    let total = 0;
    try {
      while (total < dst.length) {
        const n = fs.readSync(this.host.fd, dst, total, dst.length - total, pos + total);
        if (n <= 0) break;
        total += n;
      }
      if (total === dst.length) return total;
      const size = Number(fs.fstatSync(this.host.fd).size);
      const valid = Math.min(dst.length, Math.max(total, Math.ceil(size / PAGE) * PAGE - pos));
      dst.fill(0, total, valid);
      return valid;
    } catch {
      return total;
    }
  }
}
