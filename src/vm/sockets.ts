// Where a VM's unix sockets are (the channels' ctl/exec, QMP, the virtio-fs servers'): a socket's
// path is at most 107 bytes (sun_path), and Docker's state directories are longer
// (/run/docker/runtime-runc/moby/<64 hex>/vm). Such a VM's sockets are reached through a short
// alias, /run/moat-vm/<24 hex of the directory's path>: a symlink to the vm directory, in a
// directory only root can write (nobody else can swap it), made with the vm directory and removed
// with it. The sockets themselves stay in the vm directory.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MoatError } from '../util/errors';

export const SOCKET_ALIAS_ROOT = '/run/moat-vm';
/** sun_path less its terminating NUL. */
const MAX_SOCKET_PATH = 107;
/** The longest socket name in a vm directory (exec-N.sock, fs-NN.sock, qmp.sock, ctl.sock). */
const LONGEST_NAME = 'exec-NN.sock'.length;

/** The directory a VM's sockets are named in: its vm directory, or the short alias of it. */
export function socketDir(dir: string): string {
  if (Buffer.byteLength(dir) + 1 + LONGEST_NAME <= MAX_SOCKET_PATH) return dir;
  return path.join(SOCKET_ALIAS_ROOT, crypto.createHash('sha256').update(dir).digest('hex').slice(0, 24));
}

export function execSocketPath(dir: string, slot: number): string {
  return path.join(socketDir(dir), `exec-${slot}.sock`);
}

/** Makes the alias if the vm directory needs one (root only: /run). */
export function makeSocketAlias(dir: string): void {
  const alias = socketDir(dir);
  if (alias === dir) return;
  try {
    fs.mkdirSync(SOCKET_ALIAS_ROOT, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(SOCKET_ALIAS_ROOT);
    if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) throw new Error(`${SOCKET_ALIAS_ROOT} is not a directory only root can write`);
    fs.rmSync(alias, { force: true });
    fs.symlinkSync(dir, alias);
  } catch (err) {
    throw new MoatError('EVM', `${dir}: too long for the vm's unix sockets, and no short alias for it (${(err as Error).message})`);
  }
}

/** Removes the alias (if it is still this directory's). */
export function removeSocketAlias(dir: string): void {
  const alias = socketDir(dir);
  if (alias === dir) return;
  try {
    if (fs.readlinkSync(alias) === dir) fs.unlinkSync(alias);
  } catch {
    // none
  }
}
