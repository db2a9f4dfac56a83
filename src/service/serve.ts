// `moat service`: a resident process that runs the CLI's own commands for the native front-end
// (native/front/moat-front.c), so that a command pays neither Node's start-up nor the bundle's load.
// Opt-in; the CLI stays daemonless without it. One source of truth: the same command modules,
// the same state directory and its flocks, the same messages and exit codes (docs/cli-speed.md).

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { withCaller } from '../util/caller';
import { LockBusy } from '../state/store';
import { sys } from '../sys';
import { mark, requestProfileText } from '../util/profile';
import { debugLog } from '../util/log';
import { serves } from './claim';
import { Connection } from './connection';
import type { Request } from './wire';

/** Where the front-end looks (moat-front.c's socket_path, the same rules). */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.MOAT_SERVICE_SOCKET !== undefined) return env.MOAT_SERVICE_SOCKET || undefined;
  if ((process.geteuid?.() ?? 0) === 0) return '/run/moat-service/service.sock';
  const xdg = env.XDG_RUNTIME_DIR;
  return xdg && xdg.startsWith('/') ? `${xdg}/moat-service/service.sock` : undefined;
}

export interface Service {
  /** Stop accepting, wait (bounded) for the commands under way, remove the socket. */
  close(): Promise<void>;
  readonly socketPath: string;
}

export async function startService(socketPath: string, log: (msg: string) => void): Promise<Service> {
  const uid = process.geteuid?.() ?? 0;
  prepareDir(path.dirname(socketPath), uid);
  await removeStale(socketPath);
  let active = 0;
  let idle: (() => void) | undefined;
  const main = (require('../cli/main') as typeof import('../cli/main')).main; // eslint-disable-line @typescript-eslint/no-require-imports
  const run = async (c: Connection, req: Request) => {
    let mine = false;
    try {
      mine = serves(req);
    } catch (err) {
      log(`deciding on a request: ${(err as Error).message}`);
    }
    if (!mine) {
      debugLog(() => `service: not mine: ${req.argv.join(' ')}`);
      return c.notMine();
    }
    debugLog(() => `service: serving: ${req.argv.join(' ')}`);
    active++;
    let code = 1;
    let caller = c.caller(req);
    try {
      for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
        try {
          caller = c.caller(req);
          code = await withCaller(caller, () => main(req.argv));
          break;
        } catch (err) {
          if (!(err instanceof LockBusy) || c.closedByPeer) throw err;
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    } catch (err) {
      c.write(2, `moat: internal error: ${(err as Error).message}\n`);
    } finally {
      active--;
      if (caller.profile) {
        withCaller(caller, () => mark('answered'));
        c.write(2, requestProfileText(caller.profile));
      }
      c.exit(code);
      if (active === 0) idle?.();
    }
  };
  const server = net.createServer((sock) => {
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    let peer;
    try {
      peer = fd === undefined ? undefined : sys().peerCred(fd);
    } catch {
      peer = undefined;
    }
    // No privilege change through the service: only callers of its own uid.
    if (!peer || peer.uid !== uid) {
      log(`refused a connection from uid ${peer?.uid ?? '?'} (pid ${peer?.pid ?? '?'})`);
      sock.destroy();
      return;
    }
    new Connection(sock, (c, req) => void run(c, req), log);
  });
  server.on('error', (err) => log(`socket: ${err.message}`));
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(socketPath, 0o600);
  return {
    socketPath,
    close: async () => {
      server.close();
      fs.rmSync(socketPath, { force: true });
      if (active > 0) await Promise.race([new Promise<void>((r) => (idle = r)), new Promise((r) => setTimeout(r, 30_000).unref())]);
    },
  };
}

/**
 * The socket's directory: made here (0700), or an existing one that is already a directory of ours
 * with mode 0700 — never a chmod of a directory we did not make (`--socket /tmp/x` must not touch /tmp).
 */
function prepareDir(dir: string, uid: number): void {
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chmodSync(dir, 0o700); // the umask may have taken bits of 0700: none added
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o777) !== 0o700) {
    throw new Error(`${dir}: not a directory of uid ${uid} with mode 0700 (the socket's directory must be private): refusing to listen there`);
  }
}

/** A socket left by a service that died is removed; one that answers means a service runs already. */
async function removeStale(socketPath: string): Promise<void> {
  let st;
  try {
    st = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${socketPath}: exists and is not a socket: refusing to replace it`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${socketPath}: a moat service is running already`);
  fs.rmSync(socketPath, { force: true });
}
