// Benchmark: vm start-up with a big root filesystem (issue 13: within 1.2× of a small one).
// `moat --isolation=vm run` of `echo hi` to first output from the Debian apps rootfs
// (scripts/apps-rootfs.sh, ≈ 0.5–0.6 GB: python3, gcc, node, git...) against the busybox bundle of
// bench/vm-start.ts, booted cold (MOAT_VM_TEMPLATES=off) and restored from a template, alternating,
// medians. With MOAT_PROFILE=1 each run also says where its time went: the rootfs image (the tree's
// manifest walk, its cached base image found — built by mkfs.ext4 -d in the warm-up — and the
// container's qcow2 overlay made: src/vm/disk/) and QEMU's launch to the guest's answer. Writes
// bench/results/vm-rootfs.md.
//
//   sh scripts/bench.sh vm-rootfs    (BENCH_ROUNDS=3 by default)

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeBundle, makeStateRoot, MOAT } from '../test/helpers/moat';
import { appsRootfs } from '../test/apps/harness';
import { imageSize, treeUsage } from '../src/vm/rootfs';
import { treeManifest } from '../src/vm/disk/manifest';
import { median } from './stats';
import { profileDelta, runMain, runTimed, writeResult } from './timed';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

type Case = 'small cold' | 'big cold' | 'small template' | 'big template';
const CASES: Case[] = ['small cold', 'big cold', 'small template', 'big template'];

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-vmrootfs-'));
  const root = makeStateRoot();
  const apps = appsRootfs();
  const small = makeBundle(['echo', 'hi']);
  const big = makeBundle(['echo', 'hi'], (c) => (c.root = { path: apps, readonly: true }));
  try {
    const loadStart = os.loadavg()[0]!.toFixed(2);
    const env = (c: Case): NodeJS.ProcessEnv => ({ ...process.env, MOAT_PROFILE: '1', MOAT_VM_TEMPLATES: c.endsWith('cold') ? 'off' : path.join(tmp, 'templates'), MOAT_VM_IMAGES: path.join(tmp, 'images') });
    const args = (c: Case, id: string) => ['--root', root, '--isolation=vm', '--vm-accel=tcg', 'run', '--bundle', (c.startsWith('big') ? big : small).dir, id];
    // Warm-up: caches and the page cache of both trees; the template and the base images are made here.
    // The first big run builds the big tree's base image: its 'rootfs image' mark is that build.
    let buildMs = NaN;
    for (const c of CASES) {
      const t = await runTimed(MOAT, args(c, `warm-${c.replace(' ', '-')}`), env(c));
      if (c === 'big cold') buildMs = profileDelta(t.stderr, 'vm rootfs image') ?? NaN;
    }
    // The manifest walk alone (in this process, page cache warm), what every container pays.
    const walkMs = median([0, 1, 2].map(() => {
      const t0 = performance.now();
      treeManifest(apps);
      return performance.now() - t0;
    }));
    const runs = new Map<Case, { first: number; image: number; guest: number }[]>(CASES.map((c) => [c, []]));
    for (let i = 0; i < ROUNDS; i++) {
      for (const c of i % 2 ? [...CASES].reverse() : CASES) {
        const t = await runTimed(MOAT, args(c, `r${i}-${c.replace(' ', '-')}`), env(c));
        runs.get(c)!.push({ first: t.firstOutputMs, image: profileDelta(t.stderr, 'vm rootfs image') ?? NaN, guest: profileDelta(t.stderr, 'vm guest connected') ?? NaN });
      }
      process.stderr.write(`round ${i + 1}/${ROUNDS} done\n`);
    }
    const loadEnd = os.loadavg()[0]!.toFixed(2);

    const usage = (dir: string) => {
      const u = treeUsage(dir);
      return `${(u.bytes / 2 ** 20).toFixed(0)} MiB in ${u.files} entries (image ${(imageSize(u.bytes, u.files).bytes / 2 ** 20).toFixed(0)} MiB, sparse)`;
    };
    const med = (c: Case, k: 'first' | 'image' | 'guest') => median(runs.get(c)!.map((r) => r[k]));
    const f = (n: number) => n.toFixed(0);
    const row = (c: Case) => {
      const base = c.endsWith('cold') ? 'small cold' : 'small template';
      return `| ${c} | ${f(med(c, 'first'))} | ${(med(c, 'first') / med(base, 'first')).toFixed(2)} | ${f(med(c, 'image'))} | ${f(med(c, 'guest'))} | ${runs.get(c)!.map((r) => f(r.first)).join(', ')} |`;
    };
    const ratioCold = med('big cold', 'first') / med('small cold', 'first');
    const ratioTpl = med('big template', 'first') / med('small template', 'first');
    const lines = [
      '# vm start-up with a big root filesystem (TCG)',
      '',
      `${new Date().toISOString()}, ${os.cpus().length} CPUs, load average ${loadStart} at the start, ${loadEnd} at the end, ${ROUNDS} rounds (order alternating), medians.`,
      '',
      `\`moat --isolation=vm --vm-accel=tcg run\` of \`echo hi\` to first output, \`MOAT_PROFILE=1\`. small = the busybox bundle of bench/vm-start.ts (${usage(small.rootfs)}); big = the Debian apps rootfs of scripts/apps-rootfs.sh, read-only (${usage(apps)}). Cold: \`MOAT_VM_TEMPLATES=off\`; template: restored from one made in the warm-up. "rootfs image": the \`vm rootfs image\` mark (the tree's manifest walk, its base image found in the cache — built once, in the warm-up, by mkfs.ext4 -d — and the container's qcow2 overlay of it made by qemu-img: src/vm/disk/); "QEMU → guest answers": the \`vm guest connected\` mark (launch, boot or restore, the agent's answer).`,
      '',
      '| what | first output ms | × small | rootfs image ms | QEMU → guest answers ms | runs (ms) |',
      '|---|---:|---:|---:|---:|---|',
      ...CASES.map(row),
      '',
      `**big / small: ${ratioCold.toFixed(2)}× cold, ${ratioTpl.toFixed(2)}× from a template** (issue 13's target ≤ 1.2×). The difference is the rootfs image step: ${f(med('big cold', 'image') - med('small cold', 'image'))} ms cold, ${f(med('big template', 'image') - med('small template', 'image'))} ms from a template (medians of the marks). Building the big tree's base image, once (the warm-up's first big run): ${f(buildMs)} ms; its manifest walk alone, which every container pays: ${f(walkMs)} ms.`,
      '',
    ];
    writeResult('vm-rootfs.md', lines);
  } finally {
    small.cleanup();
    big.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
  }
}

runMain(main);
