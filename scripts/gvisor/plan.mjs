// Reads gVisor's Bazel BUILD files for test/syscalls/linux and test/util (Starlark, read as text:
// only the cc_binary / cc_library / sh_binary rules and their name, srcs, deps, data, malloc) and
// answers which sources make up each test program, so that make can build them without Bazel.

import * as fs from 'node:fs';
import * as path from 'node:path';

const PACKAGES = ['test/util', 'test/syscalls/linux'];

/** The text of `open` … its matching close bracket, starting at index i (which holds `open`). */
function balanced(text, i) {
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (c === '"') {
      j = text.indexOf('"', j + 1);
      continue;
    }
    if (c === '(' || c === '[') depth++;
    if (c === ')' || c === ']') depth--;
    if (depth === 0) return j;
  }
  throw new Error(`unbalanced brackets at offset ${i}`);
}

/** select_arch(amd64 = [...], default = [...]) becomes the amd64 (else default) list. */
function resolveSelectArch(expr) {
  let out = expr;
  for (let at = out.indexOf('select_arch('); at >= 0; at = out.indexOf('select_arch(')) {
    const end = balanced(out, at + 'select_arch'.length);
    const inner = out.slice(at + 'select_arch('.length, end);
    const pick = (key) => {
      const k = inner.search(new RegExp(`\\b${key}\\s*=\\s*\\[`));
      if (k < 0) return undefined;
      const open = inner.indexOf('[', k);
      return inner.slice(open, balanced(inner, open) + 1);
    };
    out = out.slice(0, at) + (pick('amd64') ?? pick('default') ?? '[]') + out.slice(end + 1);
  }
  return out;
}

/** The attribute `key = …` of a rule body, as the list of its quoted strings. */
function attrStrings(body, key) {
  const m = new RegExp(`^    ${key} = `, 'm').exec(body);
  if (!m) return [];
  // The attribute runs to the next attribute at the same indentation, or the rule's end.
  const rest = body.slice(m.index + m[0].length);
  const next = rest.search(/^    [a-z_]+ = /m);
  const expr = resolveSelectArch(next < 0 ? rest : rest.slice(0, next));
  return [...expr.matchAll(/"([^"]*)"/g)].map((x) => x[1]);
}

/** A label as "package:name" ("//test/util:foo", ":foo" within pkg); undefined if external. */
function resolveLabel(label, pkg) {
  if (label.startsWith(':')) return `${pkg}${label}`;
  const m = /^\/\/([^:]+)(?::(.+))?$/.exec(label);
  if (!m) return undefined;
  return `${m[1]}:${m[2] ?? path.basename(m[1])}`;
}

function parsePackage(src, pkg) {
  const text = fs.readFileSync(path.join(src, pkg, 'BUILD'), 'utf8');
  const rules = {};
  for (const m of text.matchAll(/^(cc_binary|cc_library|sh_binary)\(/gm)) {
    const open = m.index + m[1].length;
    const body = text.slice(open + 1, balanced(text, open));
    const name = attrStrings(body, 'name')[0];
    const labels = (key) => attrStrings(body, key).map((l) => resolveLabel(l, pkg)).filter(Boolean);
    rules[`${pkg}:${name}`] = {
      kind: m[1],
      pkg,
      name,
      srcs: attrStrings(body, 'srcs').map((s) => path.join(pkg, s)),
      deps: labels('deps'),
      data: labels('data'),
      malloc: labels('malloc'),
    };
  }
  return rules;
}

export function readRules(src) {
  return Object.assign({}, ...PACKAGES.map((p) => parsePackage(src, p)));
}

/** Every .cc a program needs: its own, its transitive in-tree deps' and its malloc's. */
export function programSources(rules, label) {
  const seen = new Set();
  const srcs = new Set();
  const visit = (l) => {
    if (seen.has(l) || !rules[l]) return;
    seen.add(l);
    const r = rules[l];
    for (const s of r.srcs) if (s.endsWith('.cc')) srcs.add(s);
    for (const d of [...r.deps, ...r.malloc]) visit(d);
  };
  visit(label);
  return [...srcs].sort();
}

/** The test programs (cc_binary named *_test) of test/syscalls/linux, by file name ("pipe"). */
export function testPrograms(rules) {
  const out = {};
  for (const [label, r] of Object.entries(rules)) {
    if (r.kind === 'cc_binary' && r.pkg === 'test/syscalls/linux' && r.name.endsWith('_test')) {
      out[r.name.slice(0, -'_test'.length)] = label;
    }
  }
  return out;
}

/** Names (or shell-style globs: socket_unix*) → the matching test program names, sorted. */
export function selectPrograms(programs, patterns) {
  const names = Object.keys(programs).sort();
  const chosen = new Set();
  const missing = [];
  for (const p of patterns) {
    const re = new RegExp(`^${p.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    const hits = names.filter((n) => re.test(n));
    if (hits.length === 0) missing.push(p);
    for (const h of hits) chosen.add(h);
  }
  return { chosen: [...chosen].sort(), missing };
}
