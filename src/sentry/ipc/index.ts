// The kernel's IPC namespace: its System V registries (shm, sem, msg), made on first use. One per
// sentry kernel: a pod's containers share it, as they share the pod's IPC namespace.

import type { Kernel } from '../kernel/kernel';
import { ShmRegistry } from './shm';
import { SemRegistry } from './sem';
import { MsgRegistry } from './msg';

export class IpcNamespace {
  readonly shm: ShmRegistry;
  readonly sem = new SemRegistry();
  readonly msg = new MsgRegistry();

  constructor(k: Kernel) {
    this.shm = new ShmRegistry(k.platform.memory, () => k.machine.size().memBytes);
  }
}

const namespaces = new WeakMap<object, IpcNamespace>();

export function ipcNamespace(k: Kernel): IpcNamespace {
  let ns = namespaces.get(k);
  if (!ns) namespaces.set(k, (ns = new IpcNamespace(k)));
  return ns;
}

/** The namespace if it was ever used (exit and /proc need not make one). */
export function ipcNamespaceIfAny(k: object): IpcNamespace | undefined {
  return namespaces.get(k);
}
