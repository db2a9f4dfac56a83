// User namespaces by default for `moat do`, and dev.moat.userns=auto for bundles: root inside is an
// unused host id range, files look as they do on the host (idmapped), nothing is written to the host
// and the range is freed again.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, moatDetached, MOAT, waitFor } from '../helpers/moat';
import { CLAIM_DIR, FIRST_SLOT_BASE, RANGE_SIZE, SLOT_COUNT, hostUsedRanges } from '../../src/state/userns-ranges';

let root: string;
let scratch: string;
containerSuite((r) => {
  root = r;
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-userns-test-'));
}, () => fs.rmSync(scratch, { recursive: true, force: true }));

/** "0 <host> <size>" of a uid_map with one line. */
function hostRange(uidMap: string): { start: number; size: number } {
  const f = uidMap.trim().split(/\s+/).map(Number);
  assert.equal(f.length, 3, `one mapping: ${uidMap}`);
  assert.equal(f[0], 0);
  return { start: f[1]!, size: f[2]! };
}

function claimsOf(stateDir: string): string[] {
  if (!fs.existsSync(CLAIM_DIR)) return [];
  return fs.readdirSync(CLAIM_DIR).filter((n) => /^\d+$/.test(n) && fs.readFileSync(path.join(CLAIM_DIR, n), 'utf8').startsWith(stateDir));
}

test('do: root inside maps to an unused host range; host files keep their owners inside; writes stay in memory', () => {
  const probe = `/etc/moat-userns-probe-${process.pid}`;
  const r = moat(root, ['do', '--', 'sh', '-c', `cat /proc/self/uid_map; id -u; stat -c %u:%g /etc/passwd /usr/bin/env; echo x > ${probe} && stat -c %u ${probe}; touch /etc/hosts && echo touched`]);
  assert.equal(r.status, 0, r.stderr);
  const [map, uid, passwd, env, probeOwner, touched] = r.stdout.trim().split('\n');
  const range = hostRange(map!);
  assert.equal(range.size, RANGE_SIZE);
  assert.ok(range.start >= FIRST_SLOT_BASE && range.start < FIRST_SLOT_BASE + SLOT_COUNT * RANGE_SIZE, `range ${range.start}`);
  for (const used of hostUsedRanges()) {
    assert.ok(used.start + used.size <= range.start || used.start >= range.start + range.size, `overlaps ${JSON.stringify(used)}`);
  }
  assert.equal(uid, '0');
  assert.equal(passwd, '0:0', 'root-owned host files are root\'s inside (idmapped), not nobody\'s');
  assert.equal(env, '0:0');
  assert.equal(probeOwner, '0');
  assert.equal(touched, 'touched', 'a copy-up of a root-owned host file works');
  assert.ok(!fs.existsSync(probe), 'the host was not written');
  assert.deepEqual(claimsOf(root), [], 'the range is freed');
});

test('do: the host sees the sandbox\'s processes as the unprivileged mapped uid; --userns=host opts out', async () => {
  const out = path.join(scratch, 'sleeper.out');
  const child = spawn(MOAT, ['--root', root, 'do', '--', 'sh', '-c', 'cat /proc/self/uid_map; exec sleep 30'], { stdio: ['ignore', fs.openSync(out, 'w'), 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await waitFor('the sandbox to start', () => fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('\n'), 20_000);
    const range = hostRange(fs.readFileSync(out, 'utf8'));
    let sleeper: number | undefined;
    await waitFor('the sleep to be visible', () => {
      for (const p of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
        try {
          if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\x0030\x00' && fs.readlinkSync(`/proc/${p}/ns/user`) !== fs.readlinkSync('/proc/self/ns/user')) sleeper = Number(p);
        } catch {
          // gone
        }
      }
      return sleeper !== undefined;
    });
    const status = fs.readFileSync(`/proc/${sleeper}/status`, 'utf8');
    const uids = /^Uid:\s+(.*)$/m.exec(status)![1]!.split(/\s+/).map(Number);
    assert.deepEqual(uids, [range.start, range.start, range.start, range.start], 'root inside is the range\'s first id outside');
    assert.deepEqual(claimsOf(root).length, 1, `one claim while it runs: ${claimsOf(root).map((n) => fs.readFileSync(path.join(CLAIM_DIR, n), 'utf8')).join(', ')}`);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  const host = moat(root, ['do', '--userns=host', '--', 'cat', '/proc/self/uid_map']);
  assert.equal(host.status, 0, host.stderr);
  assert.deepEqual(hostRange(host.stdout), { start: 0, size: 4294967295 });
  assert.equal(moat(root, ['do', '--userns=maybe', 'true']).status, 2, 'a usage error');
  await waitFor('the claims to be freed', () => claimsOf(root).length === 0);
});

test('do: two sandboxes at once get two different ranges', async () => {
  const outs = [0, 1].map((i) => path.join(scratch, `pair-${i}.out`));
  const kids = outs.map((o) => spawn(MOAT, ['--root', root, 'do', '--', 'sh', '-c', 'cat /proc/self/uid_map; sleep 2'], { stdio: ['ignore', fs.openSync(o, 'w'), 'inherit'] }));
  await Promise.all(kids.map((k) => new Promise((r) => k.once('exit', r))));
  const [a, b] = outs.map((o) => hostRange(fs.readFileSync(o, 'utf8')).start);
  assert.notEqual(a, b);
});

test('bundle annotated dev.moat.userns=auto: run, exec and delete; the rootfs is idmapped (busybox is root\'s)', () => {
  const b = makeBundle(['sh', '-c', 'cat /proc/self/uid_map; stat -c %u /bin/busybox; touch /made-inside && echo wrote; sleep 30'], (c) => {
    c.annotations = { 'dev.moat.userns': 'auto' };
    c.root.readonly = false;
  });
  try {
    const out = path.join(b.dir, 'out');
    const created = moatDetached(root, ['create', '--bundle', b.dir, 'ub'], out);
    assert.equal(created.status, 0, created.stderr);
    assert.equal(moat(root, ['start', 'ub']).status, 0);
    const ex = moat(root, ['exec', 'ub', 'sh', '-c', 'id -u; cat /proc/self/uid_map']);
    assert.equal(ex.status, 0, ex.stderr);
    assert.equal(ex.stdout.split('\n')[0], '0');
    const range = hostRange(ex.stdout.split('\n')[1]!);
    assert.ok(range.start >= FIRST_SLOT_BASE);
    const del = moat(root, ['delete', '--force', 'ub']);
    assert.equal(del.status, 0, del.stderr);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    assert.deepEqual(lines.slice(1), ['0', 'wrote'], lines.join('\n'));
    const made = fs.statSync(path.join(b.rootfs, 'made-inside'));
    assert.equal(made.uid, 0, 'made by root inside, through the idmapped rootfs: host uid 0 on disk');
  } finally {
    b.cleanup();
  }
  assert.deepEqual(claimsOf(root), []);
});
