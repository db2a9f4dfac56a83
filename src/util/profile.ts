// MOAT_PROFILE=1: where one CLI command's (or one shim process's) wall and CPU time go. Each mark
// records the wall time since the process started (performance.now(), whose origin is Node's own
// start) and the process's CPU time (user + system) so far; the table goes to stderr at exit, or is
// appended to the file MOAT_PROFILE_FILE names (the shim's: containerd reads `start`'s stderr as
// its answer). Off, a mark costs one comparison. docs/cli-speed.md has the marks of each command
// and the command that reproduces them; docs/shim.md the shim's.

import { caller } from './caller';

const enabled = process.env.MOAT_PROFILE === '1';
const marks: { name: string; wallMs: number; cpuMs: number }[] = [];
let label = 'moat profile';
let prev = { wallMs: 0, cpuMs: 0 };
let cpuClock = true;

/** Whether MOAT_PROFILE=1 is set. */
export const profiling = (): boolean => enabled;

/**
 * A command that `moat service` runs for a caller with MOAT_PROFILE=1: its marks, wall time from the
 * request's arrival (CPU is the whole service's, shared by the commands under way), written to the
 * caller's stderr when it is done (src/service/serve.ts).
 */
export interface RequestProfile {
  t0: number;
  cpu0: number;
  marks: { name: string; wallMs: number; cpuMs: number }[];
}

export function requestProfile(): RequestProfile {
  const cpu = process.cpuUsage();
  return { t0: performance.now(), cpu0: (cpu.user + cpu.system) / 1000, marks: [] };
}

export function requestProfileText(p: RequestProfile): string {
  const lines = ['moat profile (moat service; cpu is the service\'s, shared): mark  wall-ms (+delta)  cpu-ms (+delta)'];
  let prev = { wallMs: 0, cpuMs: 0 };
  for (const m of p.marks) {
    lines.push(`moat profile: ${m.name.padEnd(22)} ${m.wallMs.toFixed(1).padStart(7)} (+${(m.wallMs - prev.wallMs).toFixed(1)})  ${m.cpuMs.toFixed(1).padStart(7)} (+${(m.cpuMs - prev.cpuMs).toFixed(1)})`);
    prev = m;
  }
  return lines.join('\n') + '\n';
}

/** Record that the command reached `name`. */
export function mark(name: string): void {
  const c = caller();
  if (c) {
    // A command served by `moat service`: its own marks, when its caller asked for them.
    const rp = c.profile;
    if (!rp) return;
    const cpu = process.cpuUsage();
    rp.marks.push({ name, wallMs: performance.now() - rp.t0, cpuMs: (cpu.user + cpu.system) / 1000 - rp.cpu0 });
    return;
  }
  if (!enabled) return;
  const cpu = cpuClock ? process.cpuUsage() : { user: NaN, system: NaN };
  marks.push({ name, wallMs: performance.now(), cpuMs: (cpu.user + cpu.system) / 1000 });
  if (marks.length === 1 && prev.wallMs === 0) process.on('exit', report);
}

/** How the report names the process (the shim: its action and pid). */
export function profileLabel(name: string): void {
  label = name;
}

/**
 * From now on marks record wall time only: the confined sentry may not call getrusage (its seccomp
 * filter kills it for one, src/sentry/confine/profile.ts), which process.cpuUsage() is.
 */
export function profileWallOnly(): void {
  cpuClock = false;
}

/** Write the marks so far and forget them (a long-lived process: at each step worth reading). */
export function flushProfile(): void {
  if (!enabled || marks.length === 0) return;
  const cache = (globalThis as Record<symbol, unknown>)[Symbol.for('moat.codeCache')] ?? 'not loaded by a loader of src/boot';
  const lines = [`${label}: code cache ${String(cache)}; mark  wall-ms (+delta)  cpu-ms (+delta)`];
  for (const m of marks) {
    const cpu = Number.isNaN(m.cpuMs) ? '      -' : `${m.cpuMs.toFixed(1).padStart(7)} (+${(m.cpuMs - prev.cpuMs).toFixed(1)})`;
    lines.push(`${label}: ${m.name.padEnd(22)} ${m.wallMs.toFixed(1).padStart(7)} (+${(m.wallMs - prev.wallMs).toFixed(1)})  ${cpu}`);
    prev = m;
  }
  marks.length = 0;
  const text = lines.join('\n') + '\n';
  const file = process.env.MOAT_PROFILE_FILE;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- only when profiling
  if (file) (require('node:fs') as typeof import('node:fs')).appendFileSync(file, text);
  else process.stderr.write(text);
}

function report(): void {
  mark('exit');
  flushProfile();
}

// This module is the bundle's first: the bundle has been read and compiled by now.
mark('bundle compiled');
