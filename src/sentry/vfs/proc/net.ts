// /proc/<pid>/net (and /proc/net → self/net): the sandbox's network namespace as Linux shows it.
// The namespace is the sandbox's own (the sentry joined it at start-up), so the host kernel's
// files for it, read by the sentry, are the truth for its TCP/UDP sockets and interfaces. What
// differs from a Linux inside the sandbox: the inode column is the sentry's host socket's
// (/proc/<pid>/fd shows the sentry's own socket inode numbers), and the uid column shows 0 for the
// sentry's sockets (the sentry runs as the sandbox's host uid, confine/, which the sandbox does not
// see; other sockets of a host namespace keep their owners' uids). `unix`
// lists the sandbox's AF_UNIX sockets, which are the sentry's own (never the host's).

import * as fs from 'node:fs';
import { unixProcText } from '../../net/unix/namespace';
import { holdSysctlFiles, netSysctl, SYSCTL_NET } from '../../net/sysctl';
import type { ProcDir, ProcKernel, ProcNode } from './node';
import { staticDir, textFile } from './node';

const HOST_FILES = ['dev', 'if_inet6', 'route', 'tcp', 'tcp6', 'udp', 'udp6', 'snmp', 'netstat', 'sockstat', 'sockstat6', 'ipv6_route'];

/** fds of the namespace's files, opened before the sentry confines itself (holdNetFiles). */
const held = new Map<string, number>();

/** Open /proc/self/net's files now: once confined, the sentry opens no path; a seq_file read
 * again from offset 0 is generated afresh, so one fd per file serves every later read. */
export function holdNetFiles(): void {
  holdSysctlFiles();
  for (const n of HOST_FILES) {
    if (held.has(n)) continue;
    try {
      held.set(n, fs.openSync(`/proc/self/net/${n}`, fs.constants.O_RDONLY));
    } catch {
      /* not on this kernel (no IPv6…): empty */
    }
  }
}

/** The sentry's host uid (confine/), shown as 0 in the socket tables' uid column. */
let sentryHostUid: number | undefined;

export function showSentryUidAsRoot(uid: number): void {
  sentryHostUid = uid;
}

const SOCKET_TABLES = new Set(['tcp', 'tcp6', 'udp', 'udp6']);
/** sl, local, remote, st, tx:rx, tr:when, retrnsmt, then the uid (`%5u`) of a socket table row. */
const UID_COLUMN = /^(\s*\d+:(?: \S+){6} )( *)(\d+)(?= )/gm;

/** The sentry's own uid in the rows of a socket table, as the 0 the sandbox knows. Pure: unit-tested. */
export function rootUidColumn(text: string, uid: number): string {
  return text.replace(UID_COLUMN, (all, head: string, _pad: string, value: string) => (Number(value) === uid ? `${head}${'0'.padStart(5)}` : all));
}

function readFrom(fd: number): string {
  const chunks: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const b = Buffer.allocUnsafe(65536);
    const n = fs.readSync(fd, b, 0, b.length, pos);
    if (n <= 0) break;
    chunks.push(b.subarray(0, n));
    pos += n;
    if (pos > 16 << 20) break; // bounded: a namespace with a huge table shows its first 16 MiB
  }
  return Buffer.concat(chunks).toString('latin1');
}

function hostText(name: string): string {
  try {
    const fd = held.get(name);
    if (fd !== undefined) return readFrom(fd);
    if (held.size > 0) return '';
    return fs.readFileSync(`/proc/self/net/${name}`, 'latin1');
  } catch {
    return '';
  }
}

export function sysNetDir(): ProcDir {
  const dirs: Record<string, () => ProcNode> = {};
  for (const [dir, names] of Object.entries(SYSCTL_NET)) {
    const files: Record<string, () => ProcNode> = {};
    for (const n of names) files[n] = () => ({ ...textFile(() => netSysctl(dir, n)), sysctl: true });
    dirs[dir] = () => staticDir(files);
  }
  return staticDir(dirs);
}

export function netDir(k: ProcKernel): ProcDir {
  const entries: Record<string, () => ProcNode> = {};
  for (const n of HOST_FILES) {
    entries[n] = () => textFile(() => (SOCKET_TABLES.has(n) && sentryHostUid !== undefined ? rootUidColumn(hostText(n), sentryHostUid) : hostText(n)));
  }
  entries.unix = () => textFile(() => unixProcText(k));
  return staticDir(entries);
}
