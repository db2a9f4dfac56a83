// A dockerd of the test's own: data-root, exec-root, socket and pid file under a temp dir, no
// iptables or bridge, vfs storage, its containers' cgroups under /moat-docker-test-<pid>, and runtimes
// `moat` (bin/moat), `moat-badflag` (moat with a global flag it does not know), `moat-sentry` and
// `moat-vm` (moat's other platforms through runtimeArgs).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { MOAT } from '../../helpers/moat';
import { busyboxTarball } from './images';
import { Daemon, run, runOnTty, type CmdResult } from './daemons';

export const DOCKER = '/usr/bin/docker'; // docker.io's CLI (20.10), not another one earlier on PATH
export const DOCKERD = '/usr/sbin/dockerd';
export const IMAGE = 'moat-busybox:test';

export class Dockerd {
  readonly daemon: Daemon;
  readonly socket: string;
  readonly cgroupParent = `moat-docker-test-${process.pid}`;
  private readonly env: NodeJS.ProcessEnv;

  constructor() {
    this.daemon = new Daemon('moat-docker-', [`moat-docker-test-${process.pid}`], ['/run/containerd/s', '/run/containerd', '/run/docker/plugins', '/run/docker']);
    this.socket = path.join(this.daemon.dir, 'docker.sock');
    this.env = { ...process.env, DOCKER_HOST: `unix://${this.socket}`, DOCKER_CONFIG: path.join(this.daemon.dir, 'cli') };
  }

  /** extraRuntimes: more --runtime names (the CLI benchmark's moat through `moat service`). */
  async start(extraRuntimes: Record<string, { path: string }> = {}): Promise<void> {
    const d = this.daemon.dir;
    const config = path.join(d, 'daemon.json');
    fs.writeFileSync(config, JSON.stringify({
      runtimes: {
        moat: { path: MOAT },
        'moat-badflag': { path: MOAT, runtimeArgs: ['--no-such-flag'] },
        'moat-sentry': { path: MOAT, runtimeArgs: ['--isolation=sentry'] },
        'moat-vm': { path: MOAT, runtimeArgs: ['--isolation=vm'] },
        ...extraRuntimes,
      },
    }, null, 2));
    this.daemon.spawn(DOCKERD, [
      '--data-root', path.join(d, 'data'),
      '--exec-root', path.join(d, 'exec'),
      '--host', `unix://${this.socket}`,
      '--pidfile', path.join(d, 'dockerd.pid'),
      '--config-file', config,
      '--iptables=false', '--ip-masq=false', '--bridge=none',
      '--storage-driver=vfs',
      '--exec-opt', 'native.cgroupdriver=cgroupfs',
      '--cgroup-parent', `/${this.cgroupParent}`,
    ]);
    await this.daemon.waitReady('dockerd', () => fs.existsSync(this.socket) && this.docker(['version']).status === 0);
    const tar = busyboxTarball(d, path.join(d, 'busybox.tar'));
    const r = this.docker(['import', tar, IMAGE]);
    if (r.status !== 0) throw new Error(`docker import: ${r.all}`);
  }

  docker(args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): CmdResult {
    return run(DOCKER, args, { ...opts, env: this.env });
  }

  dockerOnTty(args: readonly string[]): CmdResult {
    return runOnTty(DOCKER, args, { env: this.env });
  }

  /** Remove every container (forcibly), then stop dockerd and check nothing is left. */
  async stop(): Promise<void> {
    if (this.daemon.pid) {
      const ids = this.docker(['ps', '-aq']).stdout.trim().split('\n').filter(Boolean);
      if (ids.length) this.docker(['rm', '-f', ...ids]);
    }
    await this.daemon.stop();
  }
}
