// Benchmark: `moat run` of /bin/true against `runc run` on the same bundle, in one run on one
// machine. Alternates the two, takes medians of many runs, and reports the ratio as markdown.
// Also times the pieces of moat's start-up so the report says where the time goes.
//
//   npm run bench            (writes bench/results/run-true.md)

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeBundle, MOAT, REPO } from '../test/helpers/moat';
import { median } from './stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 21);

function timeOnce(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}


function quartiles(xs: number[]): [number, number] {
  const s = [...xs].sort((a, b) => a - b);
  return [s[Math.floor(s.length * 0.25)]!, s[Math.floor(s.length * 0.75)]!];
}

function main(): void {
  const bundle = makeBundle(['/bin/true']);
  const moatRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-bench-'));
  const runcRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'runc-bench-'));
  const bareEnv = { ...process.env };
  delete bareEnv.NODE_EXTRA_CA_CERTS;
  const series: Record<string, number[]> = { 'runc run': [], 'moat run': [], 'node -e 0': [], 'moat --version': [] };
  try {
    for (let i = 0; i < ROUNDS + 2; i++) {
      const warm = i < 2; // first rounds warm the page cache; not counted
      const sample = {
        'runc run': timeOnce('runc', ['--root', runcRoot, 'run', '--bundle', bundle.dir, `b${i}`]),
        'moat run': timeOnce(MOAT, ['--root', moatRoot, 'run', '--bundle', bundle.dir, `b${i}`]),
        // As bin/moat starts Node: without NODE_EXTRA_CA_CERTS (see bin/moat).
        'node -e 0': timeOnce(process.execPath, ['-e', '0'], bareEnv),
        'moat --version': timeOnce(MOAT, ['--version']),
      };
      if (!warm) for (const [k, v] of Object.entries(sample)) series[k]!.push(v);
    }
  } finally {
    bundle.cleanup();
    fs.rmSync(moatRoot, { recursive: true, force: true });
    fs.rmSync(runcRoot, { recursive: true, force: true });
  }
  const runc = median(series['runc run']!);
  const rows = Object.entries(series).map(([k, v]) => {
    const [q1, q3] = quartiles(v);
    return `| \`${k}\` | ${median(v).toFixed(1)} | ${q1.toFixed(1)}–${q3.toFixed(1)} | ${(median(v) / runc).toFixed(2)}× |`;
  });
  const moatMs = median(series['moat run']!);
  const nodeMs = median(series['node -e 0']!);
  const cliMs = median(series['moat --version']!);
  const runcVersion = spawnSync('runc', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const report = [
    `# moat run vs runc run: /bin/true in a busybox bundle`,
    '',
    `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}, ${runcVersion}; ${ROUNDS} alternating rounds after 2 warm-up rounds.`,
    '',
    '| command | median ms | IQR ms | vs runc |',
    '|---|---|---|---|',
    ...rows,
    '',
    `**moat run / runc run = ${(moatMs / runc).toFixed(2)}×** (target: within 3×).`,
    '',
    'Where moat\'s time goes (medians): Node start-up ' + `${nodeMs.toFixed(1)} ms; loading moat's bundle and parsing flags ${(cliMs - nodeMs).toFixed(1)} ms; ` +
      `the container itself (plan, executor, namespaces, mounts, pivot_root, exec, wait, state files) ${(moatMs - cliMs).toFixed(1)} ms.`,
    '',
  ].join('\n');
  fs.mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(REPO, 'bench', 'results', 'run-true.md'), report);
  process.stdout.write(report);
}

main();
