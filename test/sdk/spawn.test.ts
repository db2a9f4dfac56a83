// Sandbox.spawn — the command as the sandbox's init, what `moat do` is built on — against the native
// and the sentry isolation (the vm in vm.test.ts): pipes streamed both ways and the command's exit
// status; signals to the command (a handler's own status; pid 1 ignoring one, then close); a
// terminal of its own with its size set; exec into it while it runs; file descriptors as stdio; an
// abort while it is made (nothing made) and after (closed); the wall time; close leaving nothing.
// The file's frame checks the host for leaks at the end.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { containerSuite, waitFor } from '../helpers/moat';
import { Sandbox, UsageError, type SpawnOptions } from '../../src/sdk';
import { collect, sharedRootfs } from './helpers';

let root = '';
containerSuite((r) => (root = r));
const shared = sharedRootfs();
after(() => shared.cleanup());

for (const isolation of ['native', 'sentry'] as const) {
  const opts = (o: Partial<SpawnOptions> = {}): SpawnOptions => ({ isolation, rootfs: shared.rootfs, root, ...o });

  describe(`sdk spawn (${isolation})`, () => {
    test('pipes stream both ways; the exit status is the command\'s; the sandbox is gone when result resolves', async () => {
      const sb = await Sandbox.spawn(['sh', '-c', 'echo "pid=$$"; read line; echo "got $line in $(pwd) as $GREETING"; echo e >&2; exit 7'], opts({ cwd: '/tmp', env: { GREETING: 'hi' } }));
      assert.match(sb.id, /^sdk-/);
      const out: string[] = [];
      sb.stdout!.on('data', (d: Buffer) => {
        out.push(d.toString());
        if (out.join('') === 'pid=1\n') sb.stdin!.end('ping\n');
      });
      const err = collect(sb.stderr!);
      const r = await sb.result;
      assert.equal(out.join(''), 'pid=1\ngot ping in /tmp as hi\n', 'the command is the init (pid 1) and read what we sent after its first line');
      assert.equal((await err).toString(), 'e\n');
      assert.equal(r.exitCode, 7);
      assert.equal(r.signal, null);
      assert.equal(r.timedOut, false);
      assert.ok(r.usage.wallMs > 0 && r.usage.maxRssBytes > 0, JSON.stringify(r.usage));
      assert.equal(fs.existsSync(path.join(root, sb.id)), false, 'closed by the command\'s end');
      await assert.rejects(sb.run(['true']), (e: unknown) => (e as { code?: string }).code === 'ESTATE');
    });

    test('kill() signals the command: a handler gives its own status; an init ignoring TERM is ended by close()', async () => {
      const handled = await Sandbox.spawn(['sh', '-c', 'trap "echo term; exit 3" TERM; echo ready; while :; do sleep 0.1; done'], opts());
      let out = '';
      handled.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor('ready', () => out.includes('ready\n'), 20_000);
      handled.kill('SIGTERM');
      assert.equal((await handled.result).exitCode, 3);
      assert.match(out, /term/);

      // pid 1 of its namespace ignores a signal it has no handler for: close() ends it all.
      const stubborn = await Sandbox.spawn(['sleep', '100'], opts());
      stubborn.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      await stubborn.close();
      const r = await stubborn.result;
      assert.equal(r.exitCode, 137);
      assert.equal(r.signal, 'SIGKILL');
      assert.ok(Date.now() - t0 < 10_000);
      assert.equal(fs.existsSync(path.join(root, stubborn.id)), false);
    });

    test('a terminal of its own: the command sees a tty of the sandbox, its size set and changed', async () => {
      const sb = await Sandbox.spawn(['sh', '-c', 'tty; stty size; read x; stty size; exit 4'], opts({ terminal: { rows: 30, cols: 100 } }));
      assert.equal(sb.stderr, null, 'a terminal is one stream');
      let out = '';
      sb.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/30 100\r?\n/.test(out) && !out.includes('sent')) {
          out += 'sent';
          sb.resize(40, 120);
          sb.stdin!.write('go\n');
        }
      });
      const r = await sb.result;
      assert.equal(r.exitCode, 4, out);
      // (The sentry names the terminal of the init /dev/console.)
      assert.match(out, /^\/dev\/(pts\/\d+|console)\r?\n30 100\r?\n/, out);
      assert.match(out, /40 120\r?\n/, out);
    });

    test('exec joins a running spawned sandbox; file descriptors as its stdio', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-spawn-'));
      const outFile = path.join(dir, 'out');
      const fd = fs.openSync(outFile, 'w');
      const devnull = fs.openSync('/dev/null', 'r');
      try {
        const sb = await Sandbox.spawn(['sh', '-c', 'echo started; while [ ! -e /tmp/go ]; do sleep 0.05; done; cat /tmp/go'], opts({ stdio: [devnull, fd, fd] }));
        assert.equal(sb.stdout, null);
        await sb.writeFile('/tmp/go', 'from exec\n');
        const r = await sb.result;
        assert.equal(r.exitCode, 0);
        assert.equal(fs.readFileSync(outFile, 'utf8'), 'started\nfrom exec\n');
      } finally {
        fs.closeSync(fd);
        fs.closeSync(devnull);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test('an abort while it is made leaves nothing; after, it closes the sandbox; the wall time ends it (timedOut)', async () => {
      const early = new AbortController();
      early.abort();
      await assert.rejects(Sandbox.spawn(['true'], opts({ signal: early.signal })), (e: Error) => e.name === 'AbortError');
      assert.deepEqual(fs.readdirSync(root), [], 'nothing made');

      const late = new AbortController();
      const sb = await Sandbox.spawn(['sleep', '100'], opts({ signal: late.signal }));
      late.abort();
      assert.equal((await sb.result).signal, 'SIGKILL');

      const t0 = Date.now();
      const timed = await Sandbox.spawn(['sleep', '100'], opts({ limits: { wallTime: 1000 } }));
      const r = await timed.result;
      assert.equal(r.timedOut, true);
      assert.equal(r.exitCode, 137);
      assert.ok(Date.now() - t0 < 15_000);
      assert.deepEqual(fs.readdirSync(root), [], 'nothing left');
    });

    test('bad spawn options are typed usage errors, before anything is made', async () => {
      await assert.rejects(Sandbox.spawn([], opts()), UsageError);
      await assert.rejects(Sandbox.spawn(['true'], opts({ stdio: [0, 1] as never })), /stdio: 'pipe', 'inherit' or three/);
      await assert.rejects(Sandbox.spawn(['true'], opts({ stdio: [0, 1, 2], terminal: true })), /terminal: with stdio 'pipe' or 'inherit'/);
      await assert.rejects(Sandbox.spawn(['true'], opts({ cwd: 'rel' })), /cwd: must be an absolute path/);
      assert.deepEqual(fs.readdirSync(root), []);
      // A missing program: refused at create (EEXEC, as the CLI's 127), or — under the sentry, whose
      // init execs it inside — a command that exits 127.
      try {
        const missing = await Sandbox.spawn(['/no/such/program'], opts());
        assert.equal((await missing.result).exitCode, 127);
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'EEXEC', String(e));
      }
      assert.deepEqual(fs.readdirSync(root), []);
    });
  });
}
