// Benchmark: the sentry platform (issue #5) against gVisor's runsc on its ptrace platform (and
// systrap, where this runsc has it) and against no sandbox at all, in one run on one machine:
//  * the syscall micro-benchmark bench/sentry/syscalls.c (one static binary: getpid, a 1-byte read
//    of /dev/zero, open+close of /dev/null, clock_gettime through libc; it reports ns per
//    operation), run ROUNDS times per platform, alternating, medians; the sentry also without its
//    vDSO (MOAT_SENTRY_VDSO=0), for what the vDSO saves;
//  * start-up: `do /bin/true` (and the static `/bin/busybox true`), START_ROUNDS alternating rounds,
//    median wall-clock ms from spawn to exit;
//  * memory: the PSS of an idle sandbox (busybox `sleep` created and started from a bundle: moat's
//    sentry + stubs + gofer, runsc's sandbox + stubs + gofer; bench/sandbox-pss.ts), MEM_ROUNDS
//    alternating rounds, medians.
// Every sandbox runs the binary from the host root: `runsc do` and `moat do` both give the sandbox a
// read-only view of / with an in-memory writable layer. A platform that fails (moat's sentry while
// it is being written, runsc without systrap) gets "failed: <first line of its error>" in its cells.
// Writes bench/results/sentry.md.
//
//   sh scripts/bench.sh sentry    (installs runsc when missing; BENCH_ROUNDS, BENCH_START_ROUNDS,
//                                  BENCH_MEM_ROUNDS, BENCH_TARGET_MS tune it)

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUSYBOX, makeBundle, MOAT, REPO } from '../test/helpers/moat';
import { moatSentryPss, nativePss, runscPss, type PssResult } from './sandbox-pss';
import { killTagged, tagProcesses } from '../test/sentry/helpers';
import { median, firstLine } from './stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const START_ROUNDS = Number(process.env.BENCH_START_ROUNDS ?? 11);
const MEM_ROUNDS = Number(process.env.BENCH_MEM_ROUNDS ?? 5);
/** How long the micro-benchmark runs each case, per run (ms). */
const TARGET_MS = Number(process.env.BENCH_TARGET_MS ?? 300);
const TIMEOUT_MS = 120_000;

const CASES = ['getpid', 'read_dev_zero_1B', 'open_close_dev_null', 'clock_gettime'] as const;
type Case = (typeof CASES)[number];
const CASE_LABEL: Record<Case, string> = {
  getpid: '`syscall(SYS_getpid)`, µs/op',
  read_dev_zero_1B: '1-byte `read` of /dev/zero, µs/op',
  open_close_dev_null: '`open`+`close` of /dev/null, µs/op',
  clock_gettime: '`clock_gettime(CLOCK_MONOTONIC)` through libc (vDSO), µs/op',
};

interface Platform {
  name: string;
  /** The full command line that runs `cmd` on this platform. */
  argv(cmd: string[]): string[];
  /** Set on the first failure: the platform is not run again. */
  failed?: string;
}

interface Outcome {
  ms: number;
  stdout: string;
  error?: string;
}



function run(argv: string[], cleanup: () => void): Outcome {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input: '', timeout: TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') {
    // A killed CLI leaves its sandbox behind (sentry, stubs, gofer; runsc's sandbox): end them.
    killTagged();
    cleanup();
    return { ms, stdout: '', error: `timed out after ${TIMEOUT_MS / 1000} s` };
  }
  if (r.error) return { ms, stdout: '', error: r.error.message };
  if (r.status !== 0) return { ms, stdout: r.stdout, error: firstLine(r.stderr) || `exit status ${r.status ?? r.signal}` };
  return { ms, stdout: r.stdout };
}

const SETTLE_NOTE = '2 s after `start` (moat: sentry + stubs + gofer; runsc: sandbox + stubs + gofer; native: the `sleep` process itself)';

function fmtUs(ns: number): string {
  const us = ns / 1000;
  return us < 1 ? us.toFixed(3) : us < 100 ? us.toFixed(2) : us.toFixed(0);
}

function main(): void {
  tagProcesses();
  const work = fs.mkdtempSync('/var/tmp/moat-bench-sentry-'); // not /tmp: `moat do` mounts a fresh tmpfs there
  fs.chmodSync(work, 0o755);
  const runscRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'runsc-bench-'));
  const moatRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-bench-'));
  const cleanMoat = () => {
    for (const id of fs.readdirSync(moatRoot)) spawnSync(MOAT, ['--root', moatRoot, 'delete', '--force', id], { stdio: 'ignore', timeout: 10_000 });
  };
  const runsc = (platform: string): Platform => ({
    name: `runsc ${platform}`,
    argv: (cmd) => ['runsc', '--root', runscRoot, `--platform=${platform}`, '--network=none', 'do', ...cmd],
  });
  const platforms: Platform[] = [
    { name: 'native', argv: (cmd) => cmd },
    runsc('ptrace'),
    runsc('systrap'),
    { name: 'moat sentry', argv: (cmd) => [MOAT, '--root', moatRoot, 'do', '--isolation=sentry', '--', ...cmd] },
  ];
  const moatNative: Platform = { name: 'moat do (native isolation)', argv: (cmd) => [MOAT, '--root', moatRoot, 'do', '--', ...cmd] };
  /** The sentry without its vDSO (every clock read a syscall): micro-benchmark only. */
  const noVdso: Platform = { name: 'moat sentry, no vDSO', argv: (cmd) => ['env', 'MOAT_SENTRY_VDSO=0', MOAT, '--root', moatRoot, 'do', '--isolation=sentry', '--', ...cmd] };
  const microPlatforms = [...platforms, noVdso];
  const bin = path.join(work, 'syscalls');
  execFileSync('gcc', ['-static', '-O2', '-Wall', '-Werror', '-o', bin, path.join(REPO, 'bench', 'sentry', 'syscalls.c')]);

  const micro = new Map<string, Record<Case, number[]>>(microPlatforms.map((p) => [p.name, Object.fromEntries(CASES.map((c) => [c, []])) as unknown as Record<Case, number[]>]));
  const startCases: Array<{ label: string; cmd: string[] }> = [
    { label: '`do /bin/true` start-up, ms', cmd: ['/bin/true'] },
    { label: '`do /bin/busybox true` (static) start-up, ms', cmd: [BUSYBOX, 'true'] },
  ];
  const start = new Map<string, number[][]>([...platforms, moatNative].map((p) => [p.name, startCases.map(() => [])]));
  const startFailed = new Map<string, Array<string | undefined>>([...platforms, moatNative].map((p) => [p.name, startCases.map(() => undefined)]));
  const pss = new Map<string, number[]>(platforms.map((p) => [p.name, []]));
  const pssAnon = new Map<string, number[]>(platforms.map((p) => [p.name, []]));
  const pssFailed = new Map<string, string>();
  const sleeper = makeBundle(['sleep', '600']);
  fs.chmodSync(moatRoot, 0o755); // moat do's own user namespace must reach its scratch there
  try {
    // Micro-benchmark: each platform once per round, alternating.
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of microPlatforms) {
        if (p.failed !== undefined) continue;
        const o = run(p.argv([bin, String(TARGET_MS)]), cleanMoat);
        if (o.error !== undefined) {
          p.failed = o.error;
          continue;
        }
        try {
          const j = JSON.parse(o.stdout.trim().split('\n').pop() ?? '') as Record<Case, { ns_per_op: number }>;
          for (const c of CASES) micro.get(p.name)![c].push(j[c].ns_per_op);
        } catch {
          p.failed = `unparsable output: ${firstLine(o.stdout)}`;
        }
      }
      process.stderr.write(`micro round ${round + 1}/${ROUNDS} done\n`);
    }
    // Start-up: one warm-up round, then START_ROUNDS alternating rounds.
    for (let round = 0; round <= START_ROUNDS; round++) {
      for (const [i, sc] of startCases.entries()) {
        for (const p of [...platforms, moatNative]) {
          if (startFailed.get(p.name)![i] !== undefined) continue;
          const o = run(p.argv(sc.cmd), cleanMoat);
          if (o.error !== undefined) startFailed.get(p.name)![i] = o.error;
          else if (round > 0) start.get(p.name)![i]!.push(o.ms);
        }
      }
      process.stderr.write(`start-up round ${round}/${START_ROUNDS} done\n`);
    }
    // Memory: an idle sandbox per platform, one at a time, alternating.
    const measure: Record<string, (round: number) => PssResult> = {
      native: () => nativePss(BUSYBOX),
      'runsc ptrace': (r) => runscPss(runscRoot, 'ptrace', sleeper.dir, `pss-ptrace-${r}`),
      'runsc systrap': (r) => runscPss(runscRoot, 'systrap', sleeper.dir, `pss-systrap-${r}`),
      'moat sentry': (r) => moatSentryPss(moatRoot, sleeper.dir, `pss-sentry-${r}`),
    };
    for (let round = 0; round < MEM_ROUNDS; round++) {
      for (const p of platforms) {
        if (pssFailed.has(p.name)) continue;
        const r = measure[p.name]!(round);
        if ('error' in r) pssFailed.set(p.name, r.error);
        else {
          pss.get(p.name)!.push(r.kb / 1024);
          pssAnon.get(p.name)!.push(r.anonKb / 1024);
        }
      }
      process.stderr.write(`memory round ${round + 1}/${MEM_ROUNDS} done\n`);
    }
  } finally {
    sleeper.cleanup();
    cleanMoat();
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(runscRoot, { recursive: true, force: true });
    fs.rmSync(moatRoot, { recursive: true, force: true });
  }

  const cell = (p: Platform, xs: number[] | undefined, fmt: (n: number) => string, failed?: string): string => {
    const why = failed ?? p.failed;
    if (why !== undefined && (xs === undefined || xs.length === 0)) return `failed: ${why.replace(/\|/g, '\\|')}`;
    return xs && xs.length ? fmt(median(xs)) : '—';
  };
  const ratio = (moat: number[] | undefined, runscP: number[] | undefined): string =>
    moat?.length && runscP?.length ? `${(median(moat) / median(runscP)).toFixed(2)}×` : '—';
  const ptrace = platforms[1]!;
  const sentry = platforms[3]!;
  const rows: string[] = [];
  for (const c of CASES) {
    rows.push(`| ${CASE_LABEL[c]} | ${platforms.map((p) => cell(p, micro.get(p.name)![c], fmtUs)).join(' | ')} | ${ratio(micro.get(sentry.name)![c], micro.get(ptrace.name)![c])} |`);
  }
  for (const [i, sc] of startCases.entries()) {
    const fmtMs = (n: number) => n.toFixed(1);
    rows.push(`| ${sc.label} | ${platforms.map((p) => cell(p, start.get(p.name)![i], fmtMs, startFailed.get(p.name)![i])).join(' | ')} | ${ratio(start.get(sentry.name)![i], start.get(ptrace.name)![i])} |`);
  }
  rows.push(`| idle sandbox PSS (busybox \`sleep\` from a bundle), MB | ${platforms.map((p) => cell(p, pss.get(p.name), (n) => n.toFixed(1), pssFailed.get(p.name))).join(' | ')} | ${ratio(pss.get(sentry.name), pss.get(ptrace.name))} |`);
  const runscVersion = spawnSync('runsc', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? 'runsc: not found';
  const over = (p: Platform, c: Case) => {
    const xs = micro.get(p.name)![c];
    const nat = micro.get('native')![c];
    return xs.length && nat.length ? `${fmtUs(median(xs) - median(nat))} µs` : 'n/a';
  };
  const moatNativeStart = startCases.map((sc, i) => `${sc.cmd.join(' ')}: ${cell(moatNative, start.get(moatNative.name)![i], (n) => `${n.toFixed(1)} ms`, startFailed.get(moatNative.name)![i])}`);
  const report = [
    '# sentry: syscall cost and start-up, against runsc (gVisor) and native',
    '',
    `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, kernel ${os.release()}, Node ${process.version}, ${runscVersion}. ` +
      `Micro-benchmark (\`bench/sentry/syscalls.c\`, static, each case run ≥ ${TARGET_MS} ms per run): median of ${ROUNDS} runs per platform, platforms alternating. ` +
      `Start-up: median of ${START_ROUNDS} alternating rounds after a warm-up, spawn to exit. ` +
      `Memory: median of ${MEM_ROUNDS} alternating rounds, PSS summed over the sandbox's host processes ${SETTLE_NOTE}.`,
    '',
    'Commands: native = the binary itself; runsc = `runsc --root DIR --platform=P --network=none do CMD`; ' +
      'moat sentry = `moat do --isolation=sentry -- CMD` (both over a read-only view of the host root with an in-memory layer).',
    '',
    '| case | native | runsc ptrace | runsc systrap | moat sentry | moat sentry / runsc ptrace |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    `Cost over native per call (median − native median): getpid — runsc ptrace ${over(ptrace, 'getpid')}, moat sentry ${over(sentry, 'getpid')}; ` +
      `read — runsc ptrace ${over(ptrace, 'read_dev_zero_1B')}, moat sentry ${over(sentry, 'read_dev_zero_1B')}; ` +
      `open+close (2 calls) — runsc ptrace ${over(ptrace, 'open_close_dev_null')}, moat sentry ${over(sentry, 'open_close_dev_null')}.`,
    '',
    `Memory runs (MB): ${platforms.map((p) => `${p.name} ${pss.get(p.name)!.map((x) => x.toFixed(1)).join(', ') || (pssFailed.get(p.name) ?? '—')}`).join('; ')}. ` +
      'PSS counts the text of the node or runsc binary in proportion to the processes that share it on the host, so it moves with what else runs; ' +
      `its anonymous part (Pss_Anon, the sandbox's own memory), medians: ${platforms.filter((p) => pssAnon.get(p.name)!.length).map((p) => `${p.name} ${median(pssAnon.get(p.name)!).toFixed(1)} MB`).join(', ')}.`,
    '',
    `For reference, \`moat do\` with native isolation: ${moatNativeStart.join('; ')}.`,
    '',
    `The sentry without its vDSO (\`MOAT_SENTRY_VDSO=0\`: every clock read a trapped syscall): clock_gettime ${cell(noVdso, micro.get(noVdso.name)!.clock_gettime, fmtUs)} µs/op ` +
      `(with it: ${cell(sentry, micro.get(sentry.name)!.clock_gettime, fmtUs)}; getpid without it: ${cell(noVdso, micro.get(noVdso.name)!.getpid, fmtUs)}).`,
    '',
    'Individual micro-benchmark runs (µs/op):',
    '',
    ...microPlatforms.flatMap((p) => (micro.get(p.name)!.getpid.length ? [`- ${p.name}: ${CASES.map((c) => `${c} ${micro.get(p.name)![c].map(fmtUs).join(', ')}`).join('; ')}`] : [])),
    '',
  ].join('\n');
  fs.mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(REPO, 'bench', 'results', 'sentry.md'), report);
  process.stdout.write(report);
}

main();
