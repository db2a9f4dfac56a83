// Rootless: an unprivileged user runs a container of its own with `moat spec --rootless`: a user
// namespace maps it to root inside; cgroups are skipped with a notice when not delegated.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { assertNoLeaks, makeRootfs, MOAT, snapshot, type HostSnapshot } from '../helpers/moat';

const NOBODY = 65534;
let dir: string;
let host: HostSnapshot;

function asNobody(args: string[], cwd: string) {
  return spawnSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', 'env', '-u', 'XDG_RUNTIME_DIR', `HOME=${dir}`, MOAT, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 30_000,
  });
}

before(() => {
  host = snapshot();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-rootless-'));
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'bundle'));
  makeRootfs(path.join(dir, 'bundle', 'rootfs'));
  fs.chownSync(dir, NOBODY, NOBODY);
  spawnSync('chown', ['-R', `${NOBODY}:${NOBODY}`, dir]);
});
after(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await assertNoLeaks(host);
  assert.ok(!fs.existsSync(`/tmp/moat-${NOBODY}`) || fs.readdirSync(`/tmp/moat-${NOBODY}`).length === 0, 'no rootless state left');
  fs.rmSync(`/tmp/moat-${NOBODY}`, { recursive: true, force: true });
});

test('moat spec --rootless maps the caller to root in a user namespace, and runs as nobody', () => {
  const bundle = path.join(dir, 'bundle');
  const spec = asNobody(['spec', '--rootless'], bundle);
  assert.equal(spec.status, 0, spec.stderr);
  const config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  assert.deepEqual(config.linux.uidMappings, [{ containerID: 0, hostID: NOBODY, size: 1 }]);
  assert.ok(config.linux.namespaces.some((n: { type: string }) => n.type === 'user'));
  config.process.terminal = false;
  config.process.args = ['sh', '-c', 'id -u; cat /proc/self/uid_map | tr -s " "; hostname; touch /root/x 2>&1 | grep -c Read-only'];
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
  const r = asNobody(['run', 'rl1'], bundle);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['0', ` 0 ${NOBODY} 1`, 'moat', '1']);
  assert.match(r.stderr, /cgroups not used: .* not writable by uid 65534/);
  // State went to the rootless default root, and run removed it.
  assert.deepEqual(fs.readdirSync(`/tmp/moat-${NOBODY}`), []);
});
