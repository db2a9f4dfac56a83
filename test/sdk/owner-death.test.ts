// The process that owns sandboxes is SIGKILLed with them open (a long process running in each):
// they die with it within seconds (the parent-death signal of `moat do`), and the next
// Sandbox.create on the same root sweeps what was left — state entries, cgroups, mounts — so that
// nothing of them remains (the file's frame then checks the whole host).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, waitFor } from '../helpers/moat';
import { Sandbox } from '../../src/sdk';
import { alive, recorded, sharedRootfs } from './helpers';

let root = '';
containerSuite((r) => (root = r));

function mountsNaming(id: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(id));
}

test('sdk: SIGKILL of the owning process ends its native and sentry sandboxes; the next create sweeps them', async () => {
  const shared = sharedRootfs();
  try {
    const owner = spawn(process.execPath, [path.join(__dirname, 'owner.js'), root, shared.rootfs, 'native', 'sentry'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    owner.stdout.on('data', (d: Buffer) => (out += d.toString()));
    owner.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((r) => owner.once('exit', (_c, s) => r(s)));
    await waitFor(`the owner to open its sandboxes (${err})`, () => /^ready /m.test(out) || owner.exitCode !== null, 90_000);
    const ids = out.trim().split(' ').slice(1);
    assert.equal(ids.length, 2, `${out} ${err}`);
    const recs = ids.map((id) => recorded(root, id));
    for (const r of recs) assert.ok(alive(r.pid), 'the sandbox runs');
    const cgroupDirs = recs.flatMap((r) => Object.values(r.cgroups?.dirs ?? {}));
    assert.ok(cgroupDirs.length > 0);

    owner.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    await waitFor('the sandboxes to die with their owner', () => recs.every((r) => !alive(r.pid)), 10_000);

    // The next create on this root sweeps them (as any moat command would).
    const next = await Sandbox.create({ isolation: 'native', rootfs: shared.rootfs, root });
    await next.close();
    assert.deepEqual(fs.readdirSync(root), [], 'no state entry left');
    for (const d of cgroupDirs) assert.ok(!fs.existsSync(d), `cgroup ${d} removed`);
    for (const id of ids) assert.deepEqual(mountsNaming(id), [], `no mount of ${id} left`);
  } finally {
    shared.cleanup();
  }
});
