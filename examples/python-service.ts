// An example code-execution service on moat's SDK: `POST /run` with Python source as the body runs it
// in a sandbox from a warm pool (a fresh one per request: nothing one request's code leaves reaches
// the next) under limits, and answers JSON { exitCode, signal, timedOut, truncated, oomKilled,
// stdout, stderr, usage }. `GET /health` answers the pool's state.
//
//   node build/ts/examples/python-service.js --rootfs DIR [--isolation sentry] [--port 8080]
//        [--pool 2] [--memory 256m] [--timeout 5000] [--root /run/moat]
// (DIR: a root filesystem with python3, sleep and tar, e.g. `sh scripts/apps-rootfs.sh`'s Debian one)

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SandboxPool, type Isolation } from '../src/sdk';

export interface ServiceOptions {
  rootfs: string;
  isolation?: Isolation;
  port?: number;
  pool?: number;
  memory?: string;
  /** Per request, ms. */
  timeout?: number;
  root?: string;
}

const MAX_SOURCE = 256 * 1024;
const MAX_OUTPUT = 1024 * 1024;

export interface Service {
  url: string;
  pool: SandboxPool;
  close(): Promise<void>;
}

export async function startService(o: ServiceOptions): Promise<Service> {
  const pool = new SandboxPool({
    size: o.pool ?? 2,
    isolation: o.isolation ?? 'sentry',
    rootfs: o.rootfs,
    network: 'none',
    limits: { memory: o.memory ?? '256m', pids: 64, cpus: 1 },
    env: { LANG: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1' },
    user: '65534:65534',
    ...(o.root !== undefined ? { root: o.root } : {}),
  });
  const timeout = o.timeout ?? 5000;
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/health') return reply(200, { available: pool.available, size: pool.size });
    if (req.method !== 'POST' || req.url !== '/run') return reply(404, { error: 'POST /run with Python source' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_SOURCE) {
        reply(413, { error: `source over ${MAX_SOURCE} bytes` });
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_SOURCE) return;
      const source = Buffer.concat(chunks);
      pool
        .use(async (sb) => {
          await sb.writeFile('/tmp/main.py', source);
          return sb.run(['python3', '/tmp/main.py'], { timeout, maxOutputBytes: MAX_OUTPUT, cwd: '/tmp' });
        })
        .then(
          (r) => reply(200, { exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, truncated: r.truncated, oomKilled: r.oomKilled, stdout: r.stdout.toString(), stderr: r.stderr.toString(), usage: r.usage }),
          (e: Error & { code?: string }) => reply(500, { error: e.message, code: e.code }),
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(o.port ?? 8080, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    pool,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.close();
    },
  };
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const rootfs = flag(args, 'rootfs');
  if (!rootfs) {
    process.stderr.write('usage: python-service --rootfs DIR [--isolation native|sentry|vm] [--port N] [--pool N] [--memory 256m] [--timeout MS] [--root DIR]\n');
    process.exit(2);
  }
  const num = (n: string) => (flag(args, n) !== undefined ? Number(flag(args, n)) : undefined);
  startService({
    rootfs,
    ...(flag(args, 'isolation') ? { isolation: flag(args, 'isolation') as Isolation } : {}),
    ...(num('port') !== undefined ? { port: num('port')! } : {}),
    ...(num('pool') !== undefined ? { pool: num('pool')! } : {}),
    ...(flag(args, 'memory') ? { memory: flag(args, 'memory')! } : {}),
    ...(num('timeout') !== undefined ? { timeout: num('timeout')! } : {}),
    ...(flag(args, 'root') ? { root: flag(args, 'root')! } : {}),
  }).then((s) => {
    process.stdout.write(`listening on ${s.url}\n`);
    const stop = () => void s.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }, (e: Error) => {
    process.stderr.write(`python-service: ${e.message}\n`);
    process.exit(1);
  });
}
