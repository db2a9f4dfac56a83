// A containerd 1.6 of the test's own: root, state, sockets and config.toml under a temp dir, CRI
// section with `restrict_oom_score_adj = true` (processes here lack CAP_SYS_RESOURCE) and runtimes
// `runc` and `moat` (the runc v2 shim with BinaryName = bin/moat). `ctr` talks to it in a namespace
// of the test's own, which is also the cgroup parent of its containers.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { MOAT, REPO } from '../../helpers/moat';
import { busyboxTarball, ociArchive } from './images';
import { Daemon, run, runAsync, runOnTty, type CmdResult } from './daemons';

export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';
export const RUNC = '/usr/sbin/runc';
export const CTR_IMAGE = 'docker.io/library/moat-busybox:test';

/** The part of a test containerd's config.toml that puts everything of it under dir. */
export function containerdConfigHead(dir: string): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
`;
}

export function containerdConfig(dir: string): string {
  return `${containerdConfigHead(dir)}[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.moat]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.moat.options]
        BinaryName = "${MOAT}"
`;
}

export interface ContainerdOptions {
  /** Temp dir prefix. */
  prefix?: string;
  /** The ctr namespace (default: one of the test's own, also the cgroup parent of ctr's containers). */
  namespace?: string;
  /** cgroup parents and fixed host directories the daemon's containers use (see Daemon). */
  cgroupParents?: readonly string[];
  hostDirs?: readonly string[];
  /** config.toml for the temp dir (default: containerdConfig). */
  config?: (dir: string) => string;
}

export class Containerd {
  readonly daemon: Daemon;
  readonly socket: string;
  /** The ctr namespace; ctr puts containers in cgroup /<namespace>/<id>. */
  readonly namespace: string;

  constructor(private readonly opts: ContainerdOptions = {}) {
    this.namespace = opts.namespace ?? `moat-ctr-test-${process.pid}`;
    this.daemon = new Daemon(opts.prefix ?? 'moat-containerd-', opts.cgroupParents ?? [this.namespace], [
      ...(opts.hostDirs ?? [`/run/containerd/runc/${this.namespace}`, '/run/containerd/runc', '/run/containerd/fifo', '/run/containerd/s', '/run/containerd']),
      // moat's shim keeps its containers' state per namespace there (docs/shim.md).
      `/run/moat-shim/${this.namespace}`, '/run/moat-shim',
    ]);
    this.socket = path.join(this.daemon.dir, 'containerd.sock');
  }

  /** Start containerd and wait for its API; then import the test images (importImages). */
  async start(): Promise<void> {
    const d = this.daemon.dir;
    const config = path.join(d, 'config.toml');
    fs.writeFileSync(config, (this.opts.config ?? containerdConfig)(d));
    // containerd finds shims on its PATH: the repo's bin/ has containerd-shim-moat-v2.
    this.daemon.spawn(CONTAINERD, ['--config', config], { ...process.env, PATH: `${path.join(REPO, 'bin')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` });
    await this.daemon.waitReady('containerd', () => fs.existsSync(this.socket) && this.ctr(['version']).status === 0);
    await this.importImages();
  }

  /** The busybox image as CTR_IMAGE. */
  protected async importImages(): Promise<void> {
    const d = this.daemon.dir;
    const tar = busyboxTarball(d, path.join(d, 'busybox.tar'));
    this.importOci(ociArchive(tar, CTR_IMAGE, d, path.join(d, 'busybox-oci.tar')));
  }

  /** `ctr images import` of an OCI archive into the namespace. */
  importOci(archive: string): void {
    const r = this.ctr(['images', 'import', archive]);
    if (r.status !== 0) throw new Error(`ctr images import: ${r.all}`);
  }

  ctr(args: readonly string[], opts: { timeoutMs?: number } = {}): CmdResult {
    return run(CTR, ['--address', this.socket, '--namespace', this.namespace, ...args], opts);
  }

  ctrAsync(args: readonly string[]): Promise<CmdResult> {
    return runAsync(CTR, ['--address', this.socket, '--namespace', this.namespace, ...args]);
  }

  ctrOnTty(args: readonly string[]): CmdResult {
    return runOnTty(CTR, ['--address', this.socket, '--namespace', this.namespace, ...args]);
  }

  /** Remove every task and container, then stop containerd and check nothing is left. */
  async stop(): Promise<void> {
    try {
      if (this.daemon.pid) {
        for (const line of this.ctr(['task', 'ls', '-q']).stdout.trim().split('\n').filter(Boolean)) this.ctr(['task', 'delete', '--force', line]);
        for (const line of this.ctr(['containers', 'ls', '-q']).stdout.trim().split('\n').filter(Boolean)) this.ctr(['containers', 'rm', line]);
      }
    } finally {
      // Even when a ctr call hung (ETIMEDOUT throws): the daemon and what it started go, and its
      // own check of what is left runs (a failed run left three containerds behind before this).
      await this.daemon.stop();
    }
  }
}
