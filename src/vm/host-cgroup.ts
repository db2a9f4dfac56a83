// The VMM's cgroups on the host: QEMU (and its volume servers) in the container's cgroup path, for
// pause (the freezer stops every vCPU thread: the guest stands still), stats (what the VM costs
// the host: QEMU's CPU time, its memory — the guest RAM it has touched —, its threads) and the CPU
// limits `update` can change on a running VM. The container's limits themselves are the guest's
// (the VM's size, and the guest's own cgroup: spec.ts); none is applied to QEMU at create, nor
// device rules (QEMU opens /dev/kvm and /dev/net/tun).

import type { Spec } from '../spec/types';
import type { CgroupRecord } from '../state/store';
import { createCgroups, prepareCgroups, updateCgroups } from '../policy/cgroups';
import { realHostFacts } from '../policy/host-facts';
import { MoatError } from '../util/errors';
import { joinCgroups } from '../sentry/resources';

export function createVmmCgroups(id: string, spec: Spec, systemdCgroup: boolean, record: (c: CgroupRecord) => void): CgroupRecord | undefined {
  const prepared = prepareCgroups({ id, spec, systemdCgroup, facts: realHostFacts(), placementOnly: true });
  return prepared ? createCgroups(prepared, record) : undefined;
}

/** Move a process with all its threads (cgroup.procs takes the thread group) into the cgroups. */
export function moveIntoCgroups(rec: CgroupRecord, pid: number): void {
  joinCgroups(rec, pid);
}

/** What a running VM can change: the host CPU time QEMU's threads get. */
const RESIZABLE_CPU = new Set(['quota', 'period', 'shares', 'burst']);

/**
 * `update` of a vm container: linux.resources.cpu's quota/period/shares on QEMU's cgroup; the
 * memory, vCPUs (cpus) and the rest are fixed at boot, refused naming the field.
 */
export function updateVmm(rec: CgroupRecord, spec: Spec, raw: unknown, field: string): void {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new MoatError('EUSAGE', `update: ${field}: expected an object`);
  const cpu: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (value === null || value === undefined) continue;
    if (key !== 'cpu') {
      throw new MoatError('EUSAGE', `update: ${field}.${key}: cannot be changed on a running vm (the VM's memory and vCPUs are set at boot, its other limits in the guest); only ${field}.cpu.quota, .period and .shares can`);
    }
    if (typeof value !== 'object' || Array.isArray(value)) throw new MoatError('EUSAGE', `update: ${field}.cpu: expected an object`);
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === null || v === undefined) continue;
      if (!RESIZABLE_CPU.has(k)) throw new MoatError('EUSAGE', `update: ${field}.cpu.${k}: cannot be changed on a running vm (only quota, period and shares)`);
      cpu[k] = v;
    }
  }
  updateCgroups(rec, { ...spec, linux: { ...spec.linux, devices: [] } } as Spec, { cpu }, realHostFacts(), field);
}
