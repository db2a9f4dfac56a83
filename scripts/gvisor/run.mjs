// Runs built gVisor test programs under each runtime, one container per run, and records every
// test case's outcome from gtest's own progress lines ([ RUN ] / [ OK ] / [ FAILED ] / [ SKIPPED ]).
// A case that prints nothing for GVISOR_CASE_TIMEOUT seconds (default 60) is a hang: the container
// is killed and deleted, the case recorded as "hang", and the program run again on the cases not
// yet run. A program that dies inside a case gets that case recorded as "crash", likewise.
//   node scripts/gvisor/run.mjs OUT RESULTS.json RUNTIMES PROGRAM...
// RUNTIMES: comma-separated, of sentry, runsc, runc. Results of other programs/runtimes already in
// RESULTS.json are kept.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBundle } from './bundle.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MOAT = path.join(repo, 'bin', 'moat');
const caseTimeoutMs = Number(process.env.GVISOR_CASE_TIMEOUT ?? 60) * 1000;
const MAX_ROUNDS = 25;

const RUNTIMES = {
  sentry: { bin: MOAT, global: ['--isolation=sentry'], run: (b, id) => ['run', '--bundle', b, id] },
  runsc: { bin: 'runsc', global: ['--platform=ptrace', '--network=none'], run: (b, id) => ['run', '--bundle', b, id] },
  runc: { bin: 'runc', global: [], run: (b, id) => ['run', '--bundle', b, id] },
};

const log = (m) => process.stderr.write(`gvisor-tests: ${m}\n`);

/** gtest's case list (the static program lists itself on the host; it runs no test). */
function listCases(binary) {
  const r = spawnSync(binary, ['--gtest_list_tests'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${binary} --gtest_list_tests: ${r.stderr || r.status}`);
  const cases = [];
  let suite = '';
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const name = line.trim().split(/\s+/)[0];
    if (line.startsWith(' ')) cases.push(suite + name);
    else suite = name;
  }
  return cases;
}

/** The gtest filter selecting `todo` out of `all`: a positive list, or a negative one if shorter. */
function filterFor(all, todo) {
  if (todo.length === all.length) return '*';
  const left = new Set(todo);
  const done = all.filter((c) => !left.has(c));
  return todo.join(':').length <= done.join(':').length + 3 ? todo.join(':') : `*-${done.join(':')}`;
}

/** Kills and deletes a container that is still there, and waits for its runtime to end. */
function destroy(rt, root, id, child) {
  const cli = (args) => spawnSync(rt.bin, ['--root', root, ...rt.global, ...args], { stdio: 'ignore', timeout: 30_000 });
  cli(['kill', id, 'KILL']);
  cli(['delete', '--force', id]);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {}
}

/** Whatever a run left in its state root (a sandbox that outlived its kill): deleted. */
function destroyAll(rt, root) {
  const r = spawnSync(rt.bin, ['--root', root, ...rt.global, 'list', '--format', 'json'], { encoding: 'utf8', timeout: 30_000 });
  let list = [];
  try {
    list = JSON.parse(r.stdout || '[]') || [];
  } catch {}
  for (const c of list) {
    log(`${c.id} was left behind (${c.status}): deleting it`);
    spawnSync(rt.bin, ['--root', root, ...rt.global, 'delete', '--force', c.id], { stdio: 'ignore', timeout: 30_000 });
  }
}

/** One container run of `binary` on the cases `todo`; outcomes go into `results`. */
function runOnce(rt, root, bundle, id, program, all, todo, results, logFile) {
  bundle.configure([`/tests/${program}`, `--gtest_filter=${filterFor(all, todo)}`]);
  return new Promise((resolve) => {
    // stdin an empty pipe, not /dev/null: runsc (Debian's) chowns its stdio to the container's
    // user, which would be the host's /dev/null.
    const child = spawn(rt.bin, ['--root', root, ...rt.global, ...rt.run(bundle.dir, id)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdin.end();
    const out = fs.createWriteStream(logFile, { flags: 'a' });
    let current;
    let hung = false;
    let timer;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        hung = true;
        if (current) results[current] = 'hang';
        destroy(rt, root, id, child);
        // Something of the sandbox that outlived the kill may hold the pipes: stop waiting.
        setTimeout(() => finish('pipes still open 30 s after the kill'), 30_000).unref();
      }, caseTimeoutMs);
    };
    let buf = '';
    child.stdout.on('data', (d) => {
      out.write(d);
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop();
      for (const line of lines) {
        const run = /\[ RUN      \] (\S+)/.exec(line);
        // A parameterised case's FAILED line goes on ", where GetParam() = …": no comma in the name.
        const end = /\[ {7}OK \] ([^\s,]+)|\[  FAILED  \] ([^\s,]+)|\[  SKIPPED \] ([^\s,]+)/.exec(line);
        if (run) {
          current = run[1];
          arm();
        } else if (end && current && (end[1] ?? end[2] ?? end[3]) === current) {
          results[current] = end[1] ? 'pass' : end[2] ? 'fail' : 'skip';
          current = undefined;
          arm();
        }
      }
    });
    child.stderr.on('data', (d) => out.write(d));
    arm();
    let finished = false;
    const finish = (how) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (current && !results[current]) results[current] = 'crash';
      out.end(`\n[gvisor-tests: ${how}${hung ? ', killed after a hang' : ''}]\n`);
      if (!hung) destroy(rt, root, id, child);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve();
    };
    child.on('close', (code, signal) => finish(`exit ${code ?? signal}`));
  });
}

/** Every case of one program under one runtime: re-runs past hangs and crashes. */
async function runProgram(name, rt, out, bundle, program, all) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `gvisor-tests-${name}-`));
  const logDir = path.join(out, 'logs', name);
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${program}.log`);
  fs.rmSync(logFile, { force: true });
  const results = {};
  const started = Date.now();
  let stalls = 0;
  try {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const todo = all.filter((c) => !results[c]);
      if (todo.length === 0) break;
      bundle.clean();
      await runOnce(rt, root, bundle, `gv-${process.pid}-${round}`, program, all, todo, results, logFile);
      // No case finished in this round: try once more (a runtime that failed to start), then
      // take it that the program cannot get further.
      if (all.filter((c) => !results[c]).length === todo.length && ++stalls > 1) break;
    }
  } finally {
    destroyAll(rt, root);
    fs.rmSync(root, { recursive: true, force: true });
    bundle.clean();
  }
  for (const c of all) results[c] ??= 'notrun';
  return { results, seconds: Math.round((Date.now() - started) / 1000) };
}

function version(name) {
  const rt = RUNTIMES[name];
  const r = spawnSync(rt.bin, ['--version'], { encoding: 'utf8' });
  return (r.stdout || '').split('\n')[0];
}

async function main() {
  const [out, resultsFile, runtimeList, ...programs] = process.argv.slice(2);
  const names = runtimeList.split(',');
  for (const n of names) if (!RUNTIMES[n]) throw new Error(`unknown runtime "${n}" (sentry, runsc, runc)`);
  const store = fs.existsSync(resultsFile) ? JSON.parse(fs.readFileSync(resultsFile, 'utf8')) : { programs: {} };
  store.meta = {
    ...store.meta,
    date: new Date().toISOString(),
    host: `${os.hostname()} ${os.release()} ${os.cpus().length} cpus`,
    caseTimeoutSeconds: caseTimeoutMs / 1000,
    versions: { ...(store.meta?.versions ?? {}), ...Object.fromEntries(names.map((n) => [n, version(n)])) },
  };
  const bundle = makeBundle(out, programs, MOAT);
  try {
    await runAll(out, resultsFile, names, programs, store, bundle);
  } finally {
    bundle.remove();
  }
}

/** Writes one program's entry into the results file as it is now (another runner may share it). */
function save(resultsFile, meta, program, entry) {
  fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
  const cur = fs.existsSync(resultsFile) ? JSON.parse(fs.readFileSync(resultsFile, 'utf8')) : { programs: {} };
  cur.meta = { ...cur.meta, ...meta, versions: { ...(cur.meta?.versions ?? {}), ...meta.versions } };
  cur.programs[program] = entry;
  const tmp = `${resultsFile}.${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(cur, null, 1));
  fs.renameSync(tmp, resultsFile);
}

async function runAll(out, resultsFile, names, programs, store, bundle) {
  for (const program of programs) {
    const all = listCases(path.join(out, 'bin', program));
    const entry = (store.programs[program] ??= { runs: {} });
    entry.cases = all;
    for (const n of names) {
      const r = await runProgram(n, RUNTIMES[n], out, bundle, program, all);
      entry.runs[n] = r;
      const count = (s) => Object.values(r.results).filter((x) => x === s).length;
      log(`${program} ${n}: ${count('pass')} pass, ${count('fail')} fail, ${count('hang')} hang, ` +
        `${count('crash')} crash, ${count('skip')} skip, ${count('notrun')} not run of ${all.length} (${r.seconds}s)`);
      save(resultsFile, store.meta, program, entry);
    }
  }
}

main().catch((e) => {
  log(e.stack ?? String(e));
  process.exit(1);
});
