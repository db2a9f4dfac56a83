// The names AF_UNIX sockets are found by, per sandbox (one per sentry kernel): abstract names, and
// the socket bound to each socket inode of the sandbox's own file systems (keyed by the inode's
// device and number, as stat shows them, so every dentry and overlay view of the inode finds it).
// A socket file that no sandbox socket is bound to (one on a host bind mount, one left over after
// its socket closed) refuses connections. Also the count of file descriptions in flight in
// SCM_RIGHTS messages, bounded as Linux bounds them (RLIMIT_NOFILE: ETOOMANYREFS past it), and
// the open sockets (for /proc/net/unix).

import type { Kernel } from '../../kernel/kernel';
import type { Inode } from '../../vfs/inode';

/** What a bound name leads to (the socket, without an import cycle). */
export interface Bindable {
  readonly waitQueue: unknown;
}

export class UnixNamespace<S extends Bindable = Bindable> {
  readonly abstract = new Map<string, S>();
  readonly byInode = new Map<string, S>();
  /** Descriptions in SCM_RIGHTS messages not yet received. */
  inflight = 0;
  /** Every open socket of the sandbox, in creation order (/proc/net/unix lists them). */
  readonly live = new Set<{ procLine(): string }>();
  private nextAuto = 1;

  /** A free automatic name: five hex digits, as unix_autobind makes them. */
  autoName(): string | null {
    for (let i = 0; i < 0x100000; i++) {
      const n = this.nextAuto;
      this.nextAuto = (this.nextAuto + 1) & 0xfffff;
      const key = n.toString(16).padStart(5, '0');
      if (!this.abstract.has(key)) return key;
    }
    return null;
  }
}

export function inodeKey(i: Inode): string {
  return `${i.fs.dev}:${i.ino}`;
}

const namespaces = new WeakMap<Kernel, UnixNamespace>();

/** /proc/net/unix's lines for the kernel's sockets (the header line, then one per socket). */
export function unixProcText(k: object): string {
  let out = 'Num       RefCount Protocol Flags    Type St Inode Path\n';
  const ns = namespaces.get(k as Kernel);
  if (ns) for (const s of ns.live) out += s.procLine();
  return out;
}

export function namespaceOf<S extends Bindable>(k: Kernel): UnixNamespace<S> {
  let ns = namespaces.get(k);
  if (!ns) namespaces.set(k, (ns = new UnixNamespace()));
  return ns as unknown as UnixNamespace<S>;
}
