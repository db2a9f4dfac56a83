// Escape battery, processes: signalling or tracing a host process, and overwriting the runtime
// through /proc/<pid>/exe (CVE-2019-5736).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { containerSuite, REPO, moat, moatDetached, waitFor } from '../helpers/moat';
import { assertRefused, fileState, installAttacks, removeAttacks, runAttack, steps, battery, batteryBundle } from './helpers';

let root: string;
containerSuite((r) => (root = r), () => {
  removeAttacks();
});

function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = l.indexOf(':');
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 1).trim();
  }
  return out;
}

battery('6. a host process can be neither signalled nor traced, nor even seen', async () => {
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const pid = sleeper.pid!;
    await waitFor('the host sleep', () => fs.existsSync(`/proc/${pid}`) && procStatus(pid).Name === 'sleep');
    const check = (label: string, r: { status: number | null; stdout: string; stderr: string }) => {
      assert.equal(r.status, 0, `${label}: ${r.stderr}`);
      const s = steps(r.stdout);
      assertRefused(s, ['kill-0', 'kill-stop', 'kill-9', 'ptrace-attach', 'ptrace-seize', 'pidfd-open', 'process-vm-readv'], ['ESRCH'], `${label}: ${r.stdout}`);
      assertRefused(s, ['proc-visible'], ['ENOENT'], `${label}: ${r.stdout}`);
      untouched(label);
    };
    const untouched = (label: string) => {
      const st = procStatus(pid);
      assert.equal(st.TracerPid, '0', `${label}: the host process is traced`);
      assert.match(st.State!, /^S/, `${label}: the host process is not sleeping: ${st.State}`);
      assert.equal(sleeper.exitCode, null, `${label}: the host process exited`);
      assert.equal(sleeper.signalCode, null, `${label}: the host process was signalled`);
    };
    // Default spec (CAP_KILL), and a root holding CAP_SYS_PTRACE too: the pid namespace is the wall.
    check('default', runAttack(root, ['/attacks/hostproc', String(pid)], { attacks: ['hostproc'] }));
    check('ptrace-cap', runAttack(root, ['/attacks/hostproc', String(pid)], {
      attacks: ['hostproc'],
      mutate: (c) => {
        for (const set of ['bounding', 'effective', 'permitted']) c.process.capabilities[set].push('CAP_SYS_PTRACE');
      },
    }));
    // busybox, as an attacker would type it.
    const b = runAttack(root, ['sh', '-c', `kill -9 ${pid}; echo "kill=$?"; ls /proc/${pid} >/dev/null 2>&1; echo "ls=$?"`]);
    assert.equal(b.status, 0, b.stderr);
    assert.deepEqual(b.stdout.trim().split('\n'), ['kill=1', 'ls=1']);
    untouched('busybox');
  } finally {
    sleeper.kill('SIGKILL');
    await new Promise((r) => (sleeper.exitCode !== null || sleeper.signalCode !== null ? r(undefined) : sleeper.once('exit', r)));
  }
});

/** The binaries a CVE-2019-5736 attacker wants to overwrite. */
function runtimeBinaries(): string[] {
  const nativeDir = process.env.MOAT_NATIVE_DIR ?? path.join(REPO, 'build', 'native');
  return [path.join(nativeDir, 'moat-exec'), path.join(nativeDir, 'containerd-shim-moat-v2'), path.join(REPO, 'bin', 'moat'), path.join(REPO, 'build', 'moat.js'), path.join(REPO, 'build', 'moat-cli.js'), path.join(REPO, 'build', 'moat-cli.cache'), ...['shim.js', 'moat-shim.js', 'moat-shim.cache', 'moat-shim-serve.cache'].map((f) => path.join(REPO, 'build', f)), process.execPath];
}

battery('8a. /proc/self/exe and /proc/1/exe cannot be opened for writing', () => {
  const before = fileState(runtimeBinaries());
  const r = runAttack(root, ['sh', '-c', '/attacks/exe_overwrite self'], { attacks: ['exe_overwrite'] });
  assert.equal(r.status, 0, r.stderr);
  assertRefused(r.steps, ['self-exe-write', 'init-exe-write'], undefined, r.stdout);
  assert.deepEqual(fileState(runtimeBinaries()), before);
});

battery('8b. CVE-2019-5736: the runtime binary of a `moat exec`-ed process cannot be reopened for writing', async () => {
  const before = fileState(runtimeBinaries());
  const id = `sec-exe-${process.hrtime.bigint()}`;
  const out = path.join(path.dirname(root), `${id}.out`);
  // The container's init watches for a process running a binary other than its own busybox, grabs
  // its /proc/<pid>/exe, kills it, and reopens the binary for writing once nothing runs it.
  const b = batteryBundle(['/attacks/exe_overwrite', 'watch', '4000']);
  try {
    installAttacks(b.rootfs, ['exe_overwrite']);
    // A malicious command named like one moat is asked to exec: the kernel runs its interpreter,
    // /proc/self/exe, i.e. whatever binary exec'd it (the runtime, if the runtime execs it directly).
    for (const name of ['evilcmd', 'true']) {
      fs.rmSync(path.join(b.rootfs, 'bin', name), { force: true });
      fs.writeFileSync(path.join(b.rootfs, 'bin', name), '#!/proc/self/exe\n', { mode: 0o755 });
    }
    const c = moatDetached(root, ['create', '--bundle', b.dir, id], out);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(moat(root, ['start', id]).status, 0);
    await waitFor('the watcher', () => fs.readFileSync(out, 'utf8').includes('watching'));
    for (let i = 0; i < 6; i++) {
      // Fire and forget: the watcher may kill the exec'd process at any point.
      moat(root, ['exec', id, i % 2 ? 'evilcmd' : 'true']);
      moat(root, ['exec', id, 'sh', '-c', 'true']);
    }
    await waitFor('the watcher to finish', () => fs.readFileSync(out, 'utf8').includes('watch-done'), 15_000);
    const text = fs.readFileSync(out, 'utf8');
    // Reopening a sealed memfd copy for writing may succeed; writing to it must not.
    const lines = text.split('\n').filter((l) => l.startsWith('watched-write'));
    for (const l of lines) assert.doesNotMatch(l, / ok$/, `the container wrote to the runtime binary:\n${text}`);
    const hostIno = fs.statSync(runtimeBinaries()[0]!).ino;
    assert.doesNotMatch(text, new RegExp(`^grabbed .* ino=${hostIno}$`, 'm'), `the container reached the host's moat-exec:\n${text}`);
    assert.deepEqual(fileState(runtimeBinaries()), before);
  } finally {
    moat(root, ['delete', '--force', id]);
    fs.rmSync(out, { force: true });
    b.cleanup();
  }
});
