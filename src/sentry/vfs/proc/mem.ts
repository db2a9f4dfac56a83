// /proc/<pid>/mem: another process's memory, read and written at the file offset (an address), as
// a debugger does through ptrace. Opening it needs ptrace-attach permission over the process
// (mm_access with PTRACE_MODE_ATTACH_FSCREDS): the same thread group, or the opener's fsuid/fsgid
// equal to every one of the target's uids/gids and the target dumpable, or CAP_SYS_PTRACE. The
// open file keeps the address space it was opened on: after the process exits (or execs) a read
// returns 0, as Linux's does once the mm is gone.

import { EACCES, EINVAL, EIO } from '../../abi/errno';
import { CAP_SYS_PTRACE, capable, type Credentials } from '../../kernel/creds';
import type { Task, ThreadGroup } from '../../kernel/task';
import type { MemoryManager } from '../../mm/mm';
import { SEEK_CUR, SEEK_SET } from '../constants';
import { FileDescription } from '../file';
import type { Location } from '../mount';
import type { FsCreds } from '../permission';
import type { ProcOpener } from './node';

/**
 * __ptrace_may_access for PTRACE_MODE_ATTACH_FSCREDS, and for READ_FSCREDS alike (they differ only
 * in LSM hooks, which the sentry has none of; one user namespace).
 */
export function ptraceMayAttach(caller: { creds: FsCreds; tgid: number }, target: { creds: Credentials; tg: ThreadGroup }): boolean {
  if (caller.tgid === target.tg.tgid) return true;
  const c = caller.creds;
  const t = target.creds;
  if (capable(c, CAP_SYS_PTRACE)) return true;
  const same = c.fsuid === t.uid && c.fsuid === t.euid && c.fsuid === t.suid && c.fsgid === t.gid && c.fsgid === t.egid && c.fsgid === t.sgid;
  return same && target.tg.dumpable !== 0;
}

/** PTRACE_MODE_READ_FSCREDS over target's process for the opener of one of its files: 0 or -EACCES. */
export function mayRead(opener: ProcOpener, target: Task): number {
  return opener.tg && ptraceMayAttach({ creds: opener.creds, tgid: opener.tg.tgid }, { creds: target.creds, tg: target.tg }) ? 0 : -EACCES;
}

/** The open() of /proc/<pid>/mem for the process of `target` whose memory is mm. */
export function openMem(opener: ProcOpener, target: Task, mm: MemoryManager | undefined, flags: number, loc: Location): FileDescription | number {
  if (!opener.tg || !ptraceMayAttach({ creds: opener.creds, tgid: opener.tg.tgid }, { creds: target.creds, tg: target.tg })) return -EACCES;
  // A process without an address space (gone already): the file opens and reads nothing.
  return new MemFile(loc, flags, mm);
}

class MemFile extends FileDescription {
  constructor(loc: Location, flags: number, private readonly mm: MemoryManager | undefined) {
    super(flags);
    this.location = loc;
  }

  private access(bufs: Uint8Array[], pos: number, write: boolean): number {
    const mm = this.mm;
    if (!mm || mm.destroyed) return 0;
    let p = pos < 0 ? this.offset : pos;
    let total = 0;
    for (const b of bufs) {
      const n = mm.forceAccess(p, b, write);
      total += n;
      p += n;
      if (n < b.length) break;
    }
    // Nothing there at the first byte: EIO (access_remote_vm copied nothing).
    if (total === 0 && bufs.some((b) => b.length > 0)) return -EIO;
    if (pos < 0) this.offset = p;
    return total;
  }

  override read(_t: Task, dst: Uint8Array[], pos: number): number {
    return this.access(dst, pos, false);
  }

  override write(t: Task, src: Uint8Array[], pos: number): number {
    // Read-only file pages (by reference) become the process's own first, remapped while one of
    // its threads is stopped; with none stopped (all running) the write stops there (EIO, where
    // Linux would copy the page).
    void t;
    return this.access(src, pos, true);
  }

  /** Addresses: SEEK_SET and SEEK_CUR only (there is no end). */
  override seek(off: number, whence: number): number {
    const n = whence === SEEK_SET ? off : whence === SEEK_CUR ? this.offset + off : -1;
    if (n < 0 || !Number.isSafeInteger(n)) return -EINVAL;
    return (this.offset = n);
  }
}
