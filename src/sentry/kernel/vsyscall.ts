// The legacy vsyscall page (0xffffffffff600000): old static binaries (glibc before 2.15, Go
// before 1.3) call gettimeofday, time and getcpu at fixed addresses there. Linux with
// vsyscall=xonly (the host's default, and what runc's containers get) emulates those calls when
// the page faults; with vsyscall=none the call is a SIGSEGV. The sentry follows the host: the
// stub's seccomp filter turns a host emulation of a vsyscall into SIGSYS (SECCOMP_RET_TRAP, with
// the call skipped and the `ret` already done), and the sentry serves the call here instead.

import { readFileSync } from 'node:fs';
import { EFAULT } from '../abi/errno';
import { REG } from '../platform/registers';
import { faultSignal } from './signals';
import type { Task } from './task';

/** The page's address, in halves (a number near 2^64 is not exact). */
const VSYSCALL_HI = 0xffff_ffff;
const VSYSCALL_LO = 0xff60_0000;
const SIGSYS = 31;
const SIGSEGV = 11;
const SYS_SECCOMP = 1;
const SI_KERNEL = 0x80;
/** Entry offset in the page → the syscall Linux emulates there. */
const ENTRIES = new Map<number, number>([
  [0x000, 96], // gettimeofday
  [0x400, 201], // time
  [0x800, 309], // getcpu
]);

let hostHasPage: boolean | undefined;

/** Whether the host emulates the page (its own /proc/self/maps shows it), as the sandbox then does. */
export function vsyscallEnabled(): boolean {
  if (hostHasPage === undefined) {
    try {
      hostHasPage = /\[vsyscall\]$/m.test(readFileSync('/proc/self/maps', 'utf8'));
    } catch {
      hostHasPage = false;
    }
  }
  return hostHasPage;
}

/** The line /proc/<pid>/maps ends with when the page is there (Linux's gate VMA). */
export const VSYSCALL_MAPS_LINE = 'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n';

/**
 * A fault stop of t: if it is the stub filter's SIGSYS for a vsyscall, serve the call and return
 * true (t's registers are already past the call). A bad entry address cannot get here: the host
 * sends SIGSEGV for it before seccomp is asked.
 */
export function emulateVsyscall(t: Task, signal: number, code: number, callHi: number, callLo: number): boolean {
  if (signal !== SIGSYS || code !== SYS_SECCOMP) return false;
  if (callHi !== VSYSCALL_HI || (callLo & ~0xfff) >>> 0 !== VSYSCALL_LO) return false;
  const off = callLo & 0xfff;
  const nr = ENTRIES.get(off);
  if (nr === undefined) {
    faultSignal(t, SIGSEGV, SI_KERNEL, 0);
    return true;
  }
  const r = t.kernel.syscalls.dispatch(t, nr);
  t.kernel.opts.tracer?.log(`[${t.tid}] vsyscall ${off.toString(16)} = ${r}`);
  // A bad pointer given to a vsyscall is a SIGSEGV, not EFAULT (Linux's check_fault).
  if (r === -EFAULT) faultSignal(t, SIGSEGV, SI_KERNEL, 0);
  else t.regs.set(REG.rax, r);
  return true;
}
