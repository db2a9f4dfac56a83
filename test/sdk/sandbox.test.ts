// The SDK against the native and the sentry isolation: exec with streams, stdin, env, cwd and user;
// run's output cap; limits (memory hog, fork bomb, infinite loop); abort; concurrent sandboxes and
// execs; files in and out with hostile names and symlinks; hostRoot, mounts, cpus, network none;
// close and `await using`; typed errors. (The vm: vm.test.ts; spawn: spawn.test.ts.) Every sandbox of the
// file shares one busybox rootfs, which no sandbox may write. The file's frame checks the host for
// leaks (processes, mounts, cgroups, state) at the end.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { containerSuite } from '../helpers/moat';
import { ExecError, Sandbox, StateError, UsageError, type SandboxOptions } from '../../src/sdk';
import { singleFileTar } from '../../src/sdk/tar';
import { collect, fixChecksum, pidsCurrent, recorded, sharedRootfs, tarEntries } from './helpers';

let root = '';
containerSuite((r) => (root = r));
const shared = sharedRootfs();
const rootfsBefore = listTree(shared.rootfs);
after(() => {
  assert.deepEqual(listTree(shared.rootfs), rootfsBefore, 'no sandbox wrote to the shared rootfs');
  shared.cleanup();
});

function listTree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

for (const isolation of ['native', 'sentry'] as const) {
  const opts = (o: Partial<SandboxOptions> = {}): SandboxOptions => ({ isolation, rootfs: shared.rootfs, root, ...o });

  describe(`sdk (${isolation})`, () => {
    let sb: Sandbox;
    before(async () => {
      sb = await Sandbox.create(opts({ env: { GREETING: 'hello' }, limits: { pids: 128 } }));
    });
    after(async () => {
      await sb.close();
    });

    test('exec streams stdout and stderr as the process writes, with stdin, env, cwd and user', async () => {
      const events: string[] = [];
      const h = sb.exec(['sh', '-c', 'echo first; read line; echo "got $line $GREETING $EXTRA $(pwd) $(id -u)"; echo oops >&2; exit 3'], { stdin: 'pipe', env: { EXTRA: 'x' }, cwd: '/tmp', user: 1000 });
      const out: string[] = [];
      h.stdout.on('data', (d: Buffer) => {
        out.push(d.toString());
        events.push('data');
        // Streaming: the process waits for this line, which we send only once "first" has come.
        if (out.join('').includes('first\n') && !events.includes('sent')) {
          events.push('sent');
          h.stdin!.end('ping\n');
        }
      });
      const err = collect(h.stderr);
      const r = await h.result;
      events.push('result');
      assert.equal(out.join(''), 'first\ngot ping hello x /tmp 1000\n');
      assert.equal((await err).toString(), 'oops\n');
      assert.equal(r.exitCode, 3);
      assert.equal(r.signal, null);
      assert.equal(r.timedOut, false);
      assert.ok(r.usage.wallMs > 0 && r.usage.cpuMs >= 0 && r.usage.maxRssBytes > 0, JSON.stringify(r.usage));
      assert.equal(events.indexOf('sent'), 1, `stdin answered the first output: ${events}`);
    });

    test('run collects output; past maxOutputBytes it is cut and the process killed', async () => {
      const ok = await sb.run(['sh', '-c', 'echo out; echo err >&2'], { stdin: 'ignored' });
      assert.equal(ok.stdout.toString(), 'out\n');
      assert.equal(ok.stderr.toString(), 'err\n');
      assert.equal(ok.truncated, false);
      const t0 = Date.now();
      const r = await sb.run(['sh', '-c', 'while :; do echo 0123456789; done'], { maxOutputBytes: 10_000, timeout: 30_000 });
      assert.equal(r.truncated, true);
      assert.equal(r.stdout.length + r.stderr.length, 10_000);
      assert.match(r.stdout.toString().slice(0, 22), /^0123456789\n0123456789\n/);
      assert.equal(r.signal, 'SIGKILL');
      assert.equal(r.timedOut, false);
      assert.ok(Date.now() - t0 < 20_000);
    });

    test('an infinite loop is ended by its timeout (timedOut, SIGKILL); the sandbox goes on', async () => {
      const t0 = Date.now();
      const r = await sb.run(['sh', '-c', 'while :; do :; done'], { timeout: 700 });
      assert.equal(r.timedOut, true);
      assert.equal(r.signal, 'SIGKILL');
      assert.equal(r.exitCode, 137);
      assert.ok(Date.now() - t0 < 15_000, `ended after ${Date.now() - t0} ms`);
      const ps = await sb.run(['ps', '-o', 'args']);
      assert.doesNotMatch(ps.stdout.toString(), /while/, 'the loop is gone');
    });

    test('an AbortSignal kills the process and rejects with its reason', async () => {
      const ac = new AbortController();
      const h = sb.exec(['sleep', '60'], { signal: ac.signal });
      setTimeout(() => ac.abort(), 300);
      const t0 = Date.now();
      await assert.rejects(h.result, (e: Error) => e.name === 'AbortError');
      assert.ok(Date.now() - t0 < 10_000);
      const pre = new AbortController();
      pre.abort();
      await assert.rejects(sb.exec(['true'], { signal: pre.signal }).result, (e: Error) => e.name === 'AbortError');
      assert.equal((await sb.run(['echo', 'still here'])).stdout.toString(), 'still here\n');
    });

    test('concurrent execs in one sandbox, and concurrent sandboxes', async () => {
      const many = await Promise.all([1, 2, 3, 4, 5].map((i) => sb.run(['sh', '-c', `sleep 0.2; echo ${i}`])));
      assert.deepEqual(many.map((r) => r.stdout.toString()), ['1\n', '2\n', '3\n', '4\n', '5\n']);
      const boxes = await Promise.all([0, 1, 2].map(() => Sandbox.create(opts())));
      try {
        assert.equal(new Set(boxes.map((b) => b.id)).size, 3);
        await Promise.all(boxes.map((b, i) => b.writeFile('/tmp/who', String(i))));
        const seen = await Promise.all(boxes.map((b) => b.run(['cat', '/tmp/who'])));
        assert.deepEqual(seen.map((r) => r.stdout.toString()), ['0', '1', '2'], 'each sandbox has its own writable layer');
      } finally {
        await Promise.all(boxes.map((b) => b.close()));
      }
    });

    test('writeFile and readFile round-trip; a symlink is neither read through nor written through', async () => {
      const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
      await sb.writeFile('/tmp/blob', data, { mode: 0o600 });
      assert.deepEqual(await sb.readFile('/tmp/blob'), data);
      assert.equal((await sb.run(['stat', '-c', '%a %s', '/tmp/blob'])).stdout.toString(), '600 70000\n');
      await sb.run(['ln', '-s', '/etc/passwd', '/tmp/link']);
      await assert.rejects(sb.readFile('/tmp/link'), (e: unknown) => e instanceof UsageError && /not a regular file.*symlink, not followed/.test((e as Error).message));
      await sb.writeFile('/tmp/link', 'replaced');
      assert.equal((await sb.run(['cat', '/etc/passwd'])).stdout.toString().startsWith('root:'), true, 'the symlink\'s target is untouched');
      assert.equal((await sb.readFile('/tmp/link')).toString(), 'replaced', 'the symlink itself was replaced');
      await assert.rejects(sb.readFile('/tmp/blob', { maxBytes: 100 }), /more than maxBytes/);
      await assert.rejects(sb.readFile('/nonexistent'), (e: unknown) => e instanceof StateError);
      await assert.rejects(sb.writeFile('relative', 'x'), UsageError);
    });

    test('copyIn refuses hostile names; a symlink pointing out resolves inside the sandbox', async () => {
      const evil = singleFileTar('placeholder', Buffer.from('x'), 0o644);
      for (const name of ['../../../tmp/evil-sdk', '/tmp/evil-sdk']) {
        const t = Buffer.from(evil);
        t.write(`${name}\0`, 0, 'latin1');
        fixChecksum(t);
        await assert.rejects(sb.copyIn(t, '/tmp'), (e: unknown) => e instanceof UsageError, name);
      }
      assert.equal(fs.existsSync('/tmp/evil-sdk'), false, 'nothing on the host');
      assert.equal((await sb.run(['ls', '/tmp/evil-sdk'])).exitCode, 1, 'nothing in the sandbox either');
      // A symlink to / followed by a file through it: the sandbox's own /etc, never the host's.
      await sb.run(['mkdir', '-p', '/tmp/in']);
      await sb.copyIn(Buffer.concat([symlinkTar('up', '/etc'), singleFileTar('x', Buffer.from('y'), 0o644).subarray(0, 1024)]), '/tmp/in');
      assert.equal((await sb.run(['readlink', '/tmp/in/up'])).stdout.toString(), '/etc\n');
      assert.equal(fs.existsSync(path.join(shared.rootfs, 'etc', 'x')), false);
    });

    test('copyOut gives a tar of a tree with symlinks as symlinks; a hostile tar from the sandbox fails the stream', async () => {
      await sb.run(['sh', '-c', 'mkdir -p /tmp/out/d && echo data > /tmp/out/d/f && ln -sf /etc/shadow /tmp/out/s']);
      const entries = tarEntries(await collect(sb.copyOut('/tmp/out')));
      const byName = new Map(entries.map((e) => [e.name.replace(/\/$/, ''), e]));
      assert.equal(byName.get('out/d/f')?.data.toString(), 'data\n');
      assert.equal(byName.get('out/s')?.type, '2');
      assert.equal(byName.get('out/s')?.linkname, '/etc/shadow');
      assert.equal(byName.get('out/s')?.data.length, 0, 'the link, not its target');
      // A sandbox whose tar is replaced by one that emits ../ names (its code is not ours to trust).
      const bad = await Sandbox.create(opts());
      try {
        const t = Buffer.from(singleFileTar('placeholder', Buffer.from('x'), 0o644));
        t.write('../../etc/cron.d/evil\0', 0, 'latin1');
        fixChecksum(t);
        await bad.writeFile('/tmp/evil.tar', t);
        await bad.run(['sh', '-c', 'rm /bin/tar && printf "#!/bin/sh\\ncat /tmp/evil.tar\\n" > /bin/tar && chmod 755 /bin/tar']);
        await assert.rejects(collect(bad.copyOut('/tmp')), (e: unknown) => e instanceof UsageError && /'\.\.' is refused/.test((e as Error).message));
      } finally {
        await bad.close();
      }
    });

    test('a missing program is an ExecError (EEXEC) or status 127', async () => {
      try {
        const r = await sb.run(['/no/such/program']);
        assert.equal(r.exitCode, 127);
      } catch (e) {
        assert.ok(e instanceof ExecError && e.code === 'EEXEC', String(e));
      }
      await assert.rejects(Promise.resolve().then(() => sb.exec([]).result), (e: unknown) => e instanceof UsageError);
    });
  });

  describe(`sdk (${isolation}) limits`, () => {
    test('a memory hog is killed by the kernel and reported (SIGKILL, oomKilled)', async () => {
      await using hog = await Sandbox.create(opts({ limits: { memory: '160m' } }));
      // A string doubled until memory runs out: the application's own pages.
      const r = await hog.run(['awk', 'BEGIN { s = "x"; while (1) s = s s }'], { timeout: 60_000 });
      const said = JSON.stringify({ ...r, stdout: r.stdout.toString(), stderr: r.stderr.toString() });
      assert.equal(r.signal, 'SIGKILL', said);
      assert.equal(r.timedOut, false);
      assert.equal(r.oomKilled, true, said);
      assert.equal(r.sandboxDied, false, `the hog died, not the sandbox: ${said}`);
      const small = await hog.run(['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=8M', 'count=1']);
      assert.equal(small.exitCode, 0, 'the sandbox goes on under its limit');
    });

    test('a fork bomb is contained by the pids limit; close ends it all', async () => {
      const limit = 40;
      const bomb = await Sandbox.create(opts({ limits: { pids: limit } }));
      try {
        const r = await bomb.run(['sh', '-c', 'f() { f | f & }; f; sleep 3; echo survived'], { timeout: 30_000 });
        const n = pidsCurrent(root, bomb.id);
        assert.ok(n !== undefined && n <= limit, `pids.current ${n} within ${limit}`);
        assert.ok(r.timedOut || /survived/.test(r.stdout.toString()) || r.exitCode !== 0, 'the bomb\'s shell returned or was timed out');
      } finally {
        await bomb.close();
      }
    });

    test('hostRoot, mounts (ro and rw), cpus and network none are what the sandbox gets', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-sdk-mounts-'));
      fs.chmodSync(dir, 0o755);
      const ro = path.join(dir, 'ro');
      const rw = path.join(dir, 'rw');
      fs.mkdirSync(ro);
      fs.mkdirSync(rw);
      fs.chmodSync(rw, 0o777); // written by the sandbox's root: an unprivileged host id natively
      fs.writeFileSync(path.join(ro, 'in'), 'from the host\n');
      try {
        await using sb = await Sandbox.create({ isolation, hostRoot: true, root, mounts: [{ source: ro, target: '/data' }, { source: rw, target: '/out', readonly: false }], limits: { cpus: 0.5 }, network: 'none' });
        const r = await sb.run(['sh', '-c', 'cat /data/in; echo x > /data/y && echo wrote-ro; echo out > /out/f && echo wrote-rw; cat /etc/os-release | head -1; echo changed > /etc/os-release && echo wrote-etc']);
        const out = r.stdout.toString();
        assert.match(out, /^from the host\n/, out);
        assert.doesNotMatch(out, /wrote-ro/, 'a read-only mount refuses writes');
        assert.match(out, /wrote-rw/, out + r.stderr.toString());
        assert.equal(fs.readFileSync(path.join(rw, 'f'), 'utf8'), 'out\n', 'a rw mount writes through to the host');
        assert.ok(out.includes(fs.readFileSync('/etc/os-release', 'utf8').split('\n')[0]!), 'the host\'s root, read');
        assert.match(out, /wrote-etc/, 'written to the sandbox\'s own layer');
        assert.notEqual(fs.readFileSync('/etc/os-release', 'utf8'), 'changed\n', 'never to the host');
        assert.equal(fs.existsSync(path.join(ro, 'y')), false);
        const dirs = recorded(root, sb.id).cgroups?.dirs ?? {};
        const quota = dirs.cpu !== undefined ? fs.readFileSync(path.join(dirs.cpu, 'cpu.cfs_quota_us'), 'utf8').trim() : fs.readFileSync(path.join(dirs['']!, 'cpu.max'), 'utf8').split(' ')[0];
        assert.equal(quota, '50000', 'half a CPU');
        // network none: natively a namespace with lo only; the sentry's stack refuses even loopback.
        const net = await sb.run(['sh', '-c', 'ls /sys/class/net 2>/dev/null | tr "\\n" " "; echo; (busybox nc -l -p 5858 >/dev/null 2>&1 &); sleep 0.5; echo x | busybox nc 127.0.0.1 5858 2>&1; echo "connect=$?"'], { timeout: 60_000 });
        const said = net.stdout.toString();
        if (isolation === 'native') {
          assert.match(said, /^lo \n/, said);
        } else {
          assert.match(said, /Permission denied\nconnect=1/, said);
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test('await using closes the sandbox at the end of its block (Symbol.asyncDispose)', async () => {
      let id = '';
      {
        await using sb = await Sandbox.create(opts());
        id = sb.id;
        assert.equal((await sb.run(['echo', 'in'])).stdout.toString(), 'in\n');
        assert.ok(fs.existsSync(path.join(root, id)));
      }
      assert.equal(fs.existsSync(path.join(root, id)), false, 'closed: state gone');
    });

    test('wallTime closes the sandbox; close is idempotent; a closed sandbox refuses work', async () => {
      const sb = await Sandbox.create(opts({ limits: { wallTime: 1500 } }));
      const id = sb.id;
      const long = sb.run(['sleep', '60']);
      const r = await long;
      assert.notEqual(r.exitCode, 0, 'the running process died with the sandbox');
      await assert.rejects(sb.run(['true']), (e: unknown) => e instanceof StateError && /wall time/.test((e as Error).message));
      await Promise.all([sb.close(), sb.close()]);
      assert.equal(fs.existsSync(path.join(root, id)), false, 'state gone');
    });

    test('an egress list is refused by native (typed), applied by the sentry', async () => {
      if (isolation === 'native') {
        await assert.rejects(Sandbox.create(opts({ network: ['10.0.0.0/8'] })), (e: unknown) => e instanceof UsageError && e.code === 'EUSAGE' && /enforced only by isolation 'sentry'/.test((e as Error).message));
        return;
      }
      // Two listeners of its own; only the allowed one is reached, the other is refused by the
      // sentry (EACCES) — not merely unreachable.
      await using sb = await Sandbox.create(opts({ network: ['127.0.0.1:5856'] }));
      const script = [
        '(nc -l -p 5856 > /tmp/a &) ; (nc -l -p 5857 > /tmp/b &)',
        'i=0; until [ "$(grep -c ":16E[01] " /proc/net/tcp 2>/dev/null)" = 2 ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done',
        'echo one | nc 127.0.0.1 5856 2>&1; echo "allowed: $?"',
        'echo two | nc 127.0.0.1 5857 2>&1; echo "other: $?"',
        'sleep 0.2; echo "a=$(cat /tmp/a)"',
      ].join('\n');
      // (Roomy: each process the script starts is a fork and exec under the sentry, slow on a loaded 2-core host.)
      const r = await sb.run(['sh', '-c', script], { timeout: 90_000 });
      const out = r.stdout.toString() + r.stderr.toString();
      assert.equal(r.timedOut, false, `timed out: ${out}`);
      assert.match(out, /^allowed: 0$/m, out);
      assert.match(out, /Permission denied\nother: 1$/m, out);
      assert.match(out, /^a=one$/m, out);
    });
  });
}

function symlinkTar(name: string, target: string): Buffer {
  const h = Buffer.from(singleFileTar(name, Buffer.alloc(0), 0o777).subarray(0, 512));
  h.write('2', 156, 'latin1');
  h.write(`${target}\0`, 157, 'latin1');
  fixChecksum(h);
  return h;
}
