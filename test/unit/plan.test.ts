import assert from 'node:assert/strict';
import { test } from 'node:test';
import { specTemplate } from '../../src/spec/default';
import { validateSpec } from '../../src/spec/validate';
import type { Process, Spec } from '../../src/spec/types';
import { CLONE, MS, encodePlan, planContainer, parseMountOptions, type ChildOp, type HostFacts } from '../../src/policy/plan';
import { parseCgroupMounts } from '../../src/policy/host-facts';
import { hostRootOverlayOps } from '../../src/native/platform';
import { doSpec } from '../../src/runtime/do-spec';

const HYBRID_MOUNTINFO = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

function facts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    uid: 0,
    gid: 0,
    pathKind: (p) => (p.endsWith('.txt') ? 'file' : p.startsWith('/missing') ? 'missing' : 'dir'),
    cgroupHierarchies: () => parseCgroupMounts(HYBRID_MOUNTINFO),
    ...over,
  };
}

function spec(mutate: (s: Record<string, any>) => void = () => undefined): Spec & { process: Process } {
  const raw = specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }) as Record<string, any>;
  raw.process.terminal = false;
  mutate(raw);
  return validateSpec(raw) as Spec & { process: Process };
}

const plan = (s: Spec & { process: Process }, f = facts()) =>
  planContainer({ spec: s, rootfs: '/b/rootfs', startFifo: '/run/moat/x/exec.fifo', noPivot: false, preserveFds: 0, facts: f });

const ops = (p: ReturnType<typeof plan>, name: ChildOp['op']) => p.child.filter((o) => o.op === name);

test('namespaces become clone flags; joined ones become setns in the parent', () => {
  const p = plan(spec((s) => s.linux.namespaces.push({ type: 'cgroup', path: '/proc/1/ns/cgroup' })));
  assert.equal(p.cloneFlags, CLONE.NEWPID | CLONE.NEWNET | CLONE.NEWIPC | CLONE.NEWUTS | CLONE.NEWNS);
  assert.deepEqual(p.parent, [{ op: 'setns', path: '/proc/1/ns/cgroup', nstype: CLONE.NEWCGROUP }]);
});

test('a time namespace is unshared in the parent and its offsets written there', () => {
  const p = plan(spec((s) => {
    s.linux.namespaces.push({ type: 'time' });
    s.linux.timeOffsets = { monotonic: { secs: 86400, nanosecs: 0 } };
  }));
  assert.deepEqual(p.parent, [
    { op: 'unshare', flags: CLONE.NEWTIME },
    { op: 'write', path: '/proc/self/timens_offsets', data: 'monotonic 86400 0\n' },
  ]);
  assert.equal(p.cloneFlags & CLONE.NEWTIME, 0);
});

test('a user namespace gets its maps written by the parent and the child becomes root in it', () => {
  // (open-start comes first: the fifo is opened with the caller's host uid)
  const p = plan(spec((s) => {
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  }));
  assert.deepEqual(p.afterClone, [
    { op: 'child-write', name: 'uid_map', data: '0 100000 65536\n' },
    { op: 'child-write', name: 'gid_map', data: '0 100000 65536\n' },
  ]);
  assert.deepEqual(p.child.slice(3, 5), [{ op: 'setresgid', r: 0, e: 0, s: 0 }, { op: 'setresuid', r: 0, e: 0, s: 0 }]);
  // mknod is impossible in a user namespace: devices are bind-mounted from the host.
  assert.equal(ops(p, 'mknodat').length, 0);
  assert.ok(p.child.some((o) => o.op === 'mountat' && o.dest === '/dev/null' && o.flags === MS.BIND && o.create === 'file'));
});

test('a rootless caller denies setgroups before writing gid_map', () => {
  const p = plan(spec((s) => {
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
  }), facts({ uid: 1000, gid: 1000 }));
  assert.deepEqual(p.afterClone[0], { op: 'child-write', name: 'setgroups', data: 'deny' });
});

test('namespace rules: mount ns required, mappings need a user ns, hostname needs uts', () => {
  assert.throws(() => plan(spec((s) => (s.linux.namespaces = [{ type: 'pid' }]))), /linux.namespaces: a mount namespace is required/);
  assert.throws(() => plan(spec((s) => (s.linux.uidMappings = [{ containerID: 0, hostID: 0, size: 1 }]))), /linux.uidMappings/);
  assert.throws(() => plan(spec((s) => (s.linux.namespaces = [{ type: 'mount' }]))), /hostname: setting a hostname needs/);
  assert.throws(() => plan(spec((s) => s.linux.namespaces.push({ type: 'user' }))), /linux.uidMappings: a new user namespace needs uid mappings/);
});

test('mounts are planned in order, destinations stay in-root ops, bind flags go with the bind', () => {
  const p = plan(spec((s) => s.mounts.push({ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro', 'nosuid', 'rslave'] })));
  const mountats = ops(p, 'mountat') as Extract<ChildOp, { op: 'mountat' }>[];
  assert.deepEqual(mountats.slice(0, 2).map((m) => m.dest), ['/proc', '/dev']);
  const data = mountats.filter((m) => m.dest === '/data');
  assert.deepEqual(data, [
    { op: 'mountat', src: '/srv/data', dest: '/data', fstype: '', flags: MS.BIND | MS.REC | MS.RDONLY | MS.NOSUID, data: '', create: 'dir' },
    { op: 'mountat', src: '', dest: '/data', fstype: '', flags: MS.SLAVE | MS.REC, data: '', create: 'none' },
  ]);
  const file = plan(spec((s) => s.mounts.push({ destination: '/etc/x.txt', type: 'bind', source: '/srv/x.txt', options: ['bind'] })));
  assert.ok(file.child.some((o) => o.op === 'mountat' && o.dest === '/etc/x.txt' && o.create === 'file'));
  assert.throws(() => plan(spec((s) => s.mounts.push({ destination: '/d', type: 'bind', source: '/missing/x', options: ['bind'] }))), /mounts\[7\].source: \/missing\/x does not exist/);
  assert.throws(() => plan(spec((s) => s.mounts.push({ destination: '/d', type: 'bind', source: 'rel', options: ['bind'] }))), /mounts\[7\].source/);
});

test('mount options: flags, clears, propagation and data', () => {
  assert.deepEqual(parseMountOptions(['ro', 'rw', 'nosuid', 'mode=755', 'size=1k', 'rprivate'], 'o'), {
    flags: MS.NOSUID, propagation: [MS.PRIVATE | MS.REC], bind: false, recursive: false, data: 'mode=755,size=1k',
  });
  assert.throws(() => parseMountOptions(['a,b'], 'mounts[0].options'), /mounts\[0\].options\[0\]/);
});

test('a cgroup mount on a hybrid host: tmpfs, one mount per hierarchy, co-mount links, ro last', () => {
  const p = plan(spec());
  const cg = p.child.filter((o) => (o.op === 'mountat' || o.op === 'symlinkat') && JSON.stringify(o).includes('/sys/fs/cgroup'));
  assert.deepEqual(cg.map((o) => (o.op === 'mountat' ? `${o.fstype || 'remount'}:${o.dest}:${o.data}` : `link:${o.op === 'symlinkat' ? o.linkpath : ''}`)), [
    'tmpfs:/sys/fs/cgroup:mode=755',
    'cgroup:/sys/fs/cgroup/cpu,cpuacct:cpu,cpuacct',
    'link:/sys/fs/cgroup/cpu',
    'link:/sys/fs/cgroup/cpuacct',
    'cgroup:/sys/fs/cgroup/memory:memory',
    'cgroup:/sys/fs/cgroup/systemd:xattr,name=systemd',
    'cgroup2:/sys/fs/cgroup/unified:',
    'remount:/sys/fs/cgroup:mode=755',
  ]);
  const v2 = plan(spec(), facts({ cgroupHierarchies: () => [{ name: '', type: 'cgroup2', options: '' }] }));
  assert.ok(v2.child.some((o) => o.op === 'mountat' && o.fstype === 'cgroup2' && o.dest === '/sys/fs/cgroup'));
});

test('the child sequence: devices before pivot, masks after, ready right before wait-start and exec', () => {
  const p = plan(spec((s) => (s.process.args = ['ls', '-l'])));
  const names = p.child.map((o) => o.op);
  const at = (n: string) => names.indexOf(n as ChildOp['op']);
  assert.ok(at('mknodat') < at('pivot-root'));
  assert.ok(at('open-start') < at('pivot-root'));
  assert.ok(at('pivot-root') < at('readonly') && at('readonly') < at('mask'));
  assert.ok(at('remount-ro') > at('mask'));
  assert.deepEqual(names.slice(-3), ['ready', 'wait-start', 'exec']);
  const exec = p.child.at(-1) as Extract<ChildOp, { op: 'exec' }>;
  assert.deepEqual(exec.candidates.slice(0, 2), ['/usr/local/sbin/ls', '/usr/local/bin/ls']);
  assert.deepEqual(exec.argv, ['ls', '-l']);
  assert.ok(names.includes('no-new-privs'));
  assert.deepEqual(ops(p, 'symlinkat').map((o) => (o.op === 'symlinkat' ? o.linkpath : '')).filter((l) => l.startsWith('/dev')),
    ['/dev/fd', '/dev/stdin', '/dev/stdout', '/dev/stderr', '/dev/ptmx']);
});

test('a new network namespace gets loopback-up before the privileges drop; a joined or absent one does not', () => {
  const fresh = plan(spec()).child.map((o) => o.op);
  assert.equal(fresh.filter((n) => n === 'loopback-up').length, 1);
  assert.ok(fresh.indexOf('loopback-up') > fresh.indexOf('pivot-root'));
  assert.ok(fresh.indexOf('loopback-up') < fresh.indexOf('capset'));
  assert.ok(fresh.indexOf('loopback-up') < fresh.indexOf('seccomp') || !fresh.includes('seccomp'));
  const joined = plan(spec((s) => {
    s.linux.namespaces = s.linux.namespaces.map((n: { type: string }) => (n.type === 'network' ? { type: 'network', path: '/run/netns/x' } : n));
  }));
  assert.ok(!joined.child.some((o) => o.op === 'loopback-up'));
  const host = plan(spec((s) => (s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'network'))));
  assert.ok(!host.child.some((o) => o.op === 'loopback-up'));
  // In a new user namespace too: the child is root in the namespace that owns the new netns.
  const userns = plan(spec((s) => {
    s.linux.namespaces.push({ type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  })).child.map((o) => o.op);
  assert.ok(userns.indexOf('setresuid') < userns.indexOf('loopback-up'));
  assert.ok(encodePlan(plan(spec())).toString().includes('\0loopback-up\0'));
});

test('no start fifo: no open-start/wait-start; --no-pivot moves the root instead', () => {
  const s = spec();
  const p = planContainer({ spec: s, rootfs: '/r', noPivot: true, preserveFds: 2, facts: facts() });
  const names = p.child.map((o) => o.op);
  assert.ok(!names.includes('open-start') && !names.includes('wait-start') && !names.includes('pivot-root'));
  assert.ok(names.includes('move-root'));
  assert.equal((p.child.at(-1) as Extract<ChildOp, { op: 'exec' }>).keep, 2);
});

test('sysctls must be namespaced by a namespace the container owns', () => {
  const p = plan(spec((s) => (s.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '4096' })));
  assert.deepEqual(ops(p, 'write-beneath'), [
    { op: 'write-beneath', base: '/proc/sys', relpath: 'net/ipv4/ip_forward', data: '1' },
    { op: 'write-beneath', base: '/proc/sys', relpath: 'kernel/shmmax', data: '4096' },
  ]);
  assert.throws(() => plan(spec((s) => (s.linux.sysctl = { 'kernel.panic': '1' }))), /linux.sysctl.kernel.panic: not a namespaced sysctl/);
  assert.throws(() => plan(spec((s) => (s.linux.sysctl = { 'net.../../x': '1' }))), /not a valid sysctl name/);
  assert.throws(() => plan(spec((s) => {
    s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
    s.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
  })), /needs the container's own network namespace/);
});

test('user, rlimits, umask, oom score', () => {
  const p = plan(spec((s) => {
    s.process.user = { uid: 1000, gid: 100, additionalGids: [10, 20], umask: 0o077 };
    s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 64, hard: 128 }];
    s.process.oomScoreAdj = 500;
  }));
  assert.deepEqual(ops(p, 'setgroups'), [{ op: 'setgroups', gids: [10, 20] }]);
  assert.deepEqual(ops(p, 'setresuid').at(-1), { op: 'setresuid', r: 1000, e: 1000, s: 1000 });
  assert.deepEqual(ops(p, 'rlimit'), [{ op: 'rlimit', resource: 7, soft: 64, hard: 128 }]);
  assert.deepEqual(ops(p, 'umask'), [{ op: 'umask', mode: 0 }, { op: 'umask', mode: 0o077 }]);
  assert.deepEqual(p.afterClone, [{ op: 'child-write', name: 'oom_score_adj', data: '500' }]);
  assert.throws(() => plan(spec((s) => (s.process.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }]))), /process.rlimits\[0\].type: unknown rlimit/);
});

test('encoding: magic, clone and go markers, list counts, NUL refused', () => {
  const p = planContainer({ spec: spec(), rootfs: '/r', noPivot: false, preserveFds: 0, facts: facts() });
  const tokens = encodePlan(p).toString().split('\0');
  assert.equal(tokens[0], 'MOATPLAN1');
  assert.equal(tokens.at(-1), '');
  const exec = tokens.lastIndexOf('exec');
  assert.deepEqual(tokens.slice(exec, exec + 3), ['exec', '0', String((p.child.at(-1) as Extract<ChildOp, { op: 'exec' }>).candidates.length)]);
  assert.ok(tokens.indexOf('clone') < tokens.indexOf('go'));
  p.child.push({ op: 'chdir', path: 'a\0b' });
  assert.throws(() => encodePlan(p), /NUL/);
});

test('moat do: host root overlay ops and a spec with fresh namespaces', () => {
  const s = doSpec({ args: ['sh'], env: { HOME: '/root', LD_PRELOAD: 'x' }, cwd: '/home' });
  assert.ok(s.process.env.includes('HOME=/root'));
  assert.ok(!s.process.env.some((e) => e.startsWith('LD_PRELOAD')));
  assert.ok(s.process.env.some((e) => e.startsWith('PATH=')));
  const p = planContainer({ spec: s, rootfs: '/run/moat/do-1/scratch/merged', noPivot: false, preserveFds: 0, facts: facts(), rootfsPrelude: hostRootOverlayOps('/run/moat/do-1/scratch') });
  assert.equal(p.cloneFlags, CLONE.NEWPID | CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWNET);
  const overlay = p.child.find((o) => o.op === 'mount' && o.fstype === 'overlay');
  assert.deepEqual(overlay, { op: 'mount', src: 'overlay', target: '/run/moat/do-1/scratch/merged', fstype: 'overlay', flags: 0,
    data: 'lowerdir=/,upperdir=/run/moat/do-1/scratch/upper,workdir=/run/moat/do-1/scratch/work' });
  assert.throws(() => hostRootOverlayOps('/a,b'), /cannot be used/);
  const ca = doSpec({ args: ['true'], env: { MOAT_SAVED_NODE_EXTRA_CA_CERTS: '/etc/ca.pem' }, cwd: '/' });
  assert.ok(ca.process.env.includes('NODE_EXTRA_CA_CERTS=/etc/ca.pem'));
  assert.ok(!ca.process.env.some((e) => e.startsWith('MOAT_SAVED')));
});
