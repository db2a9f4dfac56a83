// The native platform: namespaces and mounts carried out by the C executor from a TypeScript plan.

import type { CreatedInit, CreateRequest, ExecRequest, Platform } from '../platform/types';
import type { Spec } from '../spec/types';
import type { CgroupRecord, ContainerRecord } from '../state/store';
import { MoatError } from '../util/errors';
import { cgroupPids, removeCgroups, setFrozen, signalCgroup } from '../policy/cgroups/system';
import type { PreparedCgroups } from '../policy/cgroups';
import type { CgroupJoin, ChildOp, HostFacts } from '../policy/plan';
import { MS } from '../policy/plan/constants';
import { debugLog } from '../util/log';
import { realHostFacts } from '../policy/host-facts';
import { mark } from '../util/profile';
import { exitRecordPath } from '../runtime/exit-record';

// Loaded when used: create and exec need the planners (with the seccomp compiler), the cgroup
// set-up and child_process; kill, delete, pause and ps, which also load this platform, need none
// of them, and paid for them at every start (docs/cli-speed.md).
/* eslint-disable @typescript-eslint/no-require-imports */
const cgroupsModule = () => require('../policy/cgroups') as typeof import('../policy/cgroups');
const planModule = () => require('../policy/plan') as typeof import('../policy/plan');
const launcherModule = () => require('./launcher') as typeof import('./launcher');
const lxcfsModule = () => require('./lxcfs') as typeof import('./lxcfs');
/* eslint-enable @typescript-eslint/no-require-imports */

export class NativePlatform implements Platform {
  readonly name = 'native' as const;

  async create(req: CreateRequest): Promise<CreatedInit> {
    const { createCgroups, prepareCgroups } = cgroupsModule();
    const { describePlan, planContainer } = planModule();
    const { consoleFd, launch } = launcherModule();
    const { startLxcfs, wantsLxcfs, withLxcfsMounts } = lxcfsModule();
    const facts = realHostFacts();
    const cgroups = prepareCgroups({ id: req.id, spec: req.bundle.spec, systemdCgroup: req.systemdCgroup ?? false, facts });
    // dev.moat.lxcfs=true: a container-aware /proc from the container's own lxcfs (stopped by destroy,
    // which lifecycle calls on a failed create too).
    let spec = req.bundle.spec;
    if (wantsLxcfs(spec)) {
      if (!req.stateDir) throw new MoatError('EINTERNAL', 'lxcfs: no state directory given');
      const lxcfs = startLxcfs(req.stateDir, (l) => req.recordLxcfs?.(l));
      spec = withLxcfsMounts(spec, lxcfs.dir);
    }
    const plan = planContainer({
      spec,
      rootfs: req.bundle.rootfs,
      startFifo: req.startFifo,
      noPivot: req.noPivot,
      preserveFds: req.preserveFds,
      facts,
      container: { id: req.id, bundle: req.bundle.dir },
      ...cgroupPlanInput(cgroups, facts),
      ...(req.hostRootOverlay ? { rootfsPrelude: hostRootOverlayOps(req.hostRootOverlay.scratch, { idmapped: req.idmapped === true, ...(req.hostRootOverlay.lower ? { lower: req.hostRootOverlay.lower } : {}) }) } : {}),
      ...(req.idmapped ? { idmapTree: idmapTreeFor(req) } : {}),
      ...(req.console ? { console: { fd: consoleFd(req.preserveFds), rows: req.console.rows, cols: req.console.cols } } : {}),
      ...(req.noNewKeyring ? {} : { sessionKeyring: `_ses.${req.id}` }),
    });
    debugLog(() => `plan for ${req.id}:\n${describePlan(plan)}`);
    mark('planned');
    // Created last, once the plan is known to be valid; removed again on any failure to launch.
    const cgroupRecord = cgroups ? createCgroups(cgroups, (c) => req.recordCgroups?.(c)) : undefined;
    mark('cgroups made');
    try {
      const launched = await launch({
        plan, mode: req.mode, preserveFds: req.preserveFds,
        ...(req.console ? { console: req.console.handoff } : {}), ...(req.stdio ? { stdio: req.stdio } : {}),
        ...(req.dieWithRunner ? { dieWithParent: true } : {}),
        ...(req.recordExit && req.mode === 'run' && req.stateDir ? { statusFile: exitRecordPath(req.stateDir) } : {}),
      });
      return { pid: launched.pid, exited: launched.exited };
    } catch (err) {
      if (cgroupRecord) removeCgroups(cgroupRecord);
      throw err;
    }
  }

  async exec(req: ExecRequest): Promise<CreatedInit> {
    const { describePlan } = planModule();
    const { planExec } = require('../policy/plan/exec') as typeof import('../policy/plan/exec'); // eslint-disable-line @typescript-eslint/no-require-imports
    const { consoleFd, launch } = launcherModule();
    const plan = planExec({
      initPid: req.record.pid,
      namespaces: (req.spec.linux?.namespaces ?? []).map((n) => n.type),
      process: req.process,
      linux: req.spec.linux,
      preserveFds: req.preserveFds,
      ...(req.executable !== undefined ? { executable: req.executable } : {}),
      setgroupsDenied: (process.getuid?.() ?? 0) !== 0 && (req.spec.linux?.namespaces ?? []).some((n) => n.type === 'user'),
      ...(req.spec.process?.oomScoreAdj !== undefined ? { oomScoreAdj: req.spec.process.oomScoreAdj } : {}),
      ...(req.console ? { console: { fd: consoleFd(req.preserveFds), rows: req.console.rows, cols: req.console.cols } } : {}),
    });
    // The new process joins the container's cgroups, like its init did.
    if (req.record.cgroups) plan.parent.unshift(...cgroupsModule().joinOps(req.record.cgroups.dirs));
    debugLog(() => `exec plan for ${req.record.id}:\n${describePlan(plan)}`);
    const launched = await launch({ plan, mode: req.mode, preserveFds: req.preserveFds, ...(req.stdin ? { stdin: req.stdin } : {}), ...(req.console ? { console: req.console.handoff } : {}), ...(req.stdio ? { stdio: req.stdio } : {}) });
    return { pid: launched.pid, exited: launched.exited };
  }

  setPaused(rec: ContainerRecord, paused: boolean): void {
    setFrozen(cgroupsOf(rec, paused ? 'pause' : 'resume'), paused);
  }

  update(rec: ContainerRecord, spec: Spec, resources: unknown, field: string): void {
    cgroupsModule().updateCgroups(cgroupsOf(rec, 'update'), spec, resources, realHostFacts(), field);
  }

  pids(rec: ContainerRecord): number[] | undefined {
    return rec.cgroups ? cgroupPids(rec.cgroups) : undefined;
  }

  signalAll(rec: ContainerRecord, signal: number): boolean {
    if (!rec.cgroups) return false;
    signalCgroup(rec.cgroups, signal);
    return true;
  }

  stats(rec: ContainerRecord): unknown {
    const { collectStats, hostCgroupFiles } = cgroupsModule();
    return collectStats(cgroupsOf(rec, 'events'), hostCgroupFiles);
  }

  destroy(rec: ContainerRecord): void {
    if (rec.lxcfs) lxcfsModule().stopLxcfs(rec.lxcfs);
    if (rec.cgroups) removeCgroups(rec.cgroups);
  }
}

/** Join the container's cgroups; skipped ones (rootless) leave it in moat's, which /sys/fs/cgroup shows. */
function cgroupPlanInput(cgroups: PreparedCgroups | undefined, facts: HostFacts): { cgroup?: CgroupJoin } {
  if (cgroups) return { cgroup: { join: cgroups.join, dirs: cgroups.plan.dirs } };
  const current = facts.uid !== 0 ? cgroupsModule().currentCgroupDirs(facts) : undefined;
  return current ? { cgroup: { join: [], dirs: current } } : {};
}

function cgroupsOf(rec: ContainerRecord, what: string): CgroupRecord {
  if (!rec.cgroups) {
    throw new MoatError('ESTATE', `container ${JSON.stringify(rec.id)} has no cgroups (none on this host, or not delegated to a rootless caller): cannot ${what}`);
  }
  return rec.cgroups;
}

/**
 * In a user namespace of its own the rootfs is seen through an idmapped mount, so the host's root
 * owns its files inside too: `moat do`'s host root read-only (the overlay's lower layer), or a
 * bundle's rootfs as it is.
 */
function idmapTreeFor(req: CreateRequest): { source: string; attrs: number; rootfs: boolean } {
  const { IDMAP_ATTR } = planModule();
  if (req.hostRootOverlay) return { source: req.hostRootOverlay.lower ?? '/', attrs: IDMAP_ATTR.RDONLY | IDMAP_ATTR.NODEV, rootfs: false };
  return { source: req.bundle.rootfs, attrs: 0, rootfs: true };
}

/**
 * tmpfs on scratch, then overlay(lower = host /, upper = tmpfs) on scratch/merged. idmapped (in a
 * user namespace): the lower is the host's / idmapped by P (attached at scratch/lower and detached
 * again once the overlay holds its own copy, so nothing inside can reach it to remount it
 * writable), the tmpfs belongs to the namespace's root and the overlay keeps its metadata in
 * user.* xattrs (userxattr: trusted.* is the host root's).
 */
export function hostRootOverlayOps(scratch: string, opts: { idmapped?: boolean; lower?: string } = {}): ChildOp[] {
  if (/[,:\n]/.test(scratch)) throw new Error(`scratch path ${scratch} cannot be used in overlay options`);
  if (opts.lower !== undefined && (/[,:\n]/.test(opts.lower) || !opts.lower.startsWith('/'))) throw new MoatError('EUSAGE', `rootfs ${opts.lower}: must be an absolute path without ',', ':' or newlines to be an overlay's lower layer`);
  const lower = opts.idmapped ? `${scratch}/lower` : (opts.lower ?? '/');
  return [
    { op: 'mount', src: 'tmpfs', target: scratch, fstype: 'tmpfs', flags: MS.NOSUID | MS.NODEV, data: 'mode=700' },
    { op: 'rootfs', path: scratch },
    { op: 'mkdirat', path: '/upper', mode: 0o755 },
    { op: 'mkdirat', path: '/work', mode: 0o700 },
    { op: 'mkdirat', path: '/merged', mode: 0o755 },
    ...(opts.idmapped ? [{ op: 'mkdirat', path: '/lower', mode: 0o755 } as const, { op: 'attach-tree', target: lower } as const] : []),
    {
      op: 'mount',
      src: 'overlay',
      target: `${scratch}/merged`,
      fstype: 'overlay',
      flags: 0,
      data: `lowerdir=${lower},upperdir=${scratch}/upper,workdir=${scratch}/work${opts.idmapped ? ',userxattr' : ''}`,
    },
    ...(opts.idmapped ? [{ op: 'umount', target: lower } as const] : []),
  ];
}
