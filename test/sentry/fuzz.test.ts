// Hostile input at scale: a syscall fuzzer (test/sentry/fuzz/fuzz.c) under the sentry. Every round
// ends, the sentry never reports a bug of its own, and the host sees nothing of it.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { REPO } from '../helpers/moat';
import { explain, hostFacts, moatDo, sentrySuite } from './helpers';

let root: string;
sentrySuite((r) => (root = r));

let dir: string;
let fuzz: string;
let netfuzz: string;

before(() => {
  // Not under /tmp: `moat do` puts a tmpfs of its own there.
  dir = fs.mkdtempSync(path.join('/var/tmp', 'moat-sentry-fuzz-'));
  fuzz = path.join(dir, 'fuzz');
  execFileSync('gcc', ['-static', '-O1', '-o', fuzz, path.join(REPO, 'test', 'sentry', 'fuzz', 'fuzz.c')]);
  netfuzz = path.join(dir, 'netfuzz');
  execFileSync('gcc', ['-static', '-O1', '-o', netfuzz, path.join(REPO, 'test', 'sentry', 'fuzz', 'netfuzz.c')], { stdio: 'pipe' });
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

for (const seed of [101, 202]) {
  test(`fuzz: 40 processes × 300 random syscalls (seed ${seed}): the sentry survives, the host is untouched`, () => {
    const before = hostFacts();
    const r = moatDo(root, 'sentry', [fuzz, '40', String(seed)], 120_000);
    assert.equal(r.status, 0, explain(r));
    assert.match(r.stdout, /fuzz done/, explain(r));
    assert.doesNotMatch(r.stderr, /sentry bug|TypeError|RangeError|ReferenceError/, explain(r));
    assert.deepEqual(hostFacts(), before, 'the host is as it was');
  });
}

// The socket families (AF_INET/AF_INET6/AF_NETLINK): random addresses, lengths, options, netlink
// messages and flags on live sockets, in the sandbox's fresh network namespace (nothing leaves it).
for (const seed of [303, 404]) {
  test(`netfuzz: 20 processes × 300 random socket calls (seed ${seed}): the sentry survives, the host is untouched`, () => {
    const before = hostFacts();
    const r = moatDo(root, 'sentry', [netfuzz, '20', String(seed)], 120_000);
    assert.equal(r.status, 0, explain(r));
    assert.match(r.stdout, /netfuzz done/, explain(r));
    assert.match(r.stdout, /^host sockets left 0$/m, explain(r));
    assert.doesNotMatch(r.stderr, /sentry bug|TypeError|RangeError|ReferenceError|internal error/i, explain(r));
    assert.deepEqual(hostFacts(), before, 'the host is as it was');
  });
}
