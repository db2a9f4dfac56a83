// Signalling and waiting for container processes, always through verified pidfds.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { openVerifiedPidfd, pidNamespaceOf, readProcStat } from '../state/process';
import { sys } from '../sys';
import { MoatError } from '../util/errors';
import { callerPath } from '../util/caller';

/** Signal a pid found by scanning /proc, re-checking through a pidfd that it is still in the namespace. */
export function signalInNamespace(pid: number, nsLink: string, signal: number): void {
  const st = readProcStat(pid);
  if (!st) return;
  const fd = openVerifiedPidfd(pid, st.startTime);
  if (fd === undefined) return;
  try {
    if (pidNamespaceOf(pid) === nsLink) sys().pidfdSendSignal(fd, signal);
  } catch {
    // it exited meanwhile
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * How long a SIGKILLed process may take to exit. The wait is on its pidfd, so this costs nothing when
 * it is quick; but a big process (a sentry's Node, a VMM with GiBs mapped) tearing down its memory
 * on a loaded host can take well over the 10 s this once was, and "did not exit after SIGKILL" then
 * failed a delete that only had to wait.
 */
export const KILL_WAIT_MS = 60_000;

/** SIGKILL the verified init and wait (bounded) until it has exited. */
export function killAndWait(pid: number, startTime: string): void {
  const fd = openVerifiedPidfd(pid, startTime);
  if (fd === undefined) return;
  try {
    sys().pidfdSendSignal(fd, 9);
    if (!sys().pidfdWaitExit(fd, KILL_WAIT_MS)) {
      throw new MoatError('EINTERNAL', `process ${pid} did not exit within ${KILL_WAIT_MS / 1000} s of SIGKILL (state ${readProcStat(pid)?.state ?? 'gone'}, wchan ${wchan(pid)})`);
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ESRCH') throw err;
  } finally {
    fs.closeSync(fd);
  }
}

function wchan(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/wchan`, 'utf8') || '-';
  } catch {
    return '?';
  }
}

export function writePidFile(file: string, pid: number): void {
  const abs = path.resolve(callerPath(file));
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}`);
  fs.writeFileSync(tmp, String(pid), { mode: 0o644 });
  fs.renameSync(tmp, abs);
}


