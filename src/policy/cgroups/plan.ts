// The whole cgroup decision for one container, as data: which directories, which writes to which
// files, which device program, which cgroup.procs to join. Pure.

import type { Device } from '../../spec/types';
import { ConfigError } from '../../util/errors';
import type { ParentOp } from '../plan/ops';
import { deviceProgram, encodeProgram } from './bpf';
import { containerDeviceRules, emulateDeviceRules } from './devices';
import { cgroupIn, unifiedName, v1HierarchyOf, type CgroupLayout } from './layout';
import { hierarchyDir, type CgroupPath } from './paths';
import type { Resources } from './resources';
import { v1Writes } from './v1';
import { v2Writes } from './v2';
import type { ResourceWrite } from './writes';

/** A write resolved to its absolute file. */
export interface PlannedWrite extends ResourceWrite {
  path: string;
}

export interface CgroupPlan {
  version: 1 | 2;
  /** The container's directory in each hierarchy, keyed by mount name (`memory`, `unified`, `` on v2). */
  dirs: Record<string, string>;
  /** v2: controllers to enable on the way down (cgroup.subtree_control of each ancestor). */
  controllers: string[];
  writes: PlannedWrite[];
  /** cgroup2 directory and program for the device filter (v2, and the hybrid unified hierarchy). */
  deviceProgram?: { dir: string; insns: Buffer };
  /** Fields accepted but not applied, with reasons. */
  ignored: string[];
}

export interface CgroupPlanInput {
  layout: CgroupLayout;
  /** moat's own cgroups (parsed /proc/self/cgroup), for relative paths. */
  own: Map<string, string>;
  path: CgroupPath;
  resources: Resources;
  /** linux.devices (always allowed, like moat's default device nodes). */
  linuxDevices: readonly Device[];
  /** Field prefix for errors: `linux.resources`, or the update file's. */
  field?: string;
  /** Whether device rules are part of this plan (create: always; update: only when given). */
  withDevices?: boolean;
  /** The directories, when they exist already (update): path and own are then not used. */
  dirs?: Record<string, string>;
}

function ownIn(input: CgroupPlanInput, controllers: readonly string[]): string {
  if (input.path.kind === 'absolute') return '/';
  const own = cgroupIn(input.own, controllers);
  if (own === undefined) throw new ConfigError('linux.cgroupsPath', `relative path, but moat's own cgroup in ${controllers.join(',') || 'cgroup2'} is unknown`);
  return own;
}

export function cgroupDirs(input: CgroupPlanInput): Record<string, string> {
  const dirs: Record<string, string> = {};
  for (const h of input.layout.v1) dirs[h.name] = hierarchyDir(h.mountpoint, ownIn(input, h.controllers), input.path);
  const unified = input.layout.unified;
  if (unified !== undefined) dirs[unifiedName(input.layout)!] = hierarchyDir(unified, ownIn(input, []), input.path);
  return dirs;
}

function v1Planned(input: CgroupPlanInput, dirs: Record<string, string>, writes: ResourceWrite[]): PlannedWrite[] {
  return writes.map((w) => {
    const h = v1HierarchyOf(input.layout, w.controller);
    if (!h) {
      throw new ConfigError(w.field, `the ${w.controller} cgroup controller is not mounted on this host`);
    }
    return { ...w, path: `${dirs[h.name]}/${w.file}` };
  });
}

function checkNoUnified(r: Resources, field: string): void {
  const key = Object.keys(r.unified)[0];
  if (key !== undefined) throw new ConfigError(`${field}.unified.${key}`, 'needs a cgroup v2 (unified) host; this one uses cgroup v1');
}

export function planCgroups(input: CgroupPlanInput): CgroupPlan {
  const field = input.field ?? 'linux.resources';
  const withDevices = input.withDevices ?? true;
  const r = input.resources;
  const dirs = input.dirs ?? cgroupDirs(input);
  const ignored = [...r.ignored];
  const rules = withDevices ? containerDeviceRules(r.devices, input.linuxDevices) : undefined;
  const program = rules ? encodeProgram(deviceProgram(emulateDeviceRules(rules))) : undefined;
  if (input.layout.version === 1) {
    checkNoUnified(r, field);
    const plan: CgroupPlan = { version: 1, dirs, controllers: [], writes: v1Planned(input, dirs, v1Writes(r, rules, field)), ignored };
    // Hybrid: the controller-less cgroup2 hierarchy takes device programs too; filter there as well.
    const hybrid = unifiedName(input.layout);
    if (program && hybrid !== undefined) plan.deviceProgram = { dir: dirs[hybrid]!, insns: program };
    return plan;
  }
  const dir = dirs['']!;
  const writes = v2Writes(r, field, ignored).map((w) => ({ ...w, path: `${dir}/${w.file}` }));
  const controllers = [...new Set(['cpu', 'cpuset', 'io', 'memory', 'pids', 'hugetlb', ...writes.map((w) => w.controller)])].filter((c) => c !== '');
  const plan: CgroupPlan = { version: 2, dirs, controllers, writes, ignored };
  if (program) plan.deviceProgram = { dir, insns: program };
  return plan;
}

/** Parent ops that put the executor (and so the init it clones) in every directory of the plan. */
export function joinOps(dirs: Record<string, string>): ParentOp[] {
  return Object.values(dirs).map((dir) => ({ op: 'write', path: `${dir}/cgroup.procs`, data: '0' }));
}
