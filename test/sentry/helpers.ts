// Helpers for the sentry platform's tests (issue #5): the syscall-family programs in
// test/sentry/progs compiled at set-up, running a binary natively, host facts a sandboxed program
// must not change, and a leak check for the sentry's own host processes (the stub, the gofer, the
// sentry itself), which live in the host's pid namespace and so escape containerSuite's check.

import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as nodeTest from 'node:test';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { containerSuite, MOAT, REPO, type MoatResult } from '../helpers/moat';

export const PROGS_SRC = path.join(REPO, 'test', 'sentry', 'progs');

/** The programs whose output must be the same natively and under the sentry, one per family. */
export const FAMILIES = ['files', 'pipes', 'mmap', 'shm', 'process', 'signals', 'threads', 'time', 'misc', 'perms', 'conform', 'sockets', 'ptrace', 'loader', 'sockedge', 'futexes', 'splice', 'timers', 'vdso', 'sockhostile', 'filemap', 'sysvipc'] as const;
export type Family = (typeof FAMILIES)[number];

/** Each run's time limit: generous for ptrace (each syscall costs a few context switches). */
export const RUN_TIMEOUT_MS = 30_000;

export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * `gcc -static -O1 -pthread` (glibc) of every progs/*.c into a fresh directory, in parallel;
 * returns the directory. Under /var/tmp, not /tmp: `moat do` puts a fresh tmpfs on /tmp, and the
 * sandboxed command must still find the binaries on the host root.
 */
export async function compilePrograms(): Promise<string> {
  const dir = fs.mkdtempSync('/var/tmp/moat-sentry-progs-');
  fs.chmodSync(dir, 0o755);
  const run = promisify(execFile);
  const names = fs.readdirSync(PROGS_SRC).filter((n) => n.endsWith('.c')).map((n) => n.slice(0, -2));
  await Promise.all(names.map(async (n) => {
    try {
      await run('gcc', ['-static', '-O1', '-pthread', '-Wall', '-Werror', '-o', path.join(dir, n), path.join(PROGS_SRC, `${n}.c`)]);
    } catch (e) {
      throw new Error(`gcc ${n}.c failed:\n${(e as { stderr?: string }).stderr ?? String(e)}`);
    }
  }));
  return dir;
}

/** A binary run directly on the host, no sandbox. */
export function runNative(cmd: string, args: string[] = []): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: '', timeout: RUN_TIMEOUT_MS });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The real CLI, like test/helpers' moat(), but a hung run cannot hang the file: at the time limit
 * the CLI is killed with SIGKILL (a foreground moat forwards SIGTERM to the application instead of
 * dying), then every process of this file still alive (the sentry, its stubs, the gofer: they
 * outlive a killed CLI) and the containers left in `root`. The result then says so on stderr.
 */
export function moatRun(root: string, args: string[], timeoutMs = RUN_TIMEOUT_MS): MoatResult {
  const r = spawnSync(MOAT, ['--root', root, ...args], { encoding: 'utf8', input: '', timeout: timeoutMs, killSignal: 'SIGKILL' });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  if (r.error && !timedOut) throw r.error;
  if (timedOut) {
    killTagged();
    for (const id of fs.existsSync(root) ? fs.readdirSync(root) : []) {
      spawnSync(MOAT, ['--root', root, 'delete', '--force', id], { stdio: 'ignore', timeout: 10_000, killSignal: 'SIGKILL' });
    }
  }
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout ?? '',
    stderr: `${r.stderr ?? ''}${timedOut ? `\n(timed out after ${timeoutMs} ms: moat and its sentry killed)` : ''}`,
  };
}

/** `moat do [--isolation=sentry] -- CMD...` from this process's cwd. */
export function moatDo(root: string, isolation: 'native' | 'sentry', cmd: string[], timeoutMs = RUN_TIMEOUT_MS): MoatResult {
  const flag = isolation === 'sentry' ? ['--isolation=sentry'] : [];
  return moatRun(root, ['do', ...flag, '--', ...cmd], timeoutMs);
}

/** For assertion messages: what a failed run said. */
export function explain(r: Run): string {
  return `status ${r.status}${r.signal ? ` signal ${r.signal}` : ''}\n--- stderr ---\n${r.stderr.slice(0, 4000)}`;
}

// ---- host facts (the forbidden program) ----

export interface HostFacts {
  /** Mount table without mount ids: what is mounted where. */
  mounts: string[];
  bootId: string;
  /** pid 1 must not be traced or stopped. */
  initTracerPid: string;
  initState: string;
  swaps: string;
  modules: string;
  tainted: string;
  kexecLoaded: string;
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    return `unreadable: ${(e as NodeJS.ErrnoException).code}`;
  }
}

function statusField(pid: number, field: string): string {
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readOr(`/proc/${pid}/status`));
  return m?.[1] ?? '';
}

export function mountLines(): string[] {
  return readOr('/proc/self/mountinfo').trim().split('\n').map((l) => l.split(' ').slice(3).join(' '));
}

export function hostFacts(): HostFacts {
  return {
    mounts: mountLines(),
    bootId: readOr('/proc/sys/kernel/random/boot_id'),
    initTracerPid: statusField(1, 'TracerPid'),
    initState: statusField(1, 'State').slice(0, 1),
    swaps: readOr('/proc/swaps'),
    modules: readOr('/proc/modules'),
    tainted: readOr('/proc/sys/kernel/tainted'),
    kexecLoaded: readOr('/sys/kernel/kexec_loaded'),
  };
}

/** True when `dir` is a mount point in this (the host's) mount namespace. */
export function isMountPoint(dir: string): boolean {
  return readOr('/proc/self/mountinfo').split('\n').some((l) => l.split(' ')[4] === dir);
}

/** Parse "name RESULT..." lines into a map (the forbidden program's output). */
export function resultLines(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) m.set(line.slice(0, sp), line.slice(sp + 1));
  }
  return m;
}

// ---- the sentry's host processes ----

/**
 * Every moat process a test file starts carries this in its environment (set on process.env by
 * sentrySuite, inherited by each spawn): the leak check finds the file's own processes by it and
 * is not confused by other moat users on the machine.
 */
export const TEST_TAG = `moat-sentry-test-${process.pid}-${Date.now()}`;
const TAG_VAR = 'MOAT_SENTRY_TEST_TAG';

/** From now on, every process this one starts carries TEST_TAG (see taggedProcesses). */
export function tagProcesses(): void {
  process.env[TAG_VAR] = TEST_TAG;
}

function carriesTag(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`${TAG_VAR}=${TEST_TAG}`);
  } catch {
    return false;
  }
}

/**
 * Live host processes of this test file: started with its tag in their environment (moat's CLI,
 * the sentry, the gofer, `moat do`'s stubs), or ptrace-traced by one of those (the stubs of a
 * bundle's application, whose environment is the spec's), by pid.
 */
export function taggedProcesses(): Map<number, string> {
  const tagged = new Set<number>();
  const traced = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
    } catch {
      continue; // exited while we looked
    }
    if (carriesTag(pid)) tagged.add(pid);
    const tracer = Number(statusField(pid, 'TracerPid') || '0');
    if (tracer !== 0) traced.set(pid, tracer);
  }
  for (const [pid, tracer] of traced) if (tagged.has(tracer) || tagged.has(tgidOf(tracer))) tagged.add(pid);
  const out = new Map<number, string>();
  for (const pid of tagged) {
    const cmdline = readOr(`/proc/${pid}/cmdline`).replace(/\0/g, ' ').trim();
    out.set(pid, `${pid} ${readOr(`/proc/${pid}/comm`).trim()}${traced.has(pid) ? ' (traced)' : ''}: ${cmdline}`);
  }
  return out;
}

/** SIGKILL every live process of this file (see taggedProcesses). */
export function killTagged(): void {
  for (const pid of taggedProcesses().keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** The thread-group id of a task (a tracer is named by its thread id in TracerPid). */
export function tgidOf(tid: number): number {
  return Number(statusField(tid, 'Tgid'));
}

/** Host processes traced by a thread of `pid` (the application's stubs, when pid is the sentry). */
export function traceesOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const tracer = Number(statusField(Number(name), 'TracerPid') || '0');
    if (tracer !== 0 && (tracer === pid || tgidOf(tracer) === pid)) out.push(Number(name));
  }
  return out;
}

/**
 * containerSuite (fresh state root; no leaked mounts, cgroups, namespaced processes or state),
 * plus: none of the file's sentry, stub, gofer or moat CLI processes is left on the host.
 */
export function sentrySuite(onRoot: (root: string) => void, cleanup: () => void = () => undefined): void {
  nodeTest.before(tagProcesses);
  containerSuite(onRoot, cleanup);
  nodeTest.after(async () => {
    let left: string[] = [];
    const end = Date.now() + 5000;
    for (;;) {
      left = [...taggedProcesses().values()];
      if (left.length === 0 || Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (left.length) {
      killTagged();
      throw new Error(`leaked moat/sentry processes (killed now):\n${left.join('\n')}`);
    }
  });
}
