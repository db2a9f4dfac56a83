// Benchmark: vm start-up. `moat --isolation=vm run` of `echo hi` (busybox bundle) to the
// container's first output, booted cold (MOAT_VM_TEMPLATES=off) and restored from a template
// (docs/vm.md#templates; made once in the warm-up), against a bare QEMU boot of the same kernel,
// machine and command line whose initramfs holds only a minimal static init (it powers off at
// once). Also host memory per idle VM (a created container waiting for start), cold and restored.
// Alternating runs, medians. Writes bench/results/vm-start.md.
//
//   node build/ts/bench/vm-start.js     (after npx tsc -p .; BENCH_ROUNDS=5 by default)

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeBundle, makeStateRoot, MOAT } from '../test/helpers/moat';
import { findGuestKernel, writeCpio } from '../src/vm/guest';
import { guestCmdline, hostTscKhz } from '../src/vm/builder';
import { VM_CPUS, VM_MEMORY_MIB } from '../src/vm/spec';
import { median } from './stats';
import { runMain, timed, writeResult } from './timed';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

function bareInitramfs(dir: string): string {
  const src = path.join(dir, 'init.c');
  fs.writeFileSync(src, '#include <sys/reboot.h>\n#include <unistd.h>\nint main(void){ sync(); reboot(RB_AUTOBOOT); return 0; }\n');
  const bin = path.join(dir, 'init');
  execFileSync('gcc', ['-static', '-O2', '-o', bin, src]);
  const cpio = path.join(dir, 'bare.cpio');
  fs.writeFileSync(cpio, writeCpio([{ name: 'init', kind: 'file', mode: 0o755, data: fs.readFileSync(bin) }]));
  return cpio;
}

function rssKiB(pid: number): { rss: number; pss: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]), pss: Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1]) };
}

async function main(): Promise<void> {
  const kernel = findGuestKernel();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-vmbench-'));
  const root = makeStateRoot();
  const bundle = makeBundle(['echo', 'hi']);
  try {
    const bare = bareInitramfs(tmp);
    const bareArgs = [
      '-M', 'microvm,x-option-roms=off,rtc=off,isa-serial=off', '-accel', 'tcg', '-cpu', 'max', '-m', String(VM_MEMORY_MIB), '-smp', String(VM_CPUS),
      '-nodefaults', '-no-user-config', '-nographic', '-no-reboot', '-kernel', kernel.image, '-initrd', bare, '-append', guestCmdline(false, hostTscKhz()),
    ];
    const moatArgs = ['--root', root, '--isolation=vm', '--vm-accel=tcg', 'run', '--bundle', bundle.dir];
    const cold = { ...process.env, MOAT_VM_TEMPLATES: 'off' };
    const tpl = { ...process.env, MOAT_VM_TEMPLATES: path.join(tmp, 'templates') };
    // Warm-up: the initramfs and busybox caches, page cache; the template is made here.
    await timed(MOAT, [...moatArgs, 'warm'], true, cold);
    const made = Date.now();
    await timed(MOAT, [...moatArgs, 'warm2'], true, tpl);
    const makeMs = Date.now() - made;
    await new Promise((r) => setTimeout(r, 1000));
    const m: number[] = [];
    const t: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      b.push(await timed('qemu-system-x86_64', bareArgs, false));
      m.push(await timed(MOAT, [...moatArgs, `b${i}`], true, cold));
      t.push(await timed(MOAT, [...moatArgs, `t${i}`], true, tpl));
      await new Promise((r) => setTimeout(r, 1000)); // let the VM power off and moat delete it
    }
    // Host memory of idle VMs: created containers waiting for start. One cold; 1, 5, 10 clones of
    // one template at once (their PSS sums: shared pages are counted once in total).
    const idle = (id: string, env: NodeJS.ProcessEnv): { rss: number; pss: number } => {
      execFileSync(MOAT, ['--root', root, '--isolation=vm', '--vm-accel=tcg', 'create', '--bundle', bundle.dir, id], { stdio: ['ignore', 'ignore', 'inherit'], env });
      const st = JSON.parse(execFileSync(MOAT, ['--root', root, 'state', id], { encoding: 'utf8' })) as { pid: number };
      return { pid: st.pid, ...rssKiB(st.pid) } as { rss: number; pss: number; pid: number };
    };
    const settle = (): void => void execFileSync('sleep', ['3']);
    idle('idle-cold', cold);
    settle();
    const memCold = rssKiB((JSON.parse(execFileSync(MOAT, ['--root', root, 'state', 'idle-cold'], { encoding: 'utf8' })) as { pid: number }).pid);
    execFileSync(MOAT, ['--root', root, 'delete', '--force', 'idle-cold']);
    const clones: { n: number; rss: number; pss: number }[] = [];
    const pids: number[] = [];
    for (const n of [1, 5, 10]) {
      while (pids.length < n) pids.push((idle(`idle-t${pids.length}`, tpl) as unknown as { pid: number }).pid);
      settle();
      const m = pids.map(rssKiB);
      clones.push({ n, rss: m.reduce((a, x) => a + x.rss, 0), pss: m.reduce((a, x) => a + x.pss, 0) });
    }
    for (let i = 0; i < pids.length; i++) execFileSync(MOAT, ['--root', root, 'delete', '--force', `idle-t${i}`]);
    const load = os.loadavg()[0]!.toFixed(2);

    const mm = median(m);
    const tm = median(t);
    const bm = median(b);
    const mib = (k: number): string => (k / 1024).toFixed(0);
    const lines = [
      '# vm start-up (TCG)',
      '',
      `${new Date().toISOString()}, ${os.cpus().length} CPUs, load average ${load}, kernel ${kernel.version}, ${VM_MEMORY_MIB} MiB guest, ${ROUNDS} alternating rounds, medians.`,
      '',
      '| what | median ms | × bare boot | runs (ms) |',
      '|---|---:|---:|---|',
      `| bare QEMU boot of the same kernel + minimal init (to power-off) | ${bm.toFixed(0)} | 1.00 | ${b.map((x) => x.toFixed(0)).join(', ')} |`,
      `| \`moat --isolation=vm run\` → first output, cold boot (\`MOAT_VM_TEMPLATES=off\`) | ${mm.toFixed(0)} | ${(mm / bm).toFixed(2)} | ${m.map((x) => x.toFixed(0)).join(', ')} |`,
      `| \`moat --isolation=vm run\` → first output, restored from a template | ${tm.toFixed(0)} | ${(tm / bm).toFixed(2)} | ${t.map((x) => x.toFixed(0)).join(', ')} |`,
      '',
      `**from a template: ${(tm / bm).toFixed(2)} × a bare boot, ${(tm / mm).toFixed(2)} × a cold start** (issue 13's target ≤ 0.3 × a bare boot). The first container of a machine made the template and then started from it: ${makeMs} ms to first output.`,
      '',
      'Host memory of idle VMs (QEMU, container created, waiting for start); for several, the sums over their QEMUs:',
      '',
      '| VMs | RSS MiB | PSS MiB | PSS × one cold VM |',
      '|---|---:|---:|---:|',
      `| 1 booted cold | ${mib(memCold.rss)} | ${mib(memCold.pss)} | 1.00 |`,
      ...clones.map((c) => `| ${c.n} restored from one template | ${mib(c.rss)} | ${mib(c.pss)} | ${(c.pss / memCold.pss).toFixed(2)} |`),
      '',
      `PSS of 10 clones = **${(clones[2]!.pss / memCold.pss).toFixed(2)} × one cold VM** (issue 13's target ≤ 3), ${(clones[2]!.pss / clones[0]!.pss).toFixed(2)} × one clone. Clones map the template's memory privately from one sealed memfd: what they share is counted once (docs/vm.md#templates).`,
      '',
    ];
    writeResult('vm-start.md', lines);
  } finally {
    bundle.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
  }
}

runMain(main);
