// The shim's three lives: `start` (run by containerd for each new container: find or fork the pod's
// server, print its address), `serve` (that long-lived server) and `delete` (run by containerd when a
// shim is gone — crashed, SIGKILLed — to clean a container up by id with no server to ask).

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Runtime } from '../runtime/lifecycle';
import { MoatError } from '../util/errors';
import { addressOf, bundleAnnotations, groupOf, readAddressFile, socketPath, SOCKET_DIR, stateRoot } from './address';
import { Publisher } from './events';
import type { ShimFlags } from './flags';
import { unmountRootfs } from './mounts';
import { encode, timestamp } from './proto';
import { TaskService } from './service';
import { TtrpcClient } from './ttrpc/client';
import { TtrpcServer } from './ttrpc/server';

const READY_FD = 3;

/** The namespace's state root and /run/moat-shim, when no container is left in them. */
function removeEmptyRoot(root: string): void {
  for (const dir of [root, path.dirname(root)]) {
    try {
      fs.rmdirSync(dir);
    } catch {
      return; // other containers (or namespaces) are there
    }
  }
}

/**
 * Whether a server listens on the socket. Only a refused connection (a SIGKILLed server's socket
 * file) or no file counts as dead: a server slow to answer on a loaded host is still the pod's, and
 * replacing its socket would orphan it.
 */
async function alive(socket: string): Promise<boolean> {
  let c: TtrpcClient | undefined;
  try {
    c = await TtrpcClient.connect(socket, 10_000);
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    return !(code === 'ECONNREFUSED' || code === 'ENOENT');
  } finally {
    c?.close();
  }
}

export async function startAction(f: ShimFlags): Promise<number> {
  const bundle = process.cwd();
  const group = groupOf(f.id, bundleAnnotations(bundle));
  const socket = socketPath(f.address, f.namespace, group);
  if (!(await alive(socket))) {
    fs.rmSync(socket, { force: true }); // a dead server's (SIGKILLed): nothing answers there
    // Two containers of a pod started at once: the second server finds the socket taken and
    // says so; this start then uses the first one's.
    if ((await forkServer(f, socket, bundle)) === 'busy' && !(await aliveWithin(socket, 5000))) {
      throw new MoatError('ESETUP', `containerd-shim-moat-v2: ${socket} is taken but no server answers there`);
    }
  }
  fs.writeFileSync(path.join(bundle, 'address'), addressOf(socket), { mode: 0o600 });
  process.stdout.write(addressOf(socket));
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
  const args = [process.argv[1]!, '-namespace', f.namespace, '-address', f.address, '-publish-binary', f.publishBinary, '-id', f.id, '-socket', socket, ...(f.debug ? ['-debug'] : []), 'serve'];
  const child = spawn(process.execPath, args, { cwd: '/', detached: true, stdio: ['ignore', log, log, 'pipe'] });
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

export async function serveAction(f: ShimFlags): Promise<number> {
  const log = (line: string) => {
    if (f.debug || process.env.MOAT_SHIM_LOG) process.stderr.write(`moat shim ${process.pid}: ${line}\n`);
  };
  const publisher = new Publisher(f.publishBinary, f.address, f.namespace, log);
  const server = new TtrpcServer((method, err) => log(`${method}: ${(err as Error).message}`));
  let closing = false;
  const root = stateRoot(f.namespace);
  let ino = -1;
  const exit = async () => {
    if (closing) return;
    closing = true;
    server.close();
    // Only our own socket file: never one a later server made at the same path.
    if (fs.statSync(f.socket, { throwIfNoEntry: false })?.ino === ino) fs.rmSync(f.socket, { force: true });
    log('shutting down: no task left');
    await publisher.flushed();
    log('events flushed');
    removeEmptyRoot(root);
    process.exit(0);
  };
  const service = new TaskService({ root, publisher, onIdle: () => void exit() });
  service.register(server);
  fs.mkdirSync(SOCKET_DIR, { recursive: true, mode: 0o711 });
  fs.mkdirSync(root, { recursive: true, mode: 0o711 });
  try {
    await server.listen(f.socket);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
    fs.writeSync(READY_FD, 'busy\n'); // another start's server got there first
    return 0;
  }
  ino = fs.statSync(f.socket).ino;
  // SIGTERM (containerd going away does not send it; an operator might): nothing left behind.
  process.on('SIGTERM', () => {
    void service.destroyAll().then(exit);
  });
  process.on('SIGPIPE', () => undefined);
  // A failure inside one container's bookkeeping must not take the pod's other containers' shim down.
  process.on('unhandledRejection', (err) => log(`unhandled: ${(err as Error)?.stack ?? String(err)}`));
  try {
    fs.writeSync(READY_FD, 'ready\n');
    fs.closeSync(READY_FD);
  } catch {
    /* start has gone: serve anyway */
  }
  return new Promise<number>(() => undefined); // serves until Shutdown
}

/**
 * Clean up a container whose server is gone: kill what is left of it (processes, sentry, VM), remove
 * its cgroups and state, unmount its rootfs, and drop the server's socket if nothing answers there.
 * Answers containerd with a DeleteResponse (exit 137: killed, as the runc shim reports it).
 */
export async function deleteAction(f: ShimFlags): Promise<number> {
  const bundle = path.resolve(f.bundle);
  const rt = new Runtime({ root: stateRoot(f.namespace), isolation: undefined });
  let pid = 0;
  try {
    const { handle, rec } = rt.open(f.id);
    pid = rec.pid;
    try {
      rt.delete(handle, rec, true);
    } finally {
      handle.release();
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOTFOUND') throw err;
  }
  await unmountRootfs(bundle);
  const socket = readAddressFile(bundle);
  if (socket && !(await alive(socket))) fs.rmSync(socket, { force: true });
  removeEmptyRoot(stateRoot(f.namespace));
  process.stdout.write(encode('containerd.task.v2.DeleteResponse', { pid, exitStatus: 137, exitedAt: timestamp(new Date()) }));
  return 0;
}
