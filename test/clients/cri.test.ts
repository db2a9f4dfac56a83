// Kubernetes' path without kubelet: containerd 1.6's CRI plugin driven over gRPC (runtime.v1) with
// the calls and the configs kubelet sends for a host-network pod, once with runtime_handler `runc`
// and once with `moat` (the runc v2 shim with BinaryName = bin/moat). One containerd serves every
// case; each handler's pod goes through the lifecycle in the order kubelet drives it.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { Matrix, type RuntimeName } from './helpers/compat';
import { MOAT, REPO } from '../helpers/moat';
import { CONTAINERD, RUNC } from './helpers/containerd';
import { BUSYBOX_IMAGE, CriClient, CriContainerd, readCgroupFile, removePodNetwork, waitForContainerLog, writePodNetwork, type Handler } from './helpers/cri';
import { processesMentioning, run, waitFor } from './helpers/daemons';

const matrix = new Matrix('cri', () => `${run(CONTAINERD, ['--version']).stdout.trim()}, CRI runtime.v1 over gRPC (@grpc/grpc-js)`);
let c: CriContainerd;
let cri: CriClient;
let started = false;

before(async () => {
  if (!fs.existsSync(CONTAINERD) || !fs.existsSync('/usr/bin/containerd-shim-runc-v2')) {
    matrix.unavailable = 'containerd is not installed (sh scripts/setup.sh test)';
    return;
  }
  c = new CriContainerd(['runc', 'moat', 'moat-sentry', 'moat-shim', 'moat-shim-sentry', 'moat-shim-vm']);
  try {
    await c.start();
    cri = new CriClient(c.socket);
    const v = await cri.rt('Version', { version: 'v1' });
    assert.equal(v.runtime_api_version, 'v1');
    started = true;
  } catch (err) {
    cri?.close();
    await c.stop().catch(() => undefined);
    throw err;
  }
});

after(async () => {
  matrix.write();
  if (!started) return;
  // What kubelet does for a pod it no longer wants, for anything a failed case left behind.
  try {
    for (const p of (await cri.rt('ListPodSandbox', {})).items ?? []) {
      await cri.rt('StopPodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
      await cri.rt('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
    }
  } finally {
    cri.close();
    await c.stop();
  }
});

/** One pod per handler, as the cases build it up and tear it down. */
interface Pod {
  config: Record<string, any>;
  id: string;
  pausePid: number;
  ctr: string;
}
const pods: Partial<Record<RuntimeName, Partial<Pod>>> = {};
const pod = (rt: RuntimeName): Partial<Pod> => (pods[rt] ??= {});
function need<K extends keyof Pod>(rt: RuntimeName, key: K): Pod[K] {
  const v = pods[rt]?.[key];
  if (v === undefined) throw new Error(`no ${key} for ${rt}: an earlier case failed`);
  return v as Pod[K];
}

const MiB = 1024 * 1024;
// kubelet's defaults for procMount Default (pkg/securitycontext).
const MASKED = ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const READONLY = ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
// A host-network pod: network NODE; kubelet asks for a PID namespace per container and the pod's IPC.
const NAMESPACES = { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' };

function podConfig(rt: RuntimeName): Record<string, any> {
  const uid = `moat-${process.pid}-${rt}`;
  const name = `pod-${rt}`;
  const logDir = path.join(c.daemon.dir, 'pods', `moat-test_${name}_${uid}`);
  fs.mkdirSync(logDir, { recursive: true });
  return {
    metadata: { name, uid, namespace: 'moat-test', attempt: 0 },
    // kubelet leaves the hostname empty for a host-network pod: it shares the node's UTS namespace.
    log_directory: logDir,
    labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'moat-test', 'io.kubernetes.pod.uid': uid },
    annotations: { 'kubernetes.io/config.source': 'api' },
    linux: {
      cgroup_parent: `/${c.cgroupParent}/pod${uid}`,
      security_context: { namespace_options: NAMESPACES, seccomp: { profile_type: 'RuntimeDefault' } },
    },
  };
}

const status = async (id: string) => (await cri.rt('ContainerStatus', { container_id: id })).status;

/** StopContainer (TERM, whose trap exits 0), then RemoveContainer. */
async function stopAndRemove(id: string): Promise<void> {
  await cri.rt('StopContainer', { container_id: id, timeout: 10 });
  const st = await status(id);
  assert.equal(st.state, 'CONTAINER_EXITED');
  assert.equal(st.exit_code, 0, 'TERM ran the trap');
  await cri.rt('RemoveContainer', { container_id: id });
}

async function removePod(podId: string): Promise<void> {
  await cri.rt('StopPodSandbox', { pod_sandbox_id: podId });
  await cri.rt('RemovePodSandbox', { pod_sandbox_id: podId });
}
const execSync = (id: string, cmd: string[], timeout = 10) => cri.rt('ExecSync', { container_id: id, cmd, timeout });
// (30 s: a vm pod's exec runs under TCG, and the pod-network case's wget loop alone may take 10 s on a loaded host.)
const sh = async (id: string, script: string) => {
  const r = await execSync(id, ['sh', '-c', script], 30);
  assert.equal(r.exit_code, 0, `${script}: exit ${r.exit_code}: ${r.stderr.toString()}`);
  return r.stdout.toString() as string;
};
const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));

matrix.case('RunPodSandbox: host network, the pause image, runtime_handler', async (rt) => {
  const config = podConfig(rt);
  const { pod_sandbox_id: id } = await cri.rt('RunPodSandbox', { config, runtime_handler: rt });
  Object.assign(pod(rt), { config, id });
  const s = await cri.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
  assert.equal(s.status.state, 'SANDBOX_READY');
  assert.equal(s.status.runtime_handler, rt);
  const info = JSON.parse(s.info.info);
  assert.equal(info.runtimeHandler, rt);
  assert.equal(info.runtimeOptions?.binary_name, rt === 'moat' ? MOAT : RUNC, JSON.stringify(info.runtimeOptions));
  // The handler's runtime created it: its state is under that runtime's --root.
  assert.ok(fs.existsSync(path.join(c.runtimeRoot(rt as Handler), id, 'state.json')), `no ${rt} state for the sandbox`);
  const pausePid = info.pid as number;
  assert.ok(pausePid > 0 && alive(pausePid), `pause pid ${pausePid}`);
  assert.equal(fs.readFileSync(`/proc/${pausePid}/cmdline`, 'utf8'), '/pause\0');
  assert.equal(fs.readlinkSync(`/proc/${pausePid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'), 'host network');
  assert.notEqual(fs.readlinkSync(`/proc/${pausePid}/ns/ipc`), fs.readlinkSync('/proc/self/ns/ipc'), 'the pod has its own IPC namespace');
  pod(rt).pausePid = pausePid;
});

matrix.case("CreateContainer: busybox with kubelet's config", async (rt) => {
  const p = pod(rt);
  const config = need(rt, 'config');
  // kubelet resolves the image first (ImageStatus, pulling if absent) and creates from its id.
  const img = await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } });
  assert.ok(img.image?.id, `ImageStatus ${BUSYBOX_IMAGE}: no image`);
  const termLog = path.join(config.log_directory, 'termination-log');
  fs.writeFileSync(termLog, '');
  const ctrConfig = {
    metadata: { name: 'app', attempt: 0 },
    image: { image: img.image.id },
    command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'],
    working_dir: '/',
    envs: [{ key: 'MOAT_CRI_HANDLER', value: rt }, { key: 'KUBERNETES_SERVICE_HOST', value: '10.96.0.1' }],
    mounts: [{ container_path: '/dev/termination-log', host_path: termLog }],
    labels: { 'io.kubernetes.container.name': 'app', ...config.labels },
    annotations: { 'io.kubernetes.container.restartCount': '0', 'io.kubernetes.container.terminationMessagePath': '/dev/termination-log' },
    log_path: 'app/0.log',
    linux: {
      resources: { cpu_period: 100_000, cpu_quota: 50_000, cpu_shares: 512, memory_limit_in_bytes: 64 * MiB, oom_score_adj: 968 },
      security_context: {
        namespace_options: NAMESPACES,
        masked_paths: MASKED,
        readonly_paths: READONLY,
        seccomp: { profile_type: 'RuntimeDefault' },
      },
    },
  };
  const { container_id: id } = await cri.rt('CreateContainer', { pod_sandbox_id: p.id, config: ctrConfig, sandbox_config: config });
  p.ctr = id;
  const s = await status(id);
  assert.equal(s.state, 'CONTAINER_CREATED');
  assert.equal(s.image_ref, img.image.id);
});

matrix.case('StartContainer', async (rt) => {
  const id = need(rt, 'ctr');
  await cri.rt('StartContainer', { container_id: id });
  const s = await status(id);
  assert.equal(s.state, 'CONTAINER_RUNNING');
  assert.ok(s.started_at > 0);
  // The task (`create` + `start` of the handler's runtime) exists from StartContainer on.
  assert.ok(fs.existsSync(path.join(c.runtimeRoot(rt as Handler), id, 'state.json')), `no ${rt} state for the container`);
});

matrix.case('ExecSync: stdout, stderr and exit code', async (rt) => {
  const id = need(rt, 'ctr');
  const r = await execSync(id, ['sh', '-c', 'echo "out $MOAT_CRI_HANDLER"; echo err >&2; exit 3']);
  assert.equal(r.exit_code, 3);
  assert.equal(r.stdout.toString(), `out ${rt}\n`);
  assert.equal(r.stderr.toString(), 'err\n');
  // A command that cannot start is an error of the call (a failing probe, to kubelet), with the runtime's words.
  await assert.rejects(execSync(id, ['/no/such/binary']), /OCI runtime exec failed: .*no such file or directory/);
});

matrix.case('the container as kubelet asked: namespaces, seccomp, mounts, limits', async (rt) => {
  const id = need(rt, 'ctr');
  const pausePid = need(rt, 'pausePid');
  const ns = (await sh(id, 'for n in net uts ipc pid; do readlink /proc/self/ns/$n; done')).trim().split('\n');
  assert.deepEqual(ns.slice(0, 2), [fs.readlinkSync('/proc/self/ns/net'), fs.readlinkSync('/proc/self/ns/uts')], 'host network and UTS');
  assert.equal(ns[2], fs.readlinkSync(`/proc/${pausePid}/ns/ipc`), "the sandbox's IPC namespace");
  assert.notEqual(ns[3], fs.readlinkSync(`/proc/${pausePid}/ns/pid`), 'a PID namespace of its own');
  assert.match(await sh(id, 'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status'), /Seccomp:\s+2/);
  // The default profile (RuntimeDefault) denies unshare of a user namespace to a non-CAP_SYS_ADMIN root.
  const uns = await execSync(id, ['unshare', '-U', 'true']);
  assert.notEqual(uns.exit_code, 0, 'unshare -U allowed');
  assert.equal(await sh(id, 'cat /proc/kcore | wc -c; awk \'$5 == "/proc/sys" { print substr($6, 1, 3) }\' /proc/self/mountinfo'), '0\nro,\n');
  assert.equal(await sh(id, 'echo bye > /dev/termination-log; cat /proc/self/oom_score_adj'), '968\n');
  assert.equal(fs.readFileSync(path.join(need(rt, 'config').log_directory, 'termination-log'), 'utf8'), 'bye\n');
  assert.equal(await sh(id, 'echo "$HOSTNAME $(hostname)"'), `${os.hostname()} ${os.hostname()}\n`);
  const rel = path.join(need(rt, 'config').linux.cgroup_parent, id);
  assert.equal(readCgroupFile('memory', rel, 'memory.limit_in_bytes'), String(64 * MiB));
  assert.equal(readCgroupFile('cpu', rel, 'cpu.cfs_quota_us'), '50000');
});

matrix.case('ExecSync: a timeout ends the command', async (rt) => {
  const id = need(rt, 'ctr');
  const started = Date.now();
  await assert.rejects(execSync(id, ['sleep', '30'], 1), /timeout|deadline/i);
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  assert.doesNotMatch(await sh(id, 'ps -o args'), /sleep 30/);
});

matrix.case('UpdateContainerResources: memory and CPU in the cgroup', async (rt) => {
  const id = need(rt, 'ctr');
  const rel = path.join(need(rt, 'config').linux.cgroup_parent, id);
  const linux = { cpu_period: 100_000, cpu_quota: 30_000, cpu_shares: 256, memory_limit_in_bytes: 96 * MiB, oom_score_adj: 968 };
  await cri.rt('UpdateContainerResources', { container_id: id, linux });
  assert.equal(readCgroupFile('memory', rel, 'memory.limit_in_bytes'), String(96 * MiB));
  assert.equal(readCgroupFile('cpu', rel, 'cpu.cfs_quota_us'), '30000');
  assert.equal(readCgroupFile('cpu', rel, 'cpu.shares'), '256');
  // Seen from inside too (the container's own cgroup at /sys/fs/cgroup/<controller>).
  assert.equal(await sh(id, 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes'), `${96 * MiB}\n`);
  const s = await status(id);
  if (s.resources?.linux) assert.equal(s.resources.linux.memory_limit_in_bytes, 96 * MiB);
});

matrix.case('ContainerStats: CPU, memory', async (rt) => {
  const id = need(rt, 'ctr');
  await sh(id, 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done');
  const { stats } = await cri.rt('ContainerStats', { container_id: id });
  assert.equal(stats.attributes.id, id);
  assert.equal(stats.attributes.metadata.name, 'app');
  assert.ok(stats.cpu.timestamp > 0);
  assert.ok(stats.cpu.usage_core_nano_seconds?.value > 0, `cpu ${JSON.stringify(stats.cpu)}`);
  assert.ok(stats.memory.working_set_bytes?.value > 0, `memory ${JSON.stringify(stats.memory)}`);
  const listed = (await cri.rt('ListContainers', { filter: { pod_sandbox_id: need(rt, 'id') } })).containers;
  assert.deepEqual(listed.map((x: any) => [x.id, x.state]), [[id, 'CONTAINER_RUNNING']]);
});

matrix.case('StopContainer: TERM within the grace period, the exit code', async (rt) => {
  const id = need(rt, 'ctr');
  const started = Date.now();
  await cri.rt('StopContainer', { container_id: id, timeout: 10 });
  assert.ok(Date.now() - started < 8_000, `took ${Date.now() - started} ms: TERM did not reach the container`);
  const s = await status(id);
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 0);
  assert.equal(s.reason, 'Completed');
  assert.ok(s.finished_at >= s.started_at);
  // The container's log, where kubelet reads `kubectl logs` from.
  assert.ok(fs.existsSync(path.join(need(rt, 'config').log_directory, 'app', '0.log')));
});

matrix.case('RemoveContainer', async (rt) => {
  const id = need(rt, 'ctr');
  await cri.rt('RemoveContainer', { container_id: id });
  await assert.rejects(status(id), /not found|does not exist/i);
  assert.ok(!fs.existsSync(path.join(c.runtimeRoot(rt as Handler), id)), `${rt} state of the container left`);
  const rel = path.join(need(rt, 'config').linux.cgroup_parent, id);
  assert.equal(readCgroupFile('memory', rel, 'memory.limit_in_bytes'), undefined, 'cgroup left');
});

matrix.case('StopPodSandbox', async (rt) => {
  const id = need(rt, 'id');
  const pausePid = need(rt, 'pausePid');
  await cri.rt('StopPodSandbox', { pod_sandbox_id: id });
  assert.equal((await cri.rt('PodSandboxStatus', { pod_sandbox_id: id })).status.state, 'SANDBOX_NOTREADY');
  await waitFor('the pause process to exit', () => !alive(pausePid), 5_000);
  // kubelet calls it more than once: idempotent.
  await cri.rt('StopPodSandbox', { pod_sandbox_id: id });
});

matrix.case('RemovePodSandbox', async (rt) => {
  const id = need(rt, 'id');
  await cri.rt('RemovePodSandbox', { pod_sandbox_id: id });
  const left = (await cri.rt('ListPodSandbox', {})).items.filter((p: any) => p.id === id);
  assert.deepEqual(left, []);
  assert.ok(!fs.existsSync(path.join(c.runtimeRoot(rt as Handler), id)), `${rt} state of the sandbox left`);
  assert.deepEqual(fs.existsSync(c.runtimeRoot(rt as Handler)) ? fs.readdirSync(c.runtimeRoot(rt as Handler)) : [], []);
  await cri.rt('RemovePodSandbox', { pod_sandbox_id: id });
  delete pods[rt];
});

// ---- RuntimeClass `moat-sentry`: the pod and its container on moat's user-space kernel ----

matrix.case('moat-sentry handler: RunPodSandbox, CreateContainer, StartContainer, ExecSync, Stop/Remove, StopPodSandbox, RemovePodSandbox', async () => {
  const config = podConfig('moat');
  config.metadata = { ...config.metadata, name: 'pod-sentry', uid: `${config.metadata.uid}-sentry` };
  const { pod_sandbox_id: podId } = await cri.rt('RunPodSandbox', { config, runtime_handler: 'moat-sentry' });
  try {
    const s = await cri.rt('PodSandboxStatus', { pod_sandbox_id: podId, verbose: true });
    assert.equal(s.status.state, 'SANDBOX_READY');
    const img = await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } });
    const ctrConfig = {
      metadata: { name: 'app', attempt: 0 },
      image: { image: img.image.id },
      command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'],
      working_dir: '/',
      envs: [{ key: 'MOAT_CRI_HANDLER', value: 'moat-sentry' }],
      labels: { 'io.kubernetes.container.name': 'app', ...config.labels },
      log_path: 'app/0.log',
      linux: { security_context: { namespace_options: NAMESPACES } },
    };
    const { container_id: id } = await cri.rt('CreateContainer', { pod_sandbox_id: podId, config: ctrConfig, sandbox_config: config });
    await cri.rt('StartContainer', { container_id: id });
    assert.equal((await status(id)).state, 'CONTAINER_RUNNING');
    const r = await execSync(id, ['sh', '-c', 'echo "out $MOAT_CRI_HANDLER"; uname -r; echo err >&2; exit 3']);
    assert.equal(r.exit_code, 3, r.stderr.toString());
    assert.equal(r.stdout.toString(), 'out moat-sentry\n6.1.0-moat-sentry\n');
    assert.equal(r.stderr.toString(), 'err\n');
    await stopAndRemove(id);
  } finally {
    await removePod(podId);
  }
  assert.ok(!fs.existsSync(path.join(c.runtimeRoot('moat-sentry'), podId)), 'the sandbox state is gone');
}, ['moat']);

// ---- RuntimeClasses on moat's own shim (runtime_type io.containerd.moat.v2, options ConfigPath) ----

/** Shim servers of this containerd (their -address names its temp dir). */
/** The command lines of this containerd's shim servers (their -address names its temp dir; -id the container that forked them). */
const shimServerArgs = (): string[][] =>
  processesMentioning(c.daemon.dir).flatMap((pid) => {
    let args: string[];
    try {
      args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return []; // exited meanwhile
    }
    return args.some((a) => a.endsWith('build/shim.js')) && args.includes('serve') ? [args] : [];
  });

for (const [handler, kernel] of [['moat-shim', undefined], ['moat-shim-sentry', '6.1.0-moat-sentry']] as const) {
  const extra = kernel ? '' : ', UpdateContainerResources, ContainerStats';
  matrix.case(`${handler} handler (moat's shim): RunPodSandbox, CreateContainer, StartContainer, ExecSync${extra}, logs, Stop/Remove, StopPodSandbox, RemovePodSandbox`, async () => {
    const config = podConfig('moat');
    config.metadata = { ...config.metadata, name: `pod-${handler}`, uid: `${config.metadata.uid}-${handler}` };
    const { pod_sandbox_id: podId } = await cri.rt('RunPodSandbox', { config, runtime_handler: handler }, 120_000);
    try {
      const s = await cri.rt('PodSandboxStatus', { pod_sandbox_id: podId, verbose: true });
      assert.equal(s.status.state, 'SANDBOX_READY');
      assert.equal(JSON.parse(s.info.info).runtimeType, 'io.containerd.moat.v2');
      const img = await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } });
      const ctrConfig = {
        metadata: { name: 'app', attempt: 0 },
        image: { image: img.image.id },
        command: ['sh', '-c', 'echo started; trap "exit 0" TERM; sleep 3600 & wait'],
        working_dir: '/',
        envs: [{ key: 'MOAT_CRI_HANDLER', value: handler }],
        labels: { 'io.kubernetes.container.name': 'app', ...config.labels },
        log_path: 'app/0.log',
        linux: { security_context: { namespace_options: NAMESPACES } },
      };
      const { container_id: id } = await cri.rt('CreateContainer', { pod_sandbox_id: podId, config: ctrConfig, sandbox_config: config });
      await cri.rt('StartContainer', { container_id: id }, 120_000);
      assert.equal((await status(id)).state, 'CONTAINER_RUNNING');
      // One shim server for the pod: the container joined its sandbox's.
      const servers = shimServerArgs();
      const forPod = servers.filter((a) => [podId, id].includes(a[a.indexOf('-id') + 1] ?? ''));
      assert.equal(forPod.length, 1, `one shim server per pod; servers: ${servers.map((a) => a.join(' ')).join(' | ')}`);
      const r = await execSync(id, ['sh', '-c', 'echo "out $MOAT_CRI_HANDLER"; uname -r; echo err >&2; exit 3'], 60);
      assert.equal(r.exit_code, 3, r.stderr.toString());
      const [out, release] = r.stdout.toString().split('\n');
      assert.equal(out, `out ${handler}`);
      if (kernel) assert.equal(release, kernel);
      else assert.notEqual(release, '6.1.0-moat-sentry');
      assert.equal(r.stderr.toString(), 'err\n');
      if (!kernel) {
        // Update and Stats through the shim (cgroups: the native platform).
        await cri.rt('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: 80 * MiB, cpu_period: 100_000, cpu_quota: 20_000 } });
        const rel = path.join(config.linux.cgroup_parent, id);
        assert.equal(readCgroupFile('memory', rel, 'memory.limit_in_bytes'), String(80 * MiB));
        assert.equal(readCgroupFile('cpu', rel, 'cpu.cfs_quota_us'), '20000');
        await execSync(id, ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'], 60);
        const { stats } = await cri.rt('ContainerStats', { container_id: id });
        assert.ok(stats.cpu.usage_core_nano_seconds?.value > 0, `cpu ${JSON.stringify(stats.cpu)}`);
        assert.ok(stats.memory.working_set_bytes?.value > 0, `memory ${JSON.stringify(stats.memory)}`);
      }
      await waitForContainerLog(config.log_directory, 'app', (log) => log.includes(' stdout F started'));
      await stopAndRemove(id);
    } finally {
      await removePod(podId);
    }
    await waitFor('the pod\'s shim server to exit', () => !shimServerArgs().some((a) => a[a.indexOf('-id') + 1] === podId), 20_000);
    assert.ok(!fs.existsSync(`/run/moat-shim/k8s.io/${podId}`), 'the sandbox state is gone');
  }, ['moat-shim']);
}

// ---- A pod in one sentry (docs/sentry.md#pods): moat-shim-sentry runs a pod's containers in its sandbox's sentry ----

/** After RemovePodSandbox of a sentry pod: its shim server, its sentry, the mounts of its containers and its state are gone. */
async function assertSentryPodGone(podId: string, ids: string[]): Promise<void> {
  await waitFor('the pod\'s shim server to exit', () => !shimServerArgs().some((a) => a[a.indexOf('-id') + 1] === podId), 20_000);
  assert.deepEqual(sentriesOf(ids), [], 'no sentry left');
  for (const id of ids) assert.deepEqual(mountsUnder(path.join(c.daemon.dir, 'state')).filter((m) => m.includes(id)), [], `no mount of ${id} left`);
  assert.ok(!fs.existsSync(`/run/moat-shim/k8s.io/${podId}`), 'the sandbox state is gone');
}

/** The host's sentry processes (node build/sentry.js <state dir>/sentry.json) of the shim's containers with these ids. */
const sentriesOf = (ids: string[]) =>
  processesMentioning('/run/moat-shim/k8s.io/').filter((pid) => {
    try {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return args.some((a) => a.endsWith('build/sentry.js')) && args.some((a) => ids.some((id) => a.startsWith(`/run/moat-shim/k8s.io/${id}/`)));
    } catch {
      return false;
    }
  });
/** Host processes whose parent is pid (a shim server's gofers). */
const childrenOf = (pid: number, name: string) =>
  fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((p) => {
    try {
      const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === pid && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(name) && alive(p);
    } catch {
      return false;
    }
  });
const mountsUnder = (dir: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m === dir || m.startsWith(`${dir}/`));

test('moat-shim-sentry: one sentry per pod, two containers sharing a volume, /dev/shm and localhost, exec, logs, stop, remove', { timeout: 300_000 }, async (t) => {
  if (!started) return t.skip(matrix.unavailable || 'containerd did not start');
  const t0 = Date.now();
  const config = podConfig('moat');
  config.metadata = { ...config.metadata, name: 'pod-sentry-two', uid: `${config.metadata.uid}-sentry-two` };
  const emptyDir = path.join(c.daemon.dir, 'volumes', 'sentry-pod-data');
  fs.mkdirSync(emptyDir, { recursive: true });
  // A unix socket in the shared volume: a static program of the test's, run from the volume.
  const peerSrc = path.join(REPO, 'test', 'clients', 'helpers', 'unix-peer.c');
  const cc = spawnSync('gcc', ['-static', '-Os', '-s', '-o', path.join(emptyDir, 'unix-peer'), peerSrc], { encoding: 'utf8' });
  assert.equal(cc.status, 0, `gcc ${peerSrc}: ${cc.stderr}`);
  const port = 20000 + (process.pid % 20000);
  const { pod_sandbox_id: podId } = await cri.rt('RunPodSandbox', { config, runtime_handler: 'moat-shim-sentry' }, 120_000);
  const ids: string[] = [podId];
  try {
    const img = await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } });
    const container = (name: string, command: string[], namespaces: Record<string, string> = NAMESPACES) => ({
      pod_sandbox_id: podId,
      sandbox_config: config,
      config: {
        metadata: { name, attempt: 0 },
        image: { image: img.image.id },
        command,
        working_dir: '/',
        envs: [{ key: 'WHO', value: name }],
        labels: { 'io.kubernetes.container.name': name, ...config.labels },
        log_path: `${name}/0.log`,
        mounts: [{ container_path: '/data', host_path: emptyDir }],
        linux: { security_context: { namespace_options: namespaces } },
      },
    });
    const { container_id: a } = await cri.rt('CreateContainer', container('server', ['sh', '-c',
      `echo started $WHO; echo "written by server" > /data/from-server; echo shm-of-server > /dev/shm/x; mkdir -p /www; echo pong > /www/index.html; /data/unix-peer listen /data/app.sock & trap "exit 0" TERM; httpd -f -p 127.0.0.1:${port} -h /www & wait`]));
    ids.push(a);
    await cri.rt('StartContainer', { container_id: a }, 60_000);
    const { container_id: b } = await cri.rt('CreateContainer', container('client', ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait']));
    ids.push(b);
    await cri.rt('StartContainer', { container_id: b }, 60_000);
    for (const id of [a, b]) assert.equal((await status(id)).state, 'CONTAINER_RUNNING');
    // ONE sentry serves the pod (the sandbox's); each container has its own gofer beside the sandbox's.
    assert.equal(sentriesOf(ids).length, 1, 'one sentry process for the pod');
    const server = processesMentioning(c.daemon.dir).find((pid) => {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return args.includes('serve') && args[args.indexOf('-id') + 1] === podId;
    });
    assert.ok(server, 'the pod\'s shim server');
    assert.equal(childrenOf(server, 'moat-gofer').length, 3, 'a gofer each: the sandbox\'s and the two containers\'');

    for (let i = 0; (await execSync(b, ['wget', '-qO-', `http://127.0.0.1:${port}/index.html`], 20)).exit_code !== 0; i++) {
      if (i > 40) throw new Error('the server never listened on the pod\'s localhost');
      await new Promise((res) => setTimeout(res, 250));
    }
    const r = await execSync(b, ['sh', '-c', [
      'cat /data/from-server',
      `wget -qO- http://127.0.0.1:${port}/index.html`,
      'cat /dev/shm/x',
      '/data/unix-peer connect /data/app.sock',
      'echo "written by client" > /data/from-client',
      'echo $WHO',
      'uname -r',
      'ls /www 2>&1 || echo no-www',
      'echo err >&2; exit 3',
    ].join('; ')], 30);
    assert.equal(r.exit_code, 3, r.stderr.toString());
    const lines = r.stdout.toString().split('\n');
    assert.deepEqual(lines.slice(0, 6), ['written by server', 'pong', 'shm-of-server', 'unix-ok', 'client', '6.1.0-moat-sentry'], 'a socket bound in the shared volume by one container is reached by the other');
    assert.match(lines[6]!, /No such file or directory/, 'a root filesystem each: the server\'s /www is not the client\'s');
    assert.equal(r.stderr.toString(), 'err\n');
    assert.equal(fs.readFileSync(path.join(emptyDir, 'from-client'), 'utf8'), 'written by client\n', 'the host sees the write');

    // A PID namespace each (CRI's CONTAINER, kubelet's default): each init is its own pid 1 and no
    // container sees another's processes, so no /proc/<pid>/root of another's either.
    const procs = async (id: string) => {
      const out: string[] = (await execSync(id, ['sh', '-c', 'readlink /proc/self/ns/pid; for p in /proc/[0-9]*; do echo "${p#/proc/}: $(tr "\\0" " " < $p/cmdline)"; done'], 20)).stdout.toString().trim().split('\n');
      return { ns: out[0], list: out.slice(1) };
    };
    const [pa, pb] = [await procs(a), await procs(b)];
    assert.match(pa.ns!, /^pid:\[\d+\]$/);
    assert.notEqual(pa.ns, pb.ns, 'a PID namespace per container');
    assert.match(pa.list.find((l) => l.startsWith('1: ')) ?? '', /^1: sh -c echo started/, `the server's init is its pid 1: ${pa.list.join(' | ')}`);
    assert.match(pb.list.find((l) => l.startsWith('1: ')) ?? '', /^1: sh -c trap/, `the client's init is its pid 1: ${pb.list.join(' | ')}`);
    assert.ok(pa.list.some((l) => l.includes('httpd')) && !pb.list.some((l) => l.includes('httpd')), `the client does not see the server's processes: ${pb.list.join(' | ')}`);
    // CRI's POD (shareProcessNamespace): the sandbox's PID namespace, where pause is pid 1 and, as
    // on Linux, /proc/1/root is the pause container's root for a process allowed to look.
    const { container_id: sharer } = await cri.rt('CreateContainer', container('sharer', ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'], { ...NAMESPACES, pid: 'POD' }));
    ids.push(sharer);
    await cri.rt('StartContainer', { container_id: sharer }, 60_000);
    const shared = await execSync(sharer, ['sh', '-c', 'ls -d /proc/[0-9]* | wc -l; tr "\\0" " " < /proc/1/cmdline; echo; ls /proc/1/root'], 20);
    assert.equal(shared.exit_code, 0, shared.stderr.toString());
    const [count, init1, ...pauseRoot]: string[] = shared.stdout.toString().trim().split('\n');
    assert.equal(init1!.trim(), '/pause', 'pid 1 of the pod\'s namespace: pause');
    assert.ok(pauseRoot.includes('pause') && !pauseRoot.includes('bin'), `the pause container's root, through /proc/1/root: ${pauseRoot.join(' ')}`);
    assert.ok(Number(count) >= 3, `pause, the sharer's init and its sleep at least: ${count}`);
    assert.equal(sentriesOf(ids).length, 1, 'still one sentry');
    await stopAndRemove(sharer);
    // A container with a terminal: a pty whose slave the pod's sentry holds, relayed to containerd's log.
    const ttyConfig = container('tty', ['sh', '-c', 'tty; echo tty-ok; trap "exit 0" TERM; sleep 3600 & wait']);
    const { container_id: tty } = await cri.rt('CreateContainer', { ...ttyConfig, config: { ...ttyConfig.config, tty: true, stdin: true } });
    ids.push(tty);
    await cri.rt('StartContainer', { container_id: tty }, 60_000);
    await waitForContainerLog(config.log_directory, 'tty', (log) => /stdout F \/dev\/(console|pts\/\d+)\r?$/m.test(log) && log.includes('tty-ok'));
    await stopAndRemove(tty);
    // A container that cannot start: the sentry's error, and its gofer gone with it.
    const { container_id: bad } = await cri.rt('CreateContainer', container('broken', ['/no/such/program']));
    await assert.rejects(cri.rt('StartContainer', { container_id: bad }, 60_000), /no such file|ENOENT/i);
    await cri.rt('RemoveContainer', { container_id: bad });

    await waitForContainerLog(config.log_directory, 'server', (log) => log.includes(' stdout F started server'));
    await stopAndRemove(b);
    assert.equal(childrenOf(server, 'moat-gofer').length, 2, 'the removed container\'s gofer is gone');
    await stopAndRemove(a);
    assert.equal(childrenOf(server, 'moat-gofer').length, 1, 'only the sandbox\'s gofer is left');
    assert.equal(sentriesOf(ids).length, 1, 'the pod\'s sentry outlives its containers');
  } finally {
    await removePod(podId);
  }
  await assertSentryPodGone(podId, ids);
  t.diagnostic(`pod of two containers on one sentry: ${Date.now() - t0} ms`);
});

test('moat-shim-sentry: a SIGKILLed shim server of a sentry pod; containerd\'s delete path and RemovePodSandbox leave nothing', { timeout: 300_000 }, async (t) => {
  if (!started) return t.skip(matrix.unavailable || 'containerd did not start');
  const config = podConfig('moat');
  config.metadata = { ...config.metadata, name: 'pod-sentry-kill9', uid: `${config.metadata.uid}-sentry-kill9` };
  const { pod_sandbox_id: podId } = await cri.rt('RunPodSandbox', { config, runtime_handler: 'moat-shim-sentry' }, 120_000);
  const img = await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } });
  const { container_id: id } = await cri.rt('CreateContainer', {
    pod_sandbox_id: podId,
    sandbox_config: config,
    config: { metadata: { name: 'app', attempt: 0 }, image: { image: img.image.id }, command: ['sleep', '3600'], log_path: 'app/0.log', linux: { security_context: { namespace_options: NAMESPACES } } },
  });
  await cri.rt('StartContainer', { container_id: id }, 60_000);
  assert.equal(sentriesOf([podId, id]).length, 1, 'one sentry for the pod');
  const server = processesMentioning(c.daemon.dir).find((pid) => {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.includes('serve') && args[args.indexOf('-id') + 1] === podId;
  });
  assert.ok(server, 'the pod\'s shim server');
  const gofers = childrenOf(server, 'moat-gofer');
  assert.equal(gofers.length, 2, 'the sandbox\'s gofer and the container\'s');
  process.kill(server, 'SIGKILL');
  // containerd sees the connection drop and runs `containerd-shim-moat-v2 delete` for each task.
  const end = Date.now() + 60_000;
  while ((await status(id)).state !== 'CONTAINER_EXITED') {
    if (Date.now() > end) throw new Error('the container was not reported exited after its shim was killed');
    await new Promise((r) => setTimeout(r, 250));
  }
  await cri.rt('RemoveContainer', { container_id: id });
  await removePod(podId);
  await waitFor('the pod\'s sentry and gofers to go', () => sentriesOf([podId, id]).length === 0 && gofers.every((g) => !alive(g)), 30_000);
  await waitFor('the pod\'s mounts and state to go', () => mountsUnder(path.join(c.daemon.dir, 'state')).filter((m) => m.includes(id) || m.includes(podId)).length === 0 && !fs.existsSync(`/run/moat-shim/k8s.io/${podId}`), 30_000);
});

test('moat-shim-sentry: the pod\'s sentry killed on the host; its containers are reported killed (137) and the pod leaves nothing', { timeout: 300_000 }, async (t) => {
  if (!started) return t.skip(matrix.unavailable || 'containerd did not start');
  const config = podConfig('moat');
  config.metadata = { ...config.metadata, name: 'pod-sentry-gone', uid: `${config.metadata.uid}-sentry-gone` };
  const { pod_sandbox_id: podId } = await cri.rt('RunPodSandbox', { config, runtime_handler: 'moat-shim-sentry' }, 120_000);
  try {
    const img = await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } });
    const { container_id: id } = await cri.rt('CreateContainer', {
      pod_sandbox_id: podId,
      sandbox_config: config,
      config: { metadata: { name: 'app', attempt: 0 }, image: { image: img.image.id }, command: ['sleep', '3600'], log_path: 'app/0.log', linux: { security_context: { namespace_options: NAMESPACES } } },
    });
    await cri.rt('StartContainer', { container_id: id }, 60_000);
    const [sentry] = sentriesOf([podId, id]);
    assert.ok(sentry, 'the pod\'s sentry');
    process.kill(sentry, 'SIGKILL');
    const end = Date.now() + 30_000;
    let st;
    while ((st = await status(id)).state !== 'CONTAINER_EXITED') {
      if (Date.now() > end) throw new Error('the container was not reported exited after its sentry was killed');
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(st.exit_code, 137, 'killed with its pod\'s sentry');
    await cri.rt('RemoveContainer', { container_id: id });
  } finally {
    await removePod(podId);
  }
  await waitFor('the pod\'s shim server to exit', () => !shimServerArgs().some((a) => a[a.indexOf('-id') + 1] === podId), 20_000);
  assert.ok(!fs.existsSync(`/run/moat-shim/k8s.io/${podId}`), 'the sandbox state is gone');
});

test('moat-shim-sentry: ContainerStats of a pod\'s container from its sentry; pause holds it while the pod\'s other container runs; resume; SIGKILL ends a paused one', { timeout: 300_000 }, async (t) => {
  if (!started) return t.skip(matrix.unavailable || 'containerd did not start');
  const config = podConfig('moat');
  config.metadata = { ...config.metadata, name: 'pod-sentry-pause', uid: `${config.metadata.uid}-sentry-pause` };
  const { pod_sandbox_id: podId } = await cri.rt('RunPodSandbox', { config, runtime_handler: 'moat-shim-sentry' }, 120_000);
  const ids: string[] = [podId];
  try {
    const img = await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } });
    const container = (name: string, command: string[]) => ({
      pod_sandbox_id: podId,
      sandbox_config: config,
      config: {
        metadata: { name, attempt: 0 }, image: { image: img.image.id }, command, log_path: `${name}/0.log`,
        labels: { 'io.kubernetes.container.name': name, ...config.labels }, linux: { security_context: { namespace_options: NAMESPACES } },
      },
    });
    // A counter in the pod's /dev/shm (one tmpfs for the pod), advanced ~20 times a second.
    const { container_id: ticker } = await cri.rt('CreateContainer', container('ticker', ['sh', '-c', 'trap "echo usr1 > /dev/shm/usr1" USR1; i=0; while :; do i=$((i+1)); echo $i > /dev/shm/counter; sleep 0.05; done']));
    ids.push(ticker);
    await cri.rt('StartContainer', { container_id: ticker }, 60_000);
    const { container_id: other } = await cri.rt('CreateContainer', container('other', ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait']));
    ids.push(other);
    await cri.rt('StartContainer', { container_id: other }, 60_000);
    const counter = async () => {
      const r = await execSync(other, ['cat', '/dev/shm/counter'], 20);
      assert.equal(r.exit_code, 0, `ExecSync into the pod's other container: ${r.stderr.toString()}`);
      return Number(r.stdout.toString().trim());
    };
    const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

    // Stats: the sentry's accounting of each container, in the shape containerd decodes for any.
    const busy = await execSync(ticker, ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'], 60);
    assert.equal(busy.exit_code, 0, busy.stderr.toString());
    const statsOf = async (id: string) => (await cri.rt('ContainerStats', { container_id: id })).stats;
    const [st, so] = [await statsOf(ticker), await statsOf(other)];
    assert.equal(st.attributes.id, ticker);
    const cpu = (s: any) => Number(s.cpu.usage_core_nano_seconds?.value ?? 0);
    const mem = (s: any) => Number(s.memory.working_set_bytes?.value ?? 0);
    assert.ok(cpu(st) > 0 && mem(st) > 0, `the ticker's cpu ${JSON.stringify(st.cpu)}, memory ${JSON.stringify(st.memory)}`);
    assert.ok(mem(so) > 0, `the other's memory ${JSON.stringify(so.memory)}`);
    assert.ok(cpu(st) > cpu(so), `the busy container's CPU (${cpu(st)} ns) is its own, above the idle one's (${cpu(so)} ns)`);
    // Memory is each container's own: 8 MB more held by a process of the ticker shows there only.
    const hold = await execSync(ticker, ['sh', '-c', 'awk \'BEGIN { s = sprintf("%8000000s", ""); print "held" > "/dev/shm/held"; close("/dev/shm/held"); system("sleep 3600") }\' </dev/null >/dev/null 2>&1 &'], 30);
    assert.equal(hold.exit_code, 0, hold.stderr.toString());
    for (let i = 0; (await execSync(other, ['cat', '/dev/shm/held'], 20)).stdout.toString() !== 'held\n'; i++) {
      if (i > 80) throw new Error('the ticker\'s memory holder never started');
      await sleep(250);
    }
    const [st2, so2] = [await statsOf(ticker), await statsOf(other)];
    assert.ok(mem(st2) >= mem(st) + 8_000_000, `the ticker's memory grew by the 8 MB it holds: ${mem(st)} -> ${mem(st2)}`);
    assert.ok(Math.abs(mem(so2) - mem(so)) < 1_000_000, `the other's did not: ${mem(so)} -> ${mem(so2)}`);
    // The sandbox's figures are the whole sentry's (its host cgroups): not a member's.
    const metrics = (id: string) => {
      const r = c.ctr(['task', 'metrics', '--format', 'json', id]);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const [mt, mp] = [metrics(ticker), metrics(podId)];
    // Its tasks: its init, the holder (awk), its sh and sleep (the ticker's own sleep comes and goes).
    assert.ok(mt.pids.current >= 3, `the ticker's tasks: ${JSON.stringify(mt.pids)}`);
    t.diagnostic(`member stats: ticker cpu ${cpu(st)} ns, memory ${mem(st)} B (${mem(st2)} B holding 8 MB more), tasks ${mt.pids.current}; other cpu ${cpu(so)} ns, memory ${mem(so)} B; sandbox (the sentry's cgroup) cpu ${mp.cpu.usage.total} ns`);
    assert.ok(mp.cpu.usage.total > mt.cpu.usage.total, `the sandbox's CPU (the sentry's cgroup: ${mp.cpu.usage.total}) is not the member's (${mt.cpu.usage.total})`);

    // Pause: the ticker's tasks are held by the sentry; the pod's other container answers.
    const before = await counter();
    assert.equal(c.ctr(['task', 'pause', ticker]).status, 0);
    const state = (id: string) => c.ctr(['task', 'ls']).stdout.split('\n').find((l) => l.startsWith(id))?.trim().split(/\s+/)[2];
    assert.equal(state(ticker), 'PAUSED');
    assert.equal(state(other), 'RUNNING');
    const paused1 = await counter();
    assert.ok(paused1 >= before, `${paused1} >= ${before}`);
    await sleep(1000);
    const paused2 = await counter();
    assert.equal(paused2, paused1, 'the paused container\'s counter does not advance');
    assert.ok((await statsOf(ticker)).attributes.id === ticker, 'a paused container has stats too');
    // A signal to a paused container stays queued: its handler runs at resume.
    assert.equal(c.ctr(['task', 'kill', '--signal', 'SIGUSR1', ticker]).status, 0);
    await sleep(500);
    const usr1 = async () => (await execSync(other, ['cat', '/dev/shm/usr1'], 20)).stdout.toString();
    assert.equal(await usr1(), '', 'no handler runs while paused');
    // Resume: it runs again, the queued signal first.
    assert.equal(c.ctr(['task', 'resume', ticker]).status, 0);
    assert.equal(state(ticker), 'RUNNING');
    for (let i = 0; (await usr1()) !== 'usr1\n'; i++) {
      if (i > 40) throw new Error('the signal queued while paused was not delivered at resume');
      await sleep(250);
    }
    for (let i = 0; (await counter()) <= paused2; i++) {
      if (i > 40) throw new Error('the resumed container\'s counter does not advance');
      await sleep(250);
    }

    // SIGKILL ends a paused container (as cgroup v2's freezer allows).
    assert.equal(c.ctr(['task', 'pause', ticker]).status, 0);
    assert.equal(c.ctr(['task', 'kill', '--all', '--signal', 'SIGKILL', ticker]).status, 0);
    const end = Date.now() + 20_000;
    let s;
    while ((s = await status(ticker)).state !== 'CONTAINER_EXITED') {
      if (Date.now() > end) throw new Error('the paused container was not ended by SIGKILL');
      await sleep(200);
    }
    assert.equal(s.exit_code, 137);
    await cri.rt('RemoveContainer', { container_id: ticker });
    // Update of a member is refused, by name (nothing in the sentry enforces a container's limits).
    await assert.rejects(cri.rt('UpdateContainerResources', { container_id: other, linux: { memory_limit_in_bytes: 80 * MiB } }), /update of a container in a sentry pod is not supported yet/);
    await stopAndRemove(other);
    assert.equal(sentriesOf(ids).length, 1, 'the pod\'s sentry outlives its containers');
  } finally {
    await removePod(podId);
  }
  await assertSentryPodGone(podId, ids);
});

// ---- A pod network: CNI bridge + host-local (Debian's containernetworking-plugins) ----

// What kubelet asks for a pod on the pod network: the sandbox's network namespace, set up by CNI.
const POD_NETWORK = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' };

function podNetworkConfig(handler: Handler, name: string): Record<string, any> {
  const uid = `moat-${process.pid}-${handler}-${name}`;
  const logDir = path.join(c.daemon.dir, 'pods', `moat-test_${name}_${uid}`);
  fs.mkdirSync(logDir, { recursive: true });
  return {
    metadata: { name, uid, namespace: 'moat-test', attempt: 0 },
    hostname: name,
    log_directory: logDir,
    labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'moat-test', 'io.kubernetes.pod.uid': uid },
    linux: {
      cgroup_parent: `/${c.cgroupParent}/pod${uid}`,
      security_context: { namespace_options: POD_NETWORK },
    },
  };
}

/** A pod on the pod network with one busybox container running `script`; its id, container and address. */
async function runNetworkPod(handler: Handler, name: string, script: string, pods: string[]): Promise<{ podId: string; ctr: string; ip: string; netns: string }> {
  const config = podNetworkConfig(handler, name);
  const { pod_sandbox_id: podId } = await cri.rt('RunPodSandbox', { config, runtime_handler: handler }, 120_000);
  // Removed by the caller while its network is still configured (CNI DEL needs it), even if a step below fails.
  pods.push(podId);
  const s = await cri.rt('PodSandboxStatus', { pod_sandbox_id: podId, verbose: true });
  const ip = s.status.network?.ip as string;
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip ?? '')) throw new Error(`${handler} pod ${name}: no pod address: ${JSON.stringify(s.status.network)} ${s.info.info.slice(0, 3000)}\n${c.daemon.logTail(40)}`);
  const netns = (JSON.parse(s.info.info).runtimeSpec?.linux?.namespaces ?? []).find((n: any) => n.type === 'network')?.path as string;
  const img = await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } });
  const ctrConfig = {
    metadata: { name: 'app', attempt: 0 },
    image: { image: img.image.id },
    command: ['sh', '-c', script],
    working_dir: '/',
    labels: { 'io.kubernetes.container.name': 'app', ...config.labels },
    log_path: 'app/0.log',
    linux: { security_context: { namespace_options: POD_NETWORK } },
  };
  const { container_id: ctr } = await cri.rt('CreateContainer', { pod_sandbox_id: podId, config: ctrConfig, sandbox_config: config });
  await cri.rt('StartContainer', { container_id: ctr }, 120_000);
  return { podId, ctr, ip, netns };
}

/** GET from the host with a fresh connection, retried while nothing listens yet. */
async function httpGetRetry(url: string, timeoutMs = 20_000): Promise<{ status: number; body: string }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise((resolve, reject) => {
        const req = http.get(url, { agent: false, timeout: 5_000 }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (s: string) => (body += s)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in 5 s`)));
        req.on('error', reject);
      });
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

const cniCache = () => (fs.existsSync('/var/lib/cni/results') ? fs.readdirSync('/var/lib/cni/results') : []);
const hostLinks = () => run('ip', ['-o', 'link']).stdout.trim().split('\n').map((l) => l.split(':')[1]!.trim().split('@')[0]!).sort();

/**
 * kubelet's order for a pod-network pod: the network plugin is configured (NetworkReady), pod A
 * serves HTTP on 8080 (busybox httpd) at the address CNI gave it, the host fetches it through the
 * bridge, pod B fetches it with wget from its own namespace; then both pods are removed and nothing
 * of the network is left: no veth, no pod netns, no address held by host-local; the bridge (which
 * the plugin never deletes) is removed by the test.
 */
async function podNetworkCase(handler: Handler): Promise<void> {
  const links = hostLinks();
  const cniCacheBefore = cniCache();
  const cniDirExisted = fs.existsSync('/var/lib/cni');
  const net = writePodNetwork(c.daemon.dir);
  const pods: string[] = [];
  const netnses: string[] = [];
  let problems: string[] = [];
  try {
    const end = Date.now() + 20_000;
    for (;;) {
      const st = await cri.rt('Status', {});
      if (st.status.conditions.some((x: any) => x.type === 'NetworkReady' && x.status)) break;
      if (Date.now() > end) throw new Error(`the CNI config was not picked up: ${JSON.stringify(st.status.conditions)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const a = await runNetworkPod(handler, 'web', 'trap "exit 0" TERM; mkdir -p /www; echo "hello from $(hostname) on $(uname -r)" > /www/index.html; httpd -f -p 8080 -h /www & wait', pods);
    netnses.push(a.netns);
    assert.match(a.ip, /^10\.213\.\d+\.\d+$/, 'the pod address from host-local');
    assert.ok(a.netns && fs.existsSync(a.netns), `the pod's netns ${a.netns}`);
    // Inside: the pod's interface (netlink answered from the pod's namespace).
    assert.match(await sh(a.ctr, 'ip -o -4 addr show eth0'), new RegExp(`inet ${a.ip.replace(/\./g, '\\.')}/24`));
    const fromHost = await httpGetRetry(`http://${a.ip}:8080/`);
    assert.equal(fromHost.status, 200, fromHost.body);
    assert.match(fromHost.body, /^hello from web on \S+\n$/);
    if (handler === 'moat-sentry' || handler === 'moat-shim-sentry') assert.equal(fromHost.body, 'hello from web on 6.1.0-moat-sentry\n');
    const b = await runNetworkPod(handler, 'client', 'trap "exit 0" TERM; sleep 3600 & wait', pods);
    netnses.push(b.netns);
    assert.notEqual(b.ip, a.ip);
    assert.equal(await sh(b.ctr, `wget -q -O - http://${a.ip}:8080/`), fromHost.body, 'pod B reaches pod A');
    // And the other way round: pod A's container connects out to a server in pod B.
    await sh(b.ctr, 'mkdir -p /www; echo "pong from $(hostname)" > /www/index.html; httpd -p 8081 -h /www');
    assert.equal(await sh(a.ctr, `for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://${b.ip}:8081/ && break; sleep 0.3; done`), 'pong from client\n');
    await stopAndRemove(b.ctr);
    await stopAndRemove(a.ctr);
  } finally {
    for (const p of pods) await removePod(p).catch((err) => problems.push(String(err)));
    problems = [...problems, ...removePodNetwork(net)];
    // libcni makes /var/lib/cni/results on first use: gone again if this made it and it is empty.
    if (!cniDirExisted) {
      for (const d of ['/var/lib/cni/results', '/var/lib/cni']) {
        try {
          fs.rmdirSync(d);
        } catch {
          // not empty (checked below) or not there
        }
      }
    }
  }
  assert.deepEqual(problems, []);
  for (const n of netnses) assert.ok(!fs.existsSync(n), `the pod's netns ${n} is left`);
  assert.deepEqual(hostLinks(), links, 'a veth or the bridge left on the host');
  // libcni (in containerd) caches each attachment's result under /var/lib/cni/results until CNI DEL.
  assert.deepEqual(cniCache().filter((f) => !cniCacheBefore.includes(f)), [], 'CNI results left in /var/lib/cni/results');
}

matrix.case('pod network (CNI bridge + host-local): a pod serves TCP to the host and to another pod', (rt) => podNetworkCase(rt as Handler));

matrix.case('moat-sentry handler on the pod network (CNI bridge + host-local): a pod serves TCP to the host and to another pod', () => podNetworkCase('moat-sentry'), ['moat']);

// One sentry per pod (docs/sentry.md#pods-one-sentry-per-kubernetes-pod-issue-15): the pod's container
// runs in its sandbox's sentry, which serves its sockets in the pod's network namespace.
matrix.case('moat-shim-sentry handler (one sentry per pod) on the pod network (CNI bridge + host-local): a pod serves TCP to the host and to another pod', () => podNetworkCase('moat-shim-sentry'), ['moat-shim']);

// One VM per pod (docs/vm.md#pods): the pod's container runs in its sandbox's VM, on the VM's NIC
// (the pod's veth, through a tap): the same pod-network traffic as above. More in cri-vm-pod.test.ts.
matrix.case('moat-shim-vm handler (one VM per pod) on the pod network (CNI bridge + host-local): a pod serves TCP to the host and to another pod', () => podNetworkCase('moat-shim-vm'), ['moat-shim']);
