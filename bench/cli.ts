// Benchmark (issue 17): the CLI path against runc on the same bundles, in one run on one machine.
//  1. each lifecycle command alone (`run` of /bin/true; create, start, state, kill, delete of a
//     sleep), moat and runc alternating, wall-time medians and CPU per command;
//  2. the soak: 200 containers through create/start/state/kill/delete --force, 50 at a time, moat
//     then runc, wall time, CPU per lifecycle, and a search for anything left;
//  3. `docker run --rm busybox true` through a dockerd of our own, --runtime=moat and runc alternating.
// Each of them also as "service": moat's CLI through its native front-end and `moat service`
// (docs/cli-speed.md), a service of this benchmark's own (own socket), started before and stopped after.
// CPU is the user+system time of the CLI processes (and what they reaped), from this process's
// cutime/cstime in /proc/self/stat: clock ticks, so a mean over many runs, not a median; for
// "service", plus the service's own CPU over the same steps (/proc/<service>/stat).
// Writes bench/results/cli.md.
//
//   sh scripts/bench.sh cli        (BENCH_ROUNDS=21 BENCH_SOAK=200x50 BENCH_DOCKER_ROUNDS=15; BENCH_SKIP=soak,docker;
//                                   BENCH_BEFORE=/other/checkout/bin/moat adds that moat to the first table, as "before";
//                                   BENCH_SOAK_RUNTIMES=moat,runc,service: which soaks run)

import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Dockerd, IMAGE } from '../test/clients/helpers/docker';
import { makeBundle, makeStateRoot, MOAT, REPO } from '../test/helpers/moat';
import { median } from './stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 21);
const DOCKER_ROUNDS = Number(process.env.BENCH_DOCKER_ROUNDS ?? 15);
const [SOAK_COUNT, SOAK_WIDTH] = (/^(\d+)x(\d+)$/.exec(process.env.BENCH_SOAK ?? '') ?? ['', '200', '50']).slice(1).map(Number) as [number, number];
const SKIP = new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean));
const TICK_MS = 1000 / 100; // USER_HZ
const SLEEP = ['sleep', '9871']; // the soak's long-running program, told from others' by its argv
const TAG = `clib${process.pid}`;

type Runtime = 'moat' | 'runc' | 'before' | 'service';
const BEFORE = process.env.BENCH_BEFORE;
const SOAK_RUNTIMES = (process.env.BENCH_SOAK_RUNTIMES ?? 'moat,runc,service').split(',').filter(Boolean) as Runtime[];
const env: NodeJS.ProcessEnv = { ...process.env, MOAT_SERVICE_SOCKET: '' }; // moat without a service: daemonless
delete env.NODE_EXTRA_CA_CERTS; // as bin/moat drops it
const SERVICE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-bench-svc-'));
const SERVICE_SOCKET = path.join(SERVICE_DIR, 'run', 'service.sock');
const serviceEnv = { ...env, MOAT_SERVICE_SOCKET: SERVICE_SOCKET };
let servicePid = 0;
const envOf = (rt: Runtime) => (rt === 'service' ? serviceEnv : env);

/** CPU time (ms) of the running service so far (it is not reaped: not in cutime). */
function serviceCpuMs(): number {
  if (!servicePid) return 0;
  const stat = fs.readFileSync(`/proc/${servicePid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS; // fields 14 and 15: utime, stime
}

async function startService(): Promise<() => Promise<void>> {
  const child = spawn(MOAT, ['service', '--socket', SERVICE_SOCKET], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const end = Date.now() + 30_000;
  while (!log.includes('listening on')) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`moat service did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  servicePid = child.pid!;
  return async () => {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    servicePid = 0;
  };
}

/** CPU time (ms) of this process's reaped children so far. */
function childCpuMs(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * TICK_MS; // fields 16 and 17: cutime, cstime
}

function argv(rt: Runtime, root: string, args: string[]): [string, string[]] {
  if (rt === 'runc') return ['runc', ['--root', root, ...args]];
  return [rt === 'before' ? BEFORE! : MOAT, ['--root', root, ...args]];
}

/** One command, synchronously: wall ms and CPU ms; throws on failure. */
function timed(cmd: string, args: string[], stdio: StdioOptions = ['ignore', 'ignore', 'pipe'], e: NodeJS.ProcessEnv = env): { wall: number; cpu: number; stdout: string } {
  const c0 = childCpuMs() + (e === serviceEnv ? serviceCpuMs() : 0);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio, env: e, encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: status ${r.status}: ${r.stderr}`);
  return { wall, cpu: childCpuMs() + (e === serviceEnv ? serviceCpuMs() : 0) - c0, stdout: r.stdout ?? '' };
}

interface Series {
  wall: number[];
  cpu: number;
}
const mean = (s: Series) => s.cpu / s.wall.length;

function commands(roots: Record<Runtime, string>): Map<string, Record<Runtime, Series>> {
  const trueBundle = makeBundle(['/bin/true']);
  const sleepBundle = makeBundle(SLEEP);
  const table = new Map<string, Record<Runtime, Series>>();
  const add = (name: string, rt: Runtime, t: { wall: number; cpu: number }) => {
    if (!table.has(name)) table.set(name, { moat: { wall: [], cpu: 0 }, runc: { wall: [], cpu: 0 }, before: { wall: [], cpu: 0 }, service: { wall: [], cpu: 0 } });
    const s = table.get(name)![rt];
    s.wall.push(t.wall);
    s.cpu += t.cpu;
  };
  try {
    for (let i = 0; i < ROUNDS + 2; i++) {
      const order: Runtime[] = i % 2 ? ['moat', 'runc', 'service'] : ['service', 'runc', 'moat'];
      if (BEFORE) order.splice(i % 3, 0, 'before');
      for (const rt of order) {
        const root = roots[rt];
        const id = `${TAG}-${rt}-${i}`;
        const step = (name: string, args: string[], stdio?: StdioOptions) => {
          const t = timed(...argv(rt, root, args), stdio, envOf(rt));
          if (i >= 2) add(name, rt, t); // two warm-up rounds
          return t;
        };
        step('run /bin/true', ['run', '--bundle', trueBundle.dir, `${id}r`]);
        // The created container keeps create's stdio: nothing we would wait on.
        step('create', ['create', '--bundle', sleepBundle.dir, id], ['ignore', 'ignore', 'ignore']);
        step('start', ['start', id]);
        const st = step('state', ['state', id], ['ignore', 'pipe', 'pipe']);
        if (JSON.parse(st.stdout).status !== 'running') throw new Error(`${rt} state ${id}: ${st.stdout}`);
        step('kill', ['kill', id, 'KILL']);
        step('delete', ['delete', '--force', id]);
      }
    }
  } finally {
    trueBundle.cleanup();
    sleepBundle.cleanup();
  }
  return table;
}

/** One command, asynchronously; resolves to an error line or undefined. */
function cmdAsync(rt: Runtime, root: string, args: string[], check?: (stdout: string) => boolean): Promise<string | undefined> {
  const [cmd, a] = argv(rt, root, args);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-bench-io-'));
  const errFile = path.join(tmp, 'err');
  const outFile = path.join(tmp, 'out');
  const err = fs.openSync(errFile, 'w');
  const out = fs.openSync(outFile, 'w');
  return new Promise((resolve) => {
    const child = spawn(cmd, a, { stdio: ['ignore', out, err], env: envOf(rt) });
    fs.closeSync(err);
    fs.closeSync(out);
    child.once('exit', (code) => {
      const stderr = fs.readFileSync(errFile, 'utf8').trim();
      const stdout = fs.readFileSync(outFile, 'utf8');
      fs.rmSync(tmp, { recursive: true, force: true });
      const bad = code !== 0 || (check !== undefined && !check(stdout));
      resolve(bad ? `${rt} ${args.slice(0, 2).join(' ')}: status ${code}: ${stderr.split('\n').pop()}` : undefined);
    });
  });
}

interface SoakResult {
  wallMs: number;
  cpuMs: number;
  failures: string[];
  left: string[];
}

async function soak(rt: Runtime, root: string): Promise<SoakResult> {
  const bundle = makeBundle(SLEEP);
  const failures: string[] = [];
  const c0 = childCpuMs() + serviceCpuMs();
  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < SOAK_COUNT; i = next++) {
      const id = `${TAG}-soak-${rt}-${i}`;
      const steps: [string[], ((s: string) => boolean)?][] = [
        [['create', '--bundle', bundle.dir, id]],
        [['start', id]],
        [['state', id], (s) => JSON.parse(s).status === 'running'],
        [['kill', id, 'KILL']],
      ];
      for (const [args, check] of steps) {
        const e = await cmdAsync(rt, root, args, check);
        if (e) {
          failures.push(`${id} ${e}`);
          break;
        }
      }
      const e = await cmdAsync(rt, root, ['delete', '--force', id]);
      if (e) failures.push(`${id} ${e}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: SOAK_WIDTH }, worker));
  } finally {
    bundle.cleanup();
  }
  const wallMs = Date.now() - t0;
  return { wallMs, cpuMs: childCpuMs() + serviceCpuMs() - c0, failures, left: leftovers(root, `${TAG}-soak-${rt}-`) };
}

/** What a soak left: state entries, the sleeps, cgroup directories named by its ids. */
function leftovers(root: string, prefix: string): string[] {
  const left = fs.existsSync(root) ? fs.readdirSync(root).map((n) => `state ${n}`) : [];
  const sleep = `${SLEEP.join('\0')}\0`;
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === sleep) left.push(`process ${pid} ${SLEEP.join(' ')}`);
    } catch {
      // gone
    }
  }
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]!);
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      if (e.name.startsWith(prefix)) left.push(`cgroup ${path.join(dir, e.name)}`);
      else if (depth > 0) walk(path.join(dir, e.name), depth - 1);
    }
  };
  for (const m of mounts) walk(m, 2);
  return left;
}

type DockerRt = 'moat' | 'runc' | 'service';
async function dockerRuns(): Promise<Record<DockerRt, number[]> | string> {
  if (!fs.existsSync('/usr/sbin/dockerd')) return 'docker.io is not installed';
  const d = new Dockerd();
  const out: Record<DockerRt, number[]> = { moat: [], runc: [], service: [] };
  // dockerd calls the runtime's path: for "service", moat with the benchmark's service socket.
  const wrapper = path.join(SERVICE_DIR, 'moat-via-service');
  fs.writeFileSync(wrapper, `#!/bin/sh\nMOAT_SERVICE_SOCKET=${SERVICE_SOCKET} exec ${MOAT} "$@"\n`, { mode: 0o755 });
  try {
    await d.start({ 'moat-service': { path: wrapper } });
    for (let i = 0; i < DOCKER_ROUNDS + 2; i++) {
      for (const rt of (i % 2 ? ['moat', 'runc', 'service'] : ['service', 'runc', 'moat']) as DockerRt[]) {
        const t0 = process.hrtime.bigint();
        const r = d.docker(['run', '--rm', `--runtime=${rt === 'service' ? 'moat-service' : rt}`, IMAGE, 'true']);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (r.status !== 0) throw new Error(`docker run --runtime=${rt}: ${r.all}`);
        if (i >= 2) out[rt].push(ms);
      }
    }
  } finally {
    // Its leak check is host-wide: on a shared machine another session's shim can fail it after our
    // runs are done; said, not fatal to the figures.
    await d.stop().catch((err: Error) => process.stderr.write(`dockerd stop: ${err.message}\n`));
  }
  return out;
}

const f1 = (x: number) => x.toFixed(1);

async function main(): Promise<void> {
  const load0 = os.loadavg();
  const roots: Record<Runtime, string> = { moat: makeStateRoot(), runc: fs.mkdtempSync(path.join(os.tmpdir(), 'runc-bench-')), before: makeStateRoot(), service: makeStateRoot() };
  const stopService = await startService();
  const lines: string[] = [];
  const runcVersion = spawnSync('runc', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  try {
    const node = { wall: [] as number[], cpu: 0 };
    const version = { wall: [] as number[], cpu: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      for (const [s, cmd, args] of [[node, process.execPath, ['-e', '0']], [version, MOAT, ['--version']]] as const) {
        const t = timed(cmd, [...args]);
        s.wall.push(t.wall);
        s.cpu += t.cpu;
      }
    }
    const table = commands(roots);
    lines.push(
      '## Each command alone',
      '',
      `${ROUNDS} rounds after 2 warm-up rounds, moat, runc and moat through \`moat service\` alternating (order reversed each round), one container at a time. ` +
        'Wall: median ms. CPU: mean ms of user+system time of the command\'s processes.' +
        (BEFORE ? ` "before": ${BEFORE}, the same commands in the same rounds.` : ''),
      '',
      '| command | moat wall | runc wall | wall ratio | moat CPU | runc CPU | CPU ratio | service: wall | ratio | CPU (with the service\'s) | ratio |' + (BEFORE ? ' before: wall | ratio | CPU | ratio |' : ''),
      '|---|---|---|---|---|---|---|---|---|---|---|' + (BEFORE ? '---|---|---|---|' : ''),
    );
    let lifeMoat = 0;
    let lifeRunc = 0;
    let lifeService = 0;
    for (const [name, s] of table) {
      const before = BEFORE ? ` ${f1(median(s.before.wall))} | ${(median(s.before.wall) / median(s.runc.wall)).toFixed(2)}× | ${f1(mean(s.before))} | ${(mean(s.before) / mean(s.runc)).toFixed(2)}× |` : '';
      const svc = ` ${f1(median(s.service.wall))} | ${(median(s.service.wall) / median(s.runc.wall)).toFixed(2)}× | ${f1(mean(s.service))} | ${(mean(s.service) / mean(s.runc)).toFixed(2)}× |`;
      lines.push(`| \`${name}\` | ${f1(median(s.moat.wall))} | ${f1(median(s.runc.wall))} | ${(median(s.moat.wall) / median(s.runc.wall)).toFixed(2)}× | ${f1(mean(s.moat))} | ${f1(mean(s.runc))} | ${(mean(s.moat) / mean(s.runc)).toFixed(2)}× |${svc}${before}`);
      if (name !== 'run /bin/true') {
        lifeMoat += mean(s.moat);
        lifeRunc += mean(s.runc);
        lifeService += mean(s.service);
      }
    }
    lines.push(
      `| \`node -e 0\` (Node's own start) | ${f1(median(node.wall))} | | | ${f1(mean(node))} | | |`,
      `| \`moat --version\` | ${f1(median(version.wall))} | | | ${f1(mean(version))} | | |`,
      '',
      `CPU per container lifecycle (create + start + state + kill + delete): moat ${f1(lifeMoat)} ms, runc ${f1(lifeRunc)} ms (${(lifeMoat / lifeRunc).toFixed(2)}×); ` +
        `through moat service ${f1(lifeService)} ms, the service's own CPU included (${(lifeService / lifeRunc).toFixed(2)}×).`,
      '',
    );
    process.stdout.write(lines.join('\n') + '\n');

    if (!SKIP.has('soak')) {
      const results: [Runtime, SoakResult][] = [];
      for (const rt of SOAK_RUNTIMES) {
        process.stderr.write(`soak: ${rt}, ${SOAK_COUNT} containers ${SOAK_WIDTH} at a time...\n`);
        results.push([rt, await soak(rt, roots[rt])]);
      }
      const runc = results.find(([rt]) => rt === 'runc')?.[1];
      lines.push(
        '## The soak',
        '',
        `${SOAK_COUNT} containers (\`${SLEEP.join(' ')}\`) through create, start, state, kill KILL, delete --force, ${SOAK_WIDTH} at a time; ${SOAK_RUNTIMES.join(', then ')} ("service": moat through \`moat service\`, its CPU included). ` +
          'Left: state entries, the sleeps, cgroup directories of the soak\'s ids.',
        '',
        '| runtime | wall s | vs runc | CPU per lifecycle ms | failures | left |',
        '|---|---|---|---|---|---|',
        ...results.map(([rt, r]) => `| ${rt} | ${(r.wallMs / 1000).toFixed(1)} | ${runc ? (r.wallMs / runc.wallMs).toFixed(2) : '?'}× | ${f1(r.cpuMs / SOAK_COUNT)} | ${r.failures.length} | ${r.left.length} |`),
        '',
      );
      for (const [rt, r] of results) {
        for (const f of r.failures.slice(0, 10)) lines.push(`* ${rt} failure: ${f}`);
        for (const l of r.left.slice(0, 10)) lines.push(`* ${rt} left: ${l}`);
      }
      lines.push('');
    }

    if (!SKIP.has('docker')) {
      const d = await dockerRuns();
      lines.push('## Docker', '');
      if (typeof d === 'string') lines.push(`Not run: ${d}.`, '');
      else {
        lines.push(
          `\`docker run --rm busybox true\` (Docker's containerd and runc shim, which runs the runtime's CLI for each step) with --runtime=moat and --runtime=runc alternating, ${DOCKER_ROUNDS} rounds after 2 warm-up rounds; median ms.`,
          '',
          '| runtime | wall ms | vs runc |',
          '|---|---|---|',
          `| moat | ${f1(median(d.moat))} | ${(median(d.moat) / median(d.runc)).toFixed(2)}× |`,
          `| moat through moat service | ${f1(median(d.service))} | ${(median(d.service) / median(d.runc)).toFixed(2)}× |`,
          `| runc | ${f1(median(d.runc))} | 1.00× |`,
          '',
        );
      }
    }
  } finally {
    fs.rmSync(roots.moat, { recursive: true, force: true });
    fs.rmSync(roots.runc, { recursive: true, force: true });
    fs.rmSync(roots.before, { recursive: true, force: true });
    await stopService();
    fs.rmSync(roots.service, { recursive: true, force: true });
    fs.rmSync(SERVICE_DIR, { recursive: true, force: true });
  }
  const header = [
    '# The CLI path against runc (issue 17)',
    '',
    `\`sh scripts/bench.sh cli\` (bench/cli.ts), ${new Date().toISOString().slice(0, 16)}Z, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), ` +
      `kernel ${os.release()}, Node ${process.version}, ${runcVersion}. Load average ${load0.map((x) => x.toFixed(1)).join(' ')} at the start, ` +
      `${os.loadavg().map((x) => x.toFixed(1)).join(' ')} at the end (a shared machine: the ratios are the result, not the absolute times).`,
    '',
  ];
  const report = [...header, ...lines].join('\n');
  fs.mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(REPO, 'bench', 'results', 'cli.md'), report);
  process.stdout.write(report);
}

void main();
