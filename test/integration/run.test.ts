// `moat run` of real containers from a busybox rootfs: output, exit codes, isolation, spec fields.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat } from '../helpers/moat';
import { netnsHolder } from '../helpers/netns';

let root: string;
containerSuite((r) => (root = r));

function runIn(args: string[], mutate?: (c: Record<string, any>) => void, id = `run-${process.hrtime.bigint()}`) {
  const b = makeBundle(args, mutate);
  try {
    return moat(root, ['run', '--bundle', b.dir, id]);
  } finally {
    b.cleanup();
  }
}

test('run prints the output and exits with the container exit code', () => {
  const r = runIn(['sh', '-c', 'echo hello; echo oops >&2; exit 3']);
  assert.equal(r.stdout, 'hello\n');
  assert.equal(r.stderr, 'oops\n');
  assert.equal(r.status, 3);
});

test('stdin reaches the container', () => {
  const b = makeBundle(['sh', '-c', 'read line; echo "got $line"']);
  try {
    const r = moat(root, ['run', '--bundle', b.dir, 'stdin'], { input: 'ping\n' });
    assert.equal(r.stdout, 'got ping\n');
  } finally {
    b.cleanup();
  }
});

test('isolation: own pid namespace, hostname, mount table, no host files, own network', () => {
  const script = [
    'echo "pid=$$"',
    'hostname',
    'echo "ps=$(ps -o pid,comm | sed 1d | tr -s " " | tr "\\n" ";")"',
    'echo "work=$(ls /work 2>&1)"',
    'echo "links=$(ls /sys/class/net | tr "\\n" " ")"',
    'cat /proc/self/mountinfo',
  ].join('; ');
  const r = runIn(['sh', '-c', script], (c) => {
    c.hostname = 'box1';
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'pid=1');
  assert.equal(lines[1], 'box1');
  const procs = lines[2]!.slice(3).split(';').filter(Boolean).map((l) => l.trim().split(' '));
  assert.deepEqual(procs[0], ['1', 'sh'], lines[2]);
  assert.ok(procs.every(([pid]) => Number(pid) < 20), `only the container's processes: ${lines[2]}`);
  assert.ok(procs.length <= 10, lines[2]);
  assert.equal(lines[3], 'work=ls: /work: No such file or directory');
  assert.equal(lines[4], 'links=lo ');
  const mountinfo = lines.slice(5).join('\n');
  assert.match(mountinfo, /^\d+ \d+ \S+ \S+ \/ ro,/m, 'the rootfs is mounted read-only at /');
  assert.doesNotMatch(mountinfo, / \/work /, 'the host /work mount is not visible');
  assert.match(mountinfo, / \/proc rw[^ ]* - proc /);
});

/** lo's flags, then a line sent over TCP to 127.0.0.1 by busybox nc, printed by the listener. */
const LOOPBACK_SCRIPT = [
  'cat /sys/class/net/lo/flags',
  'nc -l -p 8080 & sleep 0.3',
  'echo over-loopback | nc -w 2 127.0.0.1 8080',
  'sleep 0.3; kill $! 2>/dev/null; true',
].join('; ');

test('loopback: lo is up in a new network namespace (TCP over 127.0.0.1 works); a joined one is left as it is', async () => {
  const fresh = runIn(['sh', '-c', LOOPBACK_SCRIPT]);
  assert.equal(fresh.status, 0, fresh.stderr);
  const [flags, got] = fresh.stdout.trim().split('\n');
  assert.equal(Number(flags) & 1, 1, `lo is up: flags ${flags}`);
  assert.equal(got, 'over-loopback');
  // A namespace the container joins by path is someone else's: runc leaves its lo alone, so does moat.
  // (Held by a process of the test's, not `ip netns add`, whose /run/netns mount would outlive it.)
  const holder = await netnsHolder();
  try {
    const nsPath = holder.path;
    const joined = runIn(['sh', '-c', 'cat /sys/class/net/lo/flags'], (c) => {
      c.linux.namespaces = c.linux.namespaces.map((n: { type: string }) => (n.type === 'network' ? { type: 'network', path: nsPath } : n));
    });
    assert.equal(joined.status, 0, joined.stderr);
    assert.equal(Number(joined.stdout.trim()) & 1, 0, `lo of the joined namespace stays down: ${joined.stdout}`);
    // (ip, not the host's /sys: sysfs shows the network namespace of whoever mounted it.)
    const after = spawnSync('nsenter', [`--net=${nsPath}`, 'ip', '-o', 'link', 'show', 'lo'], { encoding: 'utf8' });
    assert.match(after.stdout, /<LOOPBACK>/, `and still down afterwards: ${after.stdout}${after.stderr}`);
  } finally {
    await holder.kill();
  }
});

test('process fields: env, cwd, user, groups, umask, rlimits, no_new_privs', () => {
  const r = runIn(['sh', '-c', 'echo $FOO; pwd; id -u; id -g; id -G; umask; ulimit -n; grep NoNewPrivs /proc/self/status'], (c) => {
    c.process.env.push('FOO=bar baz');
    c.process.cwd = '/work/dir';
    c.process.user = { uid: 1000, gid: 1000, additionalGids: [10, 20], umask: 0o027 };
    c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 321, hard: 321 }];
    c.process.noNewPrivileges = true;
    c.root.readonly = false;
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['bar baz', '/work/dir', '1000', '1000', '1000 10 20', '0027', '321', 'NoNewPrivs:\t1']);
});

test('readonly root, masked and readonly paths, default devices', () => {
  const r = runIn(['sh', '-c', [
    'touch /x 2>/dev/null && echo root-writable || echo root-ro',
    'cat /proc/kcore 2>/dev/null | wc -c',
    '(echo 5 > /proc/sys/kernel/printk_ratelimit) 2>&1 | grep -q "Read-only file system" && echo procsys-ro',
    'ls /proc/acpi 2>/dev/null | wc -l',
    'ls /dev | sort | tr "\\n" " "; echo',
    'echo hi > /dev/null && head -c 4 /dev/zero | wc -c',
    'echo x > /dev/full 2>/dev/null || echo full-ok',
    'touch /tmp/t 2>/dev/null || echo tmp-ro-too',
  ].join('; ')]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], 'root-ro');
  assert.equal(lines[1], '0');
  assert.equal(lines[2], 'procsys-ro');
  assert.equal(lines[3], '0');
  for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm', 'mqueue', 'fd', 'stdin', 'stdout', 'stderr']) {
    assert.ok(lines[4]!.split(' ').includes(d), `/dev/${d} missing: ${lines[4]}`);
  }
  assert.equal(lines[5], '4');
  assert.equal(lines[6], 'full-ok');
});

test('mounts: bind ro, tmpfs with options, file bind', () => {
  const hostDir = fs.mkdtempSync('/tmp/moat-src-');
  fs.writeFileSync(path.join(hostDir, 'f.txt'), 'from host\n');
  try {
    const r = runIn(['sh', '-c', 'cat /data/f.txt; echo x > /data/new 2>/dev/null || echo data-ro; cat /etc/single; touch /scratch/ok && echo scratch-rw; grep " /scratch " /proc/self/mountinfo | grep -o "size=[0-9]*k"'], (c) => {
      c.mounts.push({ destination: '/data', type: 'bind', source: hostDir, options: ['rbind', 'ro'] });
      c.mounts.push({ destination: '/etc/single', type: 'bind', source: path.join(hostDir, 'f.txt'), options: ['bind'] });
      c.mounts.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1024k'] });
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['from host', 'data-ro', 'from host', 'scratch-rw', 'size=1024k']);
    assert.deepEqual(fs.readdirSync(hostDir), ['f.txt']);
  } finally {
    fs.rmSync(hostDir, { recursive: true, force: true });
  }
});

test('a user namespace: root inside maps to an unprivileged host uid', () => {
  const r = runIn(['sh', '-c', 'id -u; cat /proc/self/uid_map | tr -s " "; touch /tmp/owned; stat -c %u /tmp/owned'], (c) => {
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    c.linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    c.root.readonly = true;
    c.mounts = c.mounts.filter((m: { type: string }) => m.type !== 'cgroup' && m.type !== 'sysfs');
    c.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: [] });
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['0', ' 0 200000 65536', '0']);
});

test('sysctl and domainname are applied inside the container only', () => {
  const hostValue = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  const r = runIn(['sh', '-c', 'cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/kernel/domainname'], (c) => {
    c.linux.sysctl = { 'net.ipv4.ip_forward': hostValue === '1' ? '0' : '1' };
    c.domainname = 'example.test';
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), [hostValue === '1' ? '0' : '1', 'example.test']);
  assert.equal(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), hostValue);
});

test('a program that does not exist: exit 127 with a clear message', () => {
  const r = runIn(['/no/such/program']);
  assert.equal(r.status, 127);
  assert.equal(r.stderr, 'moat: exec: "/no/such/program": stat /no/such/program: no such file or directory\n');
});

test('--pid-file and --preserve-fds', () => {
  const b = makeBundle(['sh', '-c', 'cat <&3']);
  const pidFile = path.join(b.dir, 'pid');
  try {
    // fd 3 of moat is a pipe carrying "through fd 3".
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
    const r = spawnSync('sh', ['-c', `echo "through fd 3" | { ${JSON.stringify(path.resolve(__dirname, '../../../../bin/moat'))} --root ${root} run --preserve-fds 1 --pid-file ${pidFile} --bundle ${b.dir} pf 3<&0 0</dev/null; }`], { encoding: 'utf8' });
    assert.equal(r.stdout, 'through fd 3\n', r.stderr);
    assert.equal(r.status, 0);
    assert.match(fs.readFileSync(pidFile, 'utf8'), /^\d+$/);
  } finally {
    b.cleanup();
  }
});

test('capabilities: the spec sets are what the process has, in every set', () => {
  const r = runIn(['sh', '-c', 'grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb)" /proc/self/status | tr -s "\\t" " "'], (c) => {
    c.process.capabilities = {
      bounding: ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_CHOWN'],
      effective: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'],
      permitted: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'],
      inheritable: ['CAP_KILL'],
      ambient: ['CAP_KILL'],
    };
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'CapInh: 0000000000000020',
    'CapPrm: 0000000000000420',
    'CapEff: 0000000000000420',
    'CapBnd: 0000000000000421',
    'CapAmb: 0000000000000020',
  ]);
});

test('a non-root user with ambient capabilities keeps them across exec', () => {
  const r = runIn(['sh', '-c', 'id -u; grep -E "^CapEff" /proc/self/status | tr -s "\\t" " "'], (c) => {
    c.process.user = { uid: 1000, gid: 1000 };
    const caps = ['CAP_NET_BIND_SERVICE'];
    c.process.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: caps, ambient: caps };
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['1000', 'CapEff: 0000000000000400']);
});

test('an unknown capability is refused, naming it', () => {
  const r = runIn(['true'], (c) => {
    c.process.capabilities.bounding.push('CAP_TELEPORT');
  });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'moat: config.json: process.capabilities.bounding[3]: unknown capability "CAP_TELEPORT"\n');
});

test('each container joins a session keyring of its own, unless --no-new-keyring', () => {
  const b = makeBundle(['sh', '-c', 'grep -o "_ses\\.[a-z0-9-]*" /proc/keys || echo none'], (c) => {
    c.linux.maskedPaths = c.linux.maskedPaths.filter((p: string) => p !== '/proc/keys');
  });
  try {
    const own = moat(root, ['run', '--bundle', b.dir, 'keyring-own']);
    assert.equal(own.status, 0, own.stderr);
    assert.ok(own.stdout.split('\n').includes('_ses.keyring-own'), own.stdout);
    assert.equal(moat(root, ['run', '--no-new-keyring', '--bundle', b.dir, 'keyring-shared']).stdout.includes('_ses.keyring-shared'), false);
  } finally {
    b.cleanup();
  }
});

test('run without a pid namespace: the executor is the subreaper of the container\'s orphans and reaps them', () => {
  // The orphan (a backgrounded sleep whose parent subshell exits) is re-parented to the executor
  // supervising the run, not to the host's init; it exits before the container does and is reaped.
  const r = runIn(['sh', '-c', '(sleep 1 & echo $! > /tmp/orphan); sleep 0.3; p=$(cat /tmp/orphan); pp=$(grep PPid /proc/$p/status | cut -f2); cat /proc/$pp/comm; sleep 1.5; grep State /proc/$p/status || echo reaped'], (c) => {
    c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'pid');
    c.root.readonly = false;
    c.mounts = c.mounts.filter((m: { destination: string }) => m.destination !== '/proc');
    c.mounts.push({ destination: '/proc', type: 'bind', source: '/proc', options: ['rbind', 'ro'] });
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['moat-exec', 'reaped']);
});
