// The part of cgroups that touches the machine: mkdir, write, read, rmdir, freeze, device programs.
// Every decision was made by the pure planners; this only carries a CgroupPlan out.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupRecord } from '../../state/store';
import { sys } from '../../sys';
import { errnoCode, messageOf, MoatError } from '../../util/errors';
import { DEVICE_PROGRAM_LICENSE } from './bpf';
import { CGROUP_ROOT } from './layout';
import { DEFAULT_CGROUP_PARENT } from './paths';
import type { CgroupPlan, PlannedWrite } from './plan';
import type { CgroupFiles } from './stats';
import { sleepMs } from '../../util/sleep';

function mountpointOf(name: string): string {
  return name === '' ? CGROUP_ROOT : `${CGROUP_ROOT}/${name}`;
}

function readTrim(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}

function writeFile(file: string, value: string): void {
  // One write(2) of the whole value: cgroup files parse each write on its own.
  const fd = fs.openSync(file, fs.constants.O_WRONLY);
  try {
    fs.writeSync(fd, value);
  } finally {
    fs.closeSync(fd);
  }
}

/** v1 cpuset: a new cgroup starts with empty cpus/mems and cannot take tasks; inherit the parent's. */
function inheritCpuset(dir: string): void {
  for (const file of ['cpuset.cpus', 'cpuset.mems']) {
    if (readTrim(`${dir}/${file}`) === '') writeFile(`${dir}/${file}`, readTrim(`${path.dirname(dir)}/${file}`));
  }
}

/** v2: enable on an ancestor what the children need and the ancestor has (best effort, like runc). */
function enableControllers(dir: string, wanted: readonly string[]): void {
  const available = new Set(readTrim(`${dir}/cgroup.controllers`).split(' '));
  const enabled = new Set(readTrim(`${dir}/cgroup.subtree_control`).split(' '));
  for (const c of wanted) {
    if (!available.has(c) || enabled.has(c)) continue;
    try {
      writeFile(`${dir}/cgroup.subtree_control`, `+${c}`);
    } catch {
      // e.g. a threaded subtree, or processes in dir: the controller's files will be missing and a
      // write that needs them names the field.
    }
  }
}

/** mkdir -p below the mount point, returning the directories created (top-down). */
function makeDirs(mountpoint: string, dir: string, plan: CgroupPlan, name: string): string[] {
  const created: string[] = [];
  let cur = mountpoint;
  for (const part of dir.slice(mountpoint.length).split('/').filter((p) => p !== '')) {
    if (plan.version === 2) enableControllers(cur, plan.controllers);
    cur = `${cur}/${part}`;
    try {
      fs.mkdirSync(cur, { mode: 0o755 });
      created.push(cur);
      if (name === 'cpuset' || name.split(',').includes('cpuset')) inheritCpuset(cur);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
  }
  return created;
}

/** makeDirs, again from the top if a concurrent delete removed a shared parent under our feet. */
function makeDirsRetrying(mountpoint: string, dir: string, plan: CgroupPlan, name: string): string[] {
  for (let attempt = 0; ; attempt++) {
    try {
      return makeDirs(mountpoint, dir, plan, name);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' || attempt >= 3) throw err;
    }
  }
}

/**
 * What createCgroupDirs is about to create, recorded before it starts (write-ahead): a moat
 * killed half-way through leaves a state whose delete removes every directory that came to exist.
 * Removal tolerates the ones that never did.
 */
export function plannedCgroupRecord(plan: CgroupPlan): CgroupRecord {
  const rec: CgroupRecord = { version: plan.version, dirs: plan.dirs, created: [] };
  for (const [name, dir] of Object.entries(plan.dirs)) {
    const mountpoint = mountpointOf(name);
    const missing: string[] = [];
    for (let d = dir; d.startsWith(`${mountpoint}/`) && !fs.existsSync(d); d = path.dirname(d)) missing.push(d);
    const sharedParent = `${mountpoint}${DEFAULT_CGROUP_PARENT}`;
    if (path.dirname(dir) === sharedParent && !missing.includes(sharedParent)) missing.push(sharedParent);
    rec.created.push(...missing); // deepest first, as removal needs
  }
  return rec;
}

/**
 * Create every directory of the plan. Directories that existed are joined but never removed, except
 * moat's default parent (/moat), which delete removes once empty whoever created it.
 */
export function createCgroupDirs(plan: CgroupPlan): CgroupRecord {
  const rec: CgroupRecord = { version: plan.version, dirs: plan.dirs, created: [] };
  try {
    for (const [name, dir] of Object.entries(plan.dirs)) {
      const mountpoint = mountpointOf(name);
      const made = makeDirsRetrying(mountpoint, dir, plan, name);
      const sharedParent = `${mountpoint}${DEFAULT_CGROUP_PARENT}`;
      if (path.dirname(dir) === sharedParent && !made.includes(sharedParent)) made.unshift(sharedParent);
      rec.created.unshift(...made.reverse());
    }
  } catch (err) {
    removeCgroups(rec);
    throw new MoatError('ESETUP', `cgroup: cannot create ${Object.values(plan.dirs).join(', ')}: ${messageOf(err)}`);
  }
  return rec;
}

function writeError(w: PlannedWrite, err: unknown): MoatError {
  return new MoatError('ESETUP', `${w.field}: cannot write ${JSON.stringify(w.value)} to ${w.path}: ${messageOf(err)}`);
}

/**
 * Make the writes in order. A refused write is retried once after all others, which settles pairs
 * whose valid order depends on the current values (v1 memory limit vs memory+swap limit).
 */
export function applyWrites(writes: readonly PlannedWrite[]): void {
  const deferred: PlannedWrite[] = [];
  for (const w of writes) {
    try {
      writeFile(w.path, w.value);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw writeError(w, err);
      deferred.push(w);
    }
  }
  for (const w of deferred) {
    try {
      writeFile(w.path, w.value);
    } catch (err) {
      throw writeError(w, err);
    }
  }
}

export function applyCgroupPlan(plan: CgroupPlan): void {
  applyWrites(plan.writes);
  if (plan.deviceProgram) {
    const { dir, insns } = plan.deviceProgram;
    try {
      sys().bpfProgLoadAttach(dir, insns, DEVICE_PROGRAM_LICENSE);
    } catch (err) {
      throw new MoatError('ESETUP', `linux.resources.devices: cannot attach the device program to ${dir}: ${messageOf(err)}`);
    }
  }
}

function procsIn(dir: string): number[] {
  try {
    return readTrim(`${dir}/cgroup.procs`).split('\n').filter((l) => l !== '').map(Number);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/** The directory whose cgroup.procs lists the container (any hierarchy does; prefer cgroup2). */
function procsDir(rec: CgroupRecord): string {
  const dirs = rec.dirs;
  const key = ['', 'unified', 'pids', 'freezer', 'memory'].find((k) => dirs[k] !== undefined) ?? Object.keys(dirs)[0]!;
  return dirs[key]!;
}

/** Host pids of every process in the container's cgroup. */
export function cgroupPids(rec: CgroupRecord): number[] {
  return procsIn(procsDir(rec));
}

/**
 * Signal one pid listed in dir: pin it with a pidfd, then check it is still listed, so a pid
 * reused by a process outside the cgroup is never signalled.
 */
function signalListed(dir: string, pid: number, signal: number): void {
  let fd: number;
  try {
    fd = sys().pidfdOpen(pid);
  } catch {
    return; // exited
  }
  try {
    if (procsIn(dir).includes(pid)) sys().pidfdSendSignal(fd, signal);
  } catch {
    // exited meanwhile
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * SIGKILL every process listed in dir and wait (on their pidfds, up to timeoutMs in all) until they
 * have exited: a cgroup cannot be removed while it has members, and polling rmdir meanwhile only
 * burns CPU a loaded host does not have.
 */
function killAll(dir: string, timeoutMs = 0): void {
  const fds: number[] = [];
  for (const pid of procsIn(dir)) {
    let fd: number;
    try {
      fd = sys().pidfdOpen(pid);
    } catch {
      continue; // exited
    }
    try {
      if (procsIn(dir).includes(pid)) sys().pidfdSendSignal(fd, 9);
    } catch {
      // exited meanwhile
    }
    fds.push(fd);
  }
  const end = Date.now() + timeoutMs;
  for (const fd of fds) {
    try {
      if (timeoutMs > 0) sys().pidfdWaitExit(fd, Math.max(0, end - Date.now()));
    } catch {
      // gone
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Send a signal to every process of the container (kill --all without a pid namespace). */
export function signalCgroup(rec: CgroupRecord, signal: number): void {
  const dir = procsDir(rec);
  for (const pid of procsIn(dir)) signalListed(dir, pid, signal);
}

function rmdirWithRetry(dir: string, timeoutMs: number): void {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() > end) throw new MoatError('EINTERNAL', `cgroup: cannot remove ${dir}: ${messageOf(err)}`);
    }
    // Still members: kill what is listed and wait for it on pidfds; a short pause only when
    // there was nothing to wait for (the last member's exit is still being accounted).
    if (procsIn(dir).length > 0) killAll(dir, Math.max(0, end - Date.now()));
    else sleepMs(10);
  }
}

/**
 * Remove what create made: the container's own directories (after killing anything left in them:
 * they are the container's by construction), then the parents moat created, if now empty.
 */
export function removeCgroups(rec: CgroupRecord): void {
  const leaves = new Set(Object.values(rec.dirs));
  const ownLeaves = rec.created.filter((d) => leaves.has(d));
  if (ownLeaves.length > 0) thawQuietly(rec);
  for (const dir of ownLeaves) killAll(dir, 10_000);
  let failure: unknown;
  for (const dir of rec.created) {
    try {
      if (leaves.has(dir)) rmdirWithRetry(dir, 10_000); // a loaded host can take seconds to release a cgroup
      else fs.rmdirSync(dir);
    } catch (err) {
      const code = errnoCode(err);
      if (leaves.has(dir)) failure ??= err;
      else if (code !== 'ENOTEMPTY' && code !== 'EBUSY' && code !== 'ENOENT') failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
}

// ---- freezer ----

function waitForFile(file: string, want: (text: string) => boolean, what: string): void {
  const end = Date.now() + 10_000;
  while (!want(fs.readFileSync(file, 'utf8'))) {
    if (Date.now() > end) throw new MoatError('EINTERNAL', `cgroup: ${file}: timed out waiting for ${what}`);
    sleepMs(2);
  }
}

/**
 * The v1 freezer can stay FREEZING: a task it reached mid-way (a ptrace stop, a vfork) is not
 * frozen until the freeze is asked again, and sometimes only after a thaw in between — what runc's
 * v1 freezer does too. Ask again every few ms, thaw briefly now and then, for up to 10 s.
 */
function freezeV1(file: string): void {
  const end = Date.now() + 10_000;
  for (let i = 0; ; i++) {
    if (i % 50 === 49) {
      writeFile(file, 'THAWED');
      sleepMs(10);
    }
    writeFile(file, 'FROZEN');
    for (let j = 0; j < 5; j++) {
      if (fs.readFileSync(file, 'utf8').trim() === 'FROZEN') return;
      sleepMs(2);
    }
    if (Date.now() > end) throw new MoatError('EINTERNAL', `cgroup: ${file}: timed out waiting for FROZEN`);
  }
}

/**
 * v1 freezer.state where the freezer hierarchy is mounted, else v2 cgroup.freeze. A freeze that
 * does not complete is undone before the error: the container must never stay frozen (or
 * freezing) while its state says running, where delete's SIGKILL could not end it.
 */
export function setFrozen(rec: CgroupRecord, frozen: boolean): void {
  const v1 = Object.entries(rec.dirs).find(([name]) => name.split(',').includes('freezer'));
  const v2 = rec.dirs[''] ?? rec.dirs.unified;
  if (!v1 && v2 === undefined) throw new MoatError('ESTATE', 'cgroup: no freezer on this host (neither v1 freezer nor cgroup2)');
  const apply = (on: boolean) => {
    if (v1 && on) {
      freezeV1(`${v1[1]}/freezer.state`);
    } else if (v1) {
      writeFile(`${v1[1]}/freezer.state`, 'THAWED');
      waitForFile(`${v1[1]}/freezer.state`, (t) => t.trim() === 'THAWED', 'THAWED');
    } else {
      writeFile(`${v2}/cgroup.freeze`, on ? '1' : '0');
      waitForFile(`${v2}/cgroup.events`, (t) => t.includes(`frozen ${on ? 1 : 0}`), on ? 'frozen' : 'thawed');
    }
  };
  try {
    apply(frozen);
  } catch (err) {
    if (frozen) thawQuietly(rec);
    throw err;
  }
}

function thawQuietly(rec: CgroupRecord): void {
  try {
    setFrozen(rec, false);
  } catch {
    // no freezer, or already gone
  }
}

/** The real files behind stats. */
export const hostCgroupFiles: CgroupFiles = {
  read(file: string): string | undefined {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  },
  list(dir: string): string[] {
    try {
      return fs.readdirSync(dir);
    } catch {
      return [];
    }
  },
};
