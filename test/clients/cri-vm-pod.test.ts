// A Kubernetes pod in one VM (docs/vm.md#pods): containerd 1.6's CRI plugin driven over gRPC as
// kubelet drives it, handler `moat-shim-vm` (moat's shim, runtime_type io.containerd.moat.v2,
// options ConfigPath → {"isolation": "vm"}). The pause container boots the pod's VM; two
// containers run in it, share an emptyDir-like volume, read a read-only configMap-like volume, and
// talk over the pod's localhost; exec, logs, stop, remove; nothing left on the host.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { CONTAINERD } from './helpers/containerd';
import { BUSYBOX_IMAGE, CriClient, CriContainerd } from './helpers/cri';
import { processesMentioning, waitFor } from './helpers/daemons';

let c: CriContainerd | undefined;
let cri: CriClient;
let skip: string | false = false;

before(async () => {
  if (!fs.existsSync(CONTAINERD) || !fs.existsSync('/usr/bin/containerd-shim-runc-v2')) {
    skip = 'containerd is not installed (sh scripts/setup.sh test)';
    return;
  }
  if (!fs.existsSync('/usr/bin/qemu-system-x86_64')) {
    skip = 'qemu-system-x86 is not installed';
    return;
  }
  c = new CriContainerd(['runc', 'moat-shim-vm']);
  await c.start();
  cri = new CriClient(c.socket);
});

after(async () => {
  if (!c) return;
  try {
    for (const p of (await cri.rt('ListPodSandbox', {})).items ?? []) {
      await cri.rt('StopPodSandbox', { pod_sandbox_id: p.id }, 120_000).catch(() => undefined);
      await cri.rt('RemovePodSandbox', { pod_sandbox_id: p.id }, 120_000).catch(() => undefined);
    }
  } finally {
    cri.close();
    await c.stop();
  }
});

// A host-network pod (no CNI here): kubelet asks for a PID namespace per container and the pod's IPC.
const NAMESPACES = { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' };

const mountsUnder = (dir: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m === dir || m.startsWith(`${dir}/`));
/** Host processes of the pod's VM: QEMU and the file servers name its state directory. */
const vmProcesses = (podId: string) => processesMentioning(`/run/moat-shim/k8s.io/${podId}`);

test('moat-shim-vm: one VM per pod, two containers sharing a volume and localhost, exec, logs, stop, remove', { timeout: 600_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const d = c!.daemon.dir;
  const uid = `moat-${process.pid}-vm-pod`;
  const logDir = path.join(d, 'pods', `moat-test_vm-pod_${uid}`);
  fs.mkdirSync(logDir, { recursive: true });
  // What kubelet makes on the host for an emptyDir and a configMap volume.
  const emptyDir = path.join(d, 'volumes', 'data');
  const configMap = path.join(d, 'volumes', 'config');
  fs.mkdirSync(emptyDir, { recursive: true });
  fs.mkdirSync(configMap, { recursive: true });
  fs.writeFileSync(path.join(configMap, 'greeting'), 'hello from a configMap\n');
  const config = {
    metadata: { name: 'vm-pod', uid, namespace: 'moat-test', attempt: 0 },
    log_directory: logDir,
    labels: { 'io.kubernetes.pod.name': 'vm-pod', 'io.kubernetes.pod.namespace': 'moat-test', 'io.kubernetes.pod.uid': uid },
    annotations: { 'kubernetes.io/config.source': 'api' },
    linux: {
      cgroup_parent: `/${c!.cgroupParent}/pod${uid}`,
      security_context: { namespace_options: NAMESPACES, seccomp: { profile_type: 'RuntimeDefault' } },
      // What kubelet sums up for the pod (its containers' limits): the VM is sized from it.
      resources: { memory_limit_in_bytes: 320 * 1024 * 1024, cpu_period: 100_000, cpu_quota: 200_000 },
    },
  };
  const { pod_sandbox_id: podId } = await cri.rt('RunPodSandbox', { config, runtime_handler: 'moat-shim-vm' }, 300_000);
  const qemu = vmProcesses(podId).map((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).find((a) => a[0]!.includes('qemu-system'));
  assert.ok(qemu, 'the pod\'s QEMU');
  assert.equal(qemu[qemu.indexOf('-m') + 1], String(320 + 128), 'memory: the pod\'s limits + the guest\'s own');
  assert.equal(qemu[qemu.indexOf('-smp') + 1], '2', 'vCPUs: the pod\'s CPU quota');
  const img = await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } });
  const container = (name: string, command: string[], resources?: object) => ({
    pod_sandbox_id: podId,
    sandbox_config: config,
    config: {
      metadata: { name, attempt: 0 },
      image: { image: img.image.id },
      command,
      working_dir: '/',
      labels: { 'io.kubernetes.container.name': name, ...config.labels },
      log_path: `${name}/0.log`,
      mounts: [
        { container_path: '/data', host_path: emptyDir },
        { container_path: '/config', host_path: configMap, readonly: true },
      ],
      linux: { security_context: { namespace_options: NAMESPACES }, ...(resources ? { resources } : {}) },
    },
  });
  try {
    const vmsBefore = vmProcesses(podId);
    assert.ok(vmsBefore.length >= 2, `the pod's VM runs (QEMU and its file servers): ${vmsBefore.length} processes`);
    // The server: writes into the shared volume, serves HTTP on the pod's localhost.
    const { container_id: a } = await cri.rt('CreateContainer', container('server', ['sh', '-c', 'echo started; echo "written by server" > /data/from-server; mkdir -p /www; echo pong > /www/index.html; trap "exit 0" TERM; httpd -f -p 127.0.0.1:8080 -h /www & wait']));
    await cri.rt('StartContainer', { container_id: a }, 120_000);
    const { container_id: b } = await cri.rt('CreateContainer', container('client', ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'], { memory_limit_in_bytes: 64 << 20 }));
    await cri.rt('StartContainer', { container_id: b }, 120_000);
    for (const id of [a, b]) assert.equal((await cri.rt('ContainerStatus', { container_id: id })).status.state, 'CONTAINER_RUNNING');
    // No VM of their own: the same host processes as before the two containers.
    assert.deepEqual(vmProcesses(podId).sort(), vmsBefore.sort(), 'the containers run in the pod\'s VM');

    const exec = async (id: string, script: string) => {
      const r = await cri.rt('ExecSync', { container_id: id, cmd: ['sh', '-c', script], timeout: 60 }, 90_000);
      return { code: r.exit_code as number, out: r.stdout.toString() as string, err: r.stderr.toString() as string };
    };
    const r = await exec(b, [
      'cat /data/from-server',
      'wget -qO- http://127.0.0.1:8080/index.html',
      'cat /config/greeting',
      'echo "written by client" > /data/from-client',
      'if (echo x > /config/greeting) 2>/dev/null; then echo config-writable; else echo config-read-only; fi',
      'uname -r',
      'nproc',
      'echo err >&2; exit 3',
    ].join('; '));
    assert.equal(r.code, 3, r.err);
    const lines = r.out.split('\n');
    assert.deepEqual(lines.slice(0, 4), ['written by server', 'pong', 'hello from a configMap', 'config-read-only']);
    assert.notEqual(lines[4], fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), 'the guest\'s kernel, not the host\'s');
    assert.equal(lines[5], '2', 'the pod\'s VM has the pod\'s CPUs');
    assert.equal(r.err, 'err\n');
    assert.equal(fs.readFileSync(path.join(emptyDir, 'from-client'), 'utf8'), 'written by client\n', 'the host sees the write');
    assert.equal(fs.readFileSync(path.join(configMap, 'greeting'), 'utf8'), 'hello from a configMap\n');

    // A cgroup of its own in the pod's VM each: limits, Update, Stats and Pause apart from the others.
    const memoryMax = async (id: string) => (await exec(id, 'cat /sys/fs/cgroup/memory.max')).out.trim();
    assert.equal(await memoryMax(b), String(64 << 20), 'the client\'s own memory limit, in the guest');
    assert.equal(await memoryMax(a), 'max', 'the server has no limit of its own');
    await cri.rt('UpdateContainerResources', { container_id: b, linux: { memory_limit_in_bytes: 96 << 20 } });
    assert.equal(await memoryMax(b), String(96 << 20), 'UpdateContainerResources reached the client\'s group');
    assert.equal(await memoryMax(a), 'max', 'and only its group');
    await exec(b, 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done');
    const { stats } = await cri.rt('ContainerStats', { container_id: b });
    assert.equal(stats.attributes.id, b);
    assert.ok(stats.cpu.usage_core_nano_seconds?.value > 0, `cpu ${JSON.stringify(stats.cpu)}`);
    assert.ok(stats.memory.working_set_bytes?.value > 0, `memory ${JSON.stringify(stats.memory)}`);
    // Pause (containerd's task API: CRI has none) freezes the client alone: the server still answers.
    const task = (args: string[]) => {
      const r = c!.ctr(['task', ...args]);
      assert.equal(r.status, 0, `ctr task ${args.join(' ')}: ${r.all}`);
      return r.stdout;
    };
    task(['pause', b]);
    try {
      assert.match(task(['ls']), new RegExp(`^${b}\\s+\\d+\\s+PAUSED`, 'm'));
      assert.equal((await exec(a, 'wget -qO- http://127.0.0.1:8080/index.html')).out, 'pong\n', 'the pod\'s other container runs on');
      // A process exec'd into the frozen group does not run until it thaws.
      await assert.rejects(cri.rt('ExecSync', { container_id: b, cmd: ['true'], timeout: 2 }, 30_000));
    } finally {
      task(['resume', b]);
    }
    assert.match(task(['ls']), new RegExp(`^${b}\\s+\\d+\\s+RUNNING`, 'm'));
    assert.equal((await exec(b, 'echo thawed')).out, 'thawed\n');
    // Namespaces as Kubernetes has them: the pod's IPC shared, a PID namespace and a root each.
    const ns = async (id: string) => (await exec(id, 'readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; tr "\\0" " " < /proc/1/cmdline; echo; ls /')).out;
    const [na, nb] = [await ns(a), await ns(b)];
    const [ipcA, pidA, initA] = na.split('\n');
    const [ipcB, pidB, initB] = nb.split('\n');
    assert.match(ipcA!, /^ipc:\[\d+\]$/);
    assert.equal(ipcA, ipcB, 'the pod\'s IPC namespace');
    assert.notEqual(pidA, pidB, 'a PID namespace per container');
    assert.ok(initA!.includes('httpd') && initB!.includes('sleep 3600'), `each container's init is its pid 1: ${initA} | ${initB}`);
    assert.ok(na.includes('www') && !nb.includes('www'), 'a root filesystem each');

    await waitFor('the server\'s log', () => {
      try {
        return fs.readFileSync(path.join(logDir, 'server', '0.log'), 'utf8').includes(' stdout F started');
      } catch {
        return false;
      }
    }, 20_000);

    // A container with a terminal: a pty of the guest's, relayed to containerd's log.
    const ttyConfig = container('tty', ['sh', '-c', 'tty; echo tty-ok; trap "exit 0" TERM; sleep 3600 & wait']);
    const { container_id: tty } = await cri.rt('CreateContainer', { ...ttyConfig, config: { ...ttyConfig.config, tty: true, stdin: true } });
    await cri.rt('StartContainer', { container_id: tty }, 120_000);
    await waitFor('the tty container\'s log', () => {
      try {
        const log = fs.readFileSync(path.join(logDir, 'tty', '0.log'), 'utf8');
        return /stdout F \/dev\/pts\/\d+\r?$/m.test(log) && log.includes('tty-ok');
      } catch {
        return false;
      }
    }, 20_000);
    await cri.rt('StopContainer', { container_id: tty, timeout: 10 }, 60_000);
    await cri.rt('RemoveContainer', { container_id: tty }, 60_000);

    // A container that cannot start: the error is the guest's, and nothing of it stays bound.
    const { container_id: bad } = await cri.rt('CreateContainer', container('broken', ['/no/such/program']));
    await assert.rejects(cri.rt('StartContainer', { container_id: bad }, 120_000), /no such file|not found/i);
    await cri.rt('RemoveContainer', { container_id: bad }, 60_000);
    assert.deepEqual(mountsUnder(`/run/moat-shim/k8s.io/${podId}/vm/pod/${bad}`), []);

    for (const id of [b, a]) {
      await cri.rt('StopContainer', { container_id: id, timeout: 10 }, 60_000);
      const st = (await cri.rt('ContainerStatus', { container_id: id })).status;
      assert.equal(st.state, 'CONTAINER_EXITED');
      assert.equal(st.exit_code, 0, 'TERM ran the trap');
      await cri.rt('RemoveContainer', { container_id: id }, 60_000);
    }
    assert.deepEqual(mountsUnder(`/run/moat-shim/k8s.io/${podId}/vm/pod`).length, 1, 'only the shared directory itself is mounted once the containers are gone');
  } catch (err) {
    // The case's own failure, not a later one of the clean-up (the after hook cleans up again).
    await cri.rt('StopPodSandbox', { pod_sandbox_id: podId }, 120_000).catch(() => undefined);
    await cri.rt('RemovePodSandbox', { pod_sandbox_id: podId }, 120_000).catch(() => undefined);
    throw err;
  }
  await cri.rt('StopPodSandbox', { pod_sandbox_id: podId }, 120_000);
  await cri.rt('RemovePodSandbox', { pod_sandbox_id: podId }, 120_000);
  await waitFor('the pod\'s VM to stop', () => vmProcesses(podId).length === 0, 30_000);
  assert.deepEqual(mountsUnder(`/run/moat-shim/k8s.io/${podId}`), []);
  assert.ok(!fs.existsSync(`/run/moat-shim/k8s.io/${podId}`), 'the sandbox state is gone');
});

test('moat-shim-vm: a SIGKILLed shim server of a vm pod; containerd\'s delete path and RemovePodSandbox leave nothing', { timeout: 600_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const d = c!.daemon.dir;
  const uid = `moat-${process.pid}-vm-pod-kill9`;
  const logDir = path.join(d, 'pods', `moat-test_vm-pod-kill9_${uid}`);
  fs.mkdirSync(logDir, { recursive: true });
  const config = {
    metadata: { name: 'vm-pod-kill9', uid, namespace: 'moat-test', attempt: 0 },
    log_directory: logDir,
    labels: { 'io.kubernetes.pod.name': 'vm-pod-kill9' },
    linux: { cgroup_parent: `/${c!.cgroupParent}/pod${uid}`, security_context: { namespace_options: NAMESPACES } },
  };
  const { pod_sandbox_id: podId } = await cri.rt('RunPodSandbox', { config, runtime_handler: 'moat-shim-vm' }, 300_000);
  const img = await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } });
  const { container_id: id } = await cri.rt('CreateContainer', {
    pod_sandbox_id: podId,
    sandbox_config: config,
    config: { metadata: { name: 'app', attempt: 0 }, image: { image: img.image.id }, command: ['sleep', '3600'], log_path: 'app.log', linux: { security_context: { namespace_options: NAMESPACES } } },
  });
  await cri.rt('StartContainer', { container_id: id }, 120_000);
  assert.ok(mountsUnder(`/run/moat-shim/k8s.io/${podId}/vm/pod/${id}`).includes(`/run/moat-shim/k8s.io/${podId}/vm/pod/${id}/rootfs`), 'the container\'s rootfs bound into the pod\'s share');
  const servers = processesMentioning(d).filter((pid) => {
    try {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return args.some((a) => a.endsWith('build/shim.js')) && args.includes('serve');
    } catch {
      return false;
    }
  });
  assert.equal(servers.length, 1, 'one shim server for the pod');
  process.kill(servers[0]!, 'SIGKILL');
  // containerd sees the connection drop and runs `containerd-shim-moat-v2 delete` for the tasks.
  const end = Date.now() + 60_000;
  while ((await cri.rt('ContainerStatus', { container_id: id })).status.state !== 'CONTAINER_EXITED') {
    if (Date.now() > end) throw new Error('the container was not reported exited after its shim was killed');
    await new Promise((r) => setTimeout(r, 500));
  }
  await cri.rt('RemoveContainer', { container_id: id }, 60_000);
  await cri.rt('StopPodSandbox', { pod_sandbox_id: podId }, 120_000);
  await cri.rt('RemovePodSandbox', { pod_sandbox_id: podId }, 120_000);
  await waitFor('the pod\'s VM and relays to stop', () => vmProcesses(podId).length === 0 && processesMentioning('vm-exec-relay').filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('shim.js');
    } catch {
      return false;
    }
  }).length === 0, 30_000);
  await waitFor('the pod\'s mounts and state to go', () => mountsUnder(`/run/moat-shim/k8s.io/${podId}`).length === 0 && !fs.existsSync(`/run/moat-shim/k8s.io/${podId}`), 30_000);
});
