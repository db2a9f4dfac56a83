// A ptrace address space: one moat-stub process. Its mappings are made by syscalls injected into
// one of its stopped threads (the stub's gadget: mmap of its memory file at fd 3 or of an fd
// fetched from the sentry with pidfd_getfd, munmap, mprotect); its seccomp filter kills anything
// else. Which thread runs them, and the fds the stub holds, stay in here.

import { EMFILE, ESRCH } from '../../abi/errno';
import type { AddressSpace, Context } from '../types';
import { PtraceContext } from './context';
import type { PtracePlatform } from './platform';

const NR_MMAP = 9;
const NR_MPROTECT = 10;
const NR_MUNMAP = 11;
const NR_CLONE = 56;
const NR_PIDFD_GETFD = 438;
const PROT_WRITE = 2;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;
const THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000; // VM FS FILES SIGHAND THREAD SYSVSEM
/** In every stub: fd 3 is its memory file, fd 4 a pidfd of the sentry (native/sentry/stub.c). */
export const MEMORY_FD = 3;
export const SENTRY_PIDFD = 4;
/** The most files one stub maps by reference over its life (the stub keeps their fds). */
const STUB_FILES_MAX = 1024;

export class PtraceAddressSpace implements AddressSpace {
  readonly main: PtraceContext;
  /** Its live threads, the first one first. */
  readonly contexts = new Set<PtraceContext>();
  /** The thread that stopped last: where the next injected call runs if it is still stopped. */
  lastStopped: PtraceContext;
  /** The stub's fd of each shared memory object it maps, fetched once (pidfd_getfd). */
  private readonly objectFds = new Map<object, number>();
  /** The stub's fd of each host file it maps by reference (by st_dev:st_ino). */
  private readonly fileFds = new Map<string, number>();
  released = false;

  constructor(private readonly p: PtracePlatform, readonly pid: number) {
    this.main = this.lastStopped = p.adopt(new PtraceContext(p, pid, this, true));
  }

  /** A stopped thread to run an injected call in, or 0. */
  private via(): number {
    this.p.flushResume();
    const l = this.lastStopped;
    if (!l.running && l.injectable && !l.gone) return l.tid;
    for (const c of this.contexts) if (!c.running && c.injectable && !c.gone) return (this.lastStopped = c).tid;
    return 0;
  }

  private inject(nr: number, a0: number, a1: number, a2: number, a3: number, a4: number, a5: number): number {
    const tid = this.via();
    if (tid === 0) return -ESRCH;
    return this.p.native.inject(tid, nr, a0, a1, a2, a3, a4, a5);
  }

  mapMemory(addr: number, len: number, prot: number, off: number): number {
    return this.inject(NR_MMAP, addr, len, prot, MAP_SHARED | MAP_FIXED, MEMORY_FD, off);
  }

  mapObject(addr: number, len: number, prot: number, obj: { readonly fd: number }, off: number): number {
    let fd = this.objectFds.get(obj);
    if (fd === undefined) {
      const tid = this.via();
      if (tid === 0) return -ESRCH;
      fd = this.p.native.inject(tid, NR_PIDFD_GETFD, SENTRY_PIDFD, obj.fd, 0, 0, 0, 0);
      if (fd < 0) return fd;
      this.objectFds.set(obj, fd);
    }
    return this.inject(NR_MMAP, addr, len, prot, MAP_SHARED | MAP_FIXED, fd, off);
  }

  mapFile(addr: number, len: number, prot: number, file: { readonly fd: number; readonly key: string }, off: number): number {
    let fd = this.fileFds.get(file.key);
    const fresh = fd === undefined;
    if (fd === undefined) {
      // The stub keeps its fds (closing one would take an injected call): a bounded number of files.
      if (this.fileFds.size >= STUB_FILES_MAX) return -EMFILE;
      const tid = this.via();
      if (tid === 0) return -ESRCH;
      fd = this.p.native.inject(tid, NR_PIDFD_GETFD, SENTRY_PIDFD, file.fd, 0, 0, 0, 0);
      if (fd < 0) return fd;
    }
    const r = this.inject(NR_MMAP, addr, len, prot & ~PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, off);
    // Kept for the file's next mappings once one worked (an fd that cannot map is not kept).
    if (fresh && r === addr) this.fileFds.set(file.key, fd);
    return r;
  }

  reserve(addr: number, len: number): number {
    return this.inject(NR_MMAP, addr, len, 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  }

  unmap(addr: number, len: number): number {
    return this.inject(NR_MUNMAP, addr, len, 0, 0, 0, 0);
  }

  protect(addr: number, len: number, prot: number): number {
    return this.inject(NR_MPROTECT, addr, len, prot, 0, 0, 0);
  }

  newContext(): Context | number {
    const r = this.inject(NR_CLONE, THREAD_FLAGS, 0, 0, 0, 0, 0);
    if (r < 0) return r;
    // Not used for injected calls before its first own stop.
    return this.p.adopt(new PtraceContext(this.p, this.p.lastNewTid(), this, false));
  }

  cpuNs(): number {
    return this.released ? 0 : this.p.native.processCpuNs(this.pid);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.p.flushResume();
    const n = this.p.native;
    n.tgkill(this.pid, this.pid, 9);
    for (const c of [...this.contexts]) {
      if (c.tid !== this.pid) n.waitTid(c.tid, false);
      this.p.forget(c);
    }
    n.waitTid(this.pid, true);
  }
}
