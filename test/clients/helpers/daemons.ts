// Client daemons (dockerd, containerd) started by a test on temp dirs of their own, and everything
// needed to stop them and leave nothing behind: their processes, mounts under the temp dir, cgroups.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface CmdResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout + stderr, for assertion messages. */
  all: string;
}

/** Run a client command with a hard timeout: a client that hangs fails the test, never the suite. */
export function run(cmd: string, args: readonly string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): CmdResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input ?? '', timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env, killSignal: 'SIGKILL' });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  const stdout = r.stdout ?? '';
  const stderr = r.stderr ?? '';
  return { status: r.status, stdout, stderr, all: `exit ${r.status}\nstdout: ${stdout}\nstderr: ${stderr}` };
}

/** Like run, without blocking: for a foreground client (`ctr run`) that another command ends. */
export function runAsync(cmd: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CmdResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, all: `exit ${status}\nstdout: ${stdout}\nstderr: ${stderr}` });
    });
  });
}

/** Single-quote for sh. */
export const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Run a command on a fresh pseudo-terminal (util-linux `script`); its exit code is the command's. */
export function runOnTty(cmd: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): CmdResult {
  const line = [cmd, ...args].map(shq).join(' ');
  return run('script', ['-qefc', line, '/dev/null'], opts);
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const alive = (pid: number) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

/** Host processes whose command line mentions `needle` (our unique temp dir). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle) && alive(Number(name))) out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

function describePid(pid: number): string {
  try {
    return `${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()}`;
  } catch {
    return String(pid);
  }
}

/** Processes in a cgroup below one of `parents` (first-level cgroup names), in any hierarchy. */
export function processesInCgroups(parents: readonly string[]): number[] {
  const out: number[] = [];
  if (parents.length === 0) return out;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const groups = fs.readFileSync(`/proc/${name}/cgroup`, 'utf8').split('\n').map((l) => l.slice(l.indexOf(':', l.indexOf(':') + 1) + 1));
      if (groups.some((g) => parents.some((p) => g === `/${p}` || g.startsWith(`/${p}/`))) && alive(Number(name))) out.push(Number(name));
    } catch {
      // exited
    }
  }
  return out;
}

/** Default cgroup parents of the clients: one appearing during the tests is a leak of ours. */
const WATCHED_CGROUPS = new Set(['docker', 'libpod_parent', 'machine.slice']);

const DAEMON_COMMS = new Set(['dockerd', 'containerd', 'containerd-shim', 'containerd-shim-runc-v2', 'conmon', 'docker-proxy', 'podman']);

function daemonPids(): Set<number> {
  const out = new Set<number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (DAEMON_COMMS.has(fs.readFileSync(`/proc/${name}/comm`, 'utf8').trim()) && alive(Number(name))) out.add(Number(name));
    } catch {
      // exited
    }
  }
  return out;
}

/** Mount points at or below dir, deepest first. */
function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n')
    .map((l) => l.split(' ')[4]!.replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .reverse();
}

function cgroupRoots(): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]!);
}

/** The first-level cgroup directories of every hierarchy (where daemons put their parents). */
function topCgroups(): Set<string> {
  const out = new Set<string>();
  for (const r of cgroupRoots()) {
    try {
      for (const e of fs.readdirSync(r, { withFileTypes: true })) if (e.isDirectory()) out.add(path.join(r, e.name));
    } catch {
      // unreadable hierarchy
    }
  }
  return out;
}

/** Remove a cgroup directory (and its children) from every hierarchy that has it. */
export function removeCgroup(rel: string): void {
  const roots = cgroupRoots();
  const rm = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) rm(path.join(d, e.name));
    try {
      fs.rmdirSync(d);
    } catch {
      // still busy: the leak check will say so
    }
  };
  for (const r of roots) rm(path.join(r, rel));
}

/** rmdir d and its subdirectories, as long as they hold no files. */
function removeEmptyTree(d: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(d, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeEmptyTree(path.join(d, e.name));
  try {
    fs.rmdirSync(d);
  } catch {
    // not empty: left as it is
  }
}

/** A daemon process of the test's own, its temp dir, and the host as it was before. */
export class Daemon {
  readonly dir: string;
  readonly log: string;
  pid = 0;
  private readonly daemonsBefore: Set<number>;

  private readonly hostDirsBefore: Set<string>;
  private readonly cgroupsBefore: Set<string>;

  /**
   * cgroupParents: cgroup paths the daemon creates for its containers (removed at stop); hostDirs:
   * fixed host directories it creates (e.g. /run/containerd/s for shim sockets), removed at stop
   * when they did not exist before and are empty.
   */
  constructor(prefix: string, private readonly cgroupParents: readonly string[] = [], private readonly hostDirs: readonly string[] = []) {
    this.hostDirsBefore = new Set(hostDirs.filter((d) => fs.existsSync(d)));
    this.cgroupsBefore = topCgroups();
    this.daemonsBefore = daemonPids();
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    fs.chmodSync(this.dir, 0o755);
    this.log = path.join(this.dir, 'daemon.log');
  }

  spawn(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
    const fd = fs.openSync(this.log, 'a');
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env });
    fs.closeSync(fd);
    child.unref();
    if (child.pid === undefined) throw new Error(`${cmd} did not start`);
    this.pid = child.pid;
  }

  logTail(n = 30): string {
    try {
      return fs.readFileSync(this.log, 'utf8').trim().split('\n').slice(-n).join('\n');
    } catch {
      return '';
    }
  }

  async waitReady(what: string, ready: () => boolean): Promise<void> {
    try {
      await waitFor(what, () => {
        if (!alive(this.pid)) throw new Error(`${what}: the daemon exited:\n${this.logTail()}`);
        return ready();
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.logTail()}`);
    }
  }

  /**
   * SIGTERM the daemon and wait for it; then anything of ours still running (a shim, a container
   * process the client lost) is killed, mounts under the temp dir are detached, the daemon's
   * cgroups removed, the temp dir deleted. Throws if something had to be cleaned up that the
   * daemon should have cleaned itself, or if anything is left.
   */
  async stop(): Promise<void> {
    const problems: string[] = [];
    if (this.pid && alive(this.pid)) {
      process.kill(this.pid, 'SIGTERM');
      try {
        await waitFor('the daemon to exit', () => !alive(this.pid), 30_000);
      } catch {
        problems.push('the daemon did not exit on SIGTERM within 30 s');
        process.kill(this.pid, 'SIGKILL');
      }
    }
    // Children (containerd of dockerd, shims, conmon) exit after their parent: give them a moment.
    // What is ours is told by our temp dir on its command line or our cgroup parents in its cgroup
    // (every container the tests start lives below one): the host may run other work meanwhile.
    const ours = () => [...new Set([...processesMentioning(this.dir), ...processesInCgroups(this.cgroupParents)])];
    try {
      await waitFor('the daemon\'s helpers and containers to exit', () => ours().length === 0, 15_000);
    } catch {
      const left = ours();
      problems.push(`left running: ${left.map(describePid).join('; ')}`);
      for (const p of left) process.kill(p, 'SIGKILL');
    }
    // dockerd keeps a bind mount of the host netns in exec-root/netns/default: expected, detached here.
    for (const m of mountsUnder(this.dir)) {
      if (!m.includes('/netns/')) problems.push(`mount left: ${m}`);
      const r = spawnSync('umount', [m]);
      if (r.status !== 0) spawnSync('umount', ['-l', m]);
    }
    for (const c of this.cgroupParents) removeCgroup(c);
    const cgroupsLeft = [...topCgroups()].filter((c) => {
      const name = path.basename(c);
      return this.cgroupParents.includes(name) || (WATCHED_CGROUPS.has(name) && !this.cgroupsBefore.has(c));
    });
    if (cgroupsLeft.length) problems.push(`cgroups left: ${cgroupsLeft.join(', ')}`);
    for (const d of this.hostDirs) {
      if (this.hostDirsBefore.has(d)) continue;
      removeEmptyTree(d);
      if (fs.existsSync(d)) problems.push(`${d} left, not empty: ${fs.readdirSync(d).join(', ')}`);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    const daemons = [...daemonPids()].filter((p) => !this.daemonsBefore.has(p));
    if (daemons.length) problems.push(`daemon processes left: ${daemons.map(describePid).join('; ')}`);
    if (problems.length) throw new Error(problems.join('\n'));
  }

}
