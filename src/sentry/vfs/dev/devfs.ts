// /dev: a tmpfs (as Docker and runsc mount one) holding the sentry's device nodes, the /proc/self
// links (stdin, stdout, stderr, fd), and the pts and shm directories (shm gets a tmpfs of its own).

import { S_IFCHR, S_IFDIR, S_IFLNK } from '../constants';
import { TmpFs } from '../tmpfs/tmpfs';
import { DEV_CONSOLE, DEV_FULL, DEV_NULL, DEV_RANDOM, DEV_TTY, DEV_URANDOM, DEV_ZERO } from './devices';

const DEVICES: Array<[string, number]> = [
  ['null', DEV_NULL],
  ['zero', DEV_ZERO],
  ['full', DEV_FULL],
  ['random', DEV_RANDOM],
  ['urandom', DEV_URANDOM],
  ['tty', DEV_TTY],
];

const LINKS: Array<[string, string]> = [
  ['fd', '/proc/self/fd'],
  ['stdin', '/proc/self/fd/0'],
  ['stdout', '/proc/self/fd/1'],
  ['stderr', '/proc/self/fd/2'],
];

/** Docker's /dev: tmpfs, mode 755, 64 MiB. */
export function makeDevFs(): TmpFs {
  const fs = new TmpFs({ mode: 0o755, limit: 64 << 20 });
  const root = fs.rootDir;
  const req = { uid: 0, gid: 0, rdev: 0, target: '' };
  for (const [name, rdev] of DEVICES) root.create(null, name, { ...req, mode: S_IFCHR | 0o666, rdev });
  // The container's terminal, when it has one: what its stdio fds are (ttyname finds it here).
  root.create(null, 'console', { ...req, mode: S_IFCHR | 0o620, rdev: DEV_CONSOLE });
  for (const [name, target] of LINKS) root.create(null, name, { ...req, mode: S_IFLNK | 0o777, target });
  root.create(null, 'pts', { ...req, mode: S_IFDIR | 0o755 });
  root.create(null, 'shm', { ...req, mode: S_IFDIR | 0o1777 });
  return fs;
}
