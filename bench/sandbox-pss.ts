// The memory of an idle sandbox for bench/sentry.ts: the proportional set size (PSS, from
// /proc/<pid>/smaps_rollup) summed over every host process the sandbox is made of, once its
// application (`sleep` in a busybox bundle) is running and idle. moat's sentry: the sentry, its stubs
// (its children) and the gofer (MOAT_GOFER_PID in the sentry's environment); runsc: runsc-sandbox,
// its stubs and runsc-gofer (the processes whose command line names the run's --root, and their
// children). The CLI of either is gone by then (create + start). Shared pages (the node or runsc
// binary, libc) count in proportion: PSS depends on what else runs on the host, which is why it is
// compared within one run.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MOAT } from '../test/helpers/moat';
import { firstLine } from './stats';

const SETTLE_MS = 2000;

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Each pid and every descendant of it (through /proc/<pid>/task/<tid>/children). */
function withDescendants(roots: number[]): number[] {
  const seen = new Set<number>();
  const queue = [...roots];
  while (queue.length) {
    const p = queue.shift()!;
    if (seen.has(p)) continue;
    seen.add(p);
    let tasks: string[] = [];
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        queue.push(...fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
      } catch {
        // gone meanwhile
      }
    }
  }
  return [...seen];
}

/**
 * Summed PSS of the processes, in kB (a process gone meanwhile counts 0), and its anonymous part
 * (Pss_Anon: the sandbox's own memory, whatever else shares the binaries' text).
 */
export function pssKb(pids: number[]): { kb: number; anonKb: number } {
  let kb = 0;
  let anonKb = 0;
  for (const p of pids) {
    try {
      const text = fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      kb += Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
      anonKb += Number(/^Pss_Anon:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return { kb, anonKb };
}

/**
 * Run a create or start: undefined, or the first line of its error. Every stdio is a file of the
 * bench's own: the sandbox's processes inherit the caller's stdio, so a pipe would stay open as long
 * as they live — and never /dev/null (Node's 'ignore'): Debian's runsc chowns the container's stdio
 * to the container's user, which made the host's /dev/null nobody's (found after a run).
 */
function run(argv: string[]): string | undefined {
  const base = path.join(os.tmpdir(), `moat-bench-pss-${process.pid}`);
  const fds = ['in', 'out', 'err'].map((n) => fs.openSync(`${base}.${n}`, 'w+', 0o600));
  try {
    const r = spawnSync(argv[0]!, argv.slice(1), { timeout: 60_000, killSignal: 'SIGKILL', stdio: fds });
    return r.status === 0 ? undefined : firstLine(fs.readFileSync(`${base}.err`, 'utf8')) || `exit status ${r.status ?? r.signal}`;
  } finally {
    for (const [i, n] of ['in', 'out', 'err'].entries()) {
      fs.closeSync(fds[i]!);
      fs.rmSync(`${base}.${n}`, { force: true });
    }
  }
}

/** The host processes whose command line names `arg` (runsc's sandbox and gofer name their --root). */
function processesNaming(arg: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'latin1').split('\0').includes(arg)) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

export type PssResult = { kb: number; anonKb: number } | { error: string };

/** moat's sentry: create + start the bundle's `sleep`, settle, measure, delete. */
export function moatSentryPss(root: string, bundle: string, id: string): PssResult {
  try {
    const err = run([MOAT, '--root', root, '--isolation=sentry', 'create', '--bundle', bundle, id]) ?? run([MOAT, '--root', root, 'start', id]);
    if (err) return { error: err };
    sleepMs(SETTLE_MS);
    const state = JSON.parse(spawnSync(MOAT, ['--root', root, 'state', id], { encoding: 'utf8' }).stdout) as { pid: number };
    const gofer = Number(/(?:^|\0)MOAT_GOFER_PID=(\d+)/.exec(fs.readFileSync(`/proc/${state.pid}/environ`, 'latin1'))?.[1]);
    return pssKb(withDescendants(Number.isInteger(gofer) && gofer > 0 ? [state.pid, gofer] : [state.pid]));
  } catch (e) {
    return { error: (e as Error).message };
  } finally {
    spawnSync(MOAT, ['--root', root, 'delete', '--force', id], { stdio: 'ignore', timeout: 30_000 });
  }
}

/** runsc on `platform`: create + start, settle, measure the processes of this --root, delete. */
export function runscPss(root: string, platform: string, bundle: string, id: string): PssResult {
  const g = ['runsc', `--root=${root}`, `--platform=${platform}`, '--network=none'];
  try {
    const err = run([...g, 'create', '--bundle', bundle, id]) ?? run([...g, 'start', id]);
    if (err) return { error: err };
    sleepMs(SETTLE_MS);
    const mine = processesNaming(`--root=${root}`);
    return mine.length ? pssKb(withDescendants(mine)) : { error: 'no runsc process found' };
  } finally {
    spawnSync('runsc', [...g, 'delete', '--force', id], { stdio: 'ignore', timeout: 30_000 });
    // A create that failed half-way can leave its gofer behind, which delete does not know.
    for (const p of processesNaming(`--root=${root}`)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

/** The application alone, unsandboxed: busybox sleep's own PSS. */
export function nativePss(busybox: string): PssResult {
  const r = spawnSync('sh', ['-c', `${busybox} sleep 600 & p=$!; sleep ${SETTLE_MS / 1000}; grep '^Pss' /proc/$p/smaps_rollup; kill $p`], { encoding: 'utf8' });
  const kb = Number(/^Pss:\s+(\d+)/m.exec(r.stdout)?.[1]);
  const anonKb = Number(/^Pss_Anon:\s+(\d+)/m.exec(r.stdout)?.[1] ?? 0);
  return Number.isFinite(kb) ? { kb, anonKb } : { error: firstLine(r.stderr) || 'no Pss' };
}
