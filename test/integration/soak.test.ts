// The small soak of `npm test` (the long one is bench/soak.ts): 12 sentry containers 4 at a time
// and 4 vm containers 2 at a time, half create/start/state/kill/delete, half `run`, with nothing
// left afterwards.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { containerSuite } from '../helpers/moat';
import { leftoverCount, soak } from '../helpers/soak';

let root: string;
containerSuite((r) => (root = r), () => fs.rmSync(`${root}/@vm`, { recursive: true, force: true }));

const hasKernel = fs.existsSync('/boot') && fs.readdirSync('/boot').some((n) => /^vmlinuz-.*-cloud-amd64$/.test(n));

test('soak: 12 sentry containers, 4 at a time, leave nothing', { timeout: 240_000 }, async () => {
  const r = await soak({ root, platform: 'sentry', count: 12, width: 4, timeoutMs: 120_000, tag: `soaks${process.pid}` });
  assert.deepEqual(r.failures, []);
  assert.equal(leftoverCount(r.leftovers), 0, JSON.stringify(r.leftovers, null, 1));
});

test('soak: 4 vm containers, 2 at a time, leave nothing', { timeout: 300_000, skip: hasKernel ? false : 'no guest kernel' }, async () => {
  const r = await soak({ root, platform: 'vm', count: 4, width: 2, timeoutMs: 240_000, tag: `soakv${process.pid}` });
  assert.deepEqual(r.failures, []);
  assert.equal(leftoverCount(r.leftovers), 0, JSON.stringify(r.leftovers, null, 1));
});
