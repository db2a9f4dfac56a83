// The shim's server (`serve`): one per pod, forked by `start` (start.ts), serving containerd's Task
// API until a Shutdown finds no task left. (`delete`, run by containerd when a server's connection
// has closed, is delete.ts.)

import * as fs from 'node:fs';
import { removeEmptyRoot, SOCKET_DIR, stateRoot } from './address';
import { Publisher } from './events';
import type { ShimFlags } from './flags';
import { TaskService } from './service';
import { TtrpcServer } from './ttrpc/server';
import { flushProfile, mark } from '../util/profile';

/** The pipe on which the server tells `start` it listens (start.ts). */
const READY_FD = 3;

export async function serveAction(f: ShimFlags): Promise<number> {
  mark('server modules loaded');
  const logging = f.debug || Boolean(process.env.MOAT_SHIM_LOG);
  const log = (line: string) => {
    if (logging) process.stderr.write(`moat shim ${process.pid}: ${line}\n`);
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
  const service = new TaskService({ root, publisher, onIdle: () => void exit(), ...(logging ? { trace: log } : {}) });
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
  mark('listening');
  // SIGTERM (containerd going away does not send it; an operator might): nothing left behind.
  process.on('SIGTERM', () => {
    void service.destroyAll().then(exit);
  });
  process.on('SIGPIPE', () => undefined);
  // A failure inside one container's bookkeeping must not take the pod's other containers' shim down.
  process.on('unhandledRejection', (err) => log(`unhandled: ${(err as Error)?.stack ?? String(err)}`));
  const cpu = process.cpuUsage();
  log(`listening ${performance.now().toFixed(0)} ms after its start, CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`);
  try {
    fs.writeSync(READY_FD, 'ready\n');
    fs.closeSync(READY_FD);
  } catch {
    /* start has gone: serve anyway */
  }
  flushProfile();
  return new Promise<number>(() => undefined); // serves until Shutdown
}
