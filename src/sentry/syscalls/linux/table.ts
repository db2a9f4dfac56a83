// The dispatch table: syscall number → handler, one file per family (sys_*.ts), as gVisor's
// syscalls/linux. A number with no handler returns ENOSYS, reported once by name; nothing ever
// reaches the host on the application's behalf.

import { EFAULT, ENOSYS } from '../../abi/errno';
import { SYSCALLS_X86_64 } from '../../../abi/syscalls';
import type { SyscallTable } from '../../kernel/dispatch';
import type { Task } from '../../kernel/task';

/** A syscall handler: arguments from t.arg*(i); returns the result, -errno, or BLOCK. */
export type SyscallHandler = (t: Task) => number;

const MAX_NR = 512;
const handlers: Array<SyscallHandler | undefined> = new Array<SyscallHandler | undefined>(MAX_NR);
const names: string[] = [];
for (const [name, nr] of Object.entries(SYSCALLS_X86_64)) names[nr] = name;

/** Register a family's handlers by syscall name (a typo fails at start-up, not at run time). */
export function register(family: Record<string, SyscallHandler>): void {
  for (const [name, h] of Object.entries(family)) {
    const nr = SYSCALLS_X86_64[name];
    if (nr === undefined) throw new Error(`sentry: no syscall named ${name}`);
    handlers[nr] = h;
  }
}

export function syscallName(nr: number): string {
  return (nr >= 0 && names[nr]) || `syscall_${nr}`;
}

export function dispatchSyscall(t: Task, nr: number): number {
  const h = nr >= 0 && nr < MAX_NR ? handlers[nr] : undefined;
  if (!h) {
    t.kernel.unimplemented(t, nr);
    return -ENOSYS;
  }
  try {
    return h(t);
  } catch (err) {
    // A bug of the sentry's, reached by the application's arguments: the call fails (EFAULT),
    // the sandbox lives on, and the bug is reported with what triggered it.
    t.kernel.internalError(t, syscallName(nr), err);
    return -EFAULT;
  }
}

/** The implemented syscalls, by name (for `moat sentry-syscalls`). */
export function implementedSyscalls(): string[] {
  const out: string[] = [];
  for (let nr = 0; nr < MAX_NR; nr++) if (handlers[nr]) out.push(names[nr] ?? `syscall_${nr}`);
  return out.sort();
}

/** This table as the kernel is given it (KernelOptions.syscalls). */
export const linuxSyscalls: SyscallTable = { dispatch: dispatchSyscall, name: syscallName };
