// Private file mappings by reference (docs/sentry.md, Memory): the sentry maps a read-only private
// mapping's pages from the file's host fd and copies a page only once it could be written. The
// `filemap` program checks the copy-on-write rules on its own file in programs.test.ts (a family);
// here, on a file of a writable bind volume, where the sandbox's writes reach the host file: a
// private mapping shows the file's later writes in pages no one wrote, not in a page the process
// wrote, and faults with SIGBUS past the end after a truncate — the same lines as natively on the
// host's directory.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { makeBundle } from '../helpers/moat';
import { compilePrograms, explain, moatRun, runNative, sentrySuite } from './helpers';

let root: string;
let binDir = '';
sentrySuite(
  (r) => (root = r),
  () => {
    if (binDir !== '') fs.rmSync(binDir, { recursive: true, force: true });
  },
);

before(async () => {
  binDir = await compilePrograms();
});

test('private mapping of a file on a writable volume: the file\'s writes show in unwritten pages only, SIGBUS past a truncate (as natively)', () => {
  const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-filemap-'));
  fs.chmodSync(hostDir, 0o777);
  const prog = path.join(binDir, 'filemap');
  const b = makeBundle(['/progs/filemap', '/data'], (c) => {
    c.mounts.push({ destination: '/progs', type: 'bind', source: binDir, options: ['rbind', 'ro'] });
    c.mounts.push({ destination: '/data', type: 'bind', source: hostDir, options: ['rbind', 'rw'] });
  });
  try {
    const native = runNative(prog, [hostDir]);
    assert.equal(native.status, 0, `${native.stdout}\n${explain(native)}`);
    assert.match(native.stdout, /a page no one wrote shows the file's change changed\n/);
    assert.match(native.stdout, /the page past the end SIGBUS BUS_ADRERR\n/);
    const r = moatRun(root, ['--isolation=sentry', 'run', '--bundle', b.dir, `filemap-${process.pid}`]);
    assert.equal(r.stdout, native.stdout, explain(r));
    assert.equal(r.status, 0, explain(r));
    assert.deepEqual(fs.readdirSync(hostDir), []);
  } finally {
    b.cleanup();
    fs.rmSync(hostDir, { recursive: true, force: true });
  }
});
