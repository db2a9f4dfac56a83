// Podman 4.3 (rootful, no daemon) on storage of the test's own: --root/--runroot/--tmpdir under a
// temp dir, vfs, cgroupfs with the containers under /moat-podman-test-<pid>, file events, and a
// containers.conf whose default ulimits are this process's own (Podman asks for nofile=1048576,
// which root without CAP_SYS_RESOURCE cannot set — runc fails the same way).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { busyboxTarball } from './images';
import { Daemon, run, runOnTty, type CmdResult } from './daemons';

export const PODMAN = '/usr/bin/podman';
export const PODMAN_IMAGE = 'localhost/moat-busybox:test';

/** "Max processes" → [soft, hard] from /proc/self/limits. */
function hardLimit(name: string): string {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(name));
  const hard = line?.slice(name.length).trim().split(/\s+/)[1];
  if (hard === undefined) throw new Error(`/proc/self/limits: no ${name}`);
  return hard === 'unlimited' ? '-1' : hard;
}

export class Podman {
  /** Not a daemon: the temp dir, the leak check and the clean-up are what Daemon gives. */
  readonly daemon: Daemon;
  readonly cgroupParent = `moat-podman-test-${process.pid}`;
  private readonly env: NodeJS.ProcessEnv;
  private readonly global: string[];
  private readonly varLibContainers: boolean;

  constructor() {
    // Podman keeps a blob-info cache in /var/lib/containers/cache whatever --root says.
    this.daemon = new Daemon('moat-podman-', [`moat-podman-test-${process.pid}`]);
    this.varLibContainers = fs.existsSync('/var/lib/containers');
    const d = this.daemon.dir;
    const conf = path.join(d, 'containers.conf');
    // Podman lowers its own nproc limit to 32768 before it runs the runtime; ask for no more.
    const nproc = Math.min(32768, Number(hardLimit('Max processes')));
    fs.writeFileSync(conf, [
      '[containers]',
      `default_ulimits = ["nofile=${hardLimit('Max open files')}:${hardLimit('Max open files')}", "nproc=${nproc}:${nproc}"]`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${d}/events.log"`,
      '',
    ].join('\n'));
    this.env = { ...process.env, CONTAINERS_CONF: conf };
    this.global = ['--root', path.join(d, 'root'), '--runroot', path.join(d, 'runroot'), '--tmpdir', path.join(d, 'tmp'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  }

  start(): void {
    const tar = busyboxTarball(this.daemon.dir, path.join(this.daemon.dir, 'busybox.tar'));
    const r = this.podman(['import', tar, PODMAN_IMAGE]);
    if (r.status !== 0) throw new Error(`podman import: ${r.all}`);
    fs.rmSync(tar);
  }

  podman(args: readonly string[], opts: { timeoutMs?: number } = {}): CmdResult {
    return run(PODMAN, [...this.global, ...args], { ...opts, env: this.env });
  }

  podmanOnTty(args: readonly string[]): CmdResult {
    return runOnTty(PODMAN, [...this.global, ...args], { env: this.env });
  }

  async stop(): Promise<void> {
    this.podman(['rm', '--all', '--force', '--time', '0']);
    this.podman(['rmi', '--all', '--force']);
    if (!this.varLibContainers) fs.rmSync('/var/lib/containers', { recursive: true, force: true });
    await this.daemon.stop();
  }
}
