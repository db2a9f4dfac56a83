// Reads what the pure planners need from the host (mounts, moat's own cgroup, systemd, delegation)
// and ties plan → directories → writes together for create, update and delete.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Spec } from '../../spec/types';
import type { CgroupRecord } from '../../state/store';
import { debugLog, logWarning } from '../../util/log';
import type { HostFacts } from '../plan/facts';
import type { ParentOp } from '../plan/ops';
import { cgroupIn, cgroupLayout, parseProcCgroup, unifiedName, type CgroupLayout } from './layout';
import { resolveCgroupPath } from './paths';
import { joinOps, planCgroups, type CgroupPlan } from './plan';
import { parseResources } from './resources';
import { applyCgroupPlan, createCgroupDirs, plannedCgroupRecord, removeCgroups } from './system';

export interface CgroupRequest {
  id: string;
  spec: Spec;
  /** The global --systemd-cgroup flag. */
  systemdCgroup: boolean;
  facts: HostFacts;
  /**
   * Placement only: the directories, no resources and no device rules (the vm platform's VMM,
   * whose limits the guest enforces and which opens /dev/kvm and /dev/net/tun).
   */
  placementOnly?: boolean;
}

export interface PreparedCgroups {
  plan: CgroupPlan;
  /** Parent ops joining every directory (`write <dir>/cgroup.procs 0`). */
  join: ParentOp[];
}

function hostLayout(facts: HostFacts): CgroupLayout | undefined {
  const layout = cgroupLayout(facts.cgroupHierarchies());
  return layout.v1.length === 0 && layout.unified === undefined ? undefined : layout;
}

function nearestExisting(dir: string): string {
  let cur = dir;
  while (!fs.existsSync(cur) && cur !== '/') cur = path.dirname(cur);
  return cur;
}

/** The first directory of the plan a non-root caller cannot create or write (not delegated). */
function undelegated(plan: CgroupPlan): string | undefined {
  for (const dir of Object.values(plan.dirs)) {
    const existing = nearestExisting(dir);
    try {
      fs.accessSync(existing, fs.constants.W_OK);
    } catch {
      return existing;
    }
  }
  return undefined;
}

/**
 * Decide the container's cgroups (validating linux.cgroupsPath and linux.resources) without
 * changing anything. Undefined when the host has no cgroups, or a rootless caller was not
 * delegated any (then a one-line notice, as runc gives).
 */
export function prepareCgroups(req: CgroupRequest): PreparedCgroups | undefined {
  const layout = hostLayout(req.facts);
  if (!layout) return undefined;
  const cgPath = resolveCgroupPath({
    id: req.id,
    cgroupsPath: req.spec.linux?.cgroupsPath,
    systemdCgroup: req.systemdCgroup,
    systemdRunning: fs.existsSync('/run/systemd/system'),
  });
  const plan = planCgroups({
    layout,
    own: parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8')),
    path: cgPath,
    resources: parseResources(req.placementOnly ? undefined : req.spec.linux?.resources),
    linuxDevices: req.placementOnly ? [] : req.spec.linux?.devices ?? [],
    withDevices: !req.placementOnly,
  });
  for (const line of plan.ignored) debugLog(() => line);
  if (req.facts.uid !== 0) {
    const denied = undelegated(plan);
    if (denied !== undefined) {
      logWarning(`cgroups not used: ${denied} is not writable by uid ${req.facts.uid} (not delegated); resource limits are not applied`);
      return undefined;
    }
  }
  return { plan, join: joinOps(plan.dirs) };
}

/**
 * moat's own cgroup directory in each hierarchy. A container whose cgroups were skipped (rootless,
 * not delegated) stays there; its /sys/fs/cgroup binds these, since a user namespace without a
 * cgroup namespace may not mount cgroup filesystems (runc does the same).
 */
export function currentCgroupDirs(facts: HostFacts): Record<string, string> | undefined {
  const layout = hostLayout(facts);
  if (!layout) return undefined;
  const own = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
  const dirs: Record<string, string> = {};
  const at = (mountpoint: string, p: string | undefined) => `${mountpoint}${p === undefined || p === '/' ? '' : p}`;
  for (const h of layout.v1) dirs[h.name] = at(h.mountpoint, cgroupIn(own, h.controllers));
  const name = unifiedName(layout);
  if (name !== undefined) dirs[name] = at(layout.unified!, own.get(''));
  return dirs;
}

/**
 * Create the directories and apply the resources. `remember` is called as soon as directories
 * exist (so a crash leaves a record delete can clean up); on failure everything is removed.
 */
export function createCgroups(prepared: PreparedCgroups, remember: (rec: CgroupRecord) => void): CgroupRecord {
  // Recorded before any mkdir, so that a SIGKILL in between cannot leak a directory.
  remember(plannedCgroupRecord(prepared.plan));
  const rec = createCgroupDirs(prepared.plan);
  try {
    remember(rec);
    applyCgroupPlan(prepared.plan);
  } catch (err) {
    removeCgroups(rec);
    throw err;
  }
  return rec;
}

/** `moat update`: apply a LinuxResources object to a live container's recorded cgroups. */
export function updateCgroups(rec: CgroupRecord, spec: Spec, raw: unknown, facts: HostFacts, field: string): void {
  const layout = hostLayout(facts);
  if (!layout) return;
  const resources = parseResources(raw, field);
  const plan = planCgroups({
    layout,
    own: new Map(),
    path: { kind: 'absolute', path: '/unused' },
    dirs: rec.dirs,
    resources,
    linuxDevices: spec.linux?.devices ?? [],
    field,
    withDevices: resources.devices.length > 0,
  });
  for (const line of plan.ignored) debugLog(() => line);
  applyCgroupPlan(plan);
}
