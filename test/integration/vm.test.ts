// The vm platform with real QEMU (TCG here: this machine's /dev/kvm cannot boot a stock kernel).
// Every container is its own VM, and a boot is the cost (~5 s under TCG): each test boots as few
// VMs as it can and checks as much as they can show; VMs of one test boot concurrently (the
// machine has 2 cores, a TCG boot uses one), so a test's wall time is about one boot.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tty from 'node:tty';
import { containerSuite, makeBundle, moat, waitFor, MOAT } from '../helpers/moat';
import { inNs, netnsHolder, vethPair } from '../helpers/netns';
import { sys } from '../../src/sys';
import { SANDBOX_UID_BASE as VM_UID_BASE, SANDBOX_UID_COUNT as VM_UID_COUNT } from '../../src/state/sandbox-uid';

let root: string;
containerSuite(
  (r) => {
    root = r;
    // Base images of this file's bundles in its own vm cache (removed below), not /var/lib/moat.
    process.env.MOAT_VM_IMAGES = path.join(r, '@vm', 'images');
  },
  // The vm cache (initramfs, accel verdict, uid locks) is shared by the root's containers, not one's leftovers.
  () => {
    assert.deepEqual(relays(), [], 'no exec relay left');
    fs.rmSync(path.join(root, '@vm'), { recursive: true, force: true });
  },
);

const hasKernel = fs.existsSync('/boot') && fs.readdirSync('/boot').some((n) => /^vmlinuz-.*-cloud-amd64$/.test(n));
const skip = hasKernel ? false : 'linux-image-cloud-amd64 is not installed (sh scripts/setup.sh test)';
const VM_TIMEOUT = 120_000;

/** QEMU processes whose command line names this test's state root. */
function qemusOf(dir: string): number[] {
  return procsMatching((cmd) => cmd.startsWith('qemu-system') && cmd.includes(dir));
}

/** moat's exec relays (src/vm/exec.ts) still running. */
function relays(): number[] {
  return procsMatching((cmd) => cmd.includes('moat.js\0vm-exec-relay'));
}

function procsMatching(match: (cmdline: string) => boolean): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (match(fs.readFileSync(`/proc/${name}/cmdline`, 'utf8'))) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

function assertGone(id: string): void {
  assert.ok(!fs.existsSync(path.join(root, id)), `state dir of ${id} removed (disk image, sockets, status with it)`);
  assert.deepEqual(qemusOf(path.join(root, id)), [], `no qemu left for ${id}`);
}

function state(id: string): { status: string; pid: number } {
  const r = moat(root, ['state', id]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { status: string; pid: number };
}

/** A terminal's script: its name and size, then wait (polling) until the size is `size`, then read a line. */
function WAIT_FOR_SIZE(size: string, last: string): string {
  return `tty; stty size 2>/dev/null; while [ "$(stty size 2>/dev/null)" != "${size}" ]; do sleep 0.1; done; echo resized; read line; echo "line:$line"; ${last}`;
}

/** moat, asynchronously, with the container's stdio to a file (a create's VMM keeps it open). */
function detached(args: string[], outFile: string): Promise<number | null> {
  const fd = fs.openSync(outFile, 'a');
  const child = spawn(MOAT, ['--root', root, ...args], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** A console socket like containerd's: one pty master (SCM_RIGHTS), read as a stream. */
async function consoleSocket(dir: string, name: string): Promise<{ path: string; terminal: Promise<Terminal>; close(): void }> {
  const sockPath = path.join(dir, `${name}.sock`);
  let resolve: (t: Terminal) => void;
  const terminal = new Promise<Terminal>((r) => (resolve = r));
  const server = net.createServer((conn) => {
    // moat closes its end once the master is sent: read to EOF.
    const got = (sys() as unknown as RecvFds).recvFds((conn as unknown as { _handle: { fd: number } })._handle.fd, VM_TIMEOUT);
    conn.destroy();
    if (got.fds.length === 1) resolve(new Terminal(got.fds[0]!, got.data.toString()));
  });
  await new Promise<void>((r) => server.listen(sockPath, r));
  return { path: sockPath, terminal, close: () => server.close() };
}

/** The addon's recvFds (read a stream socket to EOF, with every fd sent on it). */
interface RecvFds {
  recvFds(fd: number, timeoutMs: number): { data: Buffer; fds: number[] };
}

class Terminal {
  out = '';
  private stream: tty.ReadStream;
  constructor(readonly fd: number, readonly name: string) {
    this.stream = new tty.ReadStream(fd);
    this.stream.on('data', (b: Buffer) => (this.out += b.toString()));
    this.stream.on('error', () => undefined); // EIO: the other side has gone
  }
  write(s: string): void {
    fs.writeSync(this.fd, s);
  }
  async waitFor(re: RegExp, what: string): Promise<void> {
    await waitFor(`${what} (terminal so far: ${JSON.stringify(this.out)})`, () => re.test(this.out), 30_000);
  }
  close(): void {
    this.stream.destroy();
  }
}

test('run --isolation=vm: guest kernel, stdin streamed in, lo up, files written and read back, stdout/stderr, exit code, nothing left', { skip, timeout: VM_TIMEOUT }, () => {
  const b = makeBundle(['sh', '-c', 'uname -r; read first; echo "got:$first"; wc -c; echo data-$((6*7)) > /root/f && cat /root/f; echo to-stderr >&2; cat /proc/1/comm; cat /sys/class/net/lo/flags; nc -l -p 8080 & sleep 0.5; echo over-loopback | nc -w 2 127.0.0.1 8080; sleep 0.5; kill $! 2>/dev/null; exit 7']);
  b.config.root.readonly = false;
  b.save();
  try {
    // 100 KiB after the first line: more than one virtqueue's worth, and its end is the guest's EOF.
    const r = moat(root, ['--isolation=vm', 'run', '--bundle', b.dir, 'vm-run'], { timeoutMs: VM_TIMEOUT, input: `hello\n${'x'.repeat(100 * 1024)}` });
    assert.equal(r.status, 7, r.stderr);
    const [release, got, count, data, comm, loFlags, overLo] = r.stdout.trim().split('\n').map((l) => l.trim());
    assert.match(release ?? '', /^6\.1\.\d+.*-cloud-amd64$/, 'the guest kernel, not the host one');
    assert.notEqual(release, os.release());
    assert.equal(got, 'got:hello', 'stdin reaches the container');
    assert.equal(count, String(100 * 1024), 'all of stdin, then EOF');
    assert.equal(data, 'data-42');
    assert.equal(comm, 'sh', 'the container has its own pid namespace in the guest');
    assert.equal(Number(loFlags) & 1, 1, `lo is up in the container's network namespace: flags ${loFlags}`);
    assert.equal(overLo, 'over-loopback', 'TCP over 127.0.0.1 in the guest');
    assert.match(r.stderr, /^to-stderr$/m);
    assert.doesNotMatch(r.stdout, /to-stderr/);
    // auto acceleration: KVM, or TCG with a one-line notice naming why (said when probed, then cached).
    const verdict = JSON.parse(fs.readFileSync(path.join(root, '@vm', 'accel.json'), 'utf8')) as { accel: string; reason: string };
    if (verdict.accel === 'tcg') assert.match(r.stderr, /vm: using TCG \(software emulation, slow\): .+/);
    assertGone('vm-run');
    assert.ok(!fs.existsSync(path.join(b.rootfs, 'root', 'f')), 'nothing written back to the bundle');
  } finally {
    b.cleanup();
  }
});

test('run --isolation=vm with stdio on regular files: stdin read from the caller\'s offset, output before what the caller writes next (one file description, as under runc)', { skip, timeout: VM_TIMEOUT }, () => {
  const b = makeBundle(['sh', '-c', 'cat; echo out; echo err >&2']);
  const files = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-vm-stdio-'));
  try {
    const [input, out, err] = ['in', 'out', 'err'].map((n) => path.join(files, n)) as [string, string, string];
    fs.writeFileSync(input, 'one\ntwo\nthree\n');
    // The shell reads a line first and writes after moat: a reopened file would start at 0 (three
    // lines read) and be overwritten from 0 by "after".
    const script = `{ read skip; "$0" --root "$1" --isolation=vm run --bundle "$2" vm-files; echo "status $?"; echo after; } < "$3" > "$4" 2> "$5"`;
    const r = spawnSync('sh', ['-c', script, MOAT, root, b.dir, input, out, err], { timeout: VM_TIMEOUT, encoding: 'utf8' });
    assert.equal(r.status, 0, fs.readFileSync(err, 'utf8'));
    assert.equal(fs.readFileSync(out, 'utf8'), 'two\nthree\nout\nstatus 0\nafter\n', fs.readFileSync(err, 'utf8'));
    assert.match(fs.readFileSync(err, 'utf8'), /^err$/m);
    assertGone('vm-files');
  } finally {
    fs.rmSync(files, { recursive: true, force: true });
    b.cleanup();
  }
});

test('vm lifecycle: a terminal over --console-socket, start/kill/delete; exec (stdin, -t, --detach), cgroup limits and VM size from linux.resources, a confined QEMU, a killed VMM', { skip, timeout: VM_TIMEOUT * 2 }, async () => {
  const trap = makeBundle(['sh', '-c', 'trap "echo got-TERM; exit 42" TERM; tty; stty size; echo started; while true; do sleep 0.05; done'], (c) => {
    c.process.terminal = true;
    c.process.consoleSize = { height: 25, width: 90 };
  });
  const victim = makeBundle(['sh', '-c', 'echo victim-up; while true; do sleep 1; done'], (c) => {
    c.root.readonly = false;
    c.linux.resources = { memory: { limit: 192 << 20 }, pids: { limit: 64 }, cpu: { quota: 150000, period: 100000 } };
  });
  const outB = path.join(victim.dir, 'out.txt');
  const cs = await consoleSocket(trap.dir, 'console');
  const terms: Terminal[] = [];
  try {
    // Two boots at once (a create is a boot): the test's wall time is one boot.
    const createB = detached(['--isolation', 'vm', 'create', '--bundle', victim.dir, 'vm-b'], outB);
    // With a terminal, nothing keeps moat's stdout/stderr open after create (containerd's shim reads
    // them to their end): pipes, and moat() waits for their EOF.
    const ca = moat(root, ['--isolation', 'vm', 'create', '--bundle', trap.dir, '--console-socket', cs.path, 'vm-a'], { timeoutMs: VM_TIMEOUT });
    assert.equal(ca.status, 0, ca.stderr);
    assert.equal(await createB, 0, fs.readFileSync(outB, 'utf8'));
    const term = await cs.terminal;
    terms.push(term);
    assert.match(term.name, /^\/dev\/pts\/\d+$/, 'sent with the name of the (host) pty');
    const created = state('vm-a');
    assert.equal(created.status, 'created');
    assert.match(fs.readFileSync(`/proc/${created.pid}/cmdline`, 'utf8'), /^qemu-system-x86_64\0/, "the state's pid is the VMM's");

    assert.equal(moat(root, ['start', 'vm-a']).status, 0);
    assert.equal(moat(root, ['start', 'vm-b']).status, 0);
    assert.equal(state('vm-a').status, 'running');
    // The container's terminal is a pty of its own devpts in the guest, at the spec's size.
    await term.waitFor(/started/, 'vm-a to start');
    assert.match(term.out, /\/dev\/pts\/0\r\n25 90\r\nstarted\r\n/);
    assert.notEqual(moat(root, ['start', 'vm-a']).status, 0, 'a running container cannot be started twice');

    // kill: the signal reaches the init inside the guest (its trap runs), and its exit code is the container's.
    const k = moat(root, ['kill', 'vm-a', 'TERM']);
    assert.equal(k.status, 0, k.stderr);
    await waitFor('vm-a to stop', () => state('vm-a').status === 'stopped', 20_000);
    await term.waitFor(/got-TERM/, 'the trap to run');
    assert.deepEqual(qemusOf(path.join(root, 'vm-a')), [], 'the VM powered off when its container exited');
    assert.notEqual(moat(root, ['kill', 'vm-a', 'TERM']).status, 0, 'a stopped container cannot be signalled');
    assert.equal(moat(root, ['delete', 'vm-a']).status, 0);
    assertGone('vm-a');

    // QEMU confined: a uid/gid of its own (no groups, no capabilities), chrooted into an empty dir.
    await waitFor('vm-b to print', () => fs.readFileSync(outB, 'utf8').includes('victim-up'), 20_000);
    const vmm = state('vm-b').pid;
    const status = fs.readFileSync(`/proc/${vmm}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/m.exec(status)?.[1]);
    assert.ok(uid >= VM_UID_BASE && uid < VM_UID_BASE + VM_UID_COUNT, `QEMU runs as a vm uid, not ${uid}`);
    assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    assert.match(status, new RegExp(`^Gid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    assert.match(status, new RegExp(`^Groups:\\s+${uid}\\s*$`, 'm'));
    assert.match(status, /^CapEff:\s+0+$/m);
    assert.match(status, /^CapPrm:\s+0+$/m);
    assert.equal(fs.readlinkSync(`/proc/${vmm}/root`), path.join(root, 'vm-b', 'vm', 'chroot'));
    assert.deepEqual(fs.readdirSync(path.join(root, 'vm-b', 'vm', 'chroot')), []);
    // Sized from linux.resources: 192 MiB + the guest's 128, and ceil(150000/100000) vCPUs.
    assert.match(fs.readFileSync(`/proc/${vmm}/cmdline`, 'utf8'), /\x00-m\x00320\x00-smp\x002\x00/);

    // exec: stdin in, stdout and stderr apart, the exit code; the cgroup limits inside the guest.
    const e = moat(root, ['exec', 'vm-b', 'sh', '-c', 'cat; echo to-err >&2; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max; nproc; exit 5'], { input: 'from-stdin\n' });
    assert.equal(e.status, 5, e.stderr);
    assert.equal(e.stdout, `from-stdin\n${192 << 20}\n64\n150000 100000\n2\n`);
    assert.equal(e.stderr, 'to-err\n');
    // pids.max is enforced (the guest kernel's cgroup v2): of 70 more processes, a fork fails
    // (the subshell dies of it; what follows uses builtins only: no pid is left for a program).
    const forks = moat(root, ['exec', 'vm-b', 'sh', '-c', '(for i in $(seq 70); do sleep 3 & done) 2>/tmp/forks; echo "sub:$?"; read l </tmp/forks; echo "$l"']);
    assert.equal(forks.stdout, "sub:2\nsh: can't fork: Resource temporarily unavailable\n", forks.stderr);
    const missing = moat(root, ['exec', 'vm-b', 'no-such-program']);
    assert.equal(missing.status, 127);
    assert.match(missing.stderr, /exec: "no-such-program": executable file not found in \$PATH/);

    // Signals to `moat exec` reach the process (via the control channel: not behind the 2 MiB of
    // stdin it never reads).
    const sig = spawn(MOAT, ['--root', root, 'exec', 'vm-b', 'sh', '-c', 'trap "echo got-TERM; exit 9" TERM; echo ready; while true; do sleep 0.1; done'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let sigOut = '';
    sig.stdout.on('data', (d: Buffer) => (sigOut += d.toString()));
    sig.stdin.on('error', () => undefined);
    sig.stdin.write(Buffer.alloc(2 << 20, 0x61));
    const sigDone = new Promise<number | null>((r) => sig.once('exit', (code) => r(code)));
    await waitFor('the exec to be ready', () => sigOut.includes('ready'), 20_000);
    sig.kill('SIGTERM');
    assert.equal(await sigDone, 9);
    assert.equal(sigOut, 'ready\ngot-TERM\n');

    // exec -t: a pty in the guest, its master over --console-socket; a resize of it reaches the guest.
    const ecs = await consoleSocket(victim.dir, 'exec-console');
    const execT = spawn(MOAT, ['--root', root, 'exec', '-t', '--console-socket', ecs.path, 'vm-b', 'sh', '-c', WAIT_FOR_SIZE('33 111', 'exit 3')], { stdio: 'ignore' });
    const execDone = new Promise<number | null>((r) => execT.once('exit', (code) => r(code)));
    const et = await ecs.terminal;
    terms.push(et);
    ecs.close();
    await et.waitFor(/\/dev\/pts\/\d+\r\n/, 'exec -t to start');
    sys().setWinsize(et.fd, 33, 111); // the relay looks at the size every 250 ms
    await et.waitFor(/resized\r\n/, 'the new size in the guest');
    et.write('typed\n');
    assert.equal(await execDone, 3);
    assert.match(et.out, /typed\r\nline:typed\r\n/, 'echoed by the guest pty, then read by the process');

    // exec --detach: the relay's pid stands for the process; it exits with it.
    const pidFile = path.join(victim.dir, 'exec.pid');
    const d = await detached(['exec', '--detach', '--pid-file', pidFile, 'vm-b', 'sh', '-c', 'sleep 1; echo detached > /root/d'], path.join(victim.dir, 'exec-d.txt'));
    assert.equal(d, 0, fs.readFileSync(path.join(victim.dir, 'exec-d.txt'), 'utf8'));
    const relayPid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(relays().includes(relayPid), 'the pid file names the relay');
    await waitFor('the detached exec to finish', () => !relays().includes(relayPid), 20_000);
    assert.equal(moat(root, ['exec', 'vm-b', 'cat', '/root/d']).stdout, 'detached\n');

    // exec -d -t: moat returns at once, its stdout/stderr closed (pipes: moat() waits for their
    // end) though the process runs on. Its relay killed: the process dies with it (the agent kills
    // what has no host any more).
    const pidFile2 = path.join(victim.dir, 'exec2.pid');
    const dcs = await consoleSocket(victim.dir, 'detached-console');
    const dt = moat(root, ['exec', '-d', '-t', '--console-socket', dcs.path, '--pid-file', pidFile2, 'vm-b', 'sleep', '1000'], { timeoutMs: 15_000 });
    assert.equal(dt.status, 0, dt.stderr);
    terms.push(await dcs.terminal);
    dcs.close();
    assert.match(moat(root, ['exec', 'vm-b', 'ps']).stdout, /sleep 1000/);
    process.kill(Number(fs.readFileSync(pidFile2, 'utf8')), 'SIGKILL');
    await waitFor('the orphaned exec to be killed', () => !moat(root, ['exec', 'vm-b', 'ps']).stdout.includes('sleep 1000'), 20_000);

    // kill TERM to an init with no handler (pid 1 of its namespace in the guest) is ignored, as under runc.
    assert.equal(moat(root, ['kill', 'vm-b', 'TERM']).status, 0);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(state('vm-b').status, 'running', 'the init ignored SIGTERM');
    assert.match(moat(root, ['exec', 'vm-b', 'cat', '/proc/1/cmdline']).stdout, /^sh\0-c\0/);

    // A VMM killed from outside: stopped, exec refused, and delete cleans up after it.
    process.kill(vmm, 'SIGKILL');
    await waitFor('vm-b to be stopped', () => state('vm-b').status === 'stopped', 10_000);
    const late = moat(root, ['exec', 'vm-b', 'true']);
    assert.notEqual(late.status, 0);
    assert.match(late.stderr, /stopped/);
    assert.equal(moat(root, ['delete', 'vm-b']).status, 0);
    assertGone('vm-b');
  } finally {
    terms.forEach((t) => t.close());
    cs.close();
    moat(root, ['delete', '--force', 'vm-a']);
    moat(root, ['delete', '--force', 'vm-b']);
    trap.cleanup();
    victim.cleanup();
  }
});

/** `moat do --isolation=vm` in the background: its output so far, a signal sender, the exit (code, ms after the first signal). */
function doVm(flags: string[], script: string): { out: () => string; signal(sig: NodeJS.Signals): void; done: Promise<{ code: number | null; afterMs: number; out: string; err: string }> } {
  const child = spawn(MOAT, ['--root', root, 'do', '--isolation=vm', ...flags, '--', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let at = 0;
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; afterMs: number; out: string; err: string }>((resolve) => {
    child.once('exit', (code) => resolve({ code, afterMs: Date.now() - at, out, err }));
  });
  return { out: () => out, signal: (sig) => { at ||= Date.now(); child.kill(sig); }, done };
}

test('do --isolation=vm: lo up; SIGTERM ends the sandbox after --grace (128+signal), a handled SIGTERM gives its own status, a signal during boot ends it before it starts; nothing left', { skip, timeout: VM_TIMEOUT }, async () => {
  // Three boots at once (a do is a boot). The first is signalled as soon as its state exists (moat is
  // making its VM): it must neither die halfway nor start the command.
  const booting = doVm([], 'echo started; sleep 100');
  await waitFor('the first do to begin its create', () => fs.readdirSync(root).some((n) => n.startsWith('do-')), 20_000);
  booting.signal('SIGTERM');
  const ignoring = doVm(['--grace', '1s'], 'cat /sys/class/net/lo/flags; echo ready; exec sleep 100');
  const handling = doVm(['--grace', '30s'], 'trap "echo cleaned-up; exit 7" TERM; echo ready; while :; do sleep 0.1; done');
  await waitFor('both sandboxes to be ready', () => ignoring.out().includes('ready\n') && handling.out().includes('ready\n'), VM_TIMEOUT / 2);
  ignoring.signal('SIGTERM');
  handling.signal('SIGTERM');
  const [ig, ha, bo] = await Promise.all([ignoring.done, handling.done, booting.done]);
  assert.equal(ig.code, 143, JSON.stringify(ig));
  assert.equal(Number(ig.out.split('\n')[0]) & 1, 1, `lo is up in the do sandbox: ${ig.out}`);
  assert.ok(ig.afterMs >= 900 && ig.afterMs < 8000, `killed after the grace period: ${ig.afterMs} ms`);
  assert.equal(ha.code, 7, JSON.stringify(ha));
  assert.match(ha.out, /cleaned-up/);
  assert.ok(ha.afterMs < 8000, `${ha.afterMs} ms`);
  assert.equal(bo.code, 143, JSON.stringify(bo));
  assert.doesNotMatch(bo.out, /started/, 'a sandbox signalled while it booted never starts');
  assert.deepEqual(fs.readdirSync(root).filter((n) => n !== '@vm'), [], 'nothing left of the three');
  assert.deepEqual(qemusOf(root), [], 'no VM left');
});

test('terminals in the foreground: do --isolation=vm at a terminal over the host root (read-only, a writable layer in memory), run -t with its size followed', { skip, timeout: VM_TIMEOUT }, async () => {
  // On the host's root filesystem (the do spec puts a tmpfs over /tmp): the guest sees it, and its
  // write lands in the guest's layer only.
  const hostDir = fs.mkdtempSync('/var/tmp/moat-vm-do-');
  const hostFile = path.join(hostDir, 'seen');
  fs.writeFileSync(hostFile, 'from-the-host\n');
  const b = makeBundle(['sh', '-c', WAIT_FOR_SIZE('41 123', 'exit 4')], (c) => {
    c.process.consoleSize = { height: 24, width: 80 };
  });
  const cs = await consoleSocket(b.dir, 'run-console');
  let term: Terminal | undefined;
  try {
    // `script` stands in for the user's terminal: moat relays it to a pty in the guest.
    const doRun = new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn('script', ['-qefc', `stty rows 30 cols 100; ${MOAT} --root ${root} do --isolation=vm -- sh -c 'uname -r; tty; stty size; pwd; cat ${hostFile}; echo changed > ${hostFile}; cat ${hostFile}; exit 3'`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.once('exit', (code) => resolve({ code, out }));
    });
    // run -t (moat's flag) in the foreground with a console socket: moat follows the master's size.
    const run = spawn(MOAT, ['--root', root, '--isolation=vm', 'run', '-t', '--console-socket', cs.path, '--bundle', b.dir, 'vm-tty'], { stdio: 'ignore' });
    const runDone = new Promise<number | null>((r) => run.once('exit', (code) => r(code)));
    term = await cs.terminal;
    await term.waitFor(/\/dev\/pts\/0\r\n\d+ \d+\r\n/, 'run -t to start');
    assert.match(term.out, /^\/dev\/pts\/0\r\n24 80\r\n/, "the spec's consoleSize first");
    sys().setWinsize(term.fd, 41, 123); // moat looks every 250 ms
    await term.waitFor(/resized\r\n/, 'the new size in the guest');
    term.write('hello\n');
    assert.equal(await runDone, 4);
    assert.match(term.out, /line:hello\r\n/);

    const d = await doRun;
    assert.equal(d.code, 3, d.out);
    const cwd = process.cwd().replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    assert.match(d.out, new RegExp(`6\\.1\\.\\d+.*-cloud-amd64\\r?\\r\\n/dev/pts/0\\r?\\r\\n30 100\\r?\\r\\n${cwd}\\r?\\r\\nfrom-the-host\\r?\\r\\nchanged\\r?\\r\\n`), 'the guest kernel, a pty of its own, the caller\'s cwd, the host file, then its own copy');
    assert.equal(fs.readFileSync(hostFile, 'utf8'), 'from-the-host\n', 'the host file is untouched');
    assert.deepEqual(fs.readdirSync(root).filter((n) => n !== '@vm'), [], 'nothing left of the do and run containers');
    assert.deepEqual(volumeServersOf(root), [], "no file server left (the do's host root share)");
  } finally {
    term?.close();
    cs.close();
    moat(root, ['delete', '--force', 'vm-tty']);
    b.cleanup();
    fs.rmSync(hostDir, { recursive: true, force: true });
  }
});

/** virtiofsd processes (and their wrappers) whose command line names `dir`. */
function volumeServersOf(dir: string): number[] {
  return procsMatching((cmd) => cmd.includes('virtiofsd') && cmd.includes(dir));
}

/** Host mounts (this namespace) whose mount point is under `dir`. */
function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir));
}

test('vm host volumes: a rw bind written by a container user (host sees its uid), a ro bind refuses writes, a single-file bind read and appended to, /etc/hosts copied in (the host\'s file unchanged); nothing left', { skip, timeout: VM_TIMEOUT }, () => {
  const host = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-vol-'));
  const rw = path.join(host, 'rw');
  const ro = path.join(host, 'ro');
  const etc = path.join(host, 'etc');
  for (const d of [rw, ro, etc]) fs.mkdirSync(d);
  fs.chmodSync(rw, 0o777);
  fs.writeFileSync(path.join(rw, 'in.txt'), 'from-host\n');
  fs.writeFileSync(path.join(ro, 'ro.txt'), 'read-only-data\n');
  fs.writeFileSync(path.join(etc, 'hosts'), '10.200.0.1 moat-volume-test\n');
  fs.chmodSync(path.join(etc, 'hosts'), 0o666); // the container user may append, as under runc
  fs.writeFileSync(path.join(etc, 'app.conf'), 'setting=1\n');
  fs.chmodSync(path.join(etc, 'app.conf'), 0o666);
  fs.writeFileSync(path.join(etc, 'secret'), 'sibling of the shared file\n');
  const script = [
    'id -u',
    'cat /data/in.txt',
    'echo from-guest > /data/out.txt && mkdir /data/sub && echo ok-rw',
    'cat /ro/ro.txt',
    '(echo x > /ro/new) 2>/dev/null && echo ro-written || echo ro-refused',
    'grep moat-volume-test /etc/hosts',
    'echo 10.200.0.2 appended >> /etc/hosts && echo ok-hosts',
    'stat -c %a /etc/hosts',
    'echo setting=2 >> /etc/app.conf && echo ok-conf',
    'ls /etc | grep -c secret',
  ].join('; ');
  const b = makeBundle(['sh', '-c', script], (c) => {
    c.process.user = { uid: 1234, gid: 1234 };
    c.mounts.push({ destination: '/data', type: 'bind', source: rw, options: ['rbind', 'rw'] });
    c.mounts.push({ destination: '/ro', type: 'bind', source: ro, options: ['rbind', 'ro'] });
    c.mounts.push({ destination: '/etc/hosts', type: 'bind', source: path.join(etc, 'hosts'), options: ['rbind', 'rw'] });
    c.mounts.push({ destination: '/etc/app.conf', type: 'bind', source: path.join(etc, 'app.conf'), options: ['rbind', 'rw'] });
  });
  try {
    const r = moat(root, ['--isolation=vm', 'run', '--bundle', b.dir, 'vm-vol'], { timeoutMs: VM_TIMEOUT });
    assert.equal(r.status, 1, `grep -c of no match is the last status: ${r.stderr}`);
    assert.deepEqual(r.stdout.trim().split('\n'), ['1234', 'from-host', 'ok-rw', 'read-only-data', 'ro-refused', '10.200.0.1 moat-volume-test', 'ok-hosts', '666', 'ok-conf', '0']);
    const out = fs.statSync(path.join(rw, 'out.txt'));
    assert.equal(fs.readFileSync(path.join(rw, 'out.txt'), 'utf8'), 'from-guest\n', 'the host sees what the container wrote');
    assert.deepEqual([out.uid, out.gid], [1234, 1234], 'owned by the container user, as under runc');
    const sub = fs.statSync(path.join(rw, 'sub'));
    assert.deepEqual([sub.isDirectory(), sub.uid], [true, 1234]);
    assert.ok(!fs.existsSync(path.join(ro, 'new')), 'nothing written through the ro bind');
    assert.equal(fs.readFileSync(path.join(etc, 'app.conf'), 'utf8'), 'setting=1\nsetting=2\n', 'the single file written through');
    assert.equal(fs.readFileSync(path.join(etc, 'hosts'), 'utf8'), '10.200.0.1 moat-volume-test\n', '/etc/hosts is a copy: what the container wrote stays in its VM');
    assertGone('vm-vol');
    assert.deepEqual(volumeServersOf(path.join(root, 'vm-vol')), [], 'no file server left');
    assert.deepEqual(mountsUnder(root), [], 'no mount left on the host');
  } finally {
    b.cleanup();
    fs.rmSync(host, { recursive: true, force: true });
  }
});

/** A minimal DNS server (UDP 10.213.7.1:53): every A query is answered with 10.1.2.3, others with no answer. */
const DNS_SERVER = `
const d = require('dgram').createSocket('udp4');
d.on('message', (m, r) => {
  let i = 12;
  const labels = [];
  while (i < m.length && m[i] !== 0) { labels.push(m.subarray(i + 1, i + 1 + m[i]).toString()); i += m[i] + 1; }
  i += 5;
  const qtype = m.readUInt16BE(i - 4);
  process.stdout.write('query ' + labels.join('.') + ' ' + qtype + '\\n');
  const h = Buffer.from(m.subarray(0, 12));
  h.writeUInt16BE(0x8180, 2); h.writeUInt16BE(1, 4); h.writeUInt16BE(qtype === 1 ? 1 : 0, 6); h.writeUInt16BE(0, 8); h.writeUInt16BE(0, 10);
  const a = qtype === 1 ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]) : Buffer.alloc(0);
  d.send(Buffer.concat([h, m.subarray(12, i), a]), r.port, r.address);
});
d.bind(53, '10.213.7.1', () => process.stdout.write('listening\\n'));
`;

test('vm networking: the VMM joins the spec\'s network namespace; its veth becomes the guest\'s eth0 (MAC, address, MTU, gateway) through a tap and tc mirred; TCP and UDP (DNS) peers in another namespace are reached; QEMU stays confined; nothing left', { skip, timeout: VM_TIMEOUT }, async () => {
  // Two namespaces of the test's own, a veth pair between them, 10.213.7.0/24 only inside them.
  const a = await netnsHolder();
  const b = await netnsHolder();
  let server: ReturnType<typeof spawn> | undefined;
  let dns: ReturnType<typeof spawn> | undefined;
  try {
    const mac = vethPair(a, b, '10.213.7');
    server = spawn('nsenter', [`--net=${b.path}`, '--', 'busybox', 'sh', '-c', 'echo from-peer | busybox nc -l -p 7777'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let heard = '';
    server.stdout!.on('data', (d: Buffer) => (heard += d.toString()));
    // UDP: a DNS server of the test's in the peer namespace answering every A query with 10.1.2.3.
    dns = spawn('nsenter', [`--net=${b.path}`, '--', process.execPath, '-e', DNS_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    let queries = '';
    dns.stdout!.on('data', (d: Buffer) => (queries += d.toString()));
    await waitFor('the dns server', () => queries.includes('listening'), 10_000);
    const script = 'cat /sys/class/net/eth0/address; cat /sys/class/net/eth0/mtu; ip -o -4 addr show dev eth0 | awk \'{print $4}\'; ip route | grep default; echo from-vm | nc -w 5 10.213.7.1 7777; nslookup moat.test 10.213.7.1 | grep 10.1.2.3';
    const bundle = makeBundle(['sh', '-c', script], (c) => {
      c.linux.namespaces = c.linux.namespaces.map((n: { type: string }) => (n.type === 'network' ? { type: 'network', path: a.path } : n));
    });
    let runner: ReturnType<typeof spawn> | undefined;
    try {
      const run = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(MOAT, ['--root', root, '--isolation=vm', 'run', '--bundle', bundle.dir, 'vm-net'], { stdio: ['ignore', 'pipe', 'pipe'] });
        runner = p;
        let stdout = '';
        let stderr = '';
        p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
        p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        p.once('exit', (status) => resolve({ status, stdout, stderr }));
      });
      // While it runs: QEMU is in the joined namespace, holds its tap, and is confined all the same.
      let qemu = 0;
      await waitFor('a confined qemu in the joined namespace', () => {
        qemu = qemusOf(path.join(root, 'vm-net'))[0] ?? 0;
        try {
          return qemu > 0 && Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${qemu}/status`, 'utf8'))?.[1]) >= VM_UID_BASE;
        } catch {
          return false;
        }
      }, VM_TIMEOUT);
      assert.equal(fs.readlinkSync(`/proc/${qemu}/ns/net`), fs.readlinkSync(a.path), 'QEMU runs in the spec\'s network namespace');
      assert.match(fs.readFileSync(`/proc/${qemu}/status`, 'utf8'), /^CapEff:\s+0+$/m);
      assert.equal(fs.readlinkSync(`/proc/${qemu}/root`), path.join(root, 'vm-net', 'vm', 'chroot'));
      // (An fd may close between the listing and its readlink: a restored QEMU drops its incoming state's.)
      const fdTarget = (fd: string) => {
        try {
          return fs.readlinkSync(`/proc/${qemu}/fd/${fd}`);
        } catch {
          return '';
        }
      };
      assert.ok(fs.readdirSync(`/proc/${qemu}/fd`).some((fd) => fdTarget(fd) === '/dev/net/tun'), 'QEMU holds its tap');
      const r = await run;
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n').map((l) => l.trim());
      assert.deepEqual([lines[0], lines[1], lines[2], lines[4]], [mac, '1400', '10.213.7.2/24', 'from-peer'], r.stdout);
      assert.match(lines[5] ?? '', /^Address:\s+10\.1\.2\.3$/, `a UDP exchange with the peer: ${r.stdout}`);
      assert.match(queries, /query moat\.test/);
      assert.match(lines[3] ?? '', /^default via 10\.213\.7\.1 dev eth0/);
      await waitFor('the peer heard the guest', () => heard.includes('from-vm'), 10_000);
      assertGone('vm-net');
      assert.doesNotMatch(inNs(a.path, ['ip', '-o', 'link', 'show']), /tap/, 'the tap went with QEMU');
      assert.doesNotMatch(inNs(a.path, ['tc', 'qdisc', 'show', 'dev', 'eth0']), /ingress/, 'the redirection is removed from eth0');
    } finally {
      // A failed assertion leaves the container running: it goes before its namespaces do.
      if (runner && runner.exitCode === null && runner.signalCode === null) {
        moat(root, ['delete', '--force', 'vm-net']);
        runner.kill('SIGKILL');
      }
      bundle.cleanup();
    }
  } finally {
    server?.kill('SIGKILL');
    dns?.kill('SIGKILL');
    await a.kill();
    await b.kill();
  }
});

/**
 * A createRuntime hook as Docker's is: it reads the state on stdin and hands the pid's network
 * namespace an interface (here a veth from the peer namespace $PEER, 10.213.8.0/24, eth0 inside);
 * it also says what it was given ("<pid> <status> <comm of pid> <its netns>") in $OUT. MODE=fail
 * refuses; MODE=hang waits (its own pid in $OUT.hook).
 */
const NET_HOOK = `#!/bin/sh
state=$(cat)
pid=$(echo "$state" | sed -n 's/.*"pid": *\\([0-9][0-9]*\\).*/\\1/p')
status=$(echo "$state" | sed -n 's/.*"status": *"\\([a-z]*\\)".*/\\1/p')
echo "$pid $status $(cat /proc/$pid/comm) $(readlink /proc/$pid/ns/net)" > "$OUT"
in_pid() { nsenter --net=/proc/$pid/ns/net -- "$@"; }
case "$MODE" in
fail) echo "no network for you" >&2; exit 3;;
hang) echo $$ > "$OUT.hook"; exec sleep 120;;
esac
nsenter --net="$PEER" -- ip link add peer0 mtu 1400 type veth peer name eth0 netns "$pid" || exit 1
nsenter --net="$PEER" -- ip addr add 10.213.8.1/24 dev peer0
nsenter --net="$PEER" -- ip link set peer0 up
in_pid ip addr add 10.213.8.2/24 dev eth0
in_pid ip link set eth0 mtu 1400 up
in_pid ip route add default via 10.213.8.1
in_pid ip -o link show eth0 >> "$OUT"
`;

test('vm: createRuntime hooks run before the boot with a namespace holder as the pid (as Docker\'s network hook needs): the veth it moves there becomes the guest\'s eth0; state\'s pid is then QEMU\'s; a failed hook, and delete after a create that died in its hooks, leave nothing', { skip, timeout: VM_TIMEOUT * 2 }, async () => {
  const peer = await netnsHolder();
  const hostNetns = fs.readlinkSync('/proc/self/ns/net');
  const out = (b: { dir: string }) => path.join(b.dir, 'hook.out');
  const withHook = (mode: string, args: string[]) => {
    const b = makeBundle(args);
    fs.writeFileSync(path.join(b.dir, 'hook.sh'), NET_HOOK);
    const env = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `OUT=${out(b)}`, `PEER=${peer.path}`, `MODE=${mode}`];
    b.config.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', path.join(b.dir, 'hook.sh')], env }] };
    b.save();
    return b;
  };
  /** No such process, or a zombie. */
  const gone = (pid: number) => {
    try {
      return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
    } catch {
      return true;
    }
  };
  let server: ReturnType<typeof spawn> | undefined;
  const boot = withHook('veth', ['sh', '-c', 'cat /sys/class/net/eth0/address; cat /sys/class/net/eth0/mtu; ip -o -4 addr show dev eth0 | awk \'{print $4}\'; ip route | grep default; echo from-vm | nc -w 5 10.213.8.1 7777']);
  const fail = withHook('fail', ['true']);
  const hang = withHook('hang', ['true']);
  let created: Promise<number | null> | undefined;
  try {
    server = spawn('nsenter', [`--net=${peer.path}`, '--', 'busybox', 'sh', '-c', 'echo from-peer | busybox nc -l -p 7777'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let heard = '';
    server.stdout!.on('data', (d: Buffer) => (heard += d.toString()));
    // The boot (one VM), while the other two cases, which boot nothing, run meanwhile.
    const outFile = path.join(boot.dir, 'out.txt');
    created = detached(['--isolation', 'vm', 'create', '--bundle', boot.dir, 'vm-hook'], outFile);

    // A failed hook aborts the create before any boot: its holder, cgroups and state go.
    const f = moat(root, ['--isolation=vm', 'run', '--bundle', fail.dir, 'vm-hook-fail'], { timeoutMs: VM_TIMEOUT });
    assert.notEqual(f.status, 0);
    assert.match(f.stderr, /createRuntime hook 0 \(\/bin\/sh\) failed: exit status 3: no network for you/);
    const [failPid, failStatus, failComm] = fs.readFileSync(out(fail), 'utf8').split(' ');
    assert.deepEqual([failStatus, failComm], ['creating', 'sleep'], 'the hook is given the holder, the container creating');
    assert.ok(gone(Number(failPid)), 'the holder went with the failed create');
    assertGone('vm-hook-fail');

    // A create that dies in its hook: state reports the holder (created: its creator is gone);
    // kill and delete leave nothing.
    const creator = spawn(MOAT, ['--root', root, '--isolation=vm', 'create', '--bundle', hang.dir, 'vm-hook-hang'], { stdio: 'ignore' });
    await waitFor('the hanging hook', () => fs.existsSync(`${out(hang)}.hook`) && fs.readFileSync(`${out(hang)}.hook`, 'utf8').endsWith('\n'), VM_TIMEOUT);
    const creatorGone = new Promise((r) => creator.once('exit', r));
    creator.kill('SIGKILL');
    await creatorGone;
    process.kill(Number(fs.readFileSync(`${out(hang)}.hook`, 'utf8')), 'SIGKILL');
    const [holderPid, , , holderNs] = fs.readFileSync(out(hang), 'utf8').trim().split(' ');
    assert.notEqual(holderNs, hostNetns, 'the holder has a network namespace of its own');
    const dying = state('vm-hook-hang');
    assert.deepEqual([dying.status, dying.pid], ['created', Number(holderPid)], 'the holder stands for the container');
    assert.equal(moat(root, ['kill', 'vm-hook-hang', 'KILL']).status, 0);
    await waitFor('the holder killed', () => gone(Number(holderPid)), 10_000);
    const del = moat(root, ['delete', 'vm-hook-hang']);
    assert.equal(del.status, 0, del.stderr);
    assertGone('vm-hook-hang');

    // The booted one: QEMU runs in the namespace the hook was given, with its veth.
    assert.equal(await created, 0, fs.readFileSync(outFile, 'utf8'));
    const said = fs.readFileSync(out(boot), 'utf8').split('\n');
    const [pid, status, comm, ns] = said[0]!.split(' ');
    const mac = /link\/ether ([0-9a-f:]{17})/.exec(said[1] ?? '')?.[1];
    assert.deepEqual([status, comm], ['creating', 'sleep'], said.join('\n'));
    assert.notEqual(ns, hostNetns);
    const st = state('vm-hook');
    assert.equal(st.status, 'created');
    assert.match(fs.readFileSync(`/proc/${st.pid}/cmdline`, 'utf8'), /^qemu-system-x86_64\0/, "after create, the state's pid is the VMM's");
    assert.equal(fs.readlinkSync(`/proc/${st.pid}/ns/net`), ns, 'QEMU runs in the namespace the hook set up');
    assert.ok(gone(Number(pid)), 'the holder is gone once QEMU holds the namespace');
    // A machine with one NIC: started from its template (docs/vm.md#templates) unless templates are off.
    const rec = JSON.parse(fs.readFileSync(path.join(root, 'vm-hook', 'state.json'), 'utf8')) as { vm?: { template?: string } };
    if (process.env.MOAT_VM_TEMPLATES !== 'off') assert.match(rec.vm?.template ?? '', /^[0-9a-f]+$/, 'restored from a template');
    assert.equal(moat(root, ['start', 'vm-hook']).status, 0);
    await waitFor('the container to finish', () => state('vm-hook').status === 'stopped', VM_TIMEOUT);
    // (moat's own warnings go to the same file: the accel verdict, the template made.)
    const lines = fs.readFileSync(outFile, 'utf8').trim().split('\n').map((l) => l.trim()).filter((l) => !l.startsWith('moat: '));
    assert.deepEqual(lines.slice(0, 3), [mac, '1400', '10.213.8.2/24'], lines.join('\n'));
    assert.match(lines[3] ?? '', /^default via 10\.213\.8\.1 dev eth0/);
    assert.equal(lines[4], 'from-peer');
    await waitFor('the peer heard the guest', () => heard.includes('from-vm'), 10_000);
    assert.equal(moat(root, ['delete', 'vm-hook']).status, 0);
    assertGone('vm-hook');
    // The namespace went with QEMU, and the veth with it.
    await waitFor('the veth gone with the namespace', () => !inNs(peer.path, ['ip', '-o', 'link', 'show']).includes('peer0'), 10_000);
  } finally {
    // A failed assertion: the boot's create ends first (a delete would wait for its lock).
    await created;
    for (const id of ['vm-hook', 'vm-hook-hang', 'vm-hook-fail']) moat(root, ['delete', '--force', id]);
    server?.kill('SIGKILL');
    await peer.kill();
    for (const b of [boot, fail, hang]) b.cleanup();
  }
});

test('vm: what the guest cannot do is refused naming the field, before any boot, leaving nothing', { skip }, () => {
  const b = makeBundle(['true'], (c) => {
    c.mounts.push({ destination: '/host', type: 'bind', source: '/nonexistent-moat-volume', options: ['rbind', 'ro'] });
  });
  try {
    const r = moat(root, ['--isolation=vm', 'run', '--bundle', b.dir, 'vm-bad']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /mounts\[\d+\]\.source: \/nonexistent-moat-volume does not exist/);
    assertGone('vm-bad');
    b.config.mounts.pop();
    b.config.mounts.push({ destination: '/dev/host-null', type: 'bind', source: '/dev/null', options: ['bind'] });
    b.save();
    const d = moat(root, ['--isolation=vm', 'run', '--bundle', b.dir, 'vm-bad3']);
    assert.notEqual(d.status, 0);
    assert.match(d.stderr, /mounts\[\d+\]\.source: \/dev\/null: only directories and regular files can be shared into a vm/);
    assertGone('vm-bad3');
    const a = moat(root, ['--isolation=vm', '--vm-accel=warp', 'run', '--bundle', b.dir, 'vm-bad2']);
    assert.notEqual(a.status, 0);
    assert.match(a.stderr, /--vm-accel: unknown vm acceleration "warp"/);
    assertGone('vm-bad2');
  } finally {
    b.cleanup();
  }
});
