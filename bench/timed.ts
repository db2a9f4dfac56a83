// Timing one command of a benchmark: ms from spawn to its first output and to its exit, and its
// stderr (where MOAT_PROFILE=1 writes its marks, src/util/profile.ts). Shared by the vm benchmarks.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from '../test/helpers/moat';

export interface Timed {
  /** ms from spawn to the first stdout bytes (to the exit if it printed nothing). */
  firstOutputMs: number;
  exitMs: number;
  stderr: string;
}

/** Runs cmd to its exit; rejects if it failed. */
export function runTimed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const since = () => Number(process.hrtime.bigint() - t0) / 1e6;
    // stdin an empty pipe, never /dev/null (Node's 'ignore'): Debian's runsc chowns the sandbox's
    // stdio to its user, and /dev/null is the host's.
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    child.stdin.end();
    let stderr = '';
    let first: number | undefined;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => (first ??= since()));
    child.stdout.resume();
    child.once('error', reject);
    child.once('close', (code) => {
      const exitMs = since();
      if (code !== 0) reject(new Error(`${cmd} failed (${code}): ${stderr}`));
      else resolve({ firstOutputMs: first ?? exitMs, exitMs, stderr });
    });
  });
}

/** ms from spawn to the first output (untilOutput) or to the exit. */
export async function timed(cmd: string, args: string[], untilOutput: boolean, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const t = await runTimed(cmd, args, env);
  return untilOutput ? t.firstOutputMs : t.exitMs;
}

/** The wall-time delta (ms) of a MOAT_PROFILE mark in a command's stderr; undefined if absent. */
export function profileDelta(stderr: string, name: string): number | undefined {
  const line = stderr.split('\n').find((l) => l.startsWith(`moat profile: ${name.padEnd(22)} `));
  const m = line && /\(\+([\d.]+)\)/.exec(line.slice(`moat profile: ${name.padEnd(22)} `.length));
  return m ? Number(m[1]) : undefined;
}

/** Write bench/results/<name> and print it. */
export function writeResult(name: string, lines: string[]): void {
  fs.mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(REPO, 'bench', 'results', name), lines.join('\n'));
  process.stdout.write(lines.join('\n'));
}

/** The benchmark's entry: its failure printed with its stack, exit 1. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
