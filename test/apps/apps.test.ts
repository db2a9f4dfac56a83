// The real-application suite (issue 11): Debian's python3, node, perl, ruby, gcc, git, sqlite3,
// nginx, redis, iproute2, procps and busybox, used the way users use them (test/apps/cases.ts),
// in bundles over one cached, read-only Debian rootfs (scripts/apps-rootfs.sh, built on first use).
//
// Asserted here: every case passes under native moat; under the sentry, every case listed in
// test/apps/sentry-expected.json passes (the goal is every case runsc passes; the known-passing set
// is checked in: a regression fails this test, progress needs an explicit update of that file,
// which the test prints). runsc's column of docs/apps.md comes
// from `sh scripts/apps-table.sh` only, to keep npm test's time down.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sentrySuite } from '../sentry/helpers';
import { CASES } from './cases';
import { appsRootfs, expectedSentryPasses, runCase, saveResults, type CaseResult } from './harness';

let root = '';
let rootfs = '';
const results: CaseResult[] = [];
sentrySuite((r) => (root = r));

before(() => {
  rootfs = appsRootfs();
});

after(() => {
  saveResults(results);
  const expected = new Set(expectedSentryPasses());
  const gained = results.filter((r) => r.runtime === 'sentry' && r.pass && !expected.has(r.case)).map((r) => r.case);
  if (gained.length) process.stderr.write(`apps: the sentry now passes (add to test/apps/sentry-expected.json): ${gained.map((g) => JSON.stringify(g)).join(', ')}\n`);
});

test('sentry-expected.json names only cases that exist', () => {
  const names = new Set(CASES.map((c) => c.name));
  assert.deepEqual(expectedSentryPasses().filter((n) => !names.has(n)), []);
});

for (const c of CASES) {
  test(`${c.name}: native`, () => {
    const r = runCase(c, 'native', rootfs, root);
    results.push(r);
    assert.ok(r.pass, `${c.name} failed natively: ${r.error}`);
  });
}

for (const c of CASES) {
  test(`${c.name}: sentry${expectedSentryPasses().includes(c.name) ? '' : ' (not expected to pass yet)'}`, () => {
    const r = runCase(c, 'sentry', rootfs, root);
    results.push(r);
    if (expectedSentryPasses().includes(c.name)) assert.ok(r.pass, `${c.name} passed under the sentry before (test/apps/sentry-expected.json) and fails now: ${r.error}`);
  });
}
