// Where a pod's shim server listens. One server per pod: containers with the CRI annotation
// io.kubernetes.cri.sandbox-id share their sandbox's server; any other container gets its own.
// The socket lives where containerd's runc shim puts its own (/run/containerd/s), named by a hash
// of containerd's address, the namespace and the group, so two containerds never share one.

import * as fs from 'node:fs';
import * as path from 'node:path';

export const SANDBOX_ID_ANNOTATION = 'io.kubernetes.cri.sandbox-id';
export const SOCKET_DIR = '/run/containerd/s';

/** The grouping id of a container: its pod's sandbox id, else its own id. */
export function groupOf(id: string, annotations: Record<string, string> | undefined): string {
  const sandbox = annotations?.[SANDBOX_ID_ANNOTATION];
  return sandbox && /^[A-Za-z0-9_+\-.]{1,1024}$/.test(sandbox) ? sandbox : id;
}

export function socketPath(containerdAddress: string, namespace: string, group: string): string {
  // Required here: node:crypto costs ~8 ms of CPU to load, and only `start` hashes (not the server,
  // not `delete`).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const crypto = require('node:crypto') as typeof import('node:crypto');
  const h = crypto.createHash('sha256').update(`moat\0${containerdAddress}\0${namespace}\0${group}`).digest('hex');
  return path.join(SOCKET_DIR, h);
}

export const addressOf = (socket: string) => `unix://${socket}`;

/** The socket path of an `address` file's `unix:///…` (or a bare path); undefined if unreadable. */
export function readAddressFile(bundle: string): string | undefined {
  try {
    const text = fs.readFileSync(path.join(bundle, 'address'), 'utf8').trim();
    const p = text.startsWith('unix://') ? text.slice('unix://'.length) : text;
    return p.startsWith(SOCKET_DIR + '/') && !p.includes('..') ? p : undefined;
  } catch {
    return undefined;
  }
}

/** Annotations of the bundle's config.json, or {} when it cannot be read. */
export function bundleAnnotations(bundle: string): Record<string, string> {
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { annotations?: unknown };
    const a = spec.annotations;
    if (typeof a !== 'object' || a === null) return {};
    return Object.fromEntries(Object.entries(a).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  } catch {
    return {};
  }
}

/** The moat state root of a containerd namespace (its containers' records). */
export function stateRoot(namespace: string): string {
  return path.join('/run/moat-shim', namespace);
}

/** The namespace's state root and /run/moat-shim, when no container is left in them. */
export function removeEmptyRoot(root: string): void {
  for (const dir of [root, path.dirname(root)]) {
    try {
      fs.rmdirSync(dir);
    } catch {
      return; // other containers (or namespaces) are there
    }
  }
}
