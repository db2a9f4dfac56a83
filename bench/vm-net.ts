// Benchmark: networking of a vm container against a peer in another network namespace (issue 13),
// against the same between two runc containers. Two namespaces of the benchmark's own and a veth
// pair between them, wired as test/integration/vm.test.ts 'vm networking' wires them
// (test/helpers/netns.ts): the client's side `eth0` 10.213.13.2/24, MTU 1400; the peer's 10.213.13.1.
// The peer is always the same runc container running `tcp serve` (bench/net/tcp.c, static); the
// client, `tcp connect` (1-byte TCP ping-pong round trips, then a bulk transfer in 64 KiB writes,
// timed by the client up to the server's byte after EOF), runs in a runc container or in a vm
// container (moat --isolation=vm run: QEMU in the namespace, its tap mirrored to the veth with tc,
// virtio-net in the guest), alternating, medians. Writes bench/results/vm-net.md.
//
//   sh scripts/bench.sh vm-net    (BENCH_ROUNDS=3, BENCH_ROUND_TRIPS=2000, BENCH_MIB=200)

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeBundle, makeStateRoot, MOAT, REPO } from '../test/helpers/moat';
import { netnsHolder, vethPair } from '../test/helpers/netns';
import { firstLine, median } from './stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 2000);
const MIB = Number(process.env.BENCH_MIB ?? 200);
const NET = '10.213.13';
const PORT = 7777;

type Client = 'vm' | 'runc';

async function main(): Promise<void> {
  const loadStart = os.loadavg()[0]!.toFixed(2);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-vmnet-'));
  const moatRoot = makeStateRoot();
  const runcRoot = path.join(tmp, 'runc');
  const bin = path.join(tmp, 'tcp');
  execFileSync('gcc', ['-static', '-O2', '-Wall', '-Werror', '-o', bin, path.join(REPO, 'bench', 'net', 'tcp.c')]);
  const a = await netnsHolder();
  const b = await netnsHolder();
  const inNetns = (ns: string) => (c: Record<string, any>) => {
    c.linux.namespaces = c.linux.namespaces.map((n: { type: string }) => (n.type === 'network' ? { type: 'network', path: ns } : n));
  };
  const server = makeBundle(['/tcp', 'serve', String(PORT)], inNetns(b.path));
  const client = makeBundle(['/tcp', 'connect', `${NET}.1`, String(PORT), String(ROUND_TRIPS), String(MIB)], inNetns(a.path));
  for (const bundle of [server, client]) fs.copyFileSync(bin, path.join(bundle.rootfs, 'tcp'));
  const results: Record<Client, { pingpong: number[]; bulk: number[] }> = { vm: { pingpong: [], bulk: [] }, runc: { pingpong: [], bulk: [] } };
  const failed: Partial<Record<Client, string>> = {};
  try {
    vethPair(a, b, NET);
    execFileSync('runc', ['--root', runcRoot, 'run', '--detach', '--bundle', server.dir, 'vmnet-server'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const env = { ...process.env, MOAT_VM_TEMPLATES: path.join(tmp, 'templates') };
    const argv = (c: Client, id: string): [string, string[]] =>
      c === 'vm' ? [MOAT, ['--root', moatRoot, '--isolation=vm', '--vm-accel=tcg', 'run', '--bundle', client.dir, id]] : ['runc', ['--root', runcRoot, 'run', '--bundle', client.dir, id]];
    // Warm-up (and the vm's one-NIC template): one run each.
    for (const c of ['vm', 'runc'] as Client[]) {
      const [cmd, args] = argv(c, `warm-${c}`);
      const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 300_000 });
      if (r.status !== 0) failed[c] = firstLine(r.stderr) || `exit ${r.status}`;
    }
    for (let i = 0; i < ROUNDS; i++) {
      for (const c of (i % 2 ? ['runc', 'vm'] : ['vm', 'runc']) as Client[]) {
        if (failed[c]) continue;
        const [cmd, args] = argv(c, `r${i}-${c}`);
        const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 300_000 });
        const line = r.stdout?.trim().split('\n').pop() ?? '';
        if (r.status !== 0 || !line.startsWith('{')) {
          failed[c] = firstLine(r.stderr) || `exit ${r.status}: ${line}`;
          continue;
        }
        const j = JSON.parse(line) as { pingpong_us: number; bulk_mib_s: number };
        results[c].pingpong.push(j.pingpong_us);
        results[c].bulk.push(j.bulk_mib_s);
      }
      process.stderr.write(`round ${i + 1}/${ROUNDS} done\n`);
    }
  } finally {
    spawnSync('runc', ['--root', runcRoot, 'delete', '--force', 'vmnet-server'], { stdio: 'ignore' });
    for (const id of fs.existsSync(moatRoot) ? fs.readdirSync(moatRoot) : []) spawnSync(MOAT, ['--root', moatRoot, 'delete', '--force', id], { stdio: 'ignore' });
    await a.kill();
    await b.kill();
    server.cleanup();
    client.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(moatRoot, { recursive: true, force: true });
  }
  const loadEnd = os.loadavg()[0]!.toFixed(2);
  const runcVersion = spawnSync('runc', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const rtt = (c: Client) => (results[c].pingpong.length ? 1e6 / median(results[c].pingpong) : NaN);
  const mibs = (c: Client) => (results[c].bulk.length ? median(results[c].bulk) : NaN);
  const cell = (c: Client, v: number, s: string) => (failed[c] && !results[c].bulk.length ? `failed: ${failed[c]}` : s.replace('%', Number.isNaN(v) ? '—' : Math.round(v).toLocaleString('en-US')));
  const lines = [
    '# vm: networking against a peer namespace, against two runc containers (TCG)',
    '',
    `${new Date().toISOString()}, ${os.cpus().length} CPUs, load average ${loadStart} at the start, ${loadEnd} at the end, ${runcVersion}, ${ROUNDS} rounds (order alternating), medians.`,
    '',
    `A veth pair between two namespaces (MTU 1400). Peer: \`runc run\` of \`tcp serve ${PORT}\` (bench/net/tcp.c, static) in one. Client: \`tcp connect ${NET}.1 ${PORT} ${ROUND_TRIPS} ${MIB}\` in the other, either \`runc run\` or \`moat --isolation=vm --vm-accel=tcg run\` (QEMU in the namespace, a tap mirrored to the veth with tc, virtio-net; \`MOAT_VM_TEMPLATES\` a directory of its own, its one-NIC template made in the warm-up). ${ROUND_TRIPS} round trips of 1 byte each way (TCP_NODELAY), then ${MIB} MiB in 64 KiB writes, timed by the client to the server's acknowledgement after EOF.`,
    '',
    '| benchmark (higher is better) | vm client | runc client | vm / runc |',
    '|---|---:|---:|---:|',
    `| 1-byte TCP ping-pong, round trips/s (µs each) | ${cell('vm', rtt('vm'), `% (${median(results.vm.pingpong).toFixed(0)} µs)`)} | ${cell('runc', rtt('runc'), `% (${median(results.runc.pingpong).toFixed(0)} µs)`)} | ${(rtt('vm') / rtt('runc')).toFixed(3)}× |`,
    `| bulk TCP, one stream, MiB/s | ${cell('vm', mibs('vm'), '%')} | ${cell('runc', mibs('runc'), '%')} | ${(mibs('vm') / mibs('runc')).toFixed(3)}× |`,
    '',
    'Individual runs:',
    '',
    ...(['vm', 'runc'] as Client[]).map((c) => `- ${c}: pingpong µs ${results[c].pingpong.join(', ')}; bulk MiB/s ${results[c].bulk.join(', ')}`),
    '',
  ];
  fs.mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(REPO, 'bench', 'results', 'vm-net.md'), lines.join('\n'));
  process.stdout.write(lines.join('\n'));
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
