// Writes docs/gvisor-syscall-tests.md from the per-case results (run.mjs) and the build report
// (build.mjs): per test file and runtime, pass / fail / skip / not run, totals, what did not build;
// and, where runsc fails a case runc (Linux) passes, whether the sentry does what Linux does.
//   node scripts/gvisor/report.mjs RESULTS.json BUILD.json COMMIT DOC.md

import * as fs from 'node:fs';

const RUNTIMES = ['sentry', 'runsc', 'runc'];

const count = (results, ...states) => Object.values(results).filter((s) => states.includes(s)).length;

/** One runtime's numbers for one file: pass, fail (hangs and crashes among them), skip, not run. */
function tally(run) {
  if (!run) return undefined;
  const r = run.results;
  return {
    pass: count(r, 'pass'),
    fail: count(r, 'fail', 'hang', 'crash'),
    hang: count(r, 'hang'),
    crash: count(r, 'crash'),
    skip: count(r, 'skip'),
    notrun: count(r, 'notrun'),
  };
}

function cell(t) {
  if (!t) return '–';
  const extra = [t.hang && `${t.hang} hang`, t.crash && `${t.crash} crash`].filter(Boolean).join(', ');
  return `${t.pass} / ${t.fail}${extra ? ` (${extra})` : ''} / ${t.skip} / ${t.notrun}`;
}

function add(sum, t) {
  if (!t) return sum;
  for (const k of Object.keys(t)) sum[k] = (sum[k] ?? 0) + t[k];
  return sum;
}

const FAILED = ['fail', 'hang', 'crash'];

/**
 * The cases runsc fails and runc passes (runc's outcome is Linux's), and those of them the sentry
 * passes too (its behaviour there is Linux's); undefined without all three runs.
 */
function runscGaps(p) {
  const [s, g, c] = ['sentry', 'runsc', 'runc'].map((n) => p.runs[n]?.results);
  if (!s || !g || !c) return undefined;
  const gaps = Object.keys(g).filter((k) => FAILED.includes(g[k]) && c[k] === 'pass');
  return { gaps, linux: gaps.filter((k) => s[k] === 'pass') };
}

const gapCell = (g) => (!g ? '–' : g.gaps.length === 0 ? '0' : `${g.linux.length} of ${g.gaps.length}`);

function table(title, names, store) {
  const gapHead = "runsc's failures (runc passes): sentry passes (Linux's)";
  const lines = [`### ${title}`, '', `| file | cases | ${RUNTIMES.join(' | ')} | ${gapHead} |`, `|---|---:|${RUNTIMES.map(() => '---').join('|')}|---:|`];
  const totals = Object.fromEntries(RUNTIMES.map((n) => [n, {}]));
  const gapTotal = { gaps: [], linux: [] };
  let cases = 0;
  for (const name of names) {
    const p = store.programs[name];
    if (!p) {
      lines.push(`| ${name} | – | ${RUNTIMES.map(() => 'not run yet').join(' | ')} | – |`);
      continue;
    }
    // Totals compare like with like: only files every runtime ran.
    const complete = RUNTIMES.every((n) => p.runs[n]);
    if (complete) cases += p.cases.length;
    const cells = RUNTIMES.map((n) => {
      const t = tally(p.runs[n]);
      if (complete) add(totals[n], t);
      return cell(t);
    });
    const g = runscGaps(p);
    if (g && complete) {
      gapTotal.gaps.push(...g.gaps);
      gapTotal.linux.push(...g.linux);
    }
    lines.push(`| ${name} | ${p.cases.length} | ${cells.join(' | ')} | ${gapCell(g)} |`);
  }
  lines.push(`| **total** (files run under all three) | **${cases}** | ${RUNTIMES.map((n) => `**${cell(Object.keys(totals[n]).length ? totals[n] : undefined)}**`).join(' | ')} | **${gapCell(gapTotal)}** |`, '');
  return lines;
}

/** Per file, the cases runc passes and neither runsc nor the sentry does: Linux's behaviour neither has. */
function neither(store, names) {
  const lines = [];
  for (const name of names) {
    const p = store.programs[name];
    const g = p && runscGaps(p);
    if (!g) continue;
    const miss = g.gaps.filter((k) => !g.linux.includes(k));
    if (miss.length) lines.push(`- ${name}: ${miss.map((c) => `\`${c}\``).join(', ')}`);
  }
  if (!lines.length) return [];
  return [
    '## Where neither runsc nor the sentry does what Linux does',
    '',
    'Cases runc passes that fail under both runsc and the sentry. Where runsc fails a case and the',
    'sentry passes it, the last column of the tables counts it: there the sentry behaves as Linux.',
    '',
    ...lines,
    '',
  ];
}

/**
 * Why the sentry does not pass a case runsc passes, where that is a decision and not a gap: matched
 * on "file:case" (a case name may end in a parameter index). Keep each reason true (docs/sentry.md).
 */
const BEHIND_RUNSC_WHY = [
  [/^socket_inet_loopback_nogotsan:/, 'writes /proc/sys/net/ipv4/ip_local_port_range, which the bundle mounts read-only (runc skips it too; runsc ignores the read-only mount). The range is the host kernel\'s, and the confined sentry holds no CAP_NET_ADMIN to set it (docs/sentry.md)'],
  [/^socket_netlink_route:NetlinkRouteTest\.(Remove|Add|AddAndRemove)/, 'a NETLINK_ROUTE change request: issue 11 asks the sentry to refuse every change with EPERM (read side only)'],
  [/^(uname:UnameTest\.UnshareUTS|fcntl:FcntlLockTest\.GetLockRespectsPIDNamespace|semaphore:SemaphoreTest\.SemOpNamespace)$/, 'needs a new namespace (CLONE_NEWUTS / CLONE_NEWPID / CLONE_NEWIPC): a container has one set of namespaces, the sentry\'s, and clone/unshare refuse a new one with EPERM by design (docs/sentry.md, Namespaces)'],
  [/^fork:CloneTest\.NewUserNamespacePermitsAllOtherNamespaces$/, 'skips without a new user namespace, which the sentry refuses by design (EPERM, docs/sentry.md, Namespaces)'],
  [/^exec_binary:Cases\/ElfInterpreterStaticTest\.Test\//, 'the test runs only on gVisor or a 4.x kernel (it segfaults on 5.x, gVisor issue 3721); the sentry reports a 6.1 release, so it skips as runc does on Linux'],
  [/^exec:ExecTest\.SUIDExecDoesntGainUIDWithPtracerAttached$/, 'PR_SET_PTRACER is Yama\'s; Linux without the Yama LSM (this host: runc fails it the same way) answers EINVAL, and so does the sentry'],
];

/** Cases runsc passes and the sentry fails or skips, each with its reason where one is known. */
function behindRunsc(store, names) {
  const lines = [];
  for (const name of names) {
    const p = store.programs[name];
    const sentry = p.runs.sentry?.results ?? {};
    const runsc = p.runs.runsc?.results ?? {};
    for (const [c, st] of Object.entries(runsc)) {
      if (st !== 'pass' || sentry[c] === 'pass' || sentry[c] === undefined) continue;
      const key = `${name}:${c}`;
      const why = BEHIND_RUNSC_WHY.find(([re]) => re.test(key))?.[1] ?? 'not yet explained';
      lines.push(`- ${name}: \`${c}\` (sentry: ${sentry[c]}) — ${why}`);
    }
  }
  return lines.length
    ? ['## Where runsc passes and the sentry does not', '', ...lines, '']
    : ['## Where runsc passes and the sentry does not', '', 'No case.', ''];
}

/** The cases that hung or crashed, per runtime and file: where to start. */
function incidents(store) {
  const lines = [];
  for (const n of RUNTIMES) {
    const files = [];
    for (const [name, p] of Object.entries(store.programs).sort()) {
      const of = (state) => Object.entries(p.runs[n]?.results ?? {}).filter(([, s]) => s === state).map(([c]) => c);
      const part = (state) => {
        const cs = of(state);
        if (!cs.length) return undefined;
        const shown = cs.slice(0, 8).map((c) => `\`${c}\``).join(', ');
        return `${state}: ${shown}${cs.length > 8 ? ` and ${cs.length - 8} more` : ''}`;
      };
      const parts = [part('hang'), part('crash')].filter(Boolean);
      if (parts.length) files.push(`  - ${name}: ${parts.join('; ')}`);
    }
    if (files.length) lines.push(`- **${n}**`, ...files);
  }
  return lines.length ? ['## Hangs and crashes', '', ...lines, ''] : [];
}

function buildFailures(build) {
  const failed = Object.entries(build.failed ?? {});
  if (!failed.length) return [];
  const lines = ['## Did not build', ''];
  for (const [bin, errs] of failed.sort()) {
    const why = errs.map((e) => `${e.source}: ${(e.errors[0] ?? '').replace(/^.*?error: /, '').replace(/\|/g, '\\|').trim()}`).join('; ');
    lines.push(`- ${bin}: ${why || 'a dependency did not build'}`);
  }
  return [...lines, ''];
}

const seconds = (store, n) =>
  Object.values(store.programs).reduce((t, p) => t + (p.runs[n]?.seconds ?? 0), 0);

function main() {
  const [resultsFile, buildFile, commit, doc, ...issue18] = process.argv.slice(2);
  const store = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
  const build = fs.existsSync(buildFile) ? JSON.parse(fs.readFileSync(buildFile, 'utf8')) : {};
  const names = Object.keys(store.programs).sort();
  const core = [...new Set([...names.filter((n) => issue18.includes(n)), ...issue18])].sort();
  const sockets = names.filter((n) => !core.includes(n) && n.startsWith('socket'));
  const other = names.filter((n) => !core.includes(n) && !sockets.includes(n));
  const m = store.meta;
  const out = [
    '# gVisor\'s syscall tests under the sentry, runsc and runc',
    '',
    'gVisor\'s own syscall test programs (google/gvisor, test/syscalls/linux), built as static',
    'binaries and run unchanged in one busybox bundle under `moat --isolation=sentry`,',
    '`runsc --platform=ptrace --network=none` and runc, as root with every capability (as gVisor\'s',
    'test runner does). Made by `scripts/gvisor-tests.sh` (see its header for the sources it needs);',
    'per-case results are kept in `bench/results/gvisor-syscall-tests.json` (not committed).',
    '',
    `- gVisor sources: commit ${commit}`,
    `- run: ${m.date} on ${m.host}`,
    `- runtimes: ${RUNTIMES.map((n) => `${n} ${m.versions?.[n] ?? '?'}`).join('; ')}`,
    `- time spent per runtime: ${RUNTIMES.map((n) => `${n} ${seconds(store, n)} s`).join(', ')}`,
    `- a case that prints nothing for its time limit (${m.caseTimeoutSeconds} s in the last run; the table keeps files' results from runs at 20–60 s) is a **hang**: killed, counted as a failure,`,
    '  and the program is run again on the cases it had not reached. A program that dies inside a case',
    '  gets that case counted as a failure (**crash**) likewise. Not run: cases the program never reached.',
    '',
    'Re-run (sources as in the header of `scripts/gvisor-tests.sh`; files or globs as arguments run only',
    'those, and the table keeps the others\' last results):',
    '',
    '    GVISOR_SRC=/work/src/gvisor ABSL_SRC=/work/src/abseil-cpp GVISOR_BUILD=/work/src/gvisor-build \\',
    '      sh scripts/gvisor-tests.sh',
    '',
    'Each cell: pass / fail / skip / not run.',
    '',
    ...(core.length ? table('The files of issue 18', core, store) : []),
    ...(sockets.length ? table('Socket files (issue 11)', sockets, store) : []),
    ...(other.length ? table('Other files', other, store) : []),
    ...behindRunsc(store, names),
    ...neither(store, names),
    ...incidents(store),
    ...buildFailures(build),
  ];
  fs.writeFileSync(doc, out.join('\n'));
}

main();
