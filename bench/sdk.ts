// Benchmark of the SDK (issue 16), against the peers in the same run, alternating, medians:
//   start   Sandbox.create → the first byte of an exec's output, per isolation, against
//           `docker run --rm IMAGE CMD` (its own dockerd, runc, overlay2) and `runsc do CMD`
//           (ptrace platform). The command prints one byte (`echo`: `true` prints none; the
//           first byte is what a caller waits for); moat's time includes nothing of close().
//   python  a trivial Python run (`python3 -c 'print(1)'`) through a warm SandboxPool (acquire +
//           run to its exit; the release is not counted), per isolation, against docker run --rm and runsc do of
//           the same command (nothing is warm there: that is what a pool is for).
// Rootfs: busybox (start) and the Debian apps rootfs with python3 (scripts/apps-rootfs.sh) for
// moat and docker; runsc do runs over the host root (as `moat do`). Writes bench/results/sdk.md.
//   sh scripts/bench.sh sdk     (BENCH_ROUNDS=N, default 9; BENCH_VM_ROUNDS, default 3; SDK_BENCH_VM=0 skips vm)

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO, makeRootfs } from '../test/helpers/moat';
import { Daemon } from '../test/clients/helpers/daemons';
import { appsRootfs } from '../test/apps/harness';
import { Sandbox, SandboxPool, type Isolation } from '../src/sdk';
import { firstLine, median } from './stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const VM_ROUNDS = Number(process.env.BENCH_VM_ROUNDS ?? 3);
const ISOLATIONS: Isolation[] = process.env.SDK_BENCH_VM === '0' ? ['native', 'sentry'] : ['native', 'sentry', 'vm'];
const PY = ['python3', '-c', 'print(1)'];

type Samples = Map<string, number[]>;
const failures = new Map<string, string>();

function add(s: Samples, key: string, ms: number): void {
  if (!s.has(key)) s.set(key, []);
  s.get(key)!.push(ms);
}

/** A command's time to the first byte on stdout (and its exit, which must be 0). */
function firstByte(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first: number | undefined;
    let err = '';
    // stdin is an empty pipe, never /dev/null: Debian's `runsc do` chowns its stdio to the sandbox's
    // user (nobody), and with 'ignore' that was the host's /dev/null (runc and crun skip it there).
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    c.stdin.end();
    c.stdout.once('data', () => (first = Number(process.hrtime.bigint() - t0) / 1e6));
    c.stdout.resume();
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.once('exit', (code) => (code === 0 && first !== undefined ? resolve(first) : reject(new Error(`${cmd} ${args.join(' ')}: status ${code}: ${firstLine(err)}`))));
  });
}

async function sdkFirstByte(isolation: Isolation, rootfs: string, root: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const sb = await Sandbox.create({ isolation, rootfs, root });
  try {
    const h = sb.exec(['echo', '1']);
    const ms = await new Promise<number>((resolve, reject) => {
      h.stdout.once('data', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
      h.result.then((r) => reject(new Error(`exit ${r.exitCode} before any output`)), reject);
    });
    await h.result;
    return ms;
  } finally {
    await sb.close();
  }
}

async function timed(key: string, s: Samples, fn: () => Promise<number>): Promise<void> {
  try {
    add(s, key, await fn());
  } catch (e) {
    if (!failures.has(key)) failures.set(key, firstLine((e as Error).message));
  }
}

/** A dockerd of the benchmark's own (overlay2, runc), with the two images imported. */
async function startDocker(busyboxRoot: string, apps: string): Promise<{ docker(args: string[]): string[]; stop(): Promise<void> } | undefined> {
  if (!fs.existsSync('/usr/sbin/dockerd')) return undefined;
  const parent = `moat-sdk-bench-${process.pid}`;
  const daemon = new Daemon('moat-sdk-bench-', [parent], ['/run/containerd/s', '/run/containerd', '/run/docker/plugins', '/run/docker']);
  const sock = path.join(daemon.dir, 'docker.sock');
  const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: path.join(daemon.dir, 'cli') };
  daemon.spawn('/usr/sbin/dockerd', [
    '--data-root', path.join(daemon.dir, 'data'), '--exec-root', path.join(daemon.dir, 'exec'), '--host', `unix://${sock}`,
    '--pidfile', path.join(daemon.dir, 'dockerd.pid'), '--iptables=false', '--ip-masq=false', '--bridge=none',
    '--storage-driver=overlay2', '--exec-opt', 'native.cgroupdriver=cgroupfs', '--cgroup-parent', `/${parent}`,
  ]);
  const docker = (args: string[]) => ['/usr/bin/docker', ...args, '\0env', JSON.stringify(env)];
  const run = (args: string[]) => spawnSync('/usr/bin/docker', args, { encoding: 'utf8', env, maxBuffer: 1 << 20 });
  await daemon.waitReady('dockerd', () => fs.existsSync(sock) && run(['version']).status === 0);
  for (const [dir, ref] of [[busyboxRoot, 'moat-bench-busybox:1'], [apps, 'moat-bench-apps:1']] as const) {
    const tar = spawn('tar', ['--numeric-owner', '-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const imp = spawn('/usr/bin/docker', ['import', '-', ref], { stdio: ['pipe', 'ignore', 'pipe'], env });
    tar.stdout.pipe(imp.stdin);
    const code = await new Promise<number | null>((r) => imp.once('exit', r));
    if (code !== 0) throw new Error(`docker import ${ref} failed`);
  }
  return {
    docker,
    stop: async () => {
      const ids = run(['ps', '-aq']).stdout.trim().split('\n').filter(Boolean);
      if (ids.length) run(['rm', '-f', ...ids]);
      await daemon.stop();
    },
  };
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-sdk-bench-'));
  fs.chmodSync(work, 0o755);
  const root = path.join(work, 'state');
  const busybox = path.join(work, 'rootfs');
  makeRootfs(busybox);
  const apps = appsRootfs();
  const runscRoot = path.join(work, 'runsc');
  fs.mkdirSync(runscRoot);
  const hasRunsc = spawnSync('runsc', ['--version']).status === 0;
  const dockerd = await startDocker(busybox, apps).catch((e: Error) => {
    failures.set('docker', firstLine(e.message));
    return undefined;
  });
  const dockerCmd = (args: string[]) => {
    const d = dockerd!.docker(args);
    const i = d.indexOf('\0env');
    return { cmd: d[0]!, args: d.slice(1, i), env: JSON.parse(d[i + 1]!) as NodeJS.ProcessEnv };
  };
  const start: Samples = new Map();
  const python: Samples = new Map();
  const pools = new Map<Isolation, SandboxPool>();
  try {
    // Start-up: alternate every contender each round.
    for (let i = 0; i < ROUNDS; i++) {
      for (const iso of ISOLATIONS) {
        if (iso === 'vm' && i >= VM_ROUNDS) continue;
        await timed(`moat ${iso}`, start, () => sdkFirstByte(iso, busybox, root));
      }
      if (dockerd) {
        const d = dockerCmd(['run', '--rm', '--network=none', 'moat-bench-busybox:1', 'echo', '1']);
        await timed('docker run --rm', start, () => firstByte(d.cmd, d.args, d.env));
      }
      if (hasRunsc) await timed('runsc do', start, () => firstByte('runsc', ['--root', runscRoot, '--platform=ptrace', '--network=none', 'do', 'echo', '1']));
    }
    // Python through a warm pool of one per isolation (warm again before each round).
    for (const iso of ISOLATIONS) pools.set(iso, new SandboxPool({ size: 1, isolation: iso, rootfs: apps, root }));
    for (const p of pools.values()) await p.ready().catch((e: Error) => failures.set('pool', firstLine(e.message)));
    for (let i = 0; i < ROUNDS; i++) {
      for (const [iso, pool] of pools) {
        if (iso === 'vm' && i >= VM_ROUNDS) continue;
        const t = Date.now();
        while (pool.available < 1 && Date.now() - t < 120_000) await new Promise((r) => setTimeout(r, 50));
        await timed(`moat ${iso} (warm pool)`, python, async () => {
          // acquire + run on the clock; the release (close, and the pool making the next) off it.
          const t0 = process.hrtime.bigint();
          const sb = await pool.acquire();
          try {
            const r = await sb.run(PY);
            const ms = Number(process.hrtime.bigint() - t0) / 1e6;
            if (r.stdout.toString() !== '1\n') throw new Error(`python: ${r.exitCode} ${r.stderr.toString()}`);
            return ms;
          } finally {
            await pool.release(sb);
          }
        });
      }
      if (dockerd) {
        const d = dockerCmd(['run', '--rm', '--network=none', 'moat-bench-apps:1', ...PY]);
        await timed('docker run --rm', python, () => firstByte(d.cmd, d.args, d.env));
      }
      if (hasRunsc) await timed('runsc do', python, () => firstByte('runsc', ['--root', runscRoot, '--platform=ptrace', '--network=none', 'do', ...PY]));
    }
  } finally {
    for (const p of pools.values()) await p.close();
    await dockerd?.stop().catch((e: Error) => failures.set('docker stop', firstLine(e.message)));
    fs.rmSync(work, { recursive: true, force: true });
  }
  writeReport(start, python);
}

function writeReport(start: Samples, python: Samples): void {
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const rows = (s: Samples, peer: string) => [...s.entries()].map(([k, v]) => {
    const ratio = s.get(peer)?.length ? `${(median(v) / median(s.get(peer)!)).toFixed(2)}×` : '—';
    return `| ${k} | ${median(v).toFixed(0)} ms | ${v.length} | ${ratio} |`;
  });
  const runscVersion = spawnSync('runsc', ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? 'runsc: not found';
  const report = [
    '# SDK: sandbox start-up and a warm pool, against docker run --rm and runsc do',
    '',
    `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, kernel ${os.release()}, Node ${process.version}, ${runscVersion}; load average at the end ${load}. ` +
      `Medians of ${ROUNDS} rounds (vm: ${VM_ROUNDS}), contenders alternating within each round. Produced by \`sh scripts/bench.sh sdk\` (bench/sdk.ts).`,
    '',
    '## Create → first byte of `echo 1`',
    '',
    'moat: `Sandbox.create({ isolation, rootfs: busybox })` then `exec([\'echo\', \'1\'])` until its first stdout byte (close not counted); ' +
      'docker: `docker run --rm --network=none busybox-image echo 1` (its own dockerd, runc, overlay2); runsc: `runsc --platform=ptrace --network=none do echo 1` (host root).',
    '',
    '| contender | median | runs | / docker run --rm |',
    '|---|---|---|---|',
    ...rows(start, 'docker run --rm'),
    '',
    '## `python3 -c \'print(1)\'`',
    '',
    'moat: through a warm `SandboxPool` of 1 (acquire + run to its exit; release not counted, and the pool is warm again before each round) over the Debian apps rootfs; docker: `docker run --rm` of the same rootfs imported as an image; runsc do over the host root.',
    '',
    '| contender | median | runs | / docker run --rm |',
    '|---|---|---|---|',
    ...rows(python, 'docker run --rm'),
    '',
    ...(failures.size ? ['Failures (first of each):', '', ...[...failures].map(([k, v]) => `- ${k}: ${v}`), ''] : []),
  ].join('\n');
  fs.mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(REPO, 'bench', 'results', 'sdk.md'), report);
  process.stdout.write(report + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench/sdk: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
