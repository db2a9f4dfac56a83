// The shim's `start`, run by containerd for each new container: find the pod's server or fork it,
// and print its address. A Node start-up per container, so this file loads only what it needs
// (no protobuf, no platform code): the server (actions.ts) is another process.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { MoatError } from '../util/errors';
import { mark } from '../util/profile';
import { writeStdout } from '../util/stdout';
import { addressOf, bundleAnnotations, groupOf, socketPath } from './address';
import { alive } from './alive';
import type { ShimFlags } from './flags';

/** The pipe on which the server says `ready` (or `busy`) once it listens (actions.ts). */
const READY_FD = 3;

export async function startAction(f: ShimFlags): Promise<number> {
  const bundle = process.cwd();
  const group = groupOf(f.id, bundleAnnotations(bundle));
  const socket = socketPath(f.address, f.namespace, group);
  mark('modules, bundle read');
  const up = await alive(socket);
  mark(up ? 'server found' : 'no server');
  if (!up) {
    fs.rmSync(socket, { force: true }); // a dead server's (SIGKILLed): nothing answers there
    // Two containers of a pod started at once: the second server finds the socket taken and
    // says so; this start then uses the first one's.
    if ((await forkServer(f, socket, bundle)) === 'busy' && !(await aliveWithin(socket, 5000))) {
      throw new MoatError('ESETUP', `containerd-shim-moat-v2: ${socket} is taken but no server answers there`);
    }
    mark('server forked, ready');
  }
  fs.writeFileSync(path.join(bundle, 'address'), addressOf(socket), { mode: 0o600 });
  writeStdout(addressOf(socket));
  return 0;
}

/**
 * Where the server's log goes: MOAT_SHIM_LOG (a file, appended; containerd hands shims its
 * environment), else with -debug containerd's log FIFO in the first bundle, else nowhere.
 */
function serverLog(f: ShimFlags, bundle: string): number | 'ignore' {
  const file = process.env.MOAT_SHIM_LOG;
  if (file && file.startsWith('/')) return fs.openSync(file, 'a', 0o600);
  const fifo = path.join(bundle, 'log');
  if (f.debug && fs.existsSync(fifo)) return fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  return 'ignore';
}

async function aliveWithin(socket: string, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    if (await alive(socket)) return true;
  }
  return false;
}

/** The server, in a session of its own, its stdio away from containerd's pipes; resolves when it listens. */
async function forkServer(f: ShimFlags, socket: string, bundle: string): Promise<'ready' | 'busy'> {
  const log = serverLog(f, bundle);
  // Required here: a pod's later containers find its server and never fork (node:child_process
  // costs ~8 ms of CPU to load, per container).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const args = [process.argv[1]!, '-namespace', f.namespace, '-address', f.address, '-publish-binary', f.publishBinary, '-id', f.id, '-socket', socket, ...(f.debug ? ['-debug'] : []), 'serve'];
  // With the Node flags this start was given (--cpu-prof and the like reach the server too).
  const child = spawn(process.execPath, [...process.execArgv, ...args], { cwd: '/', detached: true, stdio: ['ignore', log, log, 'pipe'] });
  if (typeof log === 'number') fs.closeSync(log);
  const report = await new Promise<string>((resolve) => {
    let text = '';
    const r = child.stdio[READY_FD] as import('node:stream').Readable;
    r.setEncoding('utf8');
    r.on('data', (d: string) => (text += d));
    r.on('end', () => resolve(text));
    r.on('error', () => resolve(text));
  });
  const said = report.trim();
  if (said === 'busy') return 'busy';
  if (said !== 'ready') throw new MoatError('ESETUP', `containerd-shim-moat-v2: the server did not start: ${said || 'it exited'}`);
  child.unref();
  return 'ready';
}
