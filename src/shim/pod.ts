// Pods on the vm platform through the shim (docs/shim.md#pods): the CRI sandbox container of a
// `vm` handler boots the pod's VM; each later container of the pod runs in that VM (src/vm/pod.ts)
// instead of a VM of its own. The server already groups a pod's containers (one server per pod).

import type { Runtime } from '../runtime/lifecycle';
import type { Spec } from '../spec/types';
import type { VmRecord } from '../state/store';
import { CRI_CONTAINER_TYPE, CRI_SANDBOX_ID } from '../vm/cri-annotations';
import type { ShimTask } from './task';

/** What a container is to its pod: CRI's annotations, on the vm and sentry platforms. */
export function podRole(isolation: string, annotations: Record<string, string>): 'sandbox' | 'member' | undefined {
  if (isolation !== 'vm' && isolation !== 'sentry') return undefined;
  const kind = annotations[CRI_CONTAINER_TYPE];
  return kind === 'sandbox' ? 'sandbox' : kind === 'container' ? 'member' : undefined;
}

/**
 * The VM of a member's pod: its sandbox is a task of this server whose VM was made for a pod. None
 * (the container gets a VM of its own, as before) when the sandbox is not here or not a pod's VM.
 */
export function podVmOf(rt: Runtime, tasks: ReadonlyMap<string, ShimTask>, annotations: Record<string, string>): { vm: VmRecord; spec: Spec } | undefined {
  const sandboxId = annotations[CRI_SANDBOX_ID];
  const sandbox = sandboxId !== undefined ? tasks.get(sandboxId) : undefined;
  if (!sandbox || sandbox.pod || sandbox.sentryMember || sandbox.init.status !== 'running') return undefined;
  const { handle, rec } = rt.open(sandbox.id);
  try {
    if (!rec.vm?.pod || rec.vm.guestPid === undefined) return undefined;
    return { vm: rec.vm, spec: rt.savedSpec(handle) };
  } finally {
    handle.release();
  }
}
