// MOAT_PROFILE=1: where one CLI command's wall and CPU time go. Each mark records the wall time
// since the process started (performance.now(), whose origin is Node's own start) and the process's
// CPU time (user + system) so far; the table goes to stderr at exit. Off, a mark costs one
// comparison. docs/cli-speed.md has the marks of each command and the command that reproduces them.

const enabled = process.env.MOAT_PROFILE === '1';
const marks: { name: string; wallMs: number; cpuMs: number }[] = [];

/** Record that the command reached `name`. */
export function mark(name: string): void {
  if (!enabled) return;
  const cpu = process.cpuUsage();
  marks.push({ name, wallMs: performance.now(), cpuMs: (cpu.user + cpu.system) / 1000 });
  if (marks.length === 1) process.on('exit', report);
}

function report(): void {
  mark('exit');
  let prev = { wallMs: 0, cpuMs: 0 };
  const cache = (globalThis as Record<symbol, unknown>)[Symbol.for('moat.codeCache')] ?? 'not loaded by build/moat.js';
  const lines = [`moat profile: code cache ${String(cache)}; mark  wall-ms (+delta)  cpu-ms (+delta)`];
  for (const m of marks) {
    lines.push(`moat profile: ${m.name.padEnd(22)} ${m.wallMs.toFixed(1).padStart(7)} (+${(m.wallMs - prev.wallMs).toFixed(1)})  ${m.cpuMs.toFixed(1).padStart(7)} (+${(m.cpuMs - prev.cpuMs).toFixed(1)})`);
    prev = m;
  }
  process.stderr.write(lines.join('\n') + '\n');
}

// This module is the bundle's first: the bundle has been read and compiled by now.
mark('bundle compiled');
