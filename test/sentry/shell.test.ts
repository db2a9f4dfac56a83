// The sentry (issue #5) running a real shell: busybox `sh -c` scripts under
// `moat do --isolation=sentry -- /bin/busybox sh -c '…'` (the host root as rootfs) and under
// `moat --isolation=sentry run` of a busybox bundle. Pipes, redirections, here-documents,
// subshells, `$(…)`, `trap`, background jobs and `wait`, `kill`, `ls -la /`, `cat /proc/self/status`,
// `ps`, `find`, `sort`, `wc`, `sed`, `awk`, `sleep`, exit codes, syslogd and logger over an AF_UNIX
// socket. The expected output is what the same script prints under native isolation (`moat do`,
// `moat run` of the same bundle), or relations the script computes itself (pids); nothing that a
// native run can give is written down here.
// Also: `moat state` of a sentry container names the sentry's pid (the process tracing the
// application), later commands find the platform in the state, and the exit status is the
// application init's.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { makeBundle, moatDetached, waitFor, BUSYBOX, MOAT, type MoatResult } from '../helpers/moat';
import { explain, moatDo, moatRun, sentrySuite, traceesOf } from './helpers';

let root: string;
sentrySuite((r) => (root = r));

const sh = (script: string) => [BUSYBOX, 'sh', '-c', script];

/** The same `moat do` command natively and under the sentry. */
function doBoth(cmd: string[]): { native: MoatResult; sentry: MoatResult } {
  const native = moatDo(root, 'native', cmd);
  const sentry = moatDo(root, 'sentry', cmd);
  return { native, sentry };
}

/** The sentry's run must print what the native one printed and exit the same. */
function assertSame(native: MoatResult, sentry: MoatResult, what: string): void {
  assert.equal(native.signal, null, `native ${what}: ${explain(native)}`);
  assert.equal(sentry.stdout, native.stdout, `${what}: under the sentry\n${explain(sentry)}`);
  assert.equal(sentry.status, native.status, `${what}: exit status under the sentry\n${explain(sentry)}`);
}

// ---- moat do ----

test('do --isolation=sentry: pipes, redirections, here-documents, subshells, $(…), functions, loops, exit code', () => {
  const script = [
    'cd /tmp',
    "echo one two three | tr ' ' '\\n' | sort -r | head -2",
    'x=$(echo inner; echo second | wc -l); echo "x=$x"',
    'y=`echo backticks`; echo "$y"',
    '(cd / && pwd); pwd',
    'echo to-stderr >&2',
    'echo redirected > /tmp/r1; echo appended >> /tmp/r1; cat /tmp/r1; wc -l < /tmp/r1',
    'cat /nonexistent 2>/dev/null || echo "cat failed $?"',
    "cat /nonexistent 2>&1 | sed 's/^cat: //'",
    'exec 3>/tmp/fd3; echo via-fd3 >&3; exec 3>&-; cat /tmp/fd3',
    'cat <<EOT\nhere $((6 * 7)) $(echo doc)\nEOT',
    '{ echo a; echo b; } | wc -l',
    'false || echo or-branch; true && echo and-branch',
    '( exit 3 ); echo "subshell status $?"',
    'f() { echo "in function $1"; return 4; }; f arg; echo "function status $?"',
    "for i in 1 2 3; do printf '%s,' \"$i\"; done; echo",
    'i=0; while [ $i -lt 3 ]; do i=$((i + 1)); done; echo "while $i"',
    'case foo in f*) echo case-match;; esac',
    'set -- a b c; echo "$# $2"',
    'read line < /tmp/r1; echo "read $line"',
    'echo abc | { read v; echo "piped read $v"; }',
    'echo "$(echo "$(echo nested)")"',
    'exit 5',
  ].join('\n');
  const { native, sentry } = doBoth(sh(script));
  assert.equal(native.status, 5, explain(native));
  assert.match(native.stdout, /^two\nthree\nx=inner\n1\n/);
  assertSame(native, sentry, 'shell syntax');
  assert.match(sentry.stderr, /to-stderr/);
});

test('do --isolation=sentry: trap, background jobs, wait, kill, and the statuses they leave', () => {
  const script = [
    "trap 'echo trapped USR1' USR1",
    "trap 'echo on-exit' EXIT",
    'kill -USR1 $$',
    'echo after-kill',
    'sleep 10 & s=$!',
    'kill -0 $s && echo bg-alive',
    'kill $s; wait $s; echo "wait for killed sleep: $?"',
    '(sleep 0.1; exit 4) & wait $!; echo "background subshell: $?"',
    'sleep 0.2 & sleep 0.1 & wait; echo "waited for all: $?"',
    "sh -c 'kill -KILL $$'; echo \"child killed itself: $?\"",
    "sh -c 'trap \"echo child trapped TERM; exit 9\" TERM; kill -TERM $$; sleep 1'; echo \"child trap: $?\"",
    // The namespace's init ignores a signal it has no handler for, even SIGKILL from inside.
    'kill -KILL $$; echo "pid 1 survives its own SIGKILL: $$"',
    'trap - USR1',
    'exit 3',
  ].join('\n');
  const { native, sentry } = doBoth(sh(script));
  assert.equal(native.status, 3, explain(native));
  assert.match(native.stdout, /trapped USR1\nafter-kill\nbg-alive\nwait for killed sleep: 143\n/);
  assertSame(native, sentry, 'jobs and signals');
});

test('do --isolation=sentry: find, sort, uniq, wc, sed, awk, md5sum of a host file, gzip, dd, sleep', () => {
  const script = [
    'cd /tmp && mkdir -p t/a/b t/c',
    'for f in t/a/x t/a/b/y t/c/z; do echo "$f" > "$f"; done',
    'find t -type f | sort',
    'find t -name y -o -name z | sort',
    'find t -type d | sort | wc -l',
    "printf '3 c\\n1 a\\n2 b\\n10 j\\n' | sort -n | awk '{ s += $1; printf \"%s \", $2 } END { print \"sum\", s }'",
    "printf 'b\\na\\nb\\nc\\n' | sort | uniq -c | sed 's/^ *//'",
    "seq 1 100 | sed -n '5,7p;/^99$/s/9/N/gp'",
    "echo hello world | sed 's/world/sentry/' | awk '{ print toupper($2), length($0) }'",
    'wc -c < /bin/busybox',
    "md5sum /bin/busybox | cut -d' ' -f1",
    'head -c 1048576 /dev/zero | wc -c',
    'dd if=/dev/urandom bs=1k count=64 2>/dev/null | wc -c',
    'echo data | gzip | gunzip',
    'cut -d: -f1 /etc/passwd | sort | head -3',
    'sleep 0.2; echo slept',
    'rm -r t; ls t 2>/dev/null || echo removed',
  ].join('\n');
  const { native, sentry } = doBoth(sh(script));
  assert.equal(native.status, 0, explain(native));
  assert.ok(native.stdout.includes(`${fs.statSync(BUSYBOX).size}\n`), 'wc -c of busybox');
  assertSame(native, sentry, 'tools');
});

/** Where a sandbox mounts its own filesystems: `ls -la` shows their fresh times, sizes and link counts. */
const SANDBOX_MOUNTS = new Set(['.', '..', 'proc', 'dev', 'sys', 'tmp', 'run']);

/**
 * `ls -la` lines, normalised for comparison: no "total" line; the sandbox's own mount points by type
 * and name only; directories without their time (anything on the host may touch them meanwhile).
 */
function lsLines(stdout: string): string[] {
  const out: string[] = [];
  for (const line of stdout.trim().split('\n')) {
    if (line.startsWith('total ')) continue;
    const f = line.trim().split(/\s+/);
    const arrow = f.indexOf('->');
    const name = arrow > 0 ? f[arrow - 1]! : f[f.length - 1]!;
    const mode = f[0] ?? '';
    if (SANDBOX_MOUNTS.has(name)) out.push(`${mode[0]} ${name}`);
    else if (mode.startsWith('d')) out.push([...f.slice(0, 5), ...f.slice(8)].join(' '));
    else out.push(f.join(' '));
  }
  return out;
}

test('do --isolation=sentry: busybox syslogd and logger talk over /dev/log, an AF_UNIX datagram socket of the sandbox', () => {
  const script = [
    'syslogd -n -O /tmp/log & pid=$!',
    'i=0; while [ ! -S /dev/log ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done',
    'ls -l /dev/log | cut -c1',
    'logger -t moat hello-from-logger',
    'logger -t moat -p user.err second message',
    'i=0; while ! grep -q second /tmp/log 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done',
    'kill $pid; wait $pid',
    "sed -n 's/^.* \\(user\\.[a-z]*\\) /\\1 /p' /tmp/log",
  ].join('\n');
  const { native, sentry } = doBoth(sh(script));
  assert.equal(native.stdout, 's\nuser.notice moat: hello-from-logger\nuser.err moat: second message\n', explain(native));
  assertSame(native, sentry, 'syslogd and logger');
});

test('do --isolation=sentry: ls -la / shows the host root as a native sandbox does', () => {
  const { native, sentry } = doBoth([BUSYBOX, 'ls', '-la', '/']);
  assert.equal(native.status, 0, explain(native));
  assert.equal(sentry.status, 0, explain(sentry));
  const n = lsLines(native.stdout);
  assert.ok(n.some((l) => l.endsWith(' usr')), native.stdout);
  assert.deepEqual(lsLines(sentry.stdout), n);
});

test('do --isolation=sentry: /proc/self/status names the process and its pids; ps shows the sandbox only', () => {
  const script = [
    'cat /proc/self/status > /tmp/st & p=$!; wait $p',
    'v() { sed -n "s/^$1:[[:space:]]*//p" /tmp/st; }',
    'echo "Name=$(v Name)"',
    '[ "$(v Pid)" = "$p" ] && echo \'Pid is $!\' || echo "Pid $(v Pid) is not $p"',
    '[ "$(v PPid)" = "$$" ] && echo \'PPid is $$\' || echo "PPid $(v PPid) is not $$"',
    '[ "$(v Tgid)" = "$p" ] && echo "Tgid is Pid" || echo "Tgid $(v Tgid) is not $p"',
    'echo "State=$(v State)"',
    'echo "Threads=$(v Threads)"',
    'echo "Uid=$(v Uid | tr -s \'\\t \' \' \')"',
    'echo "shell pid=$$"',
    'sleep 5 & s=$!',
    // busybox runs an applet by execve("/proc/self/exe") (comm "exe"), then PR_SET_NAME: wait for it.
    'i=0; until [ "$(cat /proc/$s/comm 2>/dev/null)" = sleep ] || [ $i -ge 100 ]; do sleep 0.02; i=$((i + 1)); done',
    'ps -o pid,ppid,comm > /tmp/ps',
    'kill $s; wait $s',
    'sed 1d /tmp/ps | while read pid ppid comm; do',
    '  who=other; [ "$pid" = "$$" ] && who=shell; [ "$pid" = "$s" ] && who=bg-sleep',
    '  [ "$ppid" = "$$" ] && who="$who child-of-shell"',
    '  echo "$comm $who"',
    'done | sort',
  ].join('\n');
  const { native, sentry } = doBoth(sh(script));
  assert.equal(native.status, 0, explain(native));
  assert.match(native.stdout, /^Name=cat\nPid is \$!\nPPid is \$\$\nTgid is Pid\n/);
  assert.match(native.stdout, /^ps other child-of-shell\nsleep bg-sleep child-of-shell\n$/m);
  assertSame(native, sentry, '/proc and ps');
});

test('do --isolation=sentry: exit codes reach the caller (0, false, 42, nested, killed child, missing command)', () => {
  const cases: string[][] = [
    sh('exit 0'),
    [BUSYBOX, 'false'],
    sh('exit 42'),
    sh('sh -c "exit 5"; echo "inner $?"; exit 9'),
    sh('sh -c \'kill -9 $$\'; exit $?'),
    sh('sleep 0.1 & wait; exit 200'),
  ];
  for (const cmd of cases) {
    const { native, sentry } = doBoth(cmd);
    assertSame(native, sentry, cmd.join(' '));
  }
  const missing = doBoth(['definitely-not-a-command']);
  assert.equal(missing.native.status, 127);
  assert.equal(missing.sentry.status, 127, explain(missing.sentry));
  assert.match(missing.sentry.stderr, /definitely-not-a-command/);
});

// ---- moat run of a busybox bundle ----

/** A busybox bundle with a tmpfs on /tmp (the root stays read-only), run natively and under the sentry. */
function runBoth(args: string[]): { native: MoatResult; sentry: MoatResult } {
  const b = makeBundle(args, (c) => {
    c.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] });
  });
  try {
    const id = `sh-${process.hrtime.bigint()}`;
    const native = moatRun(root, ['run', '--bundle', b.dir, `${id}-n`]);
    const sentry = moatRun(root, ['--isolation=sentry', 'run', '--bundle', b.dir, `${id}-s`]);
    return { native, sentry };
  } finally {
    b.cleanup();
  }
}

test('run --isolation=sentry: a busybox script prints what native moat run prints, with its exit code', () => {
  const script = [
    'echo "pid=$$"; hostname; id',
    'echo "--ls--"; ls -la /; echo "--end--"',
    'ls -la /bin | sed -n 2,4p',
    'ls /bin | wc -l',
    'find /etc -type f | sort',
    'cat /etc/passwd | wc -l',
    'echo data > /tmp/w && cat /tmp/w',
    'touch /rootfs-is-read-only 2>/dev/null || echo "read-only root"',
    'cat /proc/self/status > /tmp/st & p=$!; wait $p',
    'grep -q "^Pid:[[:space:]]*$p$" /tmp/st && echo "status Pid is \\$!"',
    'grep -q "^PPid:[[:space:]]*1$" /tmp/st && echo "status PPid is 1"',
    'grep "^Name:" /tmp/st',
    "tr '\\0' ' ' < /proc/1/cmdline; echo",
    'sleep 3 & s=$!',
    'i=0; until [ "$(cat /proc/$s/comm 2>/dev/null)" = sleep ] || [ $i -ge 100 ]; do sleep 0.02; i=$((i + 1)); done',
    'ps -o pid,ppid,comm > /tmp/ps',
    'kill $s; wait $s; echo "sleep $?"',
    'sed 1d /tmp/ps | awk \'{ print ($1 == 1 ? "init" : "other"), ($2 == 1 ? "child-of-init" : "-"), $3 }\' | sort',
    'trap "echo on-exit" EXIT',
    'exit 6',
  ].join('\n');
  const { native, sentry } = runBoth(['sh', '-c', script]);
  assert.equal(native.status, 6, explain(native));
  assert.match(native.stdout, /^pid=1\n/);
  const split = (s: string) => {
    const a = s.indexOf('--ls--\n');
    const e = s.indexOf('--end--\n');
    return a < 0 || e < 0 ? { rest: s, ls: [] } : { rest: s.slice(0, a) + s.slice(e + 8), ls: lsLines(s.slice(a + 7, e)) };
  };
  const n = split(native.stdout);
  const s = split(sentry.stdout);
  assert.ok(n.ls.length >= 10, native.stdout);
  assert.deepEqual(s.ls, n.ls, `ls -la / of the bundle's rootfs\n${explain(sentry)}`);
  assert.equal(s.rest, n.rest, `under the sentry\n${explain(sentry)}`);
  assert.equal(sentry.status, native.status, explain(sentry));
});

test('run --isolation=sentry: the exit status is the application init\'s (exit 7, a killed child, pid 1 ignoring SIGKILL from inside)', () => {
  for (const script of ['sleep 0.1; exit 7', 'sh -c "kill -9 \\$\\$"; exit $?', 'kill -KILL $$; echo survived; exit 0']) {
    const { native, sentry } = runBoth(['sh', '-c', script]);
    assertSame(native, sentry, script);
  }
});

test('run with the annotation dev.moat.isolation=sentry runs under the sentry (uname -r is not the host kernel)', () => {
  const b = makeBundle(['uname', '-r'], (c) => {
    c.annotations = { ...(c.annotations ?? {}), 'dev.moat.isolation': 'sentry' };
  });
  try {
    const r = moatRun(root, ['run', '--bundle', b.dir, `ann-${process.hrtime.bigint()}`]);
    assert.equal(r.status, 0, explain(r));
    assert.notEqual(r.stdout.trim(), os.release(), 'the host kernel answered: not the sentry');
    assert.notEqual(r.stdout.trim(), '');
  } finally {
    b.cleanup();
  }
});

test('run --isolation=sentry with a bind-mounted file', () => {
  // Single-file binds as Docker and Kubernetes make them: /etc/hosts over the image's (ro), and a
  // writable file at a path the image lacks (made, as runc makes mount points), its source a
  // symlink (followed on the host, as mount(2) follows it). The gofer serves only that one file of
  // its host directory: the sibling stays out of reach. A write to the writable one reaches the host.
  const host = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-bindfile-'));
  fs.chmodSync(host, 0o755);
  fs.writeFileSync(path.join(host, 'hosts'), '127.0.0.1 localhost\n10.1.2.3 bound-host\n');
  fs.writeFileSync(path.join(host, 'app.conf'), 'setting=42\n');
  fs.writeFileSync(path.join(host, 'sibling'), 'not for the container\n');
  fs.symlinkSync('app.conf', path.join(host, 'link.conf'));
  const script = [
    'cat /etc/hosts',
    'cat /opt/app/conf/app.conf',
    'ls -l /opt/app/conf/app.conf | cut -c1',
    'ls /opt/app/conf',
    'echo x >> /etc/hosts 2>/dev/null || echo "hosts read-only"',
    'echo changed > /opt/app/conf/app.conf && cat /opt/app/conf/app.conf',
    'grep " /etc/hosts " /proc/mounts | cut -d" " -f4 | cut -d, -f1',
  ].join('\n');
  const b = makeBundle(['sh', '-c', script], (c) => {
    c.mounts.push({ destination: '/etc/hosts', type: 'bind', source: path.join(host, 'hosts'), options: ['rbind', 'ro'] });
    c.mounts.push({ destination: '/opt/app/conf/app.conf', type: 'bind', source: path.join(host, 'link.conf'), options: ['rbind'] });
  });
  try {
    assert.equal(fs.existsSync(path.join(b.rootfs, 'opt/app')), false);
    const r = moatRun(root, ['--isolation=sentry', 'run', '--bundle', b.dir, `bindfile-${process.hrtime.bigint()}`]);
    assert.equal(r.status, 0, explain(r));
    assert.equal(
      r.stdout,
      [
        '127.0.0.1 localhost', '10.1.2.3 bound-host', 'setting=42', '-', 'app.conf', 'hosts read-only', 'changed', 'ro',
      ].join('\n') + '\n',
      explain(r),
    );
    // The image is untouched (the mount point was made in memory); the write reached the host file.
    assert.equal(fs.existsSync(path.join(b.rootfs, 'opt/app')), false);
    assert.equal(fs.readFileSync(path.join(host, 'app.conf'), 'utf8'), 'changed\n');
    assert.equal(fs.readFileSync(path.join(host, 'hosts'), 'utf8'), '127.0.0.1 localhost\n10.1.2.3 bound-host\n');
    assert.equal(fs.readlinkSync(path.join(host, 'link.conf')), 'app.conf');
  } finally {
    b.cleanup();
    fs.rmSync(host, { recursive: true, force: true });
  }
});

test('run --isolation=sentry with a writable bind mount: writes reach the host, the rootfs stays untouched', () => {
  const host = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-bindrw-'));
  fs.chmodSync(host, 0o755);
  fs.writeFileSync(path.join(host, 'old'), 'old contents\n');
  fs.writeFileSync(path.join(host, 'gone'), 'remove me\n');
  fs.mkdirSync(path.join(host, 'emptydir'));
  const script = [
    'cd /data',
    'echo hello > new.txt && echo more >> new.txt && cat new.txt',
    'mkdir -p sub/deeper && echo nested > sub/deeper/n',
    'mv old sub/renamed',
    'rm gone && rmdir emptydir',
    'ln -s sub/renamed link',
    'chmod 600 new.txt && stat -c %a new.txt',
    'touch -d "2001-02-03 04:05:06" sub/deeper/n',
    ': > sub/renamed',
    'ls',
    'touch /in-rootfs 2>/dev/null || echo "root read-only"',
    'grep " /data " /proc/mounts | cut -d" " -f4 | cut -d, -f1',
  ].join('\n');
  const b = makeBundle(['sh', '-c', script], (c) => {
    c.mounts.push({ destination: '/data', type: 'bind', source: host, options: ['rbind'] });
  });
  try {
    const rootBefore = fs.readdirSync(b.rootfs).sort();
    const r = moatRun(root, ['--isolation=sentry', 'run', '--bundle', b.dir, `bindrw-${process.hrtime.bigint()}`]);
    assert.equal(r.status, 0, explain(r));
    assert.equal(r.stdout, ['hello', 'more', '600', 'link', 'new.txt', 'sub', 'root read-only', 'rw'].join('\n') + '\n', explain(r));
    assert.equal(fs.readFileSync(path.join(host, 'new.txt'), 'utf8'), 'hello\nmore\n');
    assert.equal(fs.statSync(path.join(host, 'new.txt')).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(path.join(host, 'sub/deeper/n'), 'utf8'), 'nested\n');
    assert.equal(fs.statSync(path.join(host, 'sub/deeper/n')).mtime.getUTCFullYear(), 2001);
    assert.equal(fs.readFileSync(path.join(host, 'sub/renamed'), 'utf8'), '');
    assert.equal(fs.readlinkSync(path.join(host, 'link')), 'sub/renamed');
    assert.deepEqual(fs.readdirSync(host).sort(), ['link', 'new.txt', 'sub']);
    // The application ran as root: what it made is root's on the host too.
    assert.equal(fs.statSync(path.join(host, 'sub/deeper')).uid, 0);
    assert.deepEqual(fs.readdirSync(b.rootfs).sort(), rootBefore);
  } finally {
    b.cleanup();
    fs.rmSync(host, { recursive: true, force: true });
  }
});

test('run --isolation=sentry: an AF_UNIX socket bound inside a writable bind mount is the sandbox\'s own (syslogd and logger talk through it; the host sees no file)', () => {
  const host = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-bindsock-'));
  fs.chmodSync(host, 0o755);
  fs.writeFileSync(path.join(host, 'kept'), 'host file\n');
  const script = [
    // busybox syslogd binds what /dev/log links to.
    'ln -s /data/log /dev/log',
    'syslogd -n -O /tmp/out & pid=$!',
    'i=0; while [ ! -S /data/log ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done',
    'ls -l /data/log | cut -c1',
    'ls /data',
    'logger -t moat through-the-bind-mount',
    'i=0; while ! grep -q through /tmp/out 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done',
    'kill $pid; wait $pid',
    "sed -n 's/^.* user\\.notice //p' /tmp/out",
    'rm /data/log && ls /data',
  ].join('\n');
  const b = makeBundle(['sh', '-c', script], (c) => {
    c.mounts.push({ destination: '/data', type: 'bind', source: host, options: ['rbind'] });
  });
  try {
    const r = moatRun(root, ['--isolation=sentry', 'run', '--bundle', b.dir, `bindsock-${process.hrtime.bigint()}`]);
    assert.equal(r.status, 0, explain(r));
    assert.equal(r.stdout, ['s', 'kept', 'log', 'moat: through-the-bind-mount', 'kept'].join('\n') + '\n', explain(r));
    assert.deepEqual(fs.readdirSync(host), ['kept']);
  } finally {
    b.cleanup();
    fs.rmSync(host, { recursive: true, force: true });
  }
});

test('create/start --isolation=sentry: state names the sentry (it traces the application); start, kill, delete find the platform', async () => {
  const b = makeBundle(['sh', '-c', 'echo started; exec sleep 30']);
  const out = path.join(b.dir, 'out.log');
  const id = `sentry-life-${process.hrtime.bigint()}`;
  const state = () => {
    const r = moatRun(root, ['state', id]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { status: string; pid: number; annotations?: Record<string, string> };
  };
  try {
    const c = moatDetached(root, ['--isolation=sentry', 'create', '--bundle', b.dir, id], out);
    assert.equal(c.status, 0, c.stderr);
    const created = state();
    assert.equal(created.status, 'created');
    assert.ok(created.pid > 0 && fs.existsSync(`/proc/${created.pid}`), `state pid ${created.pid} is a live host process`);
    // No --isolation from here on: the platform comes from the container's state.
    const s = moatRun(root, ['start', id]);
    assert.equal(s.status, 0, s.stderr);
    await waitFor('the application to start', () => fs.readFileSync(out, 'utf8').includes('started'), 30_000);
    const running = state();
    assert.equal(running.status, 'running');
    assert.equal(running.pid, created.pid, 'the same sentry from create to start');
    assert.match(fs.readFileSync(`/proc/${running.pid}/status`, 'utf8'), /^TracerPid:\s+0$/m, 'the state pid is not itself a tracee (not the application)');
    assert.ok(traceesOf(running.pid).length >= 1, `the state pid ${running.pid} traces the application's stub(s)`);
    assert.notEqual(fs.readlinkSync(`/proc/${running.pid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'), 'the sentry has left the host network namespace');
    const k = moatRun(root, ['kill', id, 'KILL']);
    assert.equal(k.status, 0, k.stderr);
    await waitFor('the container to stop', () => state().status === 'stopped', 30_000);
    const d = moatRun(root, ['delete', id]);
    assert.equal(d.status, 0, d.stderr);
    assert.notEqual(moatRun(root, ['state', id]).status, 0, 'gone after delete');
  } finally {
    moatRun(root, ['delete', '--force', id]);
    b.cleanup();
  }
});

test('exec --isolation=sentry: another process in the running sandbox, its output and exit code, sharing the sandbox (pids, files)', async () => {
  const b = makeBundle(['sh', '-c', 'echo ready > /tmp/ready; echo up; exec sleep 30']);
  const out = path.join(b.dir, 'out.log');
  const id = `sentry-exec-${process.hrtime.bigint()}`;
  try {
    const c = moatDetached(root, ['--isolation=sentry', 'run', '--detach', '--bundle', b.dir, id], out);
    assert.equal(c.status, 0, c.stderr);
    await waitFor('the init to run', () => fs.readFileSync(out, 'utf8').includes('up'), 30_000);
    // The exec'd process sees the init's in-memory files and its pid 1.
    const e = moatRun(root, ['exec', id, 'sh', '-c', 'cat /tmp/ready; cat /proc/1/comm; echo $$ > /dev/null; exit 3']);
    assert.equal(e.status, 3, explain(e));
    assert.equal(e.stdout, 'ready\nsleep\n');
    const missing = moatRun(root, ['exec', id, '/no/such/program']);
    assert.notEqual(missing.status, 0, 'a missing program fails');
    assert.match(missing.stderr, /no\/such\/program|ENOENT/);
    // exec --detach: a relay of moat's stands for the process; a signal to it reaches the process.
    const pidFile = path.join(b.dir, 'exec.pid');
    // Its stdio goes to a file, as containerd gives it fifos: the process keeps them open.
    const d = moatDetached(root, ['exec', '--detach', '--pid-file', pidFile, id, 'sh', '-c', 'trap "echo got-term >> /tmp/ready; exit 9" TERM; while true; do sleep 0.1; done'], path.join(b.dir, 'exec.log'));
    assert.equal(d.status, 0, d.stderr);
    const relay = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(relay > 0 && fs.existsSync(`/proc/${relay}`), `relay ${relay} runs`);
    process.kill(relay, 'SIGTERM');
    await waitFor('the relay to exit', () => !fs.existsSync(`/proc/${relay}`) || /^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${relay}/stat`, 'utf8')), 20_000);
    const seen = moatRun(root, ['exec', id, 'cat', '/tmp/ready']);
    assert.equal(seen.stdout, 'ready\ngot-term\n', explain(seen));
    // The init is still there after the exec'd processes are gone.
    const st = JSON.parse(moatRun(root, ['state', id]).stdout) as { status: string };
    assert.equal(st.status, 'running');
  } finally {
    moatRun(root, ['delete', '--force', id]);
    b.cleanup();
  }
});

test('run -t --isolation=sentry: the application has a terminal of the caller\'s size as its /dev/tty', () => {
  const b = makeBundle(['sh', '-c', 'stty size; test -t 0 && echo tty-in; exit 6']);
  try {
    const s = spawnSync('script', ['-qec', `stty rows 33 cols 99; ${MOAT} --root ${root} --isolation=sentry run -t --bundle ${b.dir} sentry-tty-${process.pid}`, '/dev/null'], { encoding: 'utf8', input: '', timeout: 30_000, killSignal: 'SIGKILL' });
    const text = (s.stdout ?? '').replace(/\r/g, '').replace(/\^@/g, '');
    assert.match(text, /^33 99$/m, text);
    assert.match(text, /^tty-in$/m, text);
    assert.equal(s.status, 6, `${text}\n${s.stderr}`);
  } finally {
    moatRun(root, ['delete', '--force', `sentry-tty-${process.pid}`]);
    b.cleanup();
  }
});

test('do --isolation=sentry: dynamically linked host programs (ld.so loaded by the sentry): ls, bash, sort', () => {
  for (const cmd of [
    ['/bin/ls', '-1', '/etc/apt'],
    ['/bin/bash', '-c', 'echo "bash $((6 * 7))"; printf "%s\\n" b a c | /usr/bin/sort'],
  ]) {
    const { native, sentry } = doBoth(cmd);
    assertSame(native, sentry, cmd.join(' '));
  }
  // It really is dynamic: the program's interpreter is mapped in its address space.
  const maps = moatDo(root, 'sentry', ['/bin/cat', '/proc/self/maps']);
  assert.equal(maps.status, 0, explain(maps));
  assert.match(maps.stdout, /ld-linux-x86-64\.so\.2/, 'ld.so mapped by the sentry');
  assert.match(maps.stdout, /libc\.so\.6/, 'libc mapped by ld.so through the sentry');
});

test('do --isolation=sentry: Node writes to stdio sockets (an SDK exec\'s socketpairs): libuv\'s getsockname/SO_TYPE are answered, nothing is dropped', () => {
  // spawnSync's pipes are socketpairs. libuv tells a pipe from an unknown handle by getsockname and
  // SO_TYPE; answered ENOTSOCK, Node took stdout for an unknown handle and printed nothing, exit 0.
  const script = 'console.log("out " + (6 * 7)); console.error("err"); process.stdout.write("x".repeat(100000) + "\\n")';
  const { native, sentry } = doBoth([process.execPath, '-e', script]);
  assert.equal(native.status, 0, explain(native));
  assert.equal(sentry.status, 0, explain(sentry));
  assert.equal(sentry.stdout, native.stdout, 'the same bytes as a native sandbox');
  assert.match(sentry.stdout, /^out 42\nx{100000}\n$/);
  assert.match(sentry.stderr, /^err$/m);
});

test('--strace logs every application syscall with decoded arguments and results; sentry-syscalls lists the table', () => {
  const r = moatRun(root, ['--strace', 'do', '--isolation=sentry', '--', BUSYBOX, 'cat', '/etc/hostname']);
  assert.equal(r.status, 0, explain(r));
  assert.equal(r.stdout, fs.readFileSync('/etc/hostname', 'utf8'));
  assert.match(r.stderr, /^\[1\] execve\("\/proc\/self\/exe"|^\[1\] brk\(0x0\) = 0x[0-9a-f]+$/m, r.stderr.slice(0, 400));
  // A cold path: /etc and hostname walked and the file opened in one gofer round trip (WALKPATH, no OPEN).
  assert.match(r.stderr, /^\[1\] openat\(-100, "\/etc\/hostname", 0x[0-9a-f]+, 0\d*\) = 3 \[gofer WALKPATH\]$/m, r.stderr);
  assert.match(r.stderr, /^\[1\] (read\(3, 0x[0-9a-f]+, \d+\) = \d+ ".*"|sendfile\(1, 3, 0x0, \d+\) = \d+)$/m); // busybox cat uses sendfile
  assert.match(r.stderr, /^\[1\] exit_group\(0\)/m);
  const t = moatRun(root, ['sentry-syscalls']);
  assert.equal(t.status, 0, explain(t));
  const names = t.stdout.trim().split('\n').filter((l) => !l.startsWith('#'));
  for (const n of ['openat', 'clone', 'execve', 'futex', 'rt_sigreturn', 'epoll_wait', 'mmap']) assert.ok(names.includes(n), `${n} in the table`);
  assert.match(t.stdout, /# \d+ syscalls implemented by the sentry; any other returns ENOSYS/);
});

test('do --isolation=sentry: /proc/cmdline, /proc/devices, /proc/sys/kernel and vm values, /proc/self/ns links', () => {
  const r = moatDo(root, 'sentry', sh([
    'cat /proc/cmdline | wc -l',
    'grep -c "^Character devices:" /proc/devices',
    'for f in hostname ostype osrelease pid_max ngroups_max cap_last_cap random/boot_id random/uuid shmmax shmall shmmni threads-max; do [ -n "$(cat /proc/sys/kernel/$f)" ] && echo "kernel/$f ok"; done',
    'for f in overcommit_memory max_map_count mmap_min_addr; do [ -n "$(cat /proc/sys/vm/$f)" ] && echo "vm/$f ok"; done',
    'cat /proc/sys/kernel/ostype',
    'for n in cgroup ipc mnt net pid user uts; do readlink /proc/self/ns/$n; done | sed "s/[0-9]\\+/N/"',
    '[ "$(readlink /proc/self/ns/net)" = "$(readlink /proc/1/ns/net)" ] && echo same-net',
  ].join('\n')));
  assert.equal(r.status, 0, explain(r));
  const kernel = ['hostname', 'ostype', 'osrelease', 'pid_max', 'ngroups_max', 'cap_last_cap', 'random/boot_id', 'random/uuid', 'shmmax', 'shmall', 'shmmni', 'threads-max'];
  assert.equal(r.stdout, [
    '1', '1', ...kernel.map((f) => `kernel/${f} ok`), 'vm/overcommit_memory ok', 'vm/max_map_count ok', 'vm/mmap_min_addr ok', 'Linux',
    'cgroup:[N]', 'ipc:[N]', 'mnt:[N]', 'net:[N]', 'pid:[N]', 'user:[N]', 'uts:[N]', 'same-net', '',
  ].join('\n'), explain(r));
});

test('run --isolation=sentry: tmpfs mounts of config.json on a read-only rootfs behave as native ones (size, nr_inodes, mode/uid/gid, ro, noexec, nodev)', () => {
  const tmpfs = (destination: string, ...options: string[]) => ({ destination, type: 'tmpfs', source: 'tmpfs', options });
  const script = [
    'mkdir /run/nginx && echo "made /run/nginx"',
    'touch /rootfs-file 2>/dev/null || echo "read-only root"',
    'stat -c "%a %u %g" /mnt/owned',
    'dd if=/dev/zero of=/mnt/small/f bs=1024 count=128 2>/dev/null; echo "dd $?"; wc -c < /mnt/small/f',
    'for i in 1 2 3 4 5; do touch /mnt/few/$i 2>/dev/null || echo "no inode for $i"; done',
    'rm /mnt/few/1 && touch /mnt/few/6 && echo "inode given back"',
    'touch /mnt/ro/x 2>/dev/null || echo "ro tmpfs"',
    'cp /bin/busybox /mnt/noexec/bb && /mnt/noexec/bb true 2>/dev/null; echo "exec on noexec $?"',
    'cp /bin/busybox /mnt/small/bb 2>/dev/null || echo "no space for a copy"',
    // nodev: a device node may be made on /run (CAP_MKNOD) but not opened; on /mnt/dev it works.
    'mknod /run/null c 1 3 && { echo x > /run/null; } 2>/dev/null; echo "device on nodev $?"',
    'mknod /mnt/dev/null c 1 3 && echo x > /mnt/dev/null && echo "device elsewhere works"',
  ].join('\n');
  const b = makeBundle(['sh', '-c', script], (c) => {
    c.root.readonly = true;
    for (const set of ['bounding', 'effective', 'permitted']) c.process.capabilities[set].push('CAP_MKNOD');
    c.mounts.push(
      tmpfs('/run', 'nosuid', 'nodev', 'mode=755'),
      tmpfs('/mnt/dev', 'nosuid', 'mode=755'),
      tmpfs('/mnt/owned', 'mode=750', 'uid=33', 'gid=34'),
      tmpfs('/mnt/small', 'size=64k'),
      tmpfs('/mnt/few', 'nr_inodes=4'),
      tmpfs('/mnt/ro', 'ro'),
      tmpfs('/mnt/noexec', 'noexec'),
    );
  });
  try {
    const id = `tmpfs-${process.hrtime.bigint()}`;
    const native = moatRun(root, ['run', '--bundle', b.dir, `${id}-n`]);
    const sentry = moatRun(root, ['--isolation=sentry', 'run', '--bundle', b.dir, `${id}-s`]);
    assert.equal(native.status, 0, explain(native));
    assert.match(native.stdout, /^made \/run\/nginx\nread-only root\n750 33 34\ndd 1\n65536\nno inode for 4\nno inode for 5\ninode given back\nro tmpfs\nexec on noexec 126\nno space for a copy\ndevice on nodev 1\ndevice elsewhere works\n$/);
    assertSame(native, sentry, 'tmpfs mounts');
  } finally {
    b.cleanup();
  }
});
