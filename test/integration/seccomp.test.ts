// linux.seccomp on real containers: errno and kill actions, argument rules, the default profile of
// `moat do`, and SCMP_ACT_NOTIFY with a listener socket receiving the fd and the process state.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, MOAT } from '../helpers/moat';

let root: string;
containerSuite((r) => (root = r));

const TMPFS = { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] };

function withSeccomp(seccomp: Record<string, unknown>) {
  return (c: Record<string, any>) => {
    c.mounts.push(TMPFS);
    c.linux.seccomp = seccomp;
  };
}

function runIn(args: string[], mutate: (c: Record<string, any>) => void) {
  const b = makeBundle(args, mutate);
  try {
    return moat(root, ['run', '--bundle', b.dir, `seccomp-${process.hrtime.bigint()}`]);
  } finally {
    b.cleanup();
  }
}

const MKDIR_THEN_TOUCH = ['sh', '-c', 'mkdir /tmp/x; echo "mkdir=$?"; touch /tmp/y && echo touched'];

test('a rule denying mkdir with EPERM: mkdir fails, everything else works', () => {
  const r = runIn(MKDIR_THEN_TOUCH, withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'mkdir=1\ntouched\n');
  assert.match(r.stderr, /mkdir: can't create directory '\/tmp\/x': Operation not permitted/);
});

test('errnoRet is the errno the syscall fails with', () => {
  const r = runIn(MKDIR_THEN_TOUCH, withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 28 }] }));
  assert.equal(r.stdout, 'mkdir=1\ntouched\n', r.stderr);
  assert.match(r.stderr, /No space left on device/);
});

test('a filter refusing close_range (ENOSYS or EPERM, no no_new_privs): fds are closed through /proc/self/fd, the process runs', () => {
  // Profiles older than close_range(2) (runtime-tools', Docker's before 2021) answer ENOSYS for it;
  // without no_new_privs the filter is loaded before the executor hands over its fds.
  for (const errnoRet of [38, 1]) {
    const r = runIn(['sh', '-c', 'ls /proc/self/fd | wc -l'], (c) => {
      withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['close_range'], action: 'SCMP_ACT_ERRNO', errnoRet }] })(c);
      c.process.noNewPrivileges = false;
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '4', `only 0..2 (+ ls's own directory fd) are open: ${r.stdout}`);
  }
});

test('SCMP_ACT_KILL_PROCESS: the container dies of SIGSYS (exit 159)', () => {
  // exec: the init itself makes the call (KILL_PROCESS kills the calling process, not its parent).
  const r = runIn(['sh', '-c', 'echo before; exec mkdir /tmp/x'], withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL_PROCESS' }] }));
  assert.equal(r.status, 159, r.stderr);
  assert.equal(r.stdout, 'before\n');
});

test('an argument rule: personality allowed only with PER_LINUX', () => {
  const profile = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0, op: 'SCMP_CMP_NE' }] }],
  };
  const r = runIn(['sh', '-c', 'linux64 true; echo "linux64=$?"; linux32 true; echo "linux32=$?"'], withSeccomp(profile));
  assert.equal(r.stdout, 'linux64=0\nlinux32=1\n', r.stderr);
  assert.match(r.stderr, /Operation not permitted/);
});

test('moat do: the default profile blocks user namespaces and keyctl; ordinary commands work', () => {
  const keyctl = 'import ctypes; c = ctypes.CDLL(None, use_errno=True); r = c.syscall(250, 0, -3, 0); print("keyctl", r, ctypes.get_errno())';
  const script = [
    'grep "^Seccomp:" /proc/self/status',
    'unshare -U true 2>/dev/null; echo "unshare=$?"',
    `/usr/bin/python3 -c '${keyctl}'`,
    'ls / >/dev/null && echo ls-ok',
    'echo hi > /tmp/f && cat /tmp/f',
  ].join('; ');
  const r = moat(root, ['do', '--', 'sh', '-c', script]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['Seccomp:\t2', 'unshare=1', 'keyctl -1 1', 'ls-ok', 'hi']);
});

function sys(): { recvFds(fd: number, timeoutMs: number): { data: Buffer; fds: number[] } } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(process.env.MOAT_NATIVE_DIR!, 'moat_native.node'));
}

interface Received {
  state: Record<string, any>;
  fdTarget: string;
  nspid: string;
}

/** Accept one connection, read the state and the fd, inspect them, then close the fd. */
function listenOnce(sockPath: string): Promise<Received> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ pauseOnConnect: true }, (conn) => {
      try {
        const fd = (conn as unknown as { _handle: { fd: number } })._handle.fd;
        const { data, fds } = sys().recvFds(fd, 20_000);
        assert.equal(fds.length, 1, 'one fd');
        const state = JSON.parse(data.toString('utf8'));
        const fdTarget = fs.readlinkSync(`/proc/self/fd/${fds[0]}`);
        const nspid = fs.readFileSync(`/proc/${state.pid}/status`, 'utf8').match(/^NSpid:\s*(.*)$/m)?.[1] ?? '';
        // Closing the listener: the trapped syscall fails with ENOSYS and the container goes on.
        fs.closeSync(fds[0]!);
        resolve({ state, fdTarget, nspid });
      } catch (err) {
        reject(err);
      } finally {
        conn.destroy();
        server.close();
      }
    });
    server.on('error', reject);
    server.listen(sockPath);
  });
}

test('SCMP_ACT_NOTIFY: the listener receives the fd and the container process state', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-listener-'));
  const sockPath = path.join(dir, 'agent.sock');
  const id = `notify-${process.pid}`;
  const b = makeBundle(['sh', '-c', 'mkdir /tmp/x; echo "mkdir=$?"'], withSeccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    listenerPath: sockPath,
    listenerMetadata: 'agent-metadata',
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
  }));
  b.config.annotations = { 'org.example': 'yes' };
  b.save();
  try {
    const received = listenOnce(sockPath);
    const child = spawn(MOAT, ['--root', root, 'run', '--bundle', b.dir, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    const silent = exited.then((code) => Promise.reject(new Error(`moat exited (${code}) without contacting the listener: ${stderr}`)));
    const got = await Promise.race([received, silent]);
    const status = await exited;
    assert.equal(got.fdTarget, 'anon_inode:seccomp notify');
    const { state } = got;
    assert.equal(state.ociVersion, '1.2.0');
    assert.deepEqual(state.fds, ['seccompFd']);
    assert.equal(state.metadata, 'agent-metadata');
    assert.ok(Number.isInteger(state.pid) && state.pid > 1, String(state.pid));
    assert.match(got.nspid, /\t1$/, 'pid is the container init, as the host sees it');
    assert.deepEqual(state.state, {
      ociVersion: b.config.ociVersion, id, status: 'creating', pid: state.pid, bundle: b.dir, annotations: { 'org.example': 'yes' },
    });
    assert.equal(status, 0, stderr);
    assert.equal(stdout, 'mkdir=1\n');
    assert.match(stderr, /Function not implemented/);
  } finally {
    b.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('SCMP_ACT_NOTIFY with nobody listening: the container is not created and says why', () => {
  const r = runIn(['true'], withSeccomp({
    defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/nonexistent/agent.sock', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }],
  }));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /seccomp-connect \/nonexistent\/agent\.sock: No such file or directory/);
});
