// Builds the chosen gVisor syscall test programs (and the helper programs they run) as static
// binaries with make: one object per source, cached with header dependencies (-MMD), so a re-run
// only recompiles what changed. A source that does not compile fails only the programs that need
// it; the report (build.json) names each failed program and the first errors of its sources.
//   node scripts/gvisor/build.mjs GVISOR_SRC ABSL_SRC ABSL_LIBDIR OUT name|glob...

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { programSources, readRules, selectPrograms, testPrograms } from './plan.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

// gVisor's Bazel-only pieces, replaced by moat's own (see those files).
const REPLACED = {
  'test/util/test_util_runfiles.cc': path.join(here, 'runfiles.cc'),
  'test/util/test_util_impl.cc': path.join(here, 'test_init.cc'),
};

const objOf = (src) => `obj/${src.replace(/\.cc$/, '.o')}`;
const srcPath = (gvisor, src) => REPLACED[src] ?? path.join(gvisor, src);

/** The helper programs a test runs (Bazel `data`): cc_binary → built, sh_binary → copied. */
function helpers(rules, label) {
  return rules[label].data.filter((d) => rules[d] && rules[d].kind !== 'cc_library');
}

function makefile({ gvisor, absl, abslLibs, programs, rules }) {
  const lines = [
    `CXX ?= g++`,
    `CXXFLAGS := -std=c++17 -O0 -w -pthread -I${gvisor} -I${absl} -D__linux__=1 -MMD -MP`,
    `LIBS := -Wl,--start-group ${abslLibs.join(' ')} -lgmock -lgtest -Wl,--end-group -lpthread`,
    '',
    // Compiler errors go to the object's .log (the report reads them), not to the terminal.
    'define compile',
    '@mkdir -p $(dir $@)',
    '@$(CXX) $(CXXFLAGS) -c -o $@ $< 2> $@.log || { echo "  failed: $<"; exit 1; }',
    'endef',
    '',
  ];
  const objects = new Map();
  const all = [];
  for (const [bin, label] of programs) {
    const srcs = programSources(rules, label);
    for (const s of srcs) objects.set(objOf(s), srcPath(gvisor, s));
    all.push(`bin/${bin}`);
    lines.push(`bin/${bin}: ${srcs.map(objOf).join(' ')}`);
    lines.push('\t@mkdir -p bin');
    lines.push(`\t@$(CXX) -static -pthread -o $@ $^ $(LIBS) 2> bin/${bin}.log || { echo "  link failed: ${bin}"; exit 1; }`);
    lines.push(`\t@echo "  built: ${bin}"`);
  }
  for (const [obj, src] of objects) lines.push(`${obj}: ${src}`, '\t$(compile)');
  lines.push('', `all: ${all.join(' ')}`, '.DEFAULT_GOAL := all');
  lines.push(`-include ${[...objects.keys()].map((o) => o.replace(/\.o$/, '.d')).join(' ')}`);
  return lines.join('\n') + '\n';
}

/** The first error lines of each failed source (the compiler's log), for the report. */
function failures(out, rules, bin, label) {
  const errs = [];
  for (const s of programSources(rules, label)) {
    const log = path.join(out, `${objOf(s)}.log`);
    if (fs.existsSync(path.join(out, objOf(s))) || !fs.existsSync(log)) continue;
    const first = fs.readFileSync(log, 'utf8').split('\n').filter((l) => /error/.test(l)).slice(0, 3);
    errs.push({ source: s, errors: first });
  }
  const link = path.join(out, 'bin', `${bin}.log`);
  if (errs.length === 0 && fs.existsSync(link)) {
    errs.push({ source: 'link', errors: fs.readFileSync(link, 'utf8').split('\n').filter((l) => /undefined|error/.test(l)).slice(0, 3) });
  }
  return errs;
}

function main() {
  const [gvisor, absl, abslLibDir, out, ...patterns] = process.argv.slice(2);
  const rules = readRules(gvisor);
  const tests = testPrograms(rules);
  const { chosen, missing } = selectPrograms(tests, patterns);
  for (const m of missing) console.error(`gvisor-tests: no test program matches "${m}"`);
  const programs = new Map(chosen.map((n) => [n, tests[n]]));
  const scripts = [];
  for (const n of chosen) {
    for (const h of helpers(rules, tests[n])) {
      if (rules[h].kind === 'cc_binary') programs.set(`helpers/${h.replace(':', '/')}`, h);
      else scripts.push(h);
    }
  }
  const abslLibs = spawnSync('find', [abslLibDir, '-name', 'libabsl_*.a'], { encoding: 'utf8' })
    .stdout.trim().split('\n').filter(Boolean).sort();
  if (abslLibs.length === 0) throw new Error(`no libabsl_*.a under ${abslLibDir}`);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'Makefile'), makefile({ gvisor, absl, abslLibs, programs, rules }));
  // The replaced sources live in the checkout running this script; an object (and its dependency
  // file) made from another checkout's copy — a worktree since removed — is made again from ours,
  // or make stops at a prerequisite that no longer exists.
  for (const [src, ours] of Object.entries(REPLACED)) {
    const obj = path.join(out, objOf(src));
    const dep = obj.replace(/\.o$/, '.d');
    if (fs.existsSync(dep) && !fs.readFileSync(dep, 'utf8').includes(ours)) for (const f of [obj, dep]) fs.rmSync(f, { force: true });
  }
  const jobs = process.env.GVISOR_JOBS ?? '2';
  const mk = spawnSync('nice', ['make', '-k', `-j${jobs}`, '-C', out, '--no-print-directory'], { stdio: 'inherit' });
  for (const s of scripts) {
    const dst = path.join(out, 'bin', 'helpers', s.replace(':', '/'));
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(path.join(gvisor, rules[s].srcs[0]), dst);
    fs.chmodSync(dst, 0o755);
  }
  // build.json keeps what earlier builds (of other files) found; this build's programs are
  // replaced; `chosen` is this build's test programs.
  const file = path.join(out, 'build.json');
  const report = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : { built: [], failed: {} };
  report.chosen = chosen;
  let built = 0;
  for (const [bin, label] of programs) {
    report.built = report.built.filter((b) => b !== bin);
    delete report.failed[bin];
    if (fs.existsSync(path.join(out, 'bin', bin))) {
      report.built.push(bin);
      built++;
    } else {
      report.failed[bin] = failures(out, rules, bin, label);
    }
  }
  report.built.sort();
  report.notFound = missing;
  fs.writeFileSync(file, JSON.stringify(report, null, 2));
  console.error(`gvisor-tests: built ${built}, failed ${programs.size - built}` +
    (mk.status === 0 ? '' : ` (see ${file})`));
}

main();
