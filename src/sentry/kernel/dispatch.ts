// What the kernel is given to serve syscalls with, instead of importing it: the syscall table
// (syscalls/linux/table.ts: linuxSyscalls) and, under --strace, a tracer (syscalls/linux/strace.ts).
// A test gives its own table; another ABI would give another.

import type { Task } from './task';

export interface SyscallTable {
  /** Serve syscall nr for t: its result, -errno, or BLOCK (parked). */
  dispatch(t: Task, nr: number): number;
  /** The syscall's name (for reports and traces). */
  name(nr: number): string;
}

export interface SyscallTracer {
  /** A line of the trace (the kernel's own notes too: faults, failed execs). */
  log(line: string): void;
  /** "[tid] name(args" before the call, while the arguments are still the caller's. */
  enter(t: Task, nr: number): string;
  /** The buffer argument's address, read before the call. */
  buffer(t: Task, nr: number): number;
  /** ") = result", with the bytes the call read or wrote. */
  exit(t: Task, nr: number, entered: string, r: number, bufAddr: number): string;
  /** The gofer round trips the call made (counts per op, before and after). */
  goferNote(before: readonly number[], after: readonly number[]): string;
}
