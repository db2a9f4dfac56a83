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
let ipcfuzz: string;

before(() => {
  // Not under /tmp: `moat do` puts a tmpfs of its own there.
  dir = fs.mkdtempSync(path.join('/var/tmp', 'moat-sentry-fuzz-'));
  fuzz = path.join(dir, 'fuzz');
  execFileSync('gcc', ['-static', '-O1', '-o', fuzz, path.join(REPO, 'test', 'sentry', 'fuzz', 'fuzz.c')]);
  netfuzz = path.join(dir, 'netfuzz');
  execFileSync('gcc', ['-static', '-O1', '-o', netfuzz, path.join(REPO, 'test', 'sentry', 'fuzz', 'netfuzz.c')], { stdio: 'pipe' });
  ipcfuzz = path.join(dir, 'ipcfuzz');
  execFileSync('gcc', ['-static', '-O1', '-o', ipcfuzz, path.join(REPO, 'test', 'sentry', 'fuzz', 'ipcfuzz.c')], { stdio: 'pipe' });
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

/** The host's own System V IPC objects (its namespace's /proc/sysvipc): a sandbox's must never show there. */
function hostIpc(): string {
  return ['shm', 'sem', 'msg'].map((k) => fs.readFileSync(`/proc/sysvipc/${k}`, 'utf8')).join('');
}

// System V IPC (the sentry's own namespace): hostile ids, sizes, counts and commands from 8 processes.
test('ipcfuzz: 8 processes × 400 random System V IPC calls (seed 505): the sentry survives, the host\'s IPC is untouched', () => {
  const before = hostFacts();
  const ipcBefore = hostIpc();
  const r = moatDo(root, 'sentry', [ipcfuzz, '8', '505'], 120_000);
  assert.equal(r.status, 0, explain(r));
  assert.match(r.stdout, /ipcfuzz done/, explain(r));
  assert.doesNotMatch(r.stderr, /sentry bug|TypeError|RangeError|ReferenceError|internal error/i, explain(r));
  assert.equal(hostIpc(), ipcBefore, 'the host\'s System V IPC objects are as they were');
  assert.deepEqual(hostFacts(), before, 'the host is as it was');
});
