// The sandbox uid allocator (src/state/sandbox-uid.ts): a lock file per uid, held as long as the
// sandbox's process holds the fd; the same seed never gets a uid another holder has.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { allocateSandboxUid, firstCandidate, SANDBOX_UID_BASE, SANDBOX_UID_COUNT } from '../../src/state/sandbox-uid';

test('a held uid is not handed out again; once its lock fd is closed it is free', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-uids-'));
  try {
    const a = allocateSandboxUid('/run/moat/x', dir);
    assert.equal(a.uid, SANDBOX_UID_BASE + firstCandidate('/run/moat/x'));
    const b = allocateSandboxUid('/run/moat/x', dir);
    assert.equal(b.uid, SANDBOX_UID_BASE + ((firstCandidate('/run/moat/x') + 1) % SANDBOX_UID_COUNT), 'the next candidate');
    assert.ok(fs.existsSync(path.join(dir, String(a.uid))));
    fs.closeSync(a.lockFd);
    const c = allocateSandboxUid('/run/moat/x', dir);
    assert.equal(c.uid, a.uid, 'freed with its fd');
    fs.closeSync(b.lockFd);
    fs.closeSync(c.lockFd);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
