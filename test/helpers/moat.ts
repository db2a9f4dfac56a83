// Helpers for integration tests: real bundles from Debian's busybox-static, the real moat CLI,
// and a leak check of the host (mounts, processes, state directories).

import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as nodeTest from 'node:test';
import { specTemplate } from '../../src/spec/default';

export const REPO = path.resolve(__dirname, '..', '..', '..', '..');
export const MOAT = path.join(REPO, 'bin', 'moat');
export const BUSYBOX = '/bin/busybox';

let applets: string[] | undefined;

function busyboxApplets(): string[] {
  applets ??= spawnSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' }).stdout.trim().split('\n');
  return applets;
}

/** A minimal root filesystem: busybox and a symlink per applet, in /bin /sbin /usr/bin /usr/sbin. */
export function makeRootfs(dir: string): void {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'var']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.copyFileSync(BUSYBOX, path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  for (const a of busyboxApplets()) {
    const link = path.join(dir, a);
    if (a === 'bin/busybox' || fs.existsSync(link)) continue;
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync('/bin/busybox', link);
  }
  fs.writeFileSync(path.join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  fs.writeFileSync(path.join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
}

export interface TestBundle {
  dir: string;
  rootfs: string;
  config: Record<string, any>;
  save(): void;
  cleanup(): void;
}

/** A bundle in a fresh temp dir with moat's spec template, terminal off, running `args`. */
export function makeBundle(args: string[], mutate: (c: Record<string, any>) => void = () => undefined): TestBundle {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-bundle-'));
  // Reachable by a container root that a user namespace maps to an unprivileged host uid.
  fs.chmodSync(dir, 0o755);
  const rootfs = path.join(dir, 'rootfs');
  makeRootfs(rootfs);
  const config = specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }) as Record<string, any>;
  config.process.terminal = false;
  config.process.args = args;
  mutate(config);
  const b: TestBundle = {
    dir,
    rootfs,
    config,
    save: () => fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(b.config, null, 2)),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
  b.save();
  return b;
}

export function makeStateRoot(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-root-'));
  // As moat makes its default root (0711): the root of a `moat do` sandbox, an unprivileged host
  // id in its own user namespace, must reach its scratch dir under it.
  fs.chmodSync(dir, 0o711);
  return dir;
}

export interface MoatResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the real CLI; output collected from pipes (for commands whose container has exited). */
export function moat(root: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): MoatResult {
  const r: SpawnSyncReturns<string> = spawnSync(MOAT, ['--root', root, ...args], {
    encoding: 'utf8',
    input: opts.input ?? '',
    timeout: opts.timeoutMs ?? 30_000,
    env: opts.env ?? process.env,
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Run the CLI with the container's stdio going to a file: for `create`/`run --detach`, whose
 * container keeps its stdio open after moat returns (a pipe would never reach EOF).
 */
export function moatDetached(root: string, args: string[], outFile: string, timeoutMs = 30_000): MoatResult {
  const fd = fs.openSync(outFile, 'a');
  try {
    const r = spawnSync(MOAT, ['--root', root, ...args], { stdio: ['ignore', fd, fd], timeout: timeoutMs });
    if (r.error) throw r.error;
    return { status: r.status, signal: r.signal, stdout: '', stderr: fs.readFileSync(outFile, 'utf8') };
  } finally {
    fs.closeSync(fd);
  }
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- leak checking ----

export interface HostSnapshot {
  mounts: string[];
  /** pids of processes outside our pid namespace, or running moat-exec. */
  foreignPids: Set<number>;
  /** cgroup directories carrying moat's naming (a path component starting with `moat`). */
  cgroups: Set<string>;
  /** The host's /dev/null: owner and mode (it was found chowned to nobody once: a container must never change it). */
  devNull: string;
  /** The host's System V IPC objects ("shm 32770", …): a test program run natively must remove its own. */
  ipc: Set<string>;
}

function hostIpcObjects(): Set<string> {
  const out = new Set<string>();
  for (const kind of ['shm', 'sem', 'msg']) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/sysvipc/${kind}`, 'utf8');
    } catch {
      continue; // a kernel without System V IPC
    }
    // The header, then one line per object: key, id, …
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 1) out.add(`${kind} ${f[1]} (key ${f[0]})`);
    }
  }
  return out;
}

function devNullFacts(): string {
  const st = fs.statSync('/dev/null');
  return `uid ${st.uid} gid ${st.gid} mode ${(st.mode & 0o7777).toString(8)}`;
}

const hostPidNs = fs.readlinkSync('/proc/self/ns/pid');

function mountLines(): string[] {
  // Drop mount ids (they change); keep what is mounted where.
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ').slice(3).join(' '));
}

function foreignPids(): Set<number> {
  const out = new Set<number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ns = fs.readlinkSync(`/proc/${name}/ns/pid`);
      const comm = fs.readFileSync(`/proc/${name}/comm`, 'utf8').trim();
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z') continue;
      if (ns !== hostPidNs || comm === 'moat-exec') out.add(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Every cgroup directory, in every hierarchy, with a path component starting with `moat`. */
export function moatCgroupDirs(): Set<string> {
  const out = new Set<string>();
  const mountpoints = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]!);
  const walk = (dir: string, depth: number, named: boolean) => {
    if (named) out.add(dir);
    if (depth === 0) return;
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // removed meanwhile
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name), depth - 1, named || e.name.startsWith('moat'));
  };
  for (const m of mountpoints) walk(m, 4, false);
  return out;
}

export function snapshot(): HostSnapshot {
  return { mounts: mountLines(), foreignPids: foreignPids(), cgroups: moatCgroupDirs(), devNull: devNullFacts(), ipc: hostIpcObjects() };
}

/** Fail if anything was left behind since `before`: mounts, processes, or entries under root. */
export async function assertNoLeaks(before: HostSnapshot, root?: string): Promise<void> {
  // Processes killed a moment ago may still be exiting: give them a short grace period.
  let leakedPids: number[] = [];
  const end = Date.now() + 5000;
  for (;;) {
    leakedPids = [...foreignPids()].filter((p) => !before.foreignPids.has(p));
    if (leakedPids.length === 0 || Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const describe = (p: number) => {
    try {
      return `${p} ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`;
    } catch {
      return String(p);
    }
  };
  // Every kind is checked and named (a leaked cgroup must not hide a changed /dev/null).
  const found: string[] = [];
  if (leakedPids.length) found.push(`leaked processes: ${leakedPids.map(describe).join('; ')}`);
  const beforeMounts = new Set(before.mounts);
  const newMounts = mountLines().filter((m) => !beforeMounts.has(m));
  if (newMounts.length) found.push(`leaked mounts:\n${newMounts.join('\n')}`);
  const newCgroups = [...moatCgroupDirs()].filter((d) => !before.cgroups.has(d));
  if (newCgroups.length) found.push(`leaked cgroups:\n${newCgroups.join('\n')}`);
  const devNull = devNullFacts();
  if (devNull !== before.devNull) found.push(`the host's /dev/null changed: ${before.devNull} -> ${devNull}`);
  const newIpc = [...hostIpcObjects()].filter((o) => !before.ipc.has(o));
  if (newIpc.length) found.push(`leaked System V IPC objects on the host: ${newIpc.join(', ')}`);
  if (root !== undefined && fs.existsSync(root)) {
    const left = fs.readdirSync(root);
    if (left.length) found.push(`leaked state under ${root}: ${left.join(', ')}`);
  }
  if (found.length) throw new Error(found.join('\n'));
}

/**
 * The usual frame of an integration test file: a fresh state root before its tests, and after
 * them a check that nothing leaked (processes, mounts, cgroups, state) and the root removed.
 * `onRoot` receives the root; `beforeCheck` runs first in `after` (a file's own cleanup).
 */
export function containerSuite(onRoot: (root: string) => void, beforeCheck: () => void = () => undefined): void {
  let root = '';
  let host: HostSnapshot;
  nodeTest.before(() => {
    root = makeStateRoot();
    host = snapshot();
    onRoot(root);
  });
  nodeTest.after(async () => {
    beforeCheck();
    try {
      await assertNoLeaks(host, root);
    } catch (err) {
      // The file fails by name; what it left is then taken down, so that no container, VMM or
      // process of it outlives the file (one would keep the test runner waiting on its pipes).
      sweepLeftovers(host, root);
      throw err;
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}

/** After a failed leak check: every container under root deleted by force, every new foreign process killed. */
function sweepLeftovers(host: HostSnapshot, root: string): void {
  let ids: string[] = [];
  try {
    ids = fs.readdirSync(root).filter((n) => !n.startsWith('.') && !n.startsWith('@'));
  } catch {
    // no root
  }
  for (const id of ids) spawnSync(MOAT, ['--root', root, 'delete', '--force', id], { stdio: 'ignore', timeout: 30_000 });
  for (const p of foreignPids()) {
    if (host.foreignPids.has(p)) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
