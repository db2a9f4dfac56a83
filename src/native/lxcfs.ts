// A container-aware /proc on the native platform, opt-in (annotation dev.moat.lxcfs=true): an
// lxcfs daemon of the container's own (Debian package lxcfs) serves, on a FUSE mount in its state
// directory, /proc/meminfo, cpuinfo, stat, … as seen from the reader's cgroups, and the container
// gets those files bound over its own. Asked for and not possible (lxcfs not installed, or its
// daemon does not come up): create fails naming the annotation — never a silent host view. delete
// stops the daemon and unmounts its directory: nothing is left mounted.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Mount, Spec } from '../spec/types';
import type { LxcfsRecord } from '../state/store';
import { callerEnv } from '../util/caller';
import { readProcStat, signalVerified } from '../state/process';
import { MoatError } from '../util/errors';
import { ownMounts } from '../util/mountinfo';
import { sleepMs } from '../util/sleep';

export const LXCFS_ANNOTATION = 'dev.moat.lxcfs';
/** The files lxcfs virtualizes that the container gets (relative to its mount and to /). */
export const LXCFS_FILES = [
  'proc/cpuinfo', 'proc/diskstats', 'proc/loadavg', 'proc/meminfo', 'proc/stat', 'proc/swaps', 'proc/uptime',
  'sys/devices/system/cpu/online',
];
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;
const LXCFS_BINARIES = ['/usr/bin/lxcfs', '/usr/local/bin/lxcfs'];

/** Whether the spec asks for lxcfs: "true" or "false" (absent: no); anything else is refused. */
export function wantsLxcfs(spec: Spec): boolean {
  const v = spec.annotations?.[LXCFS_ANNOTATION];
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw new MoatError('EUSAGE', `annotations.${LXCFS_ANNOTATION}: ${JSON.stringify(v)} is not "true" or "false"`);
}

/** The spec's mounts with lxcfs's files bound read-only over /proc's and /sys's (after them). */
export function withLxcfsMounts<S extends Spec>(spec: S, mountDir: string): S {
  const binds: Mount[] = LXCFS_FILES.map((f) => ({ destination: `/${f}`, type: 'bind', source: path.join(mountDir, f), options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] }));
  return { ...spec, mounts: [...(spec.mounts ?? []), ...binds] };
}

/** The lxcfs program: $MOAT_LXCFS (a non-standard install), else the Debian package's. */
function lxcfsBinary(): string {
  const env = callerEnv('MOAT_LXCFS');
  const bin = env !== undefined && env !== '' ? (fs.existsSync(env) ? env : undefined) : LXCFS_BINARIES.find((b) => fs.existsSync(b));
  if (!bin) {
    throw new MoatError('EUSAGE', `annotations.${LXCFS_ANNOTATION}: lxcfs is not installed (Debian package lxcfs); without it the container would see the host's /proc/meminfo and CPUs, so it is not started`);
  }
  return bin;
}

function isLxcfsMount(dir: string): boolean {
  return ownMounts().some((m) => m.mountPoint === dir && m.fstype === 'fuse.lxcfs');
}

/**
 * Start the container's lxcfs on `<stateDir>/lxcfs` and wait until it serves every file the
 * container will get. `record` is called as soon as the daemon exists (delete stops it).
 */
export function startLxcfs(stateDir: string, record: (r: LxcfsRecord) => void): LxcfsRecord {
  const bin = lxcfsBinary();
  const dir = path.join(stateDir, 'lxcfs');
  if (/\s/.test(dir)) throw new MoatError('EUSAGE', `annotations.${LXCFS_ANNOTATION}: the state directory ${dir} has white space (cannot be told apart in mountinfo)`);
  fs.mkdirSync(dir, { mode: 0o755 });
  const logFile = path.join(stateDir, 'lxcfs.log');
  const log = fs.openSync(logFile, 'w', 0o600);
  let child;
  try {
    // -f: stay in the foreground (our child, stopped by pid); -l: loadavg per container;
    // --enable-cfs: CPUs from the CPU quota too, not only the cpuset.
    child = spawn(bin, ['-f', '-l', '--enable-cfs', '-p', path.join(stateDir, 'lxcfs.pid'), dir], { stdio: ['ignore', log, log], detached: true });
  } finally {
    fs.closeSync(log);
  }
  child.on('error', () => undefined); // not executable: seen below as a daemon that did not start
  child.unref();
  const pid = child.pid;
  const st = pid !== undefined ? readProcStat(pid) : undefined;
  if (pid === undefined || !st) throw new MoatError('ESETUP', `annotations.${LXCFS_ANNOTATION}: ${bin} did not start: ${tail(logFile)}`);
  const rec: LxcfsRecord = { pid, startTime: st.startTime, dir };
  record(rec);
  const end = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (isLxcfsMount(dir) && LXCFS_FILES.every((f) => fs.existsSync(path.join(dir, f)))) return rec;
    if (readProcStat(pid)?.startTime !== st.startTime || Date.now() > end) {
      stopLxcfs(rec);
      throw new MoatError('ESETUP', `annotations.${LXCFS_ANNOTATION}: lxcfs did not come up on ${dir}: ${tail(logFile)}`);
    }
    sleepMs(20);
  }
}

function tail(file: string): string {
  try {
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').filter((l) => l !== '');
    return lines.slice(-3).join(' / ') || 'no message';
  } catch {
    return 'no message';
  }
}

/** Stop the daemon (TERM: it unmounts itself; then KILL) and make sure nothing is left mounted. */
export function stopLxcfs(rec: LxcfsRecord): void {
  const alive = () => {
    try {
      return readProcStat(rec.pid)?.startTime === rec.startTime && !fs.readFileSync(`/proc/${rec.pid}/stat`, 'utf8').includes(') Z');
    } catch {
      return false;
    }
  };
  if (alive()) {
    signalVerified(rec.pid, rec.startTime, 15);
    const end = Date.now() + STOP_TIMEOUT_MS;
    while (alive() && Date.now() < end) sleepMs(10);
    if (alive()) signalVerified(rec.pid, rec.startTime, 9);
  }
  if (isLxcfsMount(rec.dir)) {
    const r = spawnSync('umount', ['-l', rec.dir], { encoding: 'utf8' });
    if (r.status !== 0 && isLxcfsMount(rec.dir)) throw new MoatError('EINTERNAL', `lxcfs: cannot unmount ${rec.dir}: ${(r.stderr || r.error?.message || '').trim()}`);
  }
  fs.rmSync(rec.dir, { recursive: true, force: true });
}
