// Helpers of the SDK's tests: a busybox rootfs shared by every sandbox of a file (sandboxes never
// write to it: the tests check that too), the state of a sandbox as moat recorded it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeRootfs } from '../helpers/moat';

/** A busybox rootfs in a fresh temp dir (searchable by others: the native user namespace's root). */
export function sharedRootfs(): { rootfs: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-sdk-'));
  fs.chmodSync(dir, 0o755);
  const rootfs = path.join(dir, 'rootfs');
  makeRootfs(rootfs);
  return { rootfs, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface Recorded {
  pid: number;
  cgroups?: { dirs: Record<string, string> };
}

export function recorded(root: string, id: string): Recorded {
  return JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as Recorded;
}

/** The sandbox's pids cgroup's current count (v1 or v2), undefined without one. */
export function pidsCurrent(root: string, id: string): number | undefined {
  const dirs = recorded(root, id).cgroups?.dirs ?? {};
  const dir = dirs.pids ?? dirs[''];
  if (dir === undefined) return undefined;
  return Number(fs.readFileSync(path.join(dir, 'pids.current'), 'utf8'));
}

export function alive(pid: number): boolean {
  try {
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return false;
  }
}

/** Every entry of a tar stream: name, type, and for regular files the data. */
export function tarEntries(tar: Buffer): { name: string; type: string; linkname: string; data: Buffer }[] {
  const out: { name: string; type: string; linkname: string; data: Buffer }[] = [];
  const str = (b: Buffer) => b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)).toString();
  for (let off = 0; off + 512 <= tar.length;) {
    const h = tar.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    const size = parseInt(str(h.subarray(124, 136)).trim() || '0', 8);
    const prefix = str(h.subarray(345, 500));
    const name = (prefix ? `${prefix}/` : '') + str(h.subarray(0, 100));
    out.push({ name, type: String.fromCharCode(h[156]!), linkname: str(h.subarray(157, 257)), data: tar.subarray(off + 512, off + 512 + size) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

export async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Recompute a tar header's checksum after editing it. */
export function fixChecksum(h: Buffer): void {
  h.write('        ', 148, 'latin1');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
}
