// The shim's `delete`: containerd runs it whenever a shim's connection closes — after a crash or a
// SIGKILL, and also after every normal end (the server exits on Shutdown, containerd sees the
// connection go and runs `delete` for each task it had; it does so for runc's shim too). It cleans a
// container up by id with no server to ask, and answers with a DeleteResponse: the container's own
// exit status when it ended while the server was down (kept in its state directory by the executor,
// the sentry or the vm's agent), else 137 (killed by this delete, as the runc shim reports it). Usually the server has deleted everything already: then this is a Node
// start-up, a look at the state directory and a few bytes; moat's runtime code (and its native
// addon) is loaded only when a container's state is there to clean up, and no protobuf code at all.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeEmptyRoot, readAddressFile, stateRoot } from './address';
import { alive } from './alive';
import type { ShimFlags } from './flags';
import { unmountRootfs } from './mounts';
import { mark } from '../util/profile';
import { readExitRecord } from '../runtime/exit-record';
import { writeStdout } from '../util/stdout';

/**
 * Kill what is left of the container (processes, sentry, VM), remove its cgroups and state, unmount
 * its rootfs, drop the server's socket if nothing answers there.
 */
export async function deleteAction(f: ShimFlags): Promise<number> {
  const bundle = path.resolve(f.bundle);
  const root = stateRoot(f.namespace);
  let pid = 0;
  let status = 137;
  // An id that is no plain name goes to the store, which refuses it by name.
  if (path.basename(f.id) !== f.id || fs.existsSync(path.join(root, f.id))) {
    const { Runtime } = await import('../runtime/lifecycle');
    const rt = new Runtime({ root, isolation: undefined });
    try {
      const { handle, rec } = rt.open(f.id);
      pid = rec.pid;
      try {
        // Ended while its server was down: its own status (written by the executor, the sentry or
        // the vm's agent, src/runtime/exit-record.ts). Still running: the kill below ends it (137).
        status = readExitRecord(handle.dir) ?? status;
        rt.delete(handle, rec, true);
      } finally {
        handle.release();
      }
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOTFOUND') throw err;
    }
  }
  mark('state looked at');
  await unmountRootfs(bundle);
  mark('rootfs unmounted');
  const socket = readAddressFile(bundle);
  if (socket && !(await alive(socket))) fs.rmSync(socket, { force: true });
  removeEmptyRoot(root);
  writeStdout(deleteResponse(pid, status, new Date()));
  mark('answered');
  return 0;
}

/** A protobuf varint (non-negative, below 2^53). */
function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return out;
}

/**
 * containerd.task.v2.DeleteResponse {uint32 pid = 1; uint32 exit_status = 2;
 * google.protobuf.Timestamp exited_at = 3 {int64 seconds = 1; int32 nanos = 2}}, encoded by hand:
 * three fields are not worth loading protobufjs and parsing the .proto files at each delete.
 */
export function deleteResponse(pid: number, exitStatus: number, exitedAt: Date): Buffer {
  const ms = exitedAt.getTime();
  const ts = [0x08, ...varint(Math.floor(ms / 1000)), 0x10, ...varint((ms % 1000) * 1e6)];
  return Buffer.from([0x08, ...varint(pid >>> 0), 0x10, ...varint(exitStatus >>> 0), 0x1a, ts.length, ...ts]);
}
