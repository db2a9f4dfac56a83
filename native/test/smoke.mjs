#!/usr/bin/env node
// Smoke test of the native layer: builds it, then runs moat-exec on hand-written plans against a
// busybox rootfs. Needs root (namespaces, mounts) and /bin/busybox (busybox-static).
//
//   sudo node native/test/smoke.mjs          (KEEP=1 keeps the temp dir for a look)
//
// Everything it makes lives in one temp dir, removed at the end; mounts only ever exist in the
// init's private mount namespace; every init is reaped (this process is the child subreaper).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXEC = path.join(ROOT, 'build/native/moat-exec');
const require = createRequire(import.meta.url);

const MS = { RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, BIND: 4096, REC: 16384, PRIVATE: 1 << 18 };
const CLONE = {
  NEWNS: 0x20000, NEWUTS: 0x4000000, NEWIPC: 0x8000000, NEWUSER: 0x10000000,
  NEWPID: 0x20000000, NEWNET: 0x40000000,
};
const S_IFCHR = 0o020000;
const CAPS = (1 << 0) | (1 << 5); // CAP_CHOWN, CAP_KILL
const X64 = process.arch === 'x64';
// seccomp BPF (code jt jf k): on x86_64, mkdir(83) and mkdirat(258) fail with EPERM.
const DENY_MKDIR = [
  [0x20, 0, 0, 4], [0x15, 1, 0, 0xc000003e], [0x06, 0, 0, 0x7fff0000],
  [0x20, 0, 0, 0], [0x15, 2, 0, 83], [0x15, 1, 0, 258], [0x06, 0, 0, 0x7fff0000],
  [0x06, 0, 0, 0x50000 | 1],
].flat();
const APPLETS = ['sh', 'echo', 'cat', 'ls', 'hostname', 'ps', 'mount', 'id', 'sleep', 'mkdir'];
const TAG = crypto.randomBytes(8).toString('hex'); // in every executor's environ: finds leftovers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- plan writer (docs/executor-plan.md wire format) ----

class Plan {
  constructor() { this.tokens = ['MOATPLAN1']; }
  op(name, ...args) {
    this.tokens.push(name);
    for (const a of args) {
      if (Array.isArray(a)) this.tokens.push(String(a.length), ...a.map(String));
      else this.tokens.push(String(a));
    }
    return this;
  }
  bytes() { return Buffer.from(this.tokens.map((t) => `${t}\0`).join('')); }
}

// ---- running the executor ----

/**
 * Run moat-exec on a plan; resolves when P has exited and the report fd is at EOF.
 * keepFd: an fd to hand to the container as its fd 3 (plan and report then move to 4 and 5).
 * onStart(child) runs once spawned, onPid(child) once `pid` is reported.
 */
function runExec(plan, mode, outFile, { onPid, onStart, keepFd } = {}) {
  const out = fs.openSync(outFile, 'w');
  const extra = keepFd === undefined ? [] : [keepFd];
  const [planFd, reportFd] = [3 + extra.length, 4 + extra.length];
  const child = spawn(EXEC, ['--plan-fd', `${planFd}`, '--report-fd', `${reportFd}`, '--mode', mode], {
    stdio: ['ignore', out, out, ...extra, 'pipe', 'pipe'],
    env: { MOAT_SMOKE_TAG: TAG },
  });
  fs.closeSync(out);
  child.stdio[planFd].end(plan.bytes());
  onStart?.(child);
  let report = '';
  const reported = new Promise((resolve) => {
    child.stdio[reportFd].on('data', (d) => {
      report += d;
      if (onPid && /^pid \d+\n/.test(report)) { onPid(child); onPid = null; }
    });
    child.stdio[reportFd].on('close', resolve);
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const timeout = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return Promise.all([exited, reported]).then(([st]) => {
    clearTimeout(timeout);
    return { ...st, report };
  });
}

// ---- fixtures ----

function makeRootfs(dir) {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  for (const d of ['proc', 'dev']) fs.mkdirSync(path.join(dir, d));
  fs.copyFileSync('/bin/busybox', path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  for (const a of APPLETS) fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  fs.chmodSync(dir, 0o755);
}

/** The usual container set-up, in plan order: everything up to the pivot. */
function setupOps(plan, rootfs, { userns = false } = {}) {
  plan.op('umask', 0)
    .op('mount', '', '/', '', MS.REC | MS.PRIVATE, '')
    // Bind before `rootfs`: its fd must name the bind mount, which pivot_root needs as new root.
    .op('mount', rootfs, rootfs, '', MS.BIND | MS.REC, '')
    .op('rootfs', rootfs)
    .op('mountat', 'proc', '/proc', 'proc', MS.NOSUID | MS.NODEV | MS.NOEXEC, '', 'dir')
    .op('mountat', 'tmpfs', '/dev', 'tmpfs', MS.NOSUID, 'mode=755,size=64k', 'dir');
  if (userns) plan.op('mountat', '/dev/null', '/dev/null', '', MS.BIND, '', 'file');
  else plan.op('mknodat', '/dev/null', S_IFCHR | 0o666, 1, 3, 0, 0);
  return plan.op('symlinkat', '/proc/self/fd', '/dev/fd');
}

const shExec = (script, keep = 0) => ['exec', keep, ['/nope/sh', '/bin/sh'], ['sh', '-c', script], ['PATH=/bin', 'HOME=/']];

// ---- leftovers ----

function taggedProcesses() {
  const found = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/environ`, 'latin1').includes(`MOAT_SMOKE_TAG=${TAG}`)) found.push(pid);
    } catch { /* gone, or a kernel thread */ }
  }
  return found;
}

function ourChildren({ zombiesOnly }) {
  const found = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === process.pid && (state === 'Z' || !zombiesOnly)) found.push(Number(pid));
    } catch { /* gone */ }
  }
  return found;
}
const ourZombies = () => ourChildren({ zombiesOnly: true }).map(String);

/** Reap what was orphaned to us (we are the subreaper), as a shim would; returns their status. */
function reapAdopted(native, known) {
  return ourChildren({ zombiesOnly: false }).filter((pid) => !known.has(pid)).map((pid) => {
    const fd = native.pidfdOpen(pid);
    try {
      native.pidfdWaitExit(fd, 5000);
      return native.pidfdReap(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

async function assertNothingLeft(tmp) {
  for (let i = 0; i < 50 && taggedProcesses().length; i++) await sleep(20);
  assert.deepEqual(taggedProcesses(), [], 'no executor or init process left');
  assert.deepEqual(ourZombies(), [], 'no unreaped child left');
  assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(tmp), 'no mount left on the host');
}

// ---- cases ----

async function caseCreate(t, native) {
  const rootfs = path.join(t.tmp, 'create-root');
  const fifo = path.join(t.tmp, 'exec.fifo');
  const out = path.join(t.tmp, 'create.out');
  const data = path.join(t.tmp, 'data-src');
  makeRootfs(rootfs);
  fs.mkdirSync(data);
  execFileSync('mkfifo', ['-m', '0600', fifo]);
  const script = [
    'echo host=$(hostname)', 'echo pid=$$', 'ls /', 'echo fwd=$(cat /proc/sys/net/ipv4/ip_forward)',
    'echo fds=$(ls /proc/self/fd)', 'mount', 'ls -l /dev/null',
    'if echo x 2>/dev/null >/data/f; then echo data=rw; else echo data=ro; fi',
  ].join('; ');
  const plan = new Plan()
    .op('clone', CLONE.NEWNS | CLONE.NEWPID | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWNET)
    .op('go');
  setupOps(plan, rootfs)
    .op('mountat', 'tmpfs', '/run/deep/x', 'tmpfs', 0, '', 'dir') // missing dirs get created
    .op('mountat', data, '/data', '', MS.BIND | MS.REC | MS.RDONLY, '', 'dir') // ro needs a remount
    .op('open-start', fifo)
    .op('pivot-root')
    .op('sethostname', 'moat-smoke')
    .op('write-beneath', '/proc/sys', 'net/ipv4/ip_forward', '1')
    .op('mask', '/proc/timer_list') // a file: /dev/null bound over it
    .op('mask', '/proc/acpi') // a directory: read-only tmpfs over it
    .op('mask', '/proc/no-such-file')
    .op('readonly', '/proc/sys')
    .op('umask', 0o22)
    .op('ready')
    .op('wait-start')
    .op(...shExec(script));

  const res = await runExec(plan, 'create', out);
  assert.equal(res.code, 0, `create exits 0 (report: ${res.report})`);
  const m = /^pid (\d+)\n$/.exec(res.report);
  assert.ok(m, `report is one pid line: ${JSON.stringify(res.report)}`);
  const pid = Number(m[1]);
  const pidfd = native.pidfdOpen(pid); // the init is ours now: we are its subreaper
  t.pidfds.push(pidfd);
  assert.equal(native.pidfdWaitExit(pidfd, 100), false, 'init waits in wait-start');
  assert.equal(fs.readFileSync(out, 'utf8'), '', 'nothing runs before start');

  // `moat start`: open the fifo for reading, read the byte.
  const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const buf = Buffer.alloc(1);
  let got = 0;
  for (let i = 0; i < 500 && got === 0; i++) {
    try { got = fs.readSync(fd, buf, 0, 1, null); } catch (e) { if (e.code !== 'EAGAIN') throw e; }
    if (got === 0) await sleep(10);
  }
  fs.closeSync(fd);
  assert.equal(got, 1, 'start byte arrives');
  assert.equal(buf[0], 0);

  assert.equal(native.pidfdWaitExit(pidfd, 10_000), true, 'init exits');
  assert.deepEqual(native.pidfdReap(pidfd), { code: 0, signal: null });
  const text = fs.readFileSync(out, 'utf8');
  const lines = text.split('\n');
  for (const want of ['host=moat-smoke', 'pid=1', 'bin', 'dev', 'proc', 'run', 'fwd=1', 'fds=0 1 2 3', 'data=ro']) {
    assert.ok(lines.includes(want), `output has line ${want}:\n${text}`);
  }
  assert.match(text, / on \/proc\/sys type proc \(ro,/, '/proc/sys is read-only');
  assert.match(text, / on \/proc\/timer_list type tmpfs /, '/proc/timer_list is masked');
  assert.match(text, / on \/proc\/acpi type tmpfs \(ro,/, '/proc/acpi is masked');
  assert.match(text, / on \/run\/deep\/x type tmpfs /, 'tmpfs on created dirs');
  assert.match(text, /^crw-rw-rw- .* \/dev\/null$/m, '/dev/null is a 0666 char device');
  assert.ok(fs.statSync(path.join(rootfs, 'run/deep/x')).isDirectory(), 'dirs created inside the rootfs');
  assert.deepEqual(fs.readdirSync(data), [], 'read-only bind was read-only');
  return `pid ${pid}; output: ${lines.filter((l) => /^(host|pid|fwd|fds|data)=/.test(l)).join(' ')}`;
}

async function caseRun(t) {
  const rootfs = path.join(t.tmp, 'run-root');
  makeRootfs(rootfs);
  const plan = new Plan().op('clone', CLONE.NEWNS | CLONE.NEWPID | CLONE.NEWUTS).op('go');
  setupOps(plan, rootfs)
    .op('pivot-root')
    .op('rlimit', 'RLIMIT_NOFILE', 1000, 1000)
    .op('setgroups', [0, 10])
    .op('cap-bounding', CAPS)
    .op('capset', CAPS, CAPS, CAPS, 0)
    .op('no-new-privs');
  if (X64) plan.op('seccomp', 0, DENY_MKDIR);
  plan.op('ready')
    .op(...shExec('echo nofile=$(ulimit -n) groups=$(id -G) fds=$(ls /proc/self/fd) kept=$(cat <&3); '
      + 'cat /proc/self/status; mkdir /d; echo mkdir=$?; exit 7', 1));
  const out = path.join(t.tmp, 'run.out');
  const keepFile = path.join(t.tmp, 'kept');
  fs.writeFileSync(keepFile, 'kept-data');
  const keepFd = fs.openSync(keepFile, 'r');
  const res = await runExec(plan, 'run', out, { keepFd }).finally(() => fs.closeSync(keepFd));
  assert.equal(res.code, 7, `exit code 7 propagated (report: ${res.report})`);
  assert.match(res.report, /^pid \d+\n$/);
  const text = fs.readFileSync(out, 'utf8');
  assert.match(text, /nofile=1000 groups=0 10 fds=0 1 2 3 4 kept=kept-data/, 'fd 3 kept, nothing else');
  assert.match(text, /^CapEff:\s+0000000000000021$/m, 'capabilities set');
  assert.match(text, /^CapBnd:\s+0000000000000021$/m, 'bounding set dropped');
  assert.match(text, /^NoNewPrivs:\s+1$/m);
  if (X64) {
    assert.match(text, /^Seccomp:\s+2$/m);
    assert.match(text, /Operation not permitted\nmkdir=1\n/, 'seccomp filter denies mkdir');
  }
  return 'exit 7 propagated; keep fd, rlimit, setgroups, caps, no-new-privs, seccomp applied';
}

async function caseSignal(t) {
  // No new pid ns: a pid-1 init would ignore SIGTERM without a handler.
  const rootfs = path.join(t.tmp, 'signal-root');
  makeRootfs(rootfs);
  const plan = new Plan().op('clone', CLONE.NEWNS).op('go');
  setupOps(plan, rootfs).op('pivot-root').op('ready')
    .op('exec', 0, ['/bin/sleep'], ['sleep', '30'], []);
  const out = path.join(t.tmp, 'signal.out');
  const started = Date.now();
  const res = await runExec(plan, 'run', out, { onPid: (p) => setTimeout(() => p.kill('SIGTERM'), 200) });
  assert.equal(res.code, 128 + os.constants.signals.SIGTERM, `SIGTERM forwarded: ${JSON.stringify(res)}`);
  assert.ok(Date.now() - started < 10_000);
  return 'SIGTERM to the executor killed the init: exit 143';
}

async function caseErrors(t, native) {
  const rootfs = path.join(t.tmp, 'err-root');
  makeRootfs(rootfs);
  const plan = new Plan().op('clone', CLONE.NEWNS | CLONE.NEWPID).op('go');
  setupOps(plan, rootfs)
    .op('mountat', 'none', '/mnt', 'nosuchfs', 0, '', 'dir')
    .op('ready')
    .op(...shExec('exit 0'));
  const res = await runExec(plan, 'create', path.join(t.tmp, 'err.out'));
  assert.equal(res.code, 1);
  assert.equal(res.report, 'error mountat /mnt (nosuchfs): No such device\n');

  const bad = new Plan().op('clone', CLONE.NEWNS).op('go').op('umask', '0755').op('ready').op(...shExec(''));
  const res2 = await runExec(bad, 'run', path.join(t.tmp, 'err2.out'));
  assert.equal(res2.code, 1);
  assert.match(res2.report, /^error plan: op 3 \(umask\): argument 1: bad value "0755"\n$/);

  const ok = await runExec(plan, 'check', path.join(t.tmp, 'err.out'));
  assert.deepEqual([ok.code, ok.report], [0, ''], '--mode check accepts a good plan, runs nothing');

  const usr = new Plan().op('clone', CLONE.NEWNS).op('child-write', 'uid_map', '0 0 1').op('go')
    .op('ready').op(...shExec(''));
  const res3 = await runExec(usr, 'create', path.join(t.tmp, 'err3.out'));
  assert.equal(res3.code, 1);
  assert.match(res3.report, /^error child-write uid_map: /, 'after-clone failure reported');
  const reports = [res.report, res2.report, res3.report];

  if (X64) { // an init killed by its own seccomp filter during set-up
    const killHostname = [[0x20, 0, 0, 0], [0x15, 0, 1, 170], [0x06, 0, 0, 0x80000000], [0x06, 0, 0, 0x7fff0000]];
    const sys = new Plan().op('clone', CLONE.NEWUTS).op('go').op('no-new-privs')
      .op('seccomp', 0, killHostname.flat()).op('sethostname', 'x').op('ready').op(...shExec(''));
    const res4 = await runExec(sys, 'run', path.join(t.tmp, 'err4.out'));
    assert.equal(res4.code, 1);
    assert.equal(res4.report, 'error the init died during set-up: killed by signal 31\n');
    reports.push(res4.report);
  }

  // The executor killed while the init blocks in set-up (opening a fifo): the init dies with it.
  const blocker = path.join(t.tmp, 'blocker');
  fs.mkdirSync(blocker);
  execFileSync('mkfifo', [path.join(blocker, 'fifo')]);
  const hang = new Plan().op('clone', 0).op('go').op('write-beneath', blocker, 'fifo', 'x')
    .op('ready').op(...shExec(''));
  let executor;
  const res5 = await runExec(hang, 'run', path.join(t.tmp, 'err5.out'),
    { onStart: (p) => { executor = p.pid; setTimeout(() => p.kill('SIGKILL'), 300); } });
  assert.equal(res5.signal, 'SIGKILL');
  // The init was orphaned to us, and its parent-death signal killed it.
  let adopted = [];
  for (let i = 0; i < 100 && adopted.length === 0; i++) {
    adopted = reapAdopted(native, new Set([executor]));
    if (adopted.length === 0) await sleep(20);
  }
  assert.deepEqual(adopted, [{ code: null, signal: 'SIGKILL' }], 'init died with the executor');
  await assertNothingLeft(t.tmp);
  return reports.map((r) => r.trim()).join(' | ');
}

async function caseSymlinkEscape(t) {
  const rootfs = path.join(t.tmp, 'evil-root');
  const host = path.join(t.tmp, 'host-dir'); // outside the rootfs
  makeRootfs(rootfs);
  fs.mkdirSync(host);
  fs.symlinkSync(host, path.join(rootfs, 'evil'));
  fs.symlinkSync(`../../../../../../..${host}`, path.join(rootfs, 'evil2'));

  const attempts = [
    ['mountat', 'tmpfs', '/evil/x', 'tmpfs', 0, '', 'dir'],
    ['mountat', 'tmpfs', '/evil2/x', 'tmpfs', 0, '', 'dir'],
    ['mkdirat', '/evil/y/z', 0o755],
    ['symlinkat', '/etc/passwd', '/evil/link'],
    ['mknodat', '/evil/null', S_IFCHR | 0o666, 1, 3, 0, 0],
    ['mountat', '/etc', '/evil/file', '', MS.BIND, '', 'file'],
  ];
  const errors = [];
  for (const op of attempts) {
    const plan = new Plan().op('clone', CLONE.NEWNS).op('go')
      .op('mount', '', '/', '', MS.REC | MS.PRIVATE, '').op('rootfs', rootfs)
      .op(...op).op('ready').op('exec', 0, ['/nonexistent'], ['x'], []);
    const res = await runExec(plan, 'run', path.join(t.tmp, 'evil.out'));
    assert.equal(res.code, 1, `${op.join(' ')}: refused (${res.report})`);
    errors.push(res.report.trim());
    assert.deepEqual(fs.readdirSync(host), [], `${op[0]}: nothing created in the host dir`);
  }
  // A symlink that resolves inside the rootfs is followed there, never on the host.
  fs.mkdirSync(path.join(rootfs, host), { recursive: true });
  const plan = new Plan().op('clone', CLONE.NEWNS).op('go')
    .op('mount', '', '/', '', MS.REC | MS.PRIVATE, '').op('rootfs', rootfs)
    .op('mkdirat', '/evil/inside', 0o700).op('ready').op('exec', 0, ['/nonexistent'], ['x'], []);
  const res = await runExec(plan, 'run', path.join(t.tmp, 'evil.out'));
  assert.equal(res.code, 127, 'set-up passes; exec fails after ready with 127');
  assert.equal(fs.readFileSync(path.join(t.tmp, 'evil.out'), 'utf8'),
    'moat-exec: exec "x": No such file or directory\n');
  assert.deepEqual(fs.readdirSync(host), []);
  assert.ok(fs.statSync(path.join(rootfs, host, 'inside')).isDirectory());
  return `${attempts.length} escapes refused: ${errors.join(" | ")}`;
}

async function caseUserns(t) {
  const rootfs = path.join(t.tmp, 'userns-root');
  makeRootfs(rootfs);
  const plan = new Plan()
    .op('clone', CLONE.NEWUSER | CLONE.NEWNS | CLONE.NEWPID | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWNET)
    .op('child-write', 'setgroups', 'deny')
    .op('child-write', 'uid_map', '0 100000 65536')
    .op('child-write', 'gid_map', '0 100000 65536')
    .op('go')
    // A new user ns keeps our host ids (unmapped there): become its root before creating files.
    .op('setresgid', 0, 0, 0)
    .op('setresuid', 0, 0, 0);
  setupOps(plan, rootfs, { userns: true })
    .op('pivot-root')
    .op('sethostname', 'userns')
    .op('ready')
    .op(...shExec('echo uid=$(id -u) gid=$(id -g) host=$(hostname); cat /proc/self/uid_map'));
  const out = path.join(t.tmp, 'userns.out');
  const res = await runExec(plan, 'run', out);
  const text = fs.readFileSync(out, 'utf8');
  assert.equal(res.code, 0, `userns run: ${res.report} ${text}`);
  assert.match(text, /^uid=0 gid=0 host=userns$/m);
  assert.match(text, /^\s*0\s+100000\s+65536$/m);
  return text.split('\n')[0];
}

// ---- main ----

async function main() {
  if (process.getuid() !== 0) {
    console.log('skip: smoke test needs root');
    return;
  }
  execFileSync('make', ['-s', '-C', path.join(ROOT, 'native')], { stdio: 'inherit' });
  const native = require(path.join(ROOT, 'build/native/moat_native.node'));
  native.setChildSubreaper(); // create-mode inits are orphaned to us, and pid 1 may not reap

  const t = { tmp: fs.mkdtempSync(path.join(os.tmpdir(), 'moat-smoke-')), pidfds: [] };
  process.stdout.on('error', () => {}); // a closed pipe (| head) must not skip the clean-up
  fs.chmodSync(t.tmp, 0o755); // the userns root (host uid 100000) must reach its rootfs
  const cases = [
    ['create mode: busybox container started through the fifo', caseCreate],
    ['run mode: exit code propagated', caseRun],
    ['run mode: signals forwarded', caseSignal],
    ['set-up errors reported, nothing left behind', caseErrors],
    ['symlinks never lead out of the rootfs', caseSymlinkEscape],
    ['user namespace: root inside', caseUserns],
  ];
  let failed = 0;
  try {
    for (const [name, fn] of cases) {
      try {
        console.log(`ok - ${name}: ${await fn(t, native)}`);
      } catch (e) {
        failed++;
        console.log(`not ok - ${name}\n${e.stack}`);
      }
    }
    await assertNothingLeft(t.tmp);
    console.log('ok - nothing left behind (processes, zombies, mounts)');
  } finally {
    for (const fd of t.pidfds) {
      try { native.pidfdSendSignal(fd, 9); } catch { /* already gone */ }
      try { native.pidfdWaitExit(fd, 2000); native.pidfdReap(fd); } catch { /* reaped */ }
      fs.closeSync(fd);
    }
    if (!process.env.KEEP) fs.rmSync(t.tmp, { recursive: true, force: true });
  }
  if (failed) {
    console.log(`${failed} of ${cases.length} cases failed`);
    process.exit(1);
  }
  console.log(`all ${cases.length} cases passed`);
}

await main();
