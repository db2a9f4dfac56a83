// linux.resources for a sentry sandbox (host side): the container's cgroups, which the gofer, the
// sentry and every stub it starts are in (the sentry joins them itself before it starts a stub),
// and the machine file the sentry shows the application (kernel/machine.ts), from those cgroups'
// limits. pause/resume, update, ps and stats then use the cgroups as the native platform does.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Spec } from '../spec/types';
import type { CgroupRecord } from '../state/store';
import { cgroupLimits, createCgroups, cpuListCount, hostCgroupFiles, parseResources, prepareCgroups, type CgroupLimits } from '../policy/cgroups';
import { realHostFacts } from '../policy/host-facts';
import { MoatError, messageOf } from '../util/errors';

export const MACHINE_FILE = 'sentry-machine.json';

/** The container's cgroups, created with its resources applied; undefined where the host has none for it (rootless). */
export function createSentryCgroups(id: string, spec: Spec, systemdCgroup: boolean, record: (c: CgroupRecord) => void): CgroupRecord | undefined {
  const prepared = prepareCgroups({ id, spec, systemdCgroup, facts: realHostFacts() });
  return prepared ? createCgroups(prepared, record) : undefined;
}

/** Put a process (the gofer) in every hierarchy of the container's cgroups. */
export function joinCgroups(rec: CgroupRecord, pid: number): void {
  for (const dir of Object.values(rec.dirs)) {
    try {
      fs.writeFileSync(`${dir}/cgroup.procs`, String(pid));
    } catch (err) {
      throw new MoatError('ESETUP', `cgroup: cannot move pid ${pid} into ${dir}: ${messageOf(err)}`);
    }
  }
}

export function cgroupProcsFiles(rec: CgroupRecord): string[] {
  return Object.values(rec.dirs).map((dir) => `${dir}/cgroup.procs`);
}

/** The limits from the spec, where no cgroups hold them (a rootless caller): the view still follows the spec. */
function specLimits(spec: Spec): CgroupLimits {
  const r = parseResources(spec.linux?.resources);
  const out: CgroupLimits = {};
  if (r.memory?.limit !== undefined && r.memory.limit > 0) out.memoryBytes = r.memory.limit;
  const cpus: number[] = [];
  const { quota, period } = r.cpu ?? {};
  if (quota !== undefined && quota > 0) cpus.push(Math.ceil(quota / (period !== undefined && period > 0 ? period : 100_000)));
  const set = r.cpu?.cpus ? cpuListCount(r.cpu.cpus) : undefined;
  if (set !== undefined) cpus.push(set);
  if (cpus.length > 0) out.cpus = Math.min(...cpus);
  return out;
}

/** What the application is shown: the limits, never more than the host has. */
export function machineOf(limits: CgroupLimits, host = { memBytes: os.totalmem(), cpus: os.cpus().length }): CgroupLimits {
  const out: CgroupLimits = {};
  if (limits.memoryBytes !== undefined) out.memoryBytes = Math.min(limits.memoryBytes, host.memBytes);
  if (limits.cpus !== undefined) out.cpus = Math.max(1, Math.min(limits.cpus, host.cpus));
  return out;
}

export function machineFilePath(stateDir: string): string {
  return path.join(stateDir, MACHINE_FILE);
}

/**
 * Write (create) or rewrite (update) the machine file in place: the sentry holds it open and
 * reads it again when the application asks (a torn read keeps the last good size).
 */
export function writeMachineFile(stateDir: string, cgroups: CgroupRecord | undefined, spec: Spec): void {
  const limits = cgroups ? cgroupLimits(cgroups, hostCgroupFiles) : specLimits(spec);
  fs.writeFileSync(machineFilePath(stateDir), JSON.stringify(machineOf(limits)), { mode: 0o600 });
}
