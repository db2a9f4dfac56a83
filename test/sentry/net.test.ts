// The sentry's network (docs/sentry.md, "Networking"): AF_INET/AF_INET6 over host sockets in the
// sandbox's network namespace, NETLINK_ROUTE's read side, /proc/net, and the egress annotation.
//
// * progs/net.c run natively and under `moat do --isolation=sentry` must print the same lines
//   (TCP over 127.0.0.1 and ::1 across fork, port 0 + getsockname, non-blocking connect + poll +
//   SO_ERROR, ECONNREFUSED, UDP, half-close, 4 MiB, epoll, FIONREAD, getifaddrs over netlink,
//   EINTR/SA_RESTART on blocking socket calls, UDP sendmmsg/recvmmsg, SIOCGIFCONF and the other
//   interface ioctls, the sandbox's sockets in /proc/net/{tcp,tcp6,udp,udp6}).
//   Not under native `moat do`: a fresh namespace's lo is down there (runc leaves it to CNI).
// * glibc resolving through bind-mounted /etc/hosts and /etc/resolv.conf (a DNS server of progs/dns.c
//   in the sandbox answers).
// * busybox nc, ip, netstat, ifconfig in the sandbox; changes (`ip link set lo down`, `ip addr
//   add`) refused.
// * dev.moat.network.egress: a denied destination fails (EACCES) on every path (progs/egress.c:
//   TCP/UDP, v4/v6/mapped/0.0.0.0/AF_UNSPEC, sendto/sendmsg/sendmmsg, connected UDP), an allowed one works, a bad
//   value is refused at create. Only loopback and addresses of namespaces this file makes.
// * A spec without a network namespace runs in the host's; one whose network namespace is a path
//   (as Docker/CNI hand it) reaches a server in another
//   namespace over a veth pair; both namespaces and the veth are gone afterwards.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { makeBundle, BUSYBOX, MOAT } from '../helpers/moat';
import { explain, isMountPoint, moatDo, moatRun, runNative, sentrySuite, PROGS_SRC } from './helpers';

let root: string;
let binDir = '';
sentrySuite(
  (r) => (root = r),
  () => {
    if (binDir !== '') fs.rmSync(binDir, { recursive: true, force: true });
  },
);

/** udpsend HOST PORT: one datagram; prints "udp ok" or "udp: <strerror>" (busybox nc has no -u). */
const UDPSEND = `#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int c, char **v) {
  struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(v[2])) };
  struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(atoi(v[2])) };
  int six = strchr(v[1], ':') != NULL;
  if (c != 3 || (six ? inet_pton(AF_INET6, v[1], &s6.sin6_addr) : inet_pton(AF_INET, v[1], &s4.sin_addr)) != 1) return 2;
  int fd = socket(six ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  if (sendto(fd, "x", 1, 0, six ? (struct sockaddr *)&s6 : (struct sockaddr *)&s4, six ? sizeof s6 : sizeof s4) == 1) { puts("udp ok"); return 0; }
  printf("udp: %s\\n", strerror(errno));
  return 1;
}
`;

/** sockopt: options the sentry does not offer (IP_OPTIONS — source routing —, IPV6_RTHDR), each tried twice. */
const SOCKOPT = `#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
int main(void) {
  int u = socket(AF_INET, SOCK_DGRAM, 0), u6 = socket(AF_INET6, SOCK_DGRAM, 0);
  unsigned char opt[8] = { 0x83, 7, 4, 10, 0, 0, 1, 0 };
  char rt[64];
  socklen_t len = sizeof rt;
  for (int i = 0; i < 2; i++) {
    printf("IP_OPTIONS: %s\\n", setsockopt(u, IPPROTO_IP, IP_OPTIONS, opt, sizeof opt) ? strerrorname_np(errno) : "ok");
    printf("IPV6_RTHDR: %s\\n", getsockopt(u6, IPPROTO_IPV6, IPV6_RTHDR, rt, &len) ? strerrorname_np(errno) : "ok");
  }
  return 0;
}
`;

let netnsWasMounted = false;

before(() => {
  netnsWasMounted = isMountPoint('/run/netns');
  binDir = fs.mkdtempSync('/var/tmp/moat-sentry-net-');
  fs.chmodSync(binDir, 0o755);
  execFileSync('gcc', ['-static', '-O1', '-Wall', '-Werror', '-o', path.join(binDir, 'net'), path.join(PROGS_SRC, 'net.c')], { stdio: 'pipe' });
  execFileSync('gcc', ['-static', '-O1', '-Wall', '-Werror', '-o', path.join(binDir, 'writewait'), path.join(PROGS_SRC, 'writewait.c')], { stdio: 'pipe' });
  execFileSync('gcc', ['-static', '-O1', '-Wall', '-Werror', '-o', path.join(binDir, 'egress'), path.join(PROGS_SRC, 'egress.c')], { stdio: 'pipe' });
  fs.writeFileSync(path.join(binDir, 'udpsend.c'), UDPSEND);
  execFileSync('gcc', ['-static', '-O1', '-Wall', '-Werror', '-o', path.join(binDir, 'udpsend'), path.join(binDir, 'udpsend.c')], { stdio: 'pipe' });
  execFileSync('gcc', ['-static', '-O1', '-Wall', '-Werror', '-o', path.join(binDir, 'dns'), path.join(PROGS_SRC, 'dns.c')], { stdio: 'pipe' });
  fs.writeFileSync(path.join(binDir, 'sockopt.c'), SOCKOPT);
  execFileSync('gcc', ['-static', '-O1', '-Wall', '-Werror', '-o', path.join(binDir, 'sockopt'), path.join(binDir, 'sockopt.c')], { stdio: 'pipe' });
});

const sh = (script: string) => [BUSYBOX, 'sh', '-c', script];

test('net.c: natively every check passes; under the sentry the same lines and exit code', () => {
  const native = runNative(path.join(binDir, 'net'));
  assert.equal(native.status, 0, `natively:\n${native.stdout}\n${explain(native)}`);
  assert.match(native.stdout, /\nfailures 0\n$/);
  const r = moatDo(root, 'sentry', [path.join(binDir, 'net')], 60_000);
  assert.equal(r.stdout, native.stdout, `under the sentry\n${explain(r)}`);
  assert.equal(r.status, 0, explain(r));
});

test('net.c with CAP_NET_ADMIN in a bundle under the sentry: SO_RCVBUFFORCE within rmem_max is served (doubled), every check passes', () => {
  const r = runEgress(undefined, 'net', (c) => {
    for (const set of ['bounding', 'effective', 'permitted']) c.process.capabilities[set].push('CAP_NET_ADMIN');
  });
  assert.equal(r.status, 0, explain(r));
  assert.match(r.stdout, /^so_rcvbufforce_doubled_or_eperm true$/m, r.stdout);
  assert.match(r.stdout, /\nfailures 0\n$/, r.stdout);
});

test('a wait for writability alone on a full socket with unread input parks once, and ends when the peer reads', () => {
  const native = runNative(path.join(binDir, 'writewait'), ['1000']);
  assert.equal(native.status, 0, explain(native));
  const r = moatRun(root, ['--strace', 'do', '--isolation=sentry', '--', path.join(binDir, 'writewait'), '1000'], 60_000);
  assert.equal(r.status, 0, explain(r));
  assert.equal(r.stdout, native.stdout);
  assert.equal(r.stdout, 'unread input: 1\npoll POLLOUT on a full socket: 1 revents 4\n');
  // Before: the wait watched the socket for input too, so its unread byte woke the poll at every
  // look (thousands of parks in one second). Now only writability wakes it.
  const parks = r.stderr.split('\n').filter((l) => /^\[1\] poll\(.*, 30000\) parked$/.test(l)).length;
  assert.ok(parks >= 1 && parks <= 5, `the POLLOUT wait parked ${parks} times\n${explain(r)}`);
});

test('busybox in the sentry: nc over 127.0.0.1, ip addr/route/link, netstat, ifconfig; changes refused', () => {
  const script = [
    'nc -l -p 5555 > /tmp/got & l=$!',
    'i=0; until grep -q ":15B3 " /proc/net/tcp6 /proc/net/tcp 2>/dev/null || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done',
    'netstat -tln | grep -c ":5555 "',
    'echo "over tcp" | nc 127.0.0.1 5555',
    'wait $l; cat /tmp/got',
    'ip addr show lo | grep -o "inet [0-9./]*"',
    'ip -6 addr show lo | grep -o "inet6 ::1/128"',
    'ip link show lo | grep -o "LOOPBACK,UP"',
    'echo "routes: $(ip route | wc -l)"',
    'ip link set lo down 2>&1; echo "set down: $?"',
    'ip addr add 10.99.0.1/24 dev lo 2>&1; echo "addr add: $?"',
    'ip link show lo | grep -o "LOOPBACK,UP"',
    'ifconfig lo | grep -o "inet addr:127.0.0.1"',
    'grep -c "^ *lo:" /proc/net/dev',
    'ping -c1 -W1 127.0.0.1 2>&1 | tail -1; echo "ping raw socket: $?"',
  ].join('\n');
  const r = moatDo(root, 'sentry', sh(script), 60_000);
  assert.equal(r.status, 0, explain(r));
  assert.equal(r.stdout, [
    '1', 'over tcp', 'inet 127.0.0.1/8', 'inet6 ::1/128', 'LOOPBACK,UP', 'routes: 0',
    'ip: SIOCSIFFLAGS: Operation not permitted', 'set down: 2',
    'ip: RTNETLINK answers: Operation not permitted', 'addr add: 2',
    'LOOPBACK,UP', 'inet addr:127.0.0.1', '1',
    // SOCK_RAW: EPERM, as Linux answers without CAP_NET_RAW.
    'ping: permission denied (are you root?)', 'ping raw socket: 0', '',
  ].join('\n'), explain(r));
});

test('root in the sandbox listens on port 80: the sentry, an unprivileged host uid, keeps CAP_NET_BIND_SERVICE', () => {
  // A fresh network namespace: ports below 1024 (net.ipv4.ip_unprivileged_port_start) need the
  // capability in the sentry's host socket's bind.
  const script = [
    'cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024',
    'nc -l -p 80 > /tmp/got & l=$!',
    'i=0; until grep -q ":0050 " /proc/net/tcp6 /proc/net/tcp 2>/dev/null || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done',
    'echo "to port 80" | nc 127.0.0.1 80',
    'wait $l; echo "nc: $?"; cat /tmp/got',
  ].join('\n');
  const r = moatDo(root, 'sentry', sh(script), 60_000);
  assert.equal(r.status, 0, explain(r));
  assert.match(r.stdout, /^(1024\n)?nc: 0\nto port 80\n$/, explain(r));
});

test('name resolution through /etc/hosts as glibc does it (getent: NSS files, getaddrinfo over netlink for AI_ADDRCONFIG)', () => {
  // Linux in a namespace shaped like the sandbox's (only lo, up): AI_ADDRCONFIG, which glibc answers
  // from an RTM_GETADDR dump ignoring loopback, then refuses ahostsv4 (exit 2) as it should.
  for (const args of [['hosts', 'localhost'], ['ahosts', 'localhost'], ['ahostsv4', '127.0.0.1']]) {
    const native = runNative('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec getent "$@"', 'sh', ...args]);
    const r = moatDo(root, 'sentry', ['getent', ...args]);
    assert.equal(r.stdout, native.stdout, `getent ${args.join(' ')}\n${explain(r)}`);
    assert.equal(r.status, native.status, explain(r));
  }
});

test('name resolution through bind-mounted /etc/hosts and /etc/resolv.conf (as Docker hands them): a DNS server in the sandbox answers glibc', () => {
  const dir = fs.mkdtempSync(path.join(binDir, 'etc-'));
  try {
    fs.writeFileSync(path.join(dir, 'hosts'), '127.0.0.1 localhost\n10.9.8.7 from-hosts-file\n');
    fs.writeFileSync(path.join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:2 attempts:1\n');
    const script = [
      'dns serve > /tmp/dns.out & i=0; until grep -q serving /tmp/dns.out || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done',
      'dns resolve from-hosts-file', 'dns resolve moat-dns.test', 'dns resolve localhost',
    ].join('\n');
    const r = runEgress(undefined, script, (c) => {
      for (const f of ['hosts', 'resolv.conf']) c.mounts.push({ destination: `/etc/${f}`, type: 'bind', source: path.join(dir, f), options: ['rbind', 'ro'] });
    });
    assert.equal(r.status, 0, explain(r));
    assert.equal(r.stdout, 'from-hosts-file: 10.9.8.7\nmoat-dns.test: 10.20.30.40\nlocalhost: 127.0.0.1\n', explain(r));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A busybox bundle (tmpfs on /tmp) with the egress annotation (undefined: none), run under the sentry. */
function runEgress(egress: string | undefined, script: string, mutate: (c: Record<string, any>) => void = () => undefined, global: string[] = []) {
  const b = makeBundle(['sh', '-c', script], (c) => {
    c.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] });
    if (egress !== undefined) c.annotations = { ...(c.annotations ?? {}), 'dev.moat.network.egress': egress };
    mutate(c);
  });
  for (const bin of ['udpsend', 'egress', 'sockopt', 'dns', 'net']) {
    fs.copyFileSync(path.join(binDir, bin), path.join(b.rootfs, 'bin', bin));
    fs.chmodSync(path.join(b.rootfs, 'bin', bin), 0o755);
  }
  try {
    return moatRun(root, [...global, '--isolation=sentry', 'run', '--bundle', b.dir, `egress-${process.hrtime.bigint()}`], 60_000);
  } finally {
    b.cleanup();
  }
}

/** Listen on 5556 and 5557, then try both over TCP and 5557 over UDP. */
const EGRESS_SCRIPT = [
  '(nc -l -p 5556 > /tmp/a &) ; (nc -l -p 5557 > /tmp/b &)',
  'i=0; until [ "$(grep -c ":15B[45] " /proc/net/tcp6 /proc/net/tcp 2>/dev/null | awk -F: \'{ s += $2 } END { print s }\')" = 2 ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done',
  'echo one | nc 127.0.0.1 5556 2>&1; echo "5556: $?"',
  'echo two | nc 127.0.0.1 5557 2>&1; echo "5557: $?"',
  'echo three | nc ::1 5557 2>&1; echo "::1 5557: $?"',
  'udpsend 127.0.0.1 5557; echo "udp 5557: $?"',
  'udpsend ::ffff:127.0.0.1 5557; echo "udp mapped 5557: $?"',
  'sleep 0.2; echo "a=$(cat /tmp/a)"',
].join('\n');

test('egress annotation: only 127.0.0.1:5556 allowed — the other port, ::1 and UDP fail with EACCES', () => {
  const r = runEgress('127.0.0.1/32:5556', EGRESS_SCRIPT);
  assert.equal(r.status, 0, explain(r));
  const lines = r.stdout.split('\n');
  assert.ok(lines.includes('5556: 0'), r.stdout);
  assert.ok(lines.includes('a=one'), r.stdout);
  for (const what of ['5557', '::1 5557', 'udp 5557', 'udp mapped 5557']) {
    const i = lines.indexOf(`${what}: 1`);
    assert.ok(i > 0, `${what} was not refused:\n${r.stdout}`);
    assert.match(lines[i - 1], /Permission denied/, r.stdout);
  }
});

test('egress annotation: loopback allows both ports; none refuses even loopback; all (the default) allows', () => {
  const lo = runEgress('loopback', EGRESS_SCRIPT);
  assert.match(lo.stdout, /^5556: 0$/m, explain(lo));
  assert.match(lo.stdout, /^5557: 0$/m, lo.stdout);
  const none = runEgress('none', EGRESS_SCRIPT);
  assert.match(none.stdout, /^5556: 1$/m, explain(none));
  assert.match(none.stdout, /^5557: 1$/m, none.stdout);
  const all = runEgress(undefined, EGRESS_SCRIPT);
  assert.match(all.stdout, /^5556: 0$/m, explain(all));
  assert.match(all.stdout, /^a=one$/m, all.stdout);
});

/** progs/egress.c's lines for a policy: "ok" where `allowed` lists the attempt, EACCES elsewhere. */
function egressLines(allowed: string[], received: string, sendmmsg: string): string {
  const attempts = [
    'tcp 127.0.0.1:A', 'tcp 127.0.0.1:B', 'tcp [::1]:A', 'tcp [::ffff:127.0.0.1]:A', 'tcp [::ffff:127.0.0.1]:B',
    'tcp 0.0.0.0:B', 'tcp 127.0.0.2:A', 'udp sendto 127.0.0.1:A', 'udp sendto 127.0.0.1:B',
    'udp sendto AF_UNSPEC 127.0.0.1:B', 'udp6 sendto [::ffff:127.0.0.1]:B', 'udp6 sendto [::1]:B', 'udp6 sendto AF_INET 127.0.0.1:B', 'udp sendmsg 127.0.0.1:B',
  ];
  const line = (a: string) => `${a}: ${allowed.includes(a) ? 'ok' : 'EACCES'}`;
  const connectB = line('udp connect 127.0.0.1:B');
  return [
    ...attempts.map(line),
    `udp sendmmsg A,B: ${sendmmsg}`,
    connectB,
    // A refused connect leaves the socket unconnected: its send has no destination.
    `udp send after connect B: ${connectB.endsWith('ok') ? 'ok' : 'EDESTADDRREQ'}`,
    line('udp connect 127.0.0.1:A'),
    line('udp connected to A, sendto B'),
    // MSG_FASTOPEN is not offered (EOPNOTSUPP) whatever the policy: a send never connects.
    'tcp fastopen to B: refused',
    `received: ${received}`, '',
  ].join('\n');
}

test('egress annotation: every path to a destination is checked — TCP/UDP, v4/v6/mapped/0.0.0.0/AF_UNSPEC, sendto/sendmsg/sendmmsg, connected UDP', () => {
  const cases: Array<[string, string[], string, string]> = [
    ['127.0.0.1:5556', ['tcp 127.0.0.1:A', 'tcp [::ffff:127.0.0.1]:A', 'udp sendto 127.0.0.1:A', 'udp connect 127.0.0.1:A'],
      'tcp A 2, tcp B 0, udp A 2, udp B 0', '1 sent'],
    ['127.0.0.0/8:5556,[::1]:5557', ['tcp 127.0.0.1:A', 'tcp [::ffff:127.0.0.1]:A', 'tcp 127.0.0.2:A', 'udp sendto 127.0.0.1:A', 'udp6 sendto [::1]:B', 'udp connect 127.0.0.1:A'],
      'tcp A 3, tcp B 0, udp A 2, udp B 1', '1 sent'],
    ['none', [], 'tcp A 0, tcp B 0, udp A 0, udp B 0', 'EACCES'],
  ];
  for (const [policy, allowed, received, mmsg] of cases) {
    const r = runEgress(policy, 'egress');
    assert.equal(r.status, 0, `${policy}: ${explain(r)}`);
    assert.equal(r.stdout, egressLines(allowed, received, mmsg), `${policy}\n${r.stdout}`);
  }
  // loopback: everything arrives (the TCP Fast Open send excepted).
  const lo = runEgress('loopback', 'egress');
  assert.doesNotMatch(lo.stdout, /EACCES/, explain(lo));
  assert.match(lo.stdout, /^received: tcp A 4, tcp B 3, udp A 2, udp B 9$/m, lo.stdout);
});

test('a denied destination is logged once however often and by whatever address form it is tried; an option the sentry does not offer is ENOPROTOOPT, logged once', () => {
  const log = path.join(binDir, `log-${process.hrtime.bigint()}`);
  try {
    const r = runEgress('127.0.0.1:5556', 'egress > /dev/null; sockopt', () => undefined, ['--log', log]);
    assert.equal(r.status, 0, explain(r));
    assert.equal(r.stdout, 'IP_OPTIONS: ENOPROTOOPT\nIPV6_RTHDR: ENOPROTOOPT\n'.repeat(2), explain(r));
    const lines = fs.readFileSync(log, 'utf8').split('\n');
    const count = (re: RegExp) => lines.filter((l) => re.test(l)).length;
    // 127.0.0.1:5557 over TCP is tried as itself, as ::ffff:127.0.0.1 and as 0.0.0.0: one destination.
    assert.equal(count(/egress denied by dev\.moat\.network\.egress: tcp 127\.0\.0\.1:5557 \(EACCES\)/), 1, lines.join('\n'));
    assert.equal(count(/egress denied by dev\.moat\.network\.egress: udp 127\.0\.0\.1:5557 \(EACCES\)/), 1, lines.join('\n'));
    assert.equal(count(/egress denied by dev\.moat\.network\.egress: tcp \[0:0:0:0:0:0:0:1\]:5556 \(EACCES\)/), 1, lines.join('\n'));
    assert.equal(count(/socket option level 0 name 4 is not offered by the sentry: ENOPROTOOPT/), 1, lines.join('\n'));
    assert.equal(count(/socket option level 41 name 57 is not offered by the sentry: ENOPROTOOPT/), 1, lines.join('\n'));
  } finally {
    fs.rmSync(log, { force: true });
  }
});

test('egress annotation: a bad value is refused at create, naming the annotation', () => {
  for (const bad of ['10.0.0.0/33', 'everything', '[::1', '1.2.3.4:99999']) {
    const r = runEgress(bad, 'true');
    assert.notEqual(r.status, 0, `${bad}: ${explain(r)}`);
    assert.match(r.stderr, /annotations\.dev\.moat\.network\.egress/, `${bad}: ${r.stderr}`);
  }
  // Another platform cannot enforce it: refused, not silently ignored.
  const b = makeBundle(['true'], (c) => {
    c.annotations = { ...(c.annotations ?? {}), 'dev.moat.network.egress': 'none' };
  });
  try {
    const r = moatRun(root, ['run', '--bundle', b.dir, `egress-native-${process.hrtime.bigint()}`]);
    assert.notEqual(r.status, 0, explain(r));
    assert.match(r.stderr, /dev\.moat\.network\.egress: enforced only by the sentry platform/, r.stderr);
  } finally {
    b.cleanup();
  }
});

test('a spec without a network namespace: the sentry serves sockets in the host\'s (OCI; runsc --network=host)', (t) => {
  const dev = /\bdev (\S+)/.exec(execFileSync('ip', ['route', 'show', 'default'], { encoding: 'utf8' }))?.[1];
  if (!dev) {
    t.skip('the host has no default route');
    return;
  }
  const r = runEgress(undefined, `ip link show ${dev} > /dev/null && echo "sees ${dev}"`, (c) => {
    c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
  });
  assert.equal(r.stdout, `sees ${dev}\n`, explain(r));
});

/**
 * `create` hands the sentry's pid to prestart hooks (Docker's moves the container's veth into
 * /proc/<pid>/ns/net): by then the sentry must be in the sandbox's namespaces, not the host's.
 * And a second container whose spec joins the first's UTS namespace by path, without a hostname
 * of its own (a CRI container in its pod), is named as the first.
 */
test('create returns once the sentry is in its own network and UTS namespaces; a uts path without hostname takes that namespace\'s name', () => {
  const ids: string[] = [];
  const bundles: Array<{ cleanup(): void }> = [];
  try {
    const a = makeBundle(['sleep', '30'], (c) => {
      c.hostname = 'pod-a';
    });
    bundles.push(a);
    const idA = `ns-a-${process.hrtime.bigint()}`;
    ids.push(idA);
    // stdio not piped: the sentry keeps its stdout open after create, so a pipe never ends.
    const pidFile = path.join(a.dir, 'pid');
    const created = spawnSync(MOAT, ['--root', root, '--isolation=sentry', 'create', '--bundle', a.dir, '--pid-file', pidFile, idA], { stdio: 'ignore', timeout: 60_000, killSignal: 'SIGKILL' });
    assert.equal(created.status, 0, `create: ${created.status} ${created.error?.message ?? ''}`);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    // Read at once, as a prestart hook would.
    const [net, uts] = [fs.readlinkSync(`/proc/${pid}/ns/net`), fs.readlinkSync(`/proc/${pid}/ns/uts`)];
    assert.notEqual(net, fs.readlinkSync('/proc/self/ns/net'), 'the sentry is still in the host\'s network namespace after create');
    assert.notEqual(uts, fs.readlinkSync('/proc/self/ns/uts'));
    const b = makeBundle(['hostname'], (c) => {
      delete c.hostname;
      c.linux.namespaces = c.linux.namespaces.map((n: { type: string }) => (n.type === 'uts' ? { type: 'uts', path: `/proc/${pid}/ns/uts` } : n));
    });
    bundles.push(b);
    const idB = `ns-b-${process.hrtime.bigint()}`;
    ids.push(idB);
    const r = moatRun(root, ['--isolation=sentry', 'run', '--bundle', b.dir, idB], 60_000);
    assert.equal(r.status, 0, explain(r));
    assert.equal(r.stdout, 'pod-a\n');
  } finally {
    for (const id of ids) moatRun(root, ['delete', '--force', id]);
    for (const b of bundles) b.cleanup();
  }
});

// ---- joining a prepared network namespace ----

const tag = `m${process.pid % 100000}`;
const NS_A = `${tag}a`;
const NS_B = `${tag}b`;
const VETH_A = `${tag}va`;
const VETH_B = `${tag}vb`;

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe', timeout: 10_000 });
}

function cleanupNetns(): void {
  for (const ns of [NS_A, NS_B]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
  spawnSync('ip', ['link', 'del', VETH_A], { stdio: 'ignore', timeout: 10_000 });
  // `ip netns add` made /run/netns a mount point; undo that if it was not one and is empty now.
  if (!netnsWasMounted && isMountPoint('/run/netns') && fs.readdirSync('/run/netns').length === 0) {
    spawnSync('umount', ['/run/netns'], { stdio: 'ignore', timeout: 10_000 });
  }
}

after(cleanupNetns);

test('a bundle joining a prepared netns (path) reaches a server in another netns over veth; nothing is left behind', async () => {
  cleanupNetns();
  try {
    ip(['netns', 'add', NS_A]);
    ip(['netns', 'add', NS_B]);
    ip(['link', 'add', VETH_A, 'type', 'veth', 'peer', 'name', VETH_B]);
    ip(['link', 'set', VETH_A, 'netns', NS_A]);
    ip(['link', 'set', VETH_B, 'netns', NS_B]);
    ip(['-n', NS_A, 'addr', 'add', '10.213.7.1/24', 'dev', VETH_A]);
    ip(['-n', NS_B, 'addr', 'add', '10.213.7.2/24', 'dev', VETH_B]);
    for (const [ns, dev] of [[NS_A, VETH_A], [NS_B, VETH_B]]) {
      ip(['-n', ns, 'link', 'set', dev, 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    const server = spawn('ip', ['netns', 'exec', NS_B, BUSYBOX, 'nc', '-l', '-p', '7777'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let got = '';
    server.stdout.on('data', (d: Buffer) => (got += d.toString()));
    const done = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    try {
      await new Promise((r) => setTimeout(r, 300));
      const script = [
        'ip addr show | grep -o "inet 10.213.7.1/24"',
        'ip route | grep -o "10.213.7.0/24 dev [a-z0-9]*"',
        'echo "through the veth" | nc 10.213.7.2 7777; echo "nc: $?"',
        'echo x | nc 10.213.7.2 7778 2>&1; echo "denied: $?"',
      ].join('\n');
      const r = runEgress('10.213.7.2/32:7777', script, (c) => {
        c.linux.namespaces = c.linux.namespaces.map((n: { type: string }) => (n.type === 'network' ? { type: 'network', path: `/var/run/netns/${NS_A}` } : n));
      });
      assert.equal(r.status, 0, explain(r));
      assert.equal(r.stdout.split('\n').slice(0, 3).join('\n'), `inet 10.213.7.1/24\n10.213.7.0/24 dev ${VETH_A}\nnc: 0`, explain(r));
      assert.match(r.stdout, /Permission denied\ndenied: 1\n$/, r.stdout);
      await Promise.race([done, new Promise((res) => setTimeout(res, 5000))]);
      assert.equal(got, 'through the veth\n');
    } finally {
      server.kill('SIGKILL');
    }
  } finally {
    cleanupNetns();
  }
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  assert.ok(!left.includes(NS_A) && !left.includes(NS_B), `netns left: ${left}`);
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  assert.ok(!links.includes(VETH_A) && !links.includes(VETH_B), 'veth left in the host namespace');
});
