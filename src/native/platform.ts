// The native platform: namespaces and mounts carried out by the C executor from a TypeScript plan.

import type { CreatedInit, CreateRequest, ExecRequest, Platform } from '../platform';
import { debugLog } from '../util/log';
import { realHostFacts } from './host-facts';
import { launch } from './launcher';
import { describePlan, MS, planContainer, type ChildOp } from './plan';
import { planExec } from './plan/exec';

export class NativePlatform implements Platform {
  readonly name = 'native' as const;

  async create(req: CreateRequest): Promise<CreatedInit> {
    const plan = planContainer({
      spec: req.bundle.spec,
      rootfs: req.bundle.rootfs,
      startFifo: req.startFifo,
      noPivot: req.noPivot,
      preserveFds: req.preserveFds,
      facts: realHostFacts(),
      ...(req.hostRootOverlay ? { rootfsPrelude: hostRootOverlayOps(req.hostRootOverlay.scratch) } : {}),
    });
    debugLog(() => `plan for ${req.id}:\n${describePlan(plan)}`);
    const launched = await launch({ plan, mode: req.mode, preserveFds: req.preserveFds });
    return { pid: launched.pid, exited: launched.exited };
  }

  async exec(req: ExecRequest): Promise<CreatedInit> {
    const plan = planExec({
      initPid: req.record.pid,
      namespaces: (req.spec.linux?.namespaces ?? []).map((n) => n.type),
      process: req.process,
      linux: req.spec.linux,
      preserveFds: req.preserveFds,
      ...(req.executable !== undefined ? { executable: req.executable } : {}),
    });
    debugLog(() => `exec plan for ${req.record.id}:\n${describePlan(plan)}`);
    const launched = await launch({ plan, mode: req.mode, preserveFds: req.preserveFds, ...(req.stdin ? { stdin: req.stdin } : {}) });
    return { pid: launched.pid, exited: launched.exited };
  }
}

/** tmpfs on scratch, then overlay(lower = host /, upper = tmpfs) on scratch/merged. */
export function hostRootOverlayOps(scratch: string): ChildOp[] {
  if (/[,:\n]/.test(scratch)) throw new Error(`scratch path ${scratch} cannot be used in overlay options`);
  return [
    { op: 'mount', src: 'tmpfs', target: scratch, fstype: 'tmpfs', flags: MS.NOSUID | MS.NODEV, data: 'mode=700' },
    { op: 'rootfs', path: scratch },
    { op: 'mkdirat', path: '/upper', mode: 0o755 },
    { op: 'mkdirat', path: '/work', mode: 0o700 },
    { op: 'mkdirat', path: '/merged', mode: 0o755 },
    {
      op: 'mount',
      src: 'overlay',
      target: `${scratch}/merged`,
      fstype: 'overlay',
      flags: 0,
      data: `lowerdir=/,upperdir=${scratch}/upper,workdir=${scratch}/work`,
    },
  ];
}
