// Starting the gofer (docs/sentry-gofer.md): the launcher opens each tree, makes the channel and
// hands both to build/native/moat-gofer as fds 3, 4, 5, … The gofer lives exactly as long as the
// sentry's end of the channel: when that fd is closed (or the sentry dies), the gofer reads EOF
// and exits 0.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { nativeDir, sys } from '../../sys';
import { MoatError } from '../../util/errors';

/** open(2)'s O_PATH (x86_64): Node's fs.constants lacks it. */
const O_PATH = 0o10000000;
/** native/gofer/gofer.h: MAX_TREES, MAX_HANDLES. */
const MAX_TREES = 64;
const MAX_HANDLES = 65536;

export interface GoferSpawnOptions {
  /** Size of the gofer's handle table (default and most 65536). */
  maxHandles?: number;
}

/**
 * A tree the gofer serves: a host directory, or (file set) just the one regular file of that name
 * in it (a single-file bind mount: ATTACH gives the file, and nothing else of the directory).
 */
export interface GoferTree {
  dir: string;
  file?: string;
  /** Served read-write (a writable bind mount: runsc's default); otherwise read-only. */
  writable?: boolean;
}

export interface GoferProcess {
  pid: number;
  /** The sentry's end of the channel (close-on-exec): give it to GoferClient; close it to stop the gofer. */
  fd: number;
}

export function goferPath(): string {
  return path.join(nativeDir(), 'moat-gofer');
}

/**
 * Start a gofer serving trees (host directories, or files in them: [0] is the container's rootfs,
 * then bind-mount sources), read-only unless marked writable. The child is unref'd: it never keeps
 * the sentry's process alive by itself.
 */
export function spawnGofer(trees: Array<string | GoferTree>, opts: GoferSpawnOptions = {}): GoferProcess {
  if (trees.length < 1 || trees.length > MAX_TREES) throw new MoatError('EINTERNAL', `gofer: ${trees.length} trees (1..${MAX_TREES})`);
  const max = opts.maxHandles ?? MAX_HANDLES;
  if (!Number.isInteger(max) || max < 1 || max > MAX_HANDLES) throw new MoatError('EINTERNAL', `gofer: maxHandles ${max} (1..${MAX_HANDLES})`);
  // Required here: a sentry started by the platform never spawns a gofer (it is given one), and
  // node:child_process with its streams cost it ~5 ms at start.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const bin = goferPath();
  if (!fs.existsSync(bin)) throw new MoatError('ENATIVE', `${bin} missing: run \`npm run build\``);
  const [mine, theirs] = sys().seqpacketPair();
  const treeFds: number[] = [];
  try {
    const args = [String(trees.length), ...(opts.maxHandles === undefined ? [] : [String(max)])];
    trees.forEach((t, i) => {
      const tree = typeof t === 'string' ? { dir: t } : t;
      treeFds.push(openTree(tree.dir));
      if (tree.file !== undefined) args.push('-f', String(i), tree.file);
      if (tree.writable === true) args.push('-w', String(i));
    });
    // stdout is unused; stderr carries the gofer's one line if it cannot set itself up.
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'inherit', theirs, ...treeFds] });
    child.on('error', () => undefined); // reported below through the missing pid
    if (child.pid === undefined) throw new MoatError('ENATIVE', `cannot start ${bin}`);
    child.unref();
    return { pid: child.pid, fd: mine };
  } catch (err) {
    fs.closeSync(mine);
    throw err;
  } finally {
    // The child has its copies now; ours would keep the channel from ever reaching EOF.
    fs.closeSync(theirs);
    for (const fd of treeFds) fs.closeSync(fd);
  }
}

function openTree(tree: string): number {
  try {
    return fs.openSync(tree, O_PATH | fs.constants.O_DIRECTORY);
  } catch (err) {
    throw new MoatError('EBUNDLE', `gofer: cannot open tree ${tree}: ${(err as Error).message}`);
  }
}
