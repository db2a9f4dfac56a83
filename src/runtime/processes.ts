// Signalling and waiting for container processes, always through verified pidfds.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { openVerifiedPidfd, pidNamespaceOf, readProcStat } from '../state/process';
import { sys } from '../sys';
import { MoatError } from '../util/errors';

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

/** SIGKILL the verified init and wait (bounded) until it has exited. */
export function killAndWait(pid: number, startTime: string): void {
  const fd = openVerifiedPidfd(pid, startTime);
  if (fd === undefined) return;
  try {
    sys().pidfdSendSignal(fd, 9);
    if (!sys().pidfdWaitExit(fd, 10_000)) throw new MoatError('EINTERNAL', `process ${pid} did not exit after SIGKILL`);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ESRCH') throw err;
  } finally {
    fs.closeSync(fd);
  }
}

export function writePidFile(file: string, pid: number): void {
  const abs = path.resolve(file);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}`);
  fs.writeFileSync(tmp, String(pid), { mode: 0o644 });
  fs.renameSync(tmp, abs);
}


