// Benchmark (issue 15): moat's containerd shim v2 against containerd's runc shim + runc, one private
// containerd 1.6 (the client tests' CriContainerd), alternating runtimes in each round:
//  (a) `ctr run --rm busybox true` (ctr's default runtime io.containerd.runc.v2, or
//      `--runtime io.containerd.moat.v2 [--runtime-config-path <isolation>.json]`);
//  (b) the CRI pod lifecycle as kubelet drives it: RunPodSandbox → CreateContainer → StartContainer →
//      StopPodSandbox → RemovePodSandbox (host-network pod, one busybox `sleep` container);
//  (c) a second container in a pod: CreateContainer + StartContainer after the first, and the pod's
//      Stop/Remove with two containers.
// Handlers: runc (runc shim + runc), moat-shim (native), moat-shim-sentry, moat-shim-vm (moat's
// shim with {"isolation": …}). Wall-time medians, and host CPU time from cgroup v1 cpuacct:
// containerd is moved into <parent>/daemon before any shim starts, so the shims and the runtime
// processes they start count there, and every container's cgroup is below <parent> too (ctr's by
// --cgroup, CRI's by the pod's cgroup_parent); cpuacct charges ancestors as it goes, so what a
// removed container's cgroup used stays counted. containerd's own CPU (its /proc stat, same work
// for every runtime) is reported apart. Writes bench/results/shim.md.
//
//   sh scripts/bench.sh shim    (BENCH_ROUNDS=5, BENCH_VM_ROUNDS=3 (0: no vm), BENCH_SHIM=runc,native,sentry,vm,
//                                BENCH_RESULTS=<file> instead of bench/results/shim.md)

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from '../test/helpers/moat';
import { CTR } from '../test/clients/helpers/containerd';
import { BUSYBOX_IMAGE, cgroupDir, CriClient, CriContainerd, type Handler } from '../test/clients/helpers/cri';
import { run } from '../test/clients/helpers/daemons';
import { median } from './stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const VM_ROUNDS = Number(process.env.BENCH_VM_ROUNDS ?? 3);
type Rt = 'runc' | 'native' | 'sentry' | 'vm';
const ALL: Rt[] = ['runc', 'native', 'sentry', 'vm'];
const WANTED = new Set((process.env.BENCH_SHIM ?? ALL.join(',')).split(',').filter(Boolean) as Rt[]);
const HANDLER: Record<Rt, Handler> = { runc: 'runc', native: 'moat-shim', sentry: 'moat-shim-sentry', vm: 'moat-shim-vm' };
const TICK_MS = 1000 / 100; // USER_HZ
/** After each step: what a shim does once its client has its answer (exit, events) counts to the step. */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 300);
const NAMESPACES = { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' };
const NS = `moat-shim-bench-${process.pid}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  wall: number;
  /** Shims, runtimes and containers (containerd excluded), ms. */
  cpu: number;
  /** containerd itself, ms. */
  containerd: number;
}

/** Host CPU of everything below the parent cgroup, and of containerd alone. */
class CpuMeter {
  private readonly root: string;
  constructor(private readonly parent: string, private readonly containerdPid: number) {
    const acct = cgroupDir('cpuacct');
    if (!acct) throw new Error('no cgroup v1 cpuacct hierarchy: this benchmark reads cpuacct.usage');
    this.root = acct;
    const daemon = path.join(acct, parent, 'daemon');
    fs.mkdirSync(daemon, { recursive: true });
    fs.writeFileSync(path.join(daemon, 'cgroup.procs'), String(containerdPid));
  }

  read(): { all: number; containerd: number } {
    const all = Number(fs.readFileSync(path.join(this.root, this.parent, 'cpuacct.usage'), 'utf8')) / 1e6;
    const stat = fs.readFileSync(`/proc/${this.containerdPid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { all, containerd: (Number(f[11]) + Number(f[12])) * TICK_MS }; // utime, stime
  }

  /** Wall and CPU of f, its settle time included in the CPU. */
  async measure<T>(f: () => Promise<T>): Promise<[Sample, T]> {
    const c0 = this.read();
    const t0 = process.hrtime.bigint();
    const r = await f();
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    await sleep(SETTLE_MS);
    const c1 = this.read();
    const containerd = c1.containerd - c0.containerd;
    return [{ wall, cpu: c1.all - c0.all - containerd, containerd }, r];
  }
}

async function main(): Promise<void> {
  const rts = ALL.filter((r) => WANTED.has(r) && (r !== 'vm' || VM_ROUNDS > 0));
  const c = new CriContainerd(rts.map((r) => HANDLER[r]));
  const runcStateBefore = fs.existsSync('/run/containerd/runc');
  await c.start();
  const meter = new CpuMeter(c.cgroupParent, c.daemon.pid);
  const cri = new CriClient(c.socket);
  const ctr = (args: string[], timeoutMs = 300_000) => run(CTR, ['--address', c.socket, '--namespace', NS, ...args], { timeoutMs });
  const configs: Record<Rt, string[]> = { runc: [], native: ['--runtime', 'io.containerd.moat.v2'], sentry: [], vm: [] };
  for (const iso of ['sentry', 'vm'] as const) {
    const file = path.join(c.daemon.dir, `ctr-${iso}.json`);
    fs.writeFileSync(file, JSON.stringify({ isolation: iso }));
    configs[iso] = ['--runtime', 'io.containerd.moat.v2', '--runtime-config-path', file];
  }
  const loadBefore = os.loadavg();
  const samples = new Map<string, Sample[]>();
  const add = (what: string, rt: Rt, s: Sample) => {
    const k = `${what}\0${rt}`;
    if (!samples.has(k)) samples.set(k, []);
    samples.get(k)!.push(s);
  };
  try {
    const imp = ctr(['images', 'import', path.join(c.daemon.dir, 'busybox-oci.tar')]);
    if (imp.status !== 0) throw new Error(`ctr images import: ${imp.all}`);
    const img = (await cri.img('ImageStatus', { image: { image: BUSYBOX_IMAGE } })).image.id as string;
    const podConfig = (name: string) => {
      const uid = `${name}-${process.pid}`;
      const logDir = path.join(c.daemon.dir, 'pods', uid);
      fs.mkdirSync(logDir, { recursive: true });
      return {
        metadata: { name, uid, namespace: 'moat-bench', attempt: 0 },
        log_directory: logDir,
        labels: { 'io.kubernetes.pod.name': name },
        linux: { cgroup_parent: `/${c.cgroupParent}/pod${uid}`, security_context: { namespace_options: NAMESPACES } },
      };
    };
    const container = async (podId: string, config: object, name: string) => {
      const { container_id: id } = await cri.rt('CreateContainer', {
        pod_sandbox_id: podId,
        sandbox_config: config,
        config: { metadata: { name, attempt: 0 }, image: { image: img }, command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'], log_path: `${name}.log`, linux: { security_context: { namespace_options: NAMESPACES } } },
      }, 120_000);
      return id as string;
    };
    const maxRounds = Math.max(ROUNDS, rts.includes('vm') ? VM_ROUNDS : 0);
    for (let i = 0; i < maxRounds; i++) {
      // Alternate the order each round: neither runtime always goes first after the other.
      const order = (i % 2 ? [...rts].reverse() : rts).filter((r) => i < (r === 'vm' ? VM_ROUNDS : ROUNDS));
      for (const rt of order) {
        const tag = `${rt}-${i}`;
        // (a) ctr run --rm
        const id = `ctr-${tag}-${process.pid}`;
        const [a] = await meter.measure(async () => {
          const r = ctr(['run', '--rm', '--cgroup', `/${c.cgroupParent}/${id}`, ...configs[rt], BUSYBOX_IMAGE, id, 'true']);
          if (r.status !== 0) throw new Error(`ctr run (${rt}): ${r.all}`);
        });
        add('ctr', rt, a);
        // (b) the pod lifecycle, one container
        const config = podConfig(`life-${tag}`);
        const steps: Record<string, Sample> = {};
        const step = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
          const [s, r] = await meter.measure(f);
          steps[name] = s;
          add(name, rt, s);
          return r;
        };
        const podId = (await step('RunPodSandbox', () => cri.rt('RunPodSandbox', { config, runtime_handler: HANDLER[rt] }, 300_000))).pod_sandbox_id as string;
        const cid = await step('CreateContainer', () => container(podId, config, 'app'));
        await step('StartContainer', () => cri.rt('StartContainer', { container_id: cid }, 120_000));
        await step('StopPodSandbox', () => cri.rt('StopPodSandbox', { pod_sandbox_id: podId }, 120_000));
        await step('RemovePodSandbox', () => cri.rt('RemovePodSandbox', { pod_sandbox_id: podId }, 120_000));
        const total = Object.values(steps).reduce((t, s) => ({ wall: t.wall + s.wall, cpu: t.cpu + s.cpu, containerd: t.containerd + s.containerd }), { wall: 0, cpu: 0, containerd: 0 });
        add('lifecycle', rt, total);
        // (c) a second container in a pod
        const config2 = podConfig(`two-${tag}`);
        const pod2 = (await cri.rt('RunPodSandbox', { config: config2, runtime_handler: HANDLER[rt] }, 300_000)).pod_sandbox_id as string;
        const [first] = await meter.measure(async () => cri.rt('StartContainer', { container_id: await container(pod2, config2, 'first') }, 120_000));
        add('first', rt, first);
        const [second] = await meter.measure(async () => cri.rt('StartContainer', { container_id: await container(pod2, config2, 'second') }, 120_000));
        add('second', rt, second);
        const [down] = await meter.measure(async () => {
          await cri.rt('StopPodSandbox', { pod_sandbox_id: pod2 }, 120_000);
          await cri.rt('RemovePodSandbox', { pod_sandbox_id: pod2 }, 120_000);
        });
        add('down2', rt, down);
        console.log(`${tag}: ctr run ${a.wall.toFixed(0)} ms (cpu ${a.cpu.toFixed(0)}), pod lifecycle ${total.wall.toFixed(0)} ms (cpu ${total.cpu.toFixed(0)}), first ${first.wall.toFixed(0)} ms, second ${second.wall.toFixed(0)} ms (cpu ${second.cpu.toFixed(0)}), load ${os.loadavg()[0]!.toFixed(2)}`);
      }
    }
  } finally {
    cri.close();
    try {
      await c.stop();
    } catch (err) {
      // The leak check is host-global (another user's daemon counts too): said, and the results kept.
      console.error(`after the benchmark: ${(err as Error).message}`);
      process.exitCode = 1;
    }
    // The vm platform keeps a cache (initramfs, accel probe) beside each state root: the ctr
    // namespace's root is the benchmark's own, so is that cache.
    fs.rmSync(`/run/moat-shim/${NS}/@vm`, { recursive: true, force: true });
    // ctr's runc shim keeps its runtime root per namespace under /run/containerd/runc.
    for (const d of [`/run/moat-shim/${NS}`, `/run/containerd/runc/${NS}`, ...(runcStateBefore ? [] : ['/run/containerd/runc'])]) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* absent, or not ours to remove */
      }
    }
  }
  writeResults(rts, samples, loadBefore);
}

function writeResults(rts: Rt[], samples: Map<string, Sample[]>, loadBefore: number[]): void {
  const get = (what: string, rt: Rt) => samples.get(`${what}\0${rt}`) ?? [];
  const med = (what: string, rt: Rt, k: keyof Sample) => {
    const xs = get(what, rt).map((s) => s[k]);
    return xs.length ? median(xs) : NaN;
  };
  const moats = rts.filter((r) => r !== 'runc');
  const cell = (what: string, rt: Rt, k: keyof Sample) => {
    const v = med(what, rt, k);
    if (Number.isNaN(v)) return '—';
    if (rt === 'runc') return v.toFixed(0);
    const base = med(what, 'runc', k);
    return `${v.toFixed(0)} (${(v / base).toFixed(2)}×)`;
  };
  const head = `| | ${rts.map((r) => (r === 'runc' ? 'runc shim + runc' : `moat shim, ${r}`)).join(' | ')} |`;
  const sep = `|---|${rts.map(() => '---:').join('|')}|`;
  const row = (label: string, what: string, k: keyof Sample) => `| ${label} | ${rts.map((r) => cell(what, r, k)).join(' | ')} |`;
  const rounds = rts.map((r) => `${r} ${get('ctr', r).length}`).join(', ');
  const lines = [
    '# moat\'s containerd shim against the runc shim (bench/shim.ts)',
    '',
    `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPUs, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} at the start, ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end; one containerd 1.6 of the benchmark's own, runtimes alternating in each round; medians of ${rounds} rounds.`,
    `vm: ${process.env.MOAT_VM_ACCEL ?? 'auto'} acceleration (TCG when there is no /dev/kvm). Ratios are against the runc column.`,
    '',
    '## Wall time (ms)',
    '',
    head,
    sep,
    row('`ctr run --rm busybox true`', 'ctr', 'wall'),
    row('**CRI pod lifecycle, one container** (sum of the steps below)', 'lifecycle', 'wall'),
    ...['RunPodSandbox', 'CreateContainer', 'StartContainer', 'StopPodSandbox', 'RemovePodSandbox'].map((s) => row(`&nbsp;&nbsp;${s}`, s, 'wall')),
    row('first container of a pod: CreateContainer + StartContainer', 'first', 'wall'),
    row('**second container** in the pod: CreateContainer + StartContainer', 'second', 'wall'),
    row('StopPodSandbox + RemovePodSandbox of the two-container pod', 'down2', 'wall'),
    '',
    '## Host CPU time (ms): shims, runtimes and containers; containerd apart',
    '',
    head,
    sep,
    row('`ctr run --rm busybox true`', 'ctr', 'cpu'),
    row('CRI pod lifecycle, one container', 'lifecycle', 'cpu'),
    row('second container: CreateContainer + StartContainer', 'second', 'cpu'),
    row('containerd itself, `ctr run`', 'ctr', 'containerd'),
    row('containerd itself, pod lifecycle', 'lifecycle', 'containerd'),
    '',
    `CPU: cgroup v1 cpuacct of a parent holding containerd (moved in before any shim starts: the shims, runc and moat's processes are its children) and every container's cgroup, minus containerd's own utime+stime; each step's window runs ${SETTLE_MS} ms past its answer (a shim's exit and events count to it). The machine is shared: absolute figures are noisy, the ratios within one run are what to read.`,
    `The CRI pods are host-network pods (no CNI); containers run \`sh -c 'trap "exit 0" TERM; sleep 3600 & wait'\` from busybox; the pause image is the tests' static pause. moat-shim handlers' configs: {"isolation": "${moats.join('"}, {"isolation": "')}"}.`,
    '',
  ];
  fs.writeFileSync(process.env.BENCH_RESULTS ?? path.join(REPO, 'bench', 'results', 'shim.md'), lines.join('\n'));
  console.log(lines.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
