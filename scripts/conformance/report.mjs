// Writes the results table of docs/conformance.md from build/conformance/results/<runtime>/<test>.{tap,rc}.
// Only the part between the results markers is replaced; the prose around it is kept.
//   node scripts/conformance/report.mjs RESULTS_DIR DOC
// Per test and runtime: passed / counted, where counted = passed + failed assertions (SKIP and TODO
// are not counted), plus one failure when the test program itself failed (non-zero exit, timeout
// or no TAP plan), as a TAP harness counts a dying test file. The two `*_fail` programs that print
// no TAP count as 1/1 when they exit 0.
import fs from 'node:fs';
import path from 'node:path';

const [resultsDir, doc] = process.argv.slice(2);
const RUNTIMES = ['runc', 'crun', 'moat'];
const BEGIN = '<!-- results:begin (written by scripts/conformance/report.mjs) -->';
const END = '<!-- results:end -->';

function parse(file, rcFile) {
  if (!fs.existsSync(file)) return undefined;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let pass = 0, fail = 0, skip = 0, plan = false;
  for (const l of lines) {
    const m = /^(not )?ok \d+\b(.*)$/.exec(l);
    if (m) {
      const rest = m[2];
      if (/#\s*TODO/i.test(rest)) continue;
      if (/#\s*SKIP/i.test(rest)) { skip++; continue; }
      if (m[1]) fail++; else pass++;
    } else if (/^1\.\.\d+/.test(l)) plan = true;
  }
  const rc = fs.existsSync(rcFile) ? Number(fs.readFileSync(rcFile, 'utf8').trim()) : NaN;
  // process_capabilities_fail and process_rlimits_fail print no TAP: they exit 0 when the runtime
  // refused the invalid config (their pass) and die through util.Fatal otherwise.
  const silent = lines.every((l) => l.trim() === '');
  if (silent && rc === 0 && /_fail$/.test(path.basename(file, '.tap'))) return { pass: 1, total: 1, skip, rc, died: false };
  const died = rc !== 0 || !plan;
  if (died) fail++;
  return { pass, total: pass + fail, skip, rc, died };
}

const tests = new Set();
for (const rt of RUNTIMES) {
  const d = path.join(resultsDir, rt);
  if (!fs.existsSync(d)) continue;
  for (const f of fs.readdirSync(d)) if (f.endsWith('.tap')) tests.add(f.slice(0, -4));
}
const sorted = [...tests].sort();
const totals = Object.fromEntries(RUNTIMES.map((r) => [r, { pass: 0, total: 0, clean: 0 }]));
const cell = (r) => {
  if (!r) return '—';
  let s = `${r.pass}/${r.total}`;
  if (r.died) s += r.rc === 124 || r.rc === 137 ? ' (timeout)' : ` (exit ${Number.isNaN(r.rc) ? '?' : r.rc})`;
  if (r.pass === r.total) s = `**${s}**`;
  return s;
};
const rows = [];
for (const t of sorted) {
  const cells = RUNTIMES.map((rt) => {
    const r = parse(path.join(resultsDir, rt, `${t}.tap`), path.join(resultsDir, rt, `${t}.rc`));
    if (r) {
      totals[rt].pass += r.pass;
      totals[rt].total += r.total;
      if (r.pass === r.total) totals[rt].clean++;
    }
    return cell(r);
  });
  rows.push(`| \`${t}\` | ${cells.join(' | ')} |`);
}
const version = (rt) => {
  const f = path.join(resultsDir, rt, '.version');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim() : '';
};
const table = [
  BEGIN,
  '',
  `Run of ${new Date().toISOString().slice(0, 10)}; ${RUNTIMES.map((r) => `${r}: \`${version(r) || '?'}\``).join(', ')}.`,
  '',
  `| test (${sorted.length}) | ${RUNTIMES.join(' | ')} |`,
  `|---|${RUNTIMES.map(() => '---:').join('|')}|`,
  ...rows,
  `| **assertions passed** | ${RUNTIMES.map((r) => `**${totals[r].pass}/${totals[r].total}**`).join(' | ')} |`,
  `| **tests fully passed** | ${RUNTIMES.map((r) => `**${totals[r].clean}/${sorted.length}**`).join(' | ')} |`,
  '',
  END,
].join('\n');

let text = fs.existsSync(doc) ? fs.readFileSync(doc, 'utf8') : `# Conformance\n\n${BEGIN}\n${END}\n`;
const a = text.indexOf(BEGIN), b = text.indexOf(END);
text = a >= 0 && b > a ? text.slice(0, a) + table + text.slice(b + END.length) : `${text.trimEnd()}\n\n${table}\n`;
fs.writeFileSync(doc, text);
for (const r of RUNTIMES) console.log(`${r}: ${totals[r].pass}/${totals[r].total} assertions, ${totals[r].clean}/${sorted.length} tests`);
