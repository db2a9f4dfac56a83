// The soak, long version (issue 12): 200 sentry containers 20 at a time and 50 vm containers 5 at
// a time, half through create/start/state/kill/delete of a `sleep`, half a `run` of `echo`; then a
// search for anything left (processes, mounts, cgroups, network namespaces, taps, state dirs).
// Writes bench/results/soak.md. On 2 cores this takes a long time; run it on demand:
//
//   npx tsc -p . && node build/ts/bench/soak.js            (SOAK=sentry or SOAK=vm for one half;
//   SOAK_SENTRY=200x20 SOAK_VM=50x5 to change the sizes)

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeStateRoot, REPO } from '../test/helpers/moat';
import { leftoverCount, soak, type SoakResult } from '../test/helpers/soak';

function size(env: string | undefined, dflt: [number, number]): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(env ?? '');
  return m ? [Number(m[1]), Number(m[2])] : dflt;
}

async function main(): Promise<void> {
  const which = process.env.SOAK ?? 'all';
  const plan: { platform: 'sentry' | 'vm'; count: number; width: number; timeoutMs: number }[] = [];
  if (which === 'all' || which === 'sentry') {
    const [count, width] = size(process.env.SOAK_SENTRY, [200, 20]);
    plan.push({ platform: 'sentry', count, width, timeoutMs: 300_000 });
  }
  if (which === 'all' || which === 'vm') {
    const [count, width] = size(process.env.SOAK_VM, [50, 5]);
    plan.push({ platform: 'vm', count, width, timeoutMs: 600_000 });
  }
  const results: SoakResult[] = [];
  for (const p of plan) {
    const root = makeStateRoot();
    try {
      process.stderr.write(`soak: ${p.count} ${p.platform} containers, ${p.width} at a time...\n`);
      const r = await soak({ root, tag: `soak${p.platform[0]}${process.pid}`, ...p });
      results.push(r);
      process.stderr.write(`soak: ${p.platform}: ${(r.wallMs / 1000).toFixed(1)} s, ${r.failures.length} failures, ${leftoverCount(r.leftovers)} left\n`);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
  const lines = [
    '# Soak: many containers at once, nothing left',
    '',
    `\`node build/ts/bench/soak.js\` on ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), kernel ${os.release()}, ${new Date().toISOString().slice(0, 16)}Z, with other work on the machine.`,
    'Even-numbered containers: create/start/state/kill KILL/delete --force of `sleep 987`; odd-numbered: `run` of `echo hi <id>`.',
    'Left = processes (the sleep, anything naming the state root or in a cgroup of the run\'s ids), mounts, cgroups, new network namespaces and taps, state dirs.',
    '',
    '| platform | containers | at a time | wall time | per container | failures | left |',
    '|---|---|---|---|---|---|---|',
    ...results.map((r) => `| ${r.platform} | ${r.count} | ${r.width} | ${(r.wallMs / 1000).toFixed(1)} s | ${(r.wallMs / r.count / 1000).toFixed(2)} s | ${r.failures.length} | ${leftoverCount(r.leftovers)} |`),
    '',
  ];
  for (const r of results) {
    if (r.failures.length === 0 && leftoverCount(r.leftovers) === 0) continue;
    lines.push(`## ${r.platform}`, '', ...r.failures.map((f) => `* ${f}`), '');
    for (const [k, v] of Object.entries(r.leftovers)) if (v.length) lines.push(`* left ${k}: ${v.slice(0, 20).join('; ')}`);
    lines.push('');
  }
  const out = path.join(REPO, 'bench', 'results', 'soak.md');
  fs.writeFileSync(out, lines.join('\n'));
  process.stdout.write(lines.join('\n'));
  process.exitCode = results.every((r) => r.failures.length === 0 && leftoverCount(r.leftovers) === 0) ? 0 : 1;
}

void main();
