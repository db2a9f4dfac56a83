// Benchmark: networking inside one sandbox (issue #11), the sentry against gVisor's runsc on its
// ptrace platform and against no sandbox, in one run on one machine, platforms alternating, medians:
//  * bench/net/tcp.c (one static binary, two processes over 127.0.0.1): 1-byte ping-pong round
//    trips (request/response latency) and a bulk transfer in 64 KiB writes (throughput);
//  * a server: redis-server and redis-benchmark (PING_INLINE, SET, GET; 10 clients) in one
//    sandbox of the real-application rootfs (scripts/apps-rootfs.sh, built on first use).
// tcp: native = the binary itself, runsc = `runsc --platform=ptrace --network=none do`, the sentry =
// `moat do --isolation=sentry` (its own network namespace, lo up). redis: the apps harness's bundle
// (test/apps/harness.ts: read-only rootfs, tmpfs on /tmp...) under `moat run` (native isolation:
// namespaces, no interception: the "native" column), `runsc --platform=ptrace --network=none run`
// and `moat --isolation=sentry run`.
// Writes bench/results/net.md.
//
//   sh scripts/bench.sh net    (BENCH_ROUNDS, BENCH_ROUND_TRIPS, BENCH_MIB, BENCH_REDIS_REQUESTS tune it;
//                               BENCH_NO_VDSO=1 adds the sentry without its vDSO)

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MOAT, REPO } from '../test/helpers/moat';
import { killTagged, tagProcesses } from '../test/sentry/helpers';
import { appsRootfs, runScript, type Runtime } from '../test/apps/harness';
import { median, firstLine } from './stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 5000);
const MIB = Number(process.env.BENCH_MIB ?? 256);
const REDIS_REQUESTS = Number(process.env.BENCH_REDIS_REQUESTS ?? 20000);
const TIMEOUT_MS = 300_000;

type Platform = 'native' | 'runsc ptrace' | 'moat sentry' | 'moat sentry (baseline)' | 'moat sentry (no vDSO)';
/**
 * BENCH_BASELINE_NATIVE=DIR adds a column: the sentry with another build's native layer (e.g. the
 * commit before a change, built into DIR), run alternating with the others, for a before/after
 * under the same machine load.
 */
const BASELINE = process.env.BENCH_BASELINE_NATIVE;
/** BENCH_NO_VDSO=1 adds a column: the sentry without its vDSO (MOAT_SENTRY_VDSO=0, every clock read a syscall). */
const NO_VDSO = process.env.BENCH_NO_VDSO === '1';
const PLATFORMS: Platform[] = ['native', 'runsc ptrace', 'moat sentry', ...(BASELINE ? ['moat sentry (baseline)' as const] : []), ...(NO_VDSO ? ['moat sentry (no vDSO)' as const] : [])];
const HARNESS: Record<Platform, Runtime> = { native: 'native', 'runsc ptrace': 'runsc', 'moat sentry': 'sentry', 'moat sentry (baseline)': 'sentry', 'moat sentry (no vDSO)': 'sentry' };

/** Run fn with MOAT_NATIVE_DIR set for the platform (the baseline's build) and restored after. */
function withNative<T>(p: Platform, fn: () => T): T {
  const saved = process.env.MOAT_NATIVE_DIR;
  if (p === 'moat sentry (baseline)') process.env.MOAT_NATIVE_DIR = BASELINE;
  if (p === 'moat sentry (no vDSO)') process.env.MOAT_SENTRY_VDSO = '0';
  try {
    return fn();
  } finally {
    delete process.env.MOAT_SENTRY_VDSO;
    if (saved === undefined) delete process.env.MOAT_NATIVE_DIR;
    else process.env.MOAT_NATIVE_DIR = saved;
  }
}

const ROWS = ['pingpong', 'bulk', 'PING_INLINE', 'SET', 'GET'] as const;
type Row = (typeof ROWS)[number];
const LABEL: Record<Row, string> = {
  pingpong: '1-byte TCP ping-pong, round trips/s (µs each)',
  bulk: 'bulk TCP, 64 KiB writes, MiB/s',
  PING_INLINE: 'redis-benchmark PING_INLINE, requests/s',
  SET: 'redis-benchmark SET, requests/s',
  GET: 'redis-benchmark GET, requests/s',
};



const REDIS_SCRIPT = (n: number) => [
  "redis-server --bind 127.0.0.1 --port 6390 --daemonize yes --dir /tmp --logfile /tmp/redis.log --save '' || exit 1",
  'for i in $(seq 50); do redis-cli -p 6390 ping 2>/dev/null | grep -q PONG && break; sleep 0.2; done',
  `redis-benchmark -p 6390 -c 10 -n ${n} -t ping_inline,set,get --csv; r=$?`,
  'redis-cli -p 6390 shutdown nosave >/dev/null 2>&1; exit $r',
].join('\n');

/** redis-benchmark --csv: `"SET","12345.68",...` per test (a header line first in redis 7). */
function parseRedis(out: string): Partial<Record<Row, number>> {
  const res: Partial<Record<Row, number>> = {};
  for (const line of out.split('\n')) {
    const m = /^"([A-Z_]+)","([\d.]+)"/.exec(line.trim());
    if (m && (ROWS as readonly string[]).includes(m[1]!)) res[m[1] as Row] = Number(m[2]);
  }
  return res;
}

function main(): void {
  const loadStart = os.loadavg()[0]!.toFixed(1);
  tagProcesses();
  const work = fs.mkdtempSync('/var/tmp/moat-bench-net-'); // not /tmp: `moat do` mounts a fresh tmpfs there
  fs.chmodSync(work, 0o755);
  const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-bench-net-state-'));
  const runscRoot = path.join(stateRoot, 'runsc-do');
  fs.mkdirSync(runscRoot);
  const cleanMoat = () => {
    for (const id of fs.readdirSync(stateRoot)) {
      if (!id.startsWith('runsc')) spawnSync(MOAT, ['--root', stateRoot, 'delete', '--force', id], { stdio: 'ignore', timeout: 10_000 });
    }
  };
  const bin = path.join(work, 'tcp');
  execFileSync('gcc', ['-static', '-O2', '-Wall', '-Werror', '-o', bin, path.join(REPO, 'bench', 'net', 'tcp.c')]);
  const tcpArgv = (p: Platform): string[] => {
    const cmd = [bin, String(ROUND_TRIPS), String(MIB)];
    if (p === 'native') return cmd;
    if (p === 'runsc ptrace') return ['runsc', '--root', runscRoot, '--platform=ptrace', '--network=none', 'do', ...cmd];
    if (p === 'moat sentry (baseline)') return ['env', `MOAT_NATIVE_DIR=${BASELINE}`, MOAT, '--root', stateRoot, 'do', '--isolation=sentry', '--', ...cmd];
    if (p === 'moat sentry (no vDSO)') return ['env', 'MOAT_SENTRY_VDSO=0', MOAT, '--root', stateRoot, 'do', '--isolation=sentry', '--', ...cmd];
    return [MOAT, '--root', stateRoot, 'do', '--isolation=sentry', '--', ...cmd];
  };
  const rootfs = appsRootfs();

  const results = new Map<Platform | string, Record<Row, number[]>>(PLATFORMS.map((p) => [p, { pingpong: [], bulk: [], PING_INLINE: [], SET: [], GET: [] }]));
  const failed = new Map<string, string>(); // `${platform}/${bench}`
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of PLATFORMS) {
        const r = results.get(p)!;
        if (!failed.has(`${p}/tcp`)) {
          const argv = tcpArgv(p);
          const o = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input: '', timeout: TIMEOUT_MS, killSignal: 'SIGKILL' });
          if (o.error || o.status !== 0) {
            if ((o.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') {
              killTagged();
              cleanMoat();
            }
            failed.set(`${p}/tcp`, o.error?.message ?? (firstLine(o.stderr) || `exit ${o.status}`));
          } else {
            const j = JSON.parse(o.stdout.trim().split('\n').pop() ?? '{}') as { pingpong_us: number; bulk_mib_s: number };
            r.pingpong.push(j.pingpong_us);
            r.bulk.push(j.bulk_mib_s);
          }
        }
        if (!failed.has(`${p}/redis`)) {
          const o = withNative(p, () => runScript(HARNESS[p], REDIS_SCRIPT(REDIS_REQUESTS), rootfs, stateRoot, TIMEOUT_MS / 1000));
          const got = parseRedis(o.stdout);
          if (o.status !== 0 || got.GET === undefined) failed.set(`${p}/redis`, firstLine(o.stderr) || `exit ${o.status}: ${o.stdout.slice(0, 100)}`);
          else for (const k of ['PING_INLINE', 'SET', 'GET'] as const) r[k].push(got[k]!);
        }
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
  } finally {
    cleanMoat();
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(stateRoot, { recursive: true, force: true });
  }

  const loadEnd = os.loadavg()[0]!.toFixed(1);
  const bench = (row: Row) => (row === 'pingpong' || row === 'bulk' ? 'tcp' : 'redis');
  // Every row as a rate (higher is better): round trips/s from µs per round trip.
  const rate = (row: Row, xs: number[]) => (row === 'pingpong' ? 1e6 / median(xs) : median(xs));
  const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
  const cell = (p: Platform, row: Row): string => {
    const xs = results.get(p)![row];
    if (!xs.length) return `failed: ${failed.get(`${p}/${bench(row)}`) ?? '?'}`;
    return row === 'pingpong' ? `${fmt(rate(row, xs))} (${median(xs).toFixed(1)} µs)` : fmt(rate(row, xs));
  };
  const ratio = (row: Row): string => {
    const s = results.get('moat sentry')![row];
    const g = results.get('runsc ptrace')![row];
    return s.length && g.length ? `${(rate(row, s) / rate(row, g)).toFixed(2)}×` : '—';
  };
  const runscVersion = spawnSync('runsc', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? 'runsc: not found';
  const report = [
    '# sentry: networking inside one sandbox, against runsc (gVisor) and native',
    '',
    `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, kernel ${os.release()}, Node ${process.version}, ${runscVersion}. ` +
      `Load average at the start ${loadStart}, at the end ${loadEnd}. ` +
      `Median of ${ROUNDS} runs per platform, platforms alternating. \`bench/net/tcp.c\` (static): ${ROUND_TRIPS} round trips of 1 byte each way (TCP_NODELAY), ` +
      `then ${MIB} MiB in 64 KiB writes, between two processes over 127.0.0.1. redis 7 from the apps rootfs: \`redis-benchmark -c 10 -n ${REDIS_REQUESTS} -t ping_inline,set,get\` against redis-server, both in the sandbox.`,
    '',
    'Commands: tcp — native = the binary; runsc = `runsc --platform=ptrace --network=none do BIN`; moat sentry = `moat do --isolation=sentry -- BIN`. ' +
      'redis — the apps bundle (test/apps/harness.ts) under `moat run` (native isolation: namespaces only, the native column), `runsc --platform=ptrace --network=none run`, `moat --isolation=sentry run`. ' +
      'runsc serves 127.0.0.1 from its own netstack; the sentry from host sockets in the sandbox\'s own network namespace (docs/sentry.md, Networking).' +
      (BASELINE ? ` "moat sentry (baseline)": the same sentry with the native layer of another build (${BASELINE}).` : '') +
      (NO_VDSO ? ' "moat sentry (no vDSO)": the same sentry with `MOAT_SENTRY_VDSO=0` (every clock read a trapped syscall).' : ''),
    '',
    `| benchmark (higher is better) | ${PLATFORMS.join(' | ')} | moat sentry / runsc ptrace |`,
    `|---|${PLATFORMS.map(() => '---:|').join('')}---:|`,
    ...ROWS.map((row) => `| ${LABEL[row]} | ${PLATFORMS.map((p) => cell(p, row)).join(' | ')} | ${ratio(row)} |`),
    '',
    'Individual runs:',
    '',
    ...PLATFORMS.map((p) => `- ${p}: ${ROWS.map((row) => `${row} ${results.get(p)![row].map((x) => x.toFixed(1)).join(', ')}`).join('; ')}`),
    '',
  ].join('\n');
  fs.mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(REPO, 'bench', 'results', process.env.BENCH_OUT ?? 'net.md'), report);
  process.stdout.write(report);
}

main();
