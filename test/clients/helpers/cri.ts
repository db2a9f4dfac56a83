// Kubernetes' path without kubelet: a containerd 1.6 of the test's own with its CRI plugin serving
// gRPC on the test's socket, runtime handlers `runc` and `moat` (the runc v2 shim with BinaryName =
// runc / bin/moat), a pause image and busybox built here from tarballs; and a CRI client on
// @grpc/grpc-js that speaks runtime.v1 as kubelet does (test/clients/proto/runtime-v1.proto).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { MOAT, REPO } from '../../helpers/moat';
import { Containerd, containerdConfigHead, CTR_IMAGE, RUNC } from './containerd';
import { busyboxTarball, ociArchive } from './images';
import { waitFor } from './daemons';

export const PAUSE_IMAGE = 'docker.io/library/moat-pause:test';
export const BUSYBOX_IMAGE = CTR_IMAGE;
/** The namespace CRI keeps its containers and images in. */
export const CRI_NAMESPACE = 'k8s.io';
/** The runtime handlers of the test containerd (RunPodSandboxRequest.runtime_handler). */
export type Handler = 'runc' | 'moat' | 'moat-vm' | 'moat-sentry' | 'moat-shim' | 'moat-shim-sentry' | 'moat-shim-vm';

/** Handlers on moat's own shim (runtime_type io.containerd.moat.v2) and the isolation their config sets. */
const SHIM_HANDLERS: Partial<Record<Handler, string>> = { 'moat-shim': 'native', 'moat-shim-sentry': 'sentry', 'moat-shim-vm': 'vm' };

/**
 * config.toml: the CRI plugin with `restrict_oom_score_adj` (processes here lack CAP_SYS_RESOURCE),
 * the locally built pause image, a CNI config dir of the temp dir (empty until a test writes a pod
 * network into it: host-network pods need no CNI), pod network namespaces mounted under the
 * state dir (not /var/run/netns), a stream
 * server on a free loopback port, and one runc v2 shim runtime per handler. Each handler's `Root`
 * (the runtime's --root) is under the temp dir, so nothing of it lands in /run/containerd/runc.
 */
export function criConfig(dir: string, handlers: Partial<Record<Handler, string>>): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  const runtimes = Object.entries(handlers).map(([name, binary]) => SHIM_HANDLERS[name as Handler] ? shimRuntime(dir, name, SHIM_HANDLERS[name as Handler]!) : `
    [${cri}.containerd.runtimes.${JSON.stringify(name)}]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.${JSON.stringify(name)}.options]
        BinaryName = ${JSON.stringify(binary)}
        Root = ${JSON.stringify(path.join(dir, 'rt', name))}`).join('');
  return `${containerdConfigHead(dir)}[${cri}]
  restrict_oom_score_adj = true
  sandbox_image = "${PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  [${cri}.cni]
    bin_dir = "${dir}/cni/bin"
    conf_dir = "${dir}/cni/net.d"
  [${cri}.containerd]
    default_runtime_name = "runc"${runtimes}
`;
}

/** A handler on moat's shim: options.ConfigPath names a moat config (JSON) with its isolation. */
function shimRuntime(dir: string, name: string, isolation: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  const config = path.join(dir, `${name}.json`);
  fs.writeFileSync(config, JSON.stringify({ isolation }));
  return `
    [${cri}.containerd.runtimes.${JSON.stringify(name)}]
      runtime_type = "io.containerd.moat.v2"
      [${cri}.containerd.runtimes.${JSON.stringify(name)}.options]
        ConfigPath = ${JSON.stringify(config)}`;
}

/** The pause image: one static binary that waits for TERM/INT (helpers/pause.c), built with gcc. */
export function pauseArchive(work: string, out: string): string {
  const layer = path.join(work, 'pause-layer');
  fs.mkdirSync(layer, { recursive: true });
  const src = path.join(REPO, 'test', 'clients', 'helpers', 'pause.c');
  const cc = spawnSync('gcc', ['-static', '-Os', '-s', '-o', path.join(layer, 'pause'), src], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`gcc ${src}: ${cc.stderr}`);
  const tar = path.join(work, 'pause.tar');
  const r = spawnSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', layer, '-cf', tar, 'pause'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  fs.rmSync(layer, { recursive: true, force: true });
  return ociArchive(tar, PAUSE_IMAGE, work, out, ['/pause']);
}

/** `moat-vm`: moat with --isolation=vm, for a handler (runtime options cannot add global flags). */
export function moatVmWrapper(dir: string): string {
  const file = path.join(dir, 'bin', 'moat-vm');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\nexec ${MOAT} --isolation=vm "$@"\n`, { mode: 0o755 });
  return file;
}

/** `moat-sentry`: moat with --isolation=sentry, for a handler (a RuntimeClass of its own). */
export function moatSentryWrapper(dir: string): string {
  const file = path.join(dir, 'bin', 'moat-sentry');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\nexec ${MOAT} --isolation=sentry "$@"\n`, { mode: 0o755 });
  return file;
}

/** A containerd of the test's own with the CRI plugin on; its containers' cgroups below `cgroupParent`. */
export class CriContainerd extends Containerd {
  readonly cgroupParent = `moat-cri-test-${process.pid}`;

  constructor(readonly handlers: readonly Handler[] = ['runc', 'moat']) {
    super({
      prefix: 'moat-cri-',
      namespace: CRI_NAMESPACE,
      cgroupParents: [`moat-cri-test-${process.pid}`],
      // Shim sockets: /run/containerd/s is fixed in containerd 1.6.
      hostDirs: ['/run/containerd/s', '/run/containerd'],
      config: (dir) => criConfig(dir, Object.fromEntries(handlers.map((h) => [h, h === 'runc' ? RUNC : h === 'moat' ? MOAT : h === 'moat-sentry' ? moatSentryWrapper(dir) : h === 'moat-vm' ? moatVmWrapper(dir) : '']))),
    });
  }

  /** The runtime's --root for a handler's containers (the shim appends the namespace). */
  runtimeRoot(handler: Handler): string {
    return path.join(this.daemon.dir, 'rt', handler, CRI_NAMESPACE);
  }

  protected override async importImages(): Promise<void> {
    const d = this.daemon.dir;
    fs.mkdirSync(path.join(d, 'cni', 'net.d'), { recursive: true });
    fs.mkdirSync(path.join(d, 'cni', 'bin'), { recursive: true });
    const tar = busyboxTarball(d, path.join(d, 'busybox.tar'));
    this.importOci(ociArchive(tar, BUSYBOX_IMAGE, d, path.join(d, 'busybox-oci.tar')));
    this.importOci(pauseArchive(d, path.join(d, 'pause-oci.tar')));
    fs.rmSync(path.join(d, 'busybox.tar'), { force: true });
  }
}

const PROTO = path.join(REPO, 'test', 'clients', 'proto', 'runtime-v1.proto');

type Unary = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: any) => void) => grpc.ClientUnaryCall;

/**
 * A CRI client, as kubelet's remote runtime is: unary calls on runtime.v1.RuntimeService and
 * ImageService over the unix socket, each with a deadline. Messages are plain objects with the
 * proto's snake_case field names; int64 as numbers, enums as their names.
 */
export class CriClient {
  private readonly runtime: grpc.Client;
  private readonly image: grpc.Client;

  constructor(socket: string) {
    const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as any;
    const v1 = pkg.runtime.v1;
    this.runtime = new v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure());
    this.image = new v1.ImageService(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  private call(client: grpc.Client, method: string, req: object, timeoutMs: number): Promise<any> {
    const fn = (client as unknown as Record<string, Unary>)[method];
    if (typeof fn !== 'function') throw new Error(`no CRI method ${method}`);
    return new Promise((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new Error(`${method}: ${err.details || err.message}`));
        else resolve(res);
      });
    });
  }

  /** A RuntimeService call (RunPodSandbox, CreateContainer, ExecSync, …). */
  rt(method: string, req: object = {}, timeoutMs = 60_000): Promise<any> {
    return this.call(this.runtime, method, req, timeoutMs);
  }

  /** An ImageService call (ImageStatus). */
  img(method: string, req: object = {}, timeoutMs = 30_000): Promise<any> {
    return this.call(this.image, method, req, timeoutMs);
  }

  close(): void {
    this.runtime.close();
    this.image.close();
  }
}

/** The first mount point of a cgroup v1 controller, or of cgroup2 when there is none. */
export function cgroupDir(controller: string): string | undefined {
  const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  for (const l of lines) {
    const [pre, post] = l.split(' - ');
    if (!pre || !post) continue;
    const [fstype, , opts] = post.split(' ');
    if (fstype === 'cgroup' && opts!.split(',').includes(controller)) return pre.split(' ')[4];
  }
  return undefined;
}

/** A cgroup file of a container (cgroupsPath `rel`), trimmed; undefined when it does not exist. */
export function readCgroupFile(controller: string, rel: string, file: string): string | undefined {
  const root = cgroupDir(controller);
  if (!root) return undefined;
  try {
    return fs.readFileSync(path.join(root, rel, file), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Debian's containernetworking-plugins. */
export const CNI_PLUGINS = '/usr/lib/cni';

/** A pod network of the test's own: its bridge, subnet and host-local's state. */
export interface PodNetwork {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  /** host-local's dataDir: a file per allocated address while a pod holds it. */
  ipamDir: string;
  conf: string;
}

/**
 * Write a CNI network (bridge + host-local) into the test containerd's conf dir, with the plugins
 * it needs (bridge, host-local, and loopback for the pod's lo) linked into its bin dir from
 * Debian's package. The bridge is the pods' gateway, so the host reaches them; no IP masquerade
 * (it would add iptables rules), and host-local keeps its allocations under the temp dir rather than
 * /var/lib/cni/networks. containerd picks the file up by itself (see podNetworkReady).
 */
export function writePodNetwork(dir: string): PodNetwork {
  for (const p of ['bridge', 'host-local', 'loopback']) {
    const src = path.join(CNI_PLUGINS, p);
    if (!fs.existsSync(src)) throw new Error(`${src} missing: containernetworking-plugins is not installed (sh scripts/setup.sh test)`);
    const dst = path.join(dir, 'cni', 'bin', p);
    if (!fs.existsSync(dst)) fs.symlinkSync(src, dst);
  }
  const n = process.pid % 250;
  const net: PodNetwork = {
    name: `moat-test-${process.pid}`,
    bridge: `moatbr${process.pid}`.slice(0, 15),
    subnet: `10.213.${n}.0/24`,
    gateway: `10.213.${n}.1`,
    ipamDir: path.join(dir, 'cni', 'ipam'),
    conf: path.join(dir, 'cni', 'net.d', '10-moat-test.conflist'),
  };
  fs.writeFileSync(net.conf, JSON.stringify({
    cniVersion: '0.4.0',
    name: net.name,
    plugins: [{
      type: 'bridge',
      bridge: net.bridge,
      isGateway: true,
      ipMasq: false,
      hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: net.subnet, gateway: net.gateway }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: net.ipamDir },
    }],
  }, null, 2));
  return net;
}

/**
 * Undo writePodNetwork once its pods are removed: the conf file and the bridge (the bridge plugin
 * creates it on the first ADD and never deletes it). Returns what was left that should not have
 * been: addresses host-local still holds.
 */
export function removePodNetwork(net: PodNetwork): string[] {
  const problems: string[] = [];
  fs.rmSync(net.conf, { force: true });
  const held = fs.existsSync(path.join(net.ipamDir, net.name))
    ? fs.readdirSync(path.join(net.ipamDir, net.name)).filter((f) => /^[\d.]+$/.test(f))
    : [];
  if (held.length) problems.push(`host-local still holds ${held.join(', ')}`);
  if (spawnSync('ip', ['link', 'show', net.bridge]).status === 0) {
    const r = spawnSync('ip', ['link', 'del', net.bridge], { encoding: 'utf8' });
    if (r.status !== 0) problems.push(`ip link del ${net.bridge}: ${r.stderr.trim()}`);
  }
  return problems;
}

/** Wait until the CRI log of a pod's container (kubelet's `<log_directory>/<name>/0.log`) satisfies `ok`. */
export function waitForContainerLog(logDirectory: string, name: string, ok: (log: string) => boolean, timeoutMs = 20_000): Promise<void> {
  return waitFor(`the ${name} container's log`, () => {
    try {
      return ok(fs.readFileSync(path.join(logDirectory, name, '0.log'), 'utf8'));
    } catch {
      return false; // not written yet
    }
  }, timeoutMs);
}
