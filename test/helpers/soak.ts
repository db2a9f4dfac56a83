// The soak: many containers of one platform, N at a time, each through create/start/state/kill/
// delete or a `run` of a short program, then a search for anything left: processes, mounts,
// cgroups, network namespaces, taps, state dirs. Shared by the small soak of `npm test`
// (test/integration/soak.test.ts) and the long one (bench/soak.ts, bench/results/soak.md).

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeBundle, MOAT, moatCgroupDirs, type TestBundle } from './moat';

/** The long-running program of lifecycle containers: its argv tells our leftovers from others'. */
export const SOAK_SLEEP = ['sleep', '987'];

export interface SoakOptions {
  root: string;
  platform: 'native' | 'sentry' | 'vm';
  count: number;
  width: number;
  /** Per moat command. */
  timeoutMs: number;
  /** Prefix of the container ids (leftovers are matched by it). */
  tag: string;
}

export interface SoakResult {
  platform: string;
  count: number;
  width: number;
  wallMs: number;
  /** One line per failed step: `<id> <command>: <stderr>`. */
  failures: string[];
  leftovers: Leftovers;
}

export interface Leftovers {
  processes: string[];
  mounts: string[];
  cgroups: string[];
  netns: string[];
  taps: string[];
  stateDirs: string[];
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function moatAsync(root: string, platform: string, args: string[], timeoutMs: number): Promise<Run> {
  // stdout and stderr go to files, not pipes: a created container keeps the stdio moat had, and a
  // pipe held open by it would never end.
  const tmp = fs.mkdtempSync(path.join(root, '..', 'moat-soak-io-'));
  const outFile = path.join(tmp, 'out');
  const errFile = path.join(tmp, 'err');
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  return new Promise((resolve) => {
    const child = spawn(MOAT, ['--root', root, `--isolation=${platform}`, ...args], { stdio: ['ignore', out, err] });
    fs.closeSync(out);
    fs.closeSync(err);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const stdout = fs.readFileSync(outFile, 'utf8');
      const stderr = fs.readFileSync(errFile, 'utf8').trim() + (timedOut ? `\n(timed out after ${timeoutMs} ms: SIGKILL)` : '');
      fs.rmSync(tmp, { recursive: true, force: true });
      resolve({ status: code, stdout, stderr });
    });
  });
}

async function lifecycle(o: SoakOptions, id: string, bundle: TestBundle, failures: string[]): Promise<void> {
  const step = async (args: string[], ok: (r: Run) => boolean = (r) => r.status === 0): Promise<Run> => {
    // create's container keeps the stdio it was given: never a pipe we would wait on.
    const r = await moatAsync(o.root, o.platform, args, o.timeoutMs);
    if (!ok(r)) failures.push(`${id} ${args[0]}: status ${r.status}: ${r.stderr.split('\n').slice(-3).join(' | ')}`);
    return r;
  };
  try {
    if ((await step(['create', '--bundle', bundle.dir, id])).status !== 0) return;
    if ((await step(['start', id])).status !== 0) return;
    await step(['state', id], (r) => r.status === 0 && ['running', 'stopped'].includes(JSON.parse(r.stdout).status));
    await step(['kill', id, 'KILL']);
  } finally {
    // Whatever happened above, the container must go: delete --force is what a caller would do.
    const del = await moatAsync(o.root, o.platform, ['delete', '--force', id], o.timeoutMs);
    if (del.status !== 0 && !/does not exist/.test(del.stderr)) failures.push(`${id} delete: status ${del.status}: ${del.stderr}`);
  }
}

async function runShort(o: SoakOptions, id: string, bundle: TestBundle, failures: string[]): Promise<void> {
  const r = await moatAsync(o.root, o.platform, ['run', '--bundle', bundle.dir, id], o.timeoutMs);
  if (r.status !== 0 || r.stdout.trim() !== `hi ${id}`) {
    failures.push(`${id} run: status ${r.status}, stdout ${JSON.stringify(r.stdout.slice(0, 80))}: ${r.stderr.split('\n').slice(-3).join(' | ')}`);
    await moatAsync(o.root, o.platform, ['delete', '--force', id], o.timeoutMs);
  }
}

function tapsNow(): Set<string> {
  try {
    return new Set(fs.readdirSync('/sys/class/net').filter((n) => /^tap/.test(n)));
  } catch {
    return new Set();
  }
}

function netnsNow(): Set<string> {
  const out = new Set<string>();
  for (const dir of ['/run/netns', '/var/run/netns']) {
    try {
      for (const n of fs.readdirSync(dir)) out.add(path.join(dir, n));
    } catch {
      // none
    }
  }
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = l.split(' ');
    if (f[f.indexOf('-') + 1] === 'nsfs') out.add(`nsfs ${f[4]}`);
  }
  return out;
}

export interface SoakBaseline {
  taps: Set<string>;
  netns: Set<string>;
}

export function soakBaseline(): SoakBaseline {
  return { taps: tapsNow(), netns: netnsNow() };
}

/** What the soak left: only what carries its root, its tag or its sleep (other users share the host). */
export function soakLeftovers(o: Pick<SoakOptions, 'root' | 'tag'>, base: SoakBaseline): Leftovers {
  const processes: string[] = [];
  const sleep = `${SOAK_SLEEP.join('\0')}\0`;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const cg = fs.readFileSync(`/proc/${name}/cgroup`, 'utf8');
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z' && !cmd.includes(o.root)) continue;
      if (cmd === sleep || cmd.includes(o.root) || cg.includes(o.tag)) processes.push(`${name} ${cmd.replace(/\0/g, ' ').trim()}`);
    } catch {
      // exited while we looked
    }
  }
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(o.root) || l.includes(o.tag));
  const cgroups = [...moatCgroupDirs()].filter((d) => d.includes(o.tag));
  const netns = [...netnsNow()].filter((n) => !base.netns.has(n));
  const taps = [...tapsNow()].filter((t) => !base.taps.has(t));
  const stateDirs = fs.existsSync(o.root) ? fs.readdirSync(o.root).filter((n) => n !== '@vm') : [];
  return { processes, mounts, cgroups, netns, taps, stateDirs };
}

export function leftoverCount(l: Leftovers): number {
  return Object.values(l).reduce((n, xs: string[]) => n + xs.length, 0);
}

/**
 * count containers, width at a time: even-numbered ones create/start/state/kill/delete a
 * `sleep 987`, odd-numbered ones `run` `echo hi <id>`.
 */
export async function soak(o: SoakOptions): Promise<SoakResult> {
  const base = soakBaseline();
  const long = makeBundle(SOAK_SLEEP);
  const failures: string[] = [];
  const bundles: TestBundle[] = [long];
  const t0 = Date.now();
  try {
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < o.count; i = next++) {
        const id = `${o.tag}-${i}`;
        if (i % 2 === 0) {
          await lifecycle(o, id, long, failures);
        } else {
          const b = makeBundle(['echo', 'hi', id]);
          bundles.push(b);
          await runShort(o, id, b, failures);
          b.cleanup();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.width, o.count) }, worker));
  } finally {
    for (const b of bundles) b.cleanup();
  }
  const wallMs = Date.now() - t0;
  // Processes killed a moment ago may still be exiting.
  let left = soakLeftovers(o, base);
  for (const end = Date.now() + 10_000; leftoverCount(left) > 0 && Date.now() < end; left = soakLeftovers(o, base)) {
    await new Promise((r) => setTimeout(r, 200));
  }
  return { platform: o.platform, count: o.count, width: o.width, wallMs, failures, leftovers: left };
}
