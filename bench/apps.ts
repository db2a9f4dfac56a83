// Benchmark: real programs from the Debian apps rootfs (scripts/apps-rootfs.sh, test/apps) under the
// sentry against gVisor's runsc on its ptrace platform, in one run: python3 start with imports, a
// gcc compile, node -e, git init + commit — each the apps suite's bundle (read-only rootfs, tmpfs
// where programs write) under `moat --isolation=sentry run` and `runsc --platform=ptrace
// --network=none run`, wall time from spawn to exit. Runtimes alternate within each round (the
// starting one rotates); medians of BENCH_ROUNDS (5). BENCH_MOAT_BASE=<another moat CLI> adds that
// build's sentry as a column ("before"), for a change's before/after in the same run.
// Writes bench/results/apps.md.
//
//   sh scripts/bench.sh apps

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { appsRootfs, caseBundle, runLogged } from '../test/apps/harness';
import { CASES, type AppCase } from '../test/apps/cases';
import { MOAT, REPO } from '../test/helpers/moat';
import { killTagged } from '../test/sentry/helpers';
import { firstLine, median } from './stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BASE = process.env.BENCH_MOAT_BASE;
const TIMEOUT_MS = 120_000;

/** The apps suite's cases timed here (by name), and one of python's own start-up with heavier imports. */
const NAMES = ['python3: start and standard imports', 'gcc: compile and run hello.c', 'node: -e compute', 'git: init, add, commit, log'];
const EXTRA: AppCase[] = [
  { name: "python3 -c 'import json, asyncio, http.server'", script: "python3 -c 'import json, asyncio, http.server' && echo ok", expect: [/^ok$/m] },
  // Bare start-ups (issue 14: what mapping libraries costs), and a loop that forks (bash) or vforks (dash).
  { name: 'node -e 0', script: 'node -e 0 && echo ok', expect: [/^ok$/m] },
  { name: 'python3 -c pass', script: 'python3 -c pass && echo ok', expect: [/^ok$/m] },
  { name: 'sh: 10× /bin/true', script: 'for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done; echo ok', expect: [/^ok$/m] },
  { name: 'bash: 10× /bin/true (fork)', script: "bash -c 'for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done; echo ok'", expect: [/^ok$/m] },
];

interface Runtime {
  name: string;
  run(bundle: string, id: string): { status: number | null; stdout: string; stderr: string };
}

function moatRuntime(name: string, cli: string, state: string): Runtime {
  // Each build with its own native code (the gofer, the stub, the addon): next to its CLI.
  const env = { ...process.env, MOAT_NATIVE_DIR: path.resolve(path.dirname(fs.realpathSync(cli)), '..', 'build', 'native') };
  return {
    name,
    run(bundle, id) {
      return runLogged(cli, ['--root', state, '--isolation=sentry', 'run', '--bundle', bundle, id], TIMEOUT_MS, () => {
        killTagged();
        spawnSync(cli, ['--root', state, 'delete', '--force', id], { stdio: 'ignore', timeout: 20_000 });
      }, env);
    },
  };
}

function runscRuntime(state: string): Runtime {
  const base = ['--root', path.join(state, 'runsc'), '--platform=ptrace', '--network=none'];
  return {
    name: 'runsc ptrace',
    run(bundle, id) {
      const r = runLogged('runsc', [...base, 'run', '--bundle', bundle, id], TIMEOUT_MS, () => {});
      spawnSync('runsc', [...base, 'delete', '--force', id], { stdio: 'ignore', timeout: 20_000 });
      return r;
    },
  };
}

function main(): void {
  const rootfs = appsRootfs();
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-bench-apps-'));
  fs.chmodSync(state, 0o711);
  const runtimes: Runtime[] = [moatRuntime('moat sentry', MOAT, state), runscRuntime(state)];
  if (BASE) runtimes.push(moatRuntime('moat sentry (base)', BASE, state));
  const cases = [...CASES.filter((c) => NAMES.includes(c.name)), ...EXTRA];
  const times = new Map<string, number[]>();
  const failed = new Map<string, string>();
  const load: number[] = [];
  let serial = 0;
  try {
    for (let round = 0; round < ROUNDS + 1; round++) {
      load.push(os.loadavg()[0]!);
      for (const c of cases) {
        const bundle = caseBundle(c, rootfs);
        try {
          for (let k = 0; k < runtimes.length; k++) {
            const rt = runtimes[(k + round) % runtimes.length]!;
            const key = `${c.name}\0${rt.name}`;
            if (failed.has(key)) continue;
            const t0 = process.hrtime.bigint();
            const r = rt.run(bundle, `bench-apps-${process.pid}-${++serial}`);
            const s = Number(process.hrtime.bigint() - t0) / 1e9;
            if (r.status !== 0 || !c.expect.every((re) => re.test(r.stdout))) {
              failed.set(key, firstLine(r.stderr) || `exit ${r.status}`);
              continue;
            }
            if (round === 0) continue; // warm-up: page cache, runsc's and moat's first start
            (times.get(key) ?? times.set(key, []).get(key)!).push(s);
          }
        } finally {
          fs.rmSync(bundle, { recursive: true, force: true });
        }
      }
      process.stderr.write(`round ${round} done (load ${os.loadavg()[0]!.toFixed(2)})\n`);
    }
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
  }
  load.push(os.loadavg()[0]!);
  const cell = (c: AppCase, rt: Runtime): number | string => {
    const f = failed.get(`${c.name}\0${rt.name}`);
    if (f) return `failed: ${f}`;
    return median(times.get(`${c.name}\0${rt.name}`) ?? [NaN]);
  };
  const cols = runtimes.map((r) => r.name);
  const lines = [
    '# apps: real programs under the sentry against runsc (gVisor, ptrace)',
    '',
    `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, kernel ${os.release()}, Node ${process.version}; load average (1 min) ${Math.min(...load).toFixed(2)}–${Math.max(...load).toFixed(2)} during the run. Median wall seconds of ${ROUNDS} rounds after a warm-up round, runtimes alternating (the first rotates).`,
    '',
    `Each case is the apps suite's bundle (test/apps/harness.ts: the Debian rootfs read-only, tmpfs on /tmp, /run, /root, /var/log) run with \`moat --isolation=sentry run --bundle\` and \`runsc --platform=ptrace --network=none run --bundle\`.${BASE ? ` "base" is \`${BASE}\`, another build of moat.` : ''}`,
    '',
    `| case | ${cols.join(' | ')} | moat sentry / runsc |${BASE ? ' base / runsc | moat / base |' : ''}`,
    `|---|${cols.map(() => '---:').join('|')}|---:|${BASE ? '---:|---:|' : ''}`,
  ];
  const ratio = (a: number | string, b: number | string) => (typeof a === 'number' && typeof b === 'number' ? `${(a / b).toFixed(2)}×` : '–');
  const sums = runtimes.map(() => 0);
  for (const c of cases) {
    const v = runtimes.map((rt) => cell(c, rt));
    v.forEach((x, i) => (sums[i]! += typeof x === 'number' ? x : NaN));
    lines.push(`| ${c.name.replace(/\|/g, '\\|')} | ${v.map((x) => (typeof x === 'number' ? x.toFixed(2) : x)).join(' | ')} | ${ratio(v[0]!, v[1]!)} |${BASE ? ` ${ratio(v[2]!, v[1]!)} | ${ratio(v[0]!, v[2]!)} |` : ''}`);
  }
  lines.push(`| sum | ${sums.map((x) => x.toFixed(2)).join(' | ')} | ${ratio(sums[0]!, sums[1]!)} |${BASE ? ` ${ratio(sums[2]!, sums[1]!)} | ${ratio(sums[0]!, sums[2]!)} |` : ''}`);
  lines.push('', 'Individual runs (s):', '');
  for (const c of cases) for (const rt of runtimes) lines.push(`- ${c.name} — ${rt.name}: ${(times.get(`${c.name}\0${rt.name}`) ?? []).map((x) => x.toFixed(2)).join(', ')}`);
  const out = path.join(REPO, 'bench', 'results', 'apps.md');
  fs.writeFileSync(out, `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main();
