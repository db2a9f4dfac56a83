// Process identity. A pid alone can be recycled; (pid, start time) cannot, within one boot.
// Signals go through a pidfd opened *then* checked against the recorded start time, so a recycled
// pid is never signalled.

import * as fs from 'node:fs';
import { sys } from '../sys';

export interface ProcStat {
  state: string;
  ppid: number;
  /** Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
  startTime: string;
}

export function parseProcStat(text: string): ProcStat | undefined {
  // comm (field 2) may contain spaces and parentheses: parse after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field 22 is rest[19].
  const state = rest[0];
  const ppid = Number(rest[1]);
  const startTime = rest[19];
  if (state === undefined || startTime === undefined || !Number.isFinite(ppid)) return undefined;
  return { state, ppid, startTime };
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The process exists, is the one we started (same start time) and has not exited (not a zombie). */
export function isLive(pid: number, startTime: string): boolean {
  if (pid <= 0) return false;
  const st = readProcStat(pid);
  return st !== undefined && st.startTime === startTime && st.state !== 'Z' && st.state !== 'X';
}

/**
 * Open a pidfd for (pid, startTime), or undefined when that process is gone. The check after the
 * open is what makes it safe: if the start time matches now, the pidfd is the right process and
 * stays so even if the pid is recycled later.
 */
export function openVerifiedPidfd(pid: number, startTime: string): number | undefined {
  let fd: number;
  try {
    fd = sys().pidfdOpen(pid);
  } catch {
    return undefined;
  }
  if (!isLive(pid, startTime)) {
    fs.closeSync(fd);
    return undefined;
  }
  return fd;
}

/** Send a signal to the verified process; false if it is already gone. */
export function signalVerified(pid: number, startTime: string, signal: number): boolean {
  const fd = openVerifiedPidfd(pid, startTime);
  if (fd === undefined) return false;
  try {
    sys().pidfdSendSignal(fd, signal);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ESRCH') return false;
    throw err;
  } finally {
    fs.closeSync(fd);
  }
}

/** Pid namespace inode of a process (`pid:[4026531836]`), or undefined if it is gone. */
export function pidNamespaceOf(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** Every host pid whose pid namespace is `nsLink`. */
export function pidsInNamespace(nsLink: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (pidNamespaceOf(Number(name)) === nsLink) out.push(Number(name));
  }
  return out;
}
