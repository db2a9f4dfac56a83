// Benchmark: what a second container in a vm pod costs against the first (docs/vm.md#pods).
// containerd 1.6's CRI plugin over gRPC, handler moat-shim-vm (moat's shim, {"isolation":"vm"}):
// RunPodSandbox (boots the pod's VM), then CreateContainer + StartContainer of a first and a second
// container (each runs in the pod's VM), then host memory (RSS, PSS) of the pod's host processes
// after each step. Without pods (moat's CLI behind the runc shim) every container is a VM of its
// own: its cost is the sandbox's boot. Medians of BENCH_ROUNDS pods (3 by default).
// Writes bench/results/vm-pod.md.
//
//   sh scripts/bench.sh vm-pod    (or: npx tsc -p . && node build/ts/bench/vm-pod.js)

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from '../test/helpers/moat';
import { BUSYBOX_IMAGE, CriClient, CriContainerd } from '../test/clients/helpers/cri';
import { processesMentioning } from '../test/clients/helpers/daemons';
import { median } from './stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const r = await f();
  return [Number(process.hrtime.bigint() - t0) / 1e6, r];
}

/** RSS and PSS (MiB) of host processes. */
function memory(pids: number[]): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    try {
      rss += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      pss += Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return { rss: rss / 1024, pss: pss / 1024 };
}

/** The pod's host processes: QEMU and its file servers (they name its state), and the members' relays. */
function podProcesses(podId: string): { vm: number[]; relays: number[] } {
  const vm = processesMentioning(`/run/moat-shim/k8s.io/${podId}`);
  const relays = processesMentioning('vm-exec-relay').filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('shim.js');
    } catch {
      return false;
    }
  });
  return { vm, relays };
}

async function main(): Promise<void> {
  const c = new CriContainerd(['runc', 'moat-shim-vm']);
  await c.start();
  const cri = new CriClient(c.socket);
  const rows: { boot: number; first: number; second: number; mem: { rss: number; pss: number }[] }[] = [];
  try {
    const img = await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } });
    for (let i = 0; i < ROUNDS; i++) {
      const uid = `moat-bench-${process.pid}-${i}`;
      const logDir = path.join(c.daemon.dir, 'pods', uid);
      fs.mkdirSync(logDir, { recursive: true });
      const config = {
        metadata: { name: `bench-${i}`, uid, namespace: 'moat-bench', attempt: 0 },
        log_directory: logDir,
        labels: { 'io.kubernetes.pod.name': `bench-${i}` },
        linux: { cgroup_parent: `/${c.cgroupParent}/pod${uid}`, security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
      };
      const [boot, sandbox] = await timed(() => cri.rt('RunPodSandbox', { config, runtime_handler: 'moat-shim-vm' }, 300_000));
      const podId = sandbox.pod_sandbox_id as string;
      const mem = [memory(podProcesses(podId).vm)];
      const start = (name: string) =>
        timed(async () => {
          const { container_id: id } = await cri.rt('CreateContainer', {
            pod_sandbox_id: podId,
            sandbox_config: config,
            config: { metadata: { name, attempt: 0 }, image: { image: img.image.id }, command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'], log_path: `${name}.log`, linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } } },
          });
          await cri.rt('StartContainer', { container_id: id }, 120_000);
        });
      const [first] = await start('first');
      const p1 = podProcesses(podId);
      mem.push(memory([...p1.vm, ...p1.relays]));
      const [second] = await start('second');
      const p2 = podProcesses(podId);
      mem.push(memory([...p2.vm, ...p2.relays]));
      rows.push({ boot, first, second, mem });
      await cri.rt('StopPodSandbox', { pod_sandbox_id: podId }, 120_000);
      await cri.rt('RemovePodSandbox', { pod_sandbox_id: podId }, 120_000);
      console.log(`pod ${i}: sandbox ${boot.toFixed(0)} ms, first ${first.toFixed(0)} ms, second ${second.toFixed(0)} ms, PSS ${mem.map((m) => m.pss.toFixed(0)).join(' → ')} MiB`);
    }
  } finally {
    cri.close();
    await c.stop();
  }
  const med = (f: (r: (typeof rows)[number]) => number) => median(rows.map(f));
  const boot = med((r) => r.boot);
  const first = med((r) => r.first);
  const second = med((r) => r.second);
  const m = (k: 'rss' | 'pss', j: number) => med((r) => r.mem[j]![k]).toFixed(0);
  const lines = [
    '# A second container in a vm pod (bench/vm-pod.ts)',
    '',
    `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end; ${process.env.MOAT_VM_ACCEL ?? 'auto'} acceleration (TCG on this machine); medians of ${ROUNDS} pods.`,
    'CRI over gRPC (containerd 1.6), handler moat-shim-vm; a host-network pod, busybox `sleep` containers.',
    '',
    '| step | time (ms) | host memory after it: RSS / PSS (MiB) |',
    '|---|---:|---:|',
    `| RunPodSandbox (boots the pod's VM) | ${boot.toFixed(0)} | ${m('rss', 0)} / ${m('pss', 0)} |`,
    `| first container: CreateContainer + StartContainer | ${first.toFixed(0)} | ${m('rss', 1)} / ${m('pss', 1)} |`,
    `| second container: CreateContainer + StartContainer | ${second.toFixed(0)} | ${m('rss', 2)} / ${m('pss', 2)} |`,
    '',
    `A container in the pod's VM costs ${(second / boot).toFixed(2)}× a VM of its own (the sandbox's boot, which is what each container costs on the CLI path).`,
    'Host memory: QEMU and the pod\'s virtiofsd, plus one relay (a Node process of moat\'s) per running container.',
    '',
  ];
  fs.writeFileSync(path.join(REPO, 'bench', 'results', 'vm-pod.md'), lines.join('\n'));
  console.log(lines.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
