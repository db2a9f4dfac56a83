// The SDK on the vm isolation (QEMU under TCG here: ~5-10 s to boot), a small subset sharing one
// sandbox: exec with streams and stdin, files in and out, a timeout that kills the process in the
// guest (not only its relay on the host), abort, and close leaving nothing (no VMM, no relay, no
// state). The egress refusal is checked without a VM.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { containerSuite } from '../helpers/moat';
import { Sandbox, UsageError } from '../../src/sdk';
import { collect, sharedRootfs, tarEntries } from './helpers';

let root = '';
containerSuite((r) => (root = r), () => fs.rmSync(path.join(root, '@vm'), { recursive: true, force: true }));
const hasKernel = fs.existsSync('/boot') && fs.readdirSync('/boot').some((n) => /^vmlinuz-.*-cloud-amd64$/.test(n));
const skip = hasKernel ? false : 'linux-image-cloud-amd64 is not installed (sh scripts/setup.sh test)';

describe('sdk (vm)', { skip }, () => {
  const shared = sharedRootfs();
  let sb: Sandbox;
  before(async () => {
    sb = await Sandbox.create({ isolation: 'vm', rootfs: shared.rootfs, root, limits: { memory: '256m' }, env: { GREETING: 'hi' } });
  });
  after(async () => {
    await sb?.close();
    shared.cleanup();
  });

  test('exec streams output, takes stdin, env and user, reports status', async () => {
    const h = sb.exec(['sh', '-c', 'cat; echo "$GREETING $(id -u)"; echo e >&2; exit 5'], { stdin: 'in\n', user: 1000 });
    const [out, err, r] = await Promise.all([collect(h.stdout), collect(h.stderr), h.result]);
    assert.equal(out.toString(), 'in\nhi 1000\n');
    assert.equal(err.toString(), 'e\n');
    assert.equal(r.exitCode, 5);
  });

  test('files: writeFile/readFile round-trip, copyOut keeps a symlink a symlink', async () => {
    await sb.writeFile('/tmp/f', 'content');
    assert.equal((await sb.readFile('/tmp/f')).toString(), 'content');
    await sb.run(['ln', '-s', '/etc/passwd', '/tmp/l']);
    await assert.rejects(sb.readFile('/tmp/l'), UsageError);
    const e = tarEntries(await collect(sb.copyOut('/tmp/l')));
    assert.deepEqual(e.map((x) => [x.name, x.type, x.linkname]), [['l', '2', '/etc/passwd']]);
  });

  test('a timeout kills the process in the guest; an abort too', async () => {
    const r = await sb.run(['sh', '-c', 'while :; do :; done'], { timeout: 1000 });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGKILL');
    const ps = await sb.run(['ps', '-o', 'args']);
    assert.doesNotMatch(ps.stdout.toString(), /while/, 'the loop is gone from the guest');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 500);
    await assert.rejects(sb.exec(['sleep', '60'], { signal: ac.signal }).result, (e: Error) => e.name === 'AbortError');
  });
});

test('sdk (vm): an egress list is refused, typed, before anything is made', async () => {
  await assert.rejects(Sandbox.create({ isolation: 'vm', hostRoot: true, root, network: ['10.0.0.0/8'] }), (e: unknown) => e instanceof UsageError && /enforced only by isolation 'sentry'/.test((e as Error).message));
});
