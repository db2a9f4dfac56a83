// /proc/<pid>/net (and /proc/net → self/net): the sandbox's network namespace as Linux shows it.
// The namespace is the sandbox's own (the sentry joined it at start-up), so the host kernel's
// files for it, read by the sentry, are the truth for its TCP/UDP sockets and interfaces. What
// differs from a Linux inside the sandbox: the uid and inode columns are the sentry's host socket's
// (the sentry is the owner; /proc/<pid>/fd shows the sentry's own socket inode numbers), and
// `unix` lists no sockets (the sentry's AF_UNIX sockets are its own, never the host's).

import * as fs from 'node:fs';
import type { ProcDir, ProcNode } from './node';
import { staticDir, textFile } from './node';

const HOST_FILES = ['dev', 'if_inet6', 'route', 'tcp', 'tcp6', 'udp', 'udp6', 'snmp', 'netstat', 'sockstat', 'sockstat6', 'ipv6_route'];
const UNIX_HEADER = 'Num       RefCount Protocol Flags    Type St Inode Path\n';

function hostText(name: string): string {
  try {
    return fs.readFileSync(`/proc/self/net/${name}`, 'latin1');
  } catch {
    return '';
  }
}

export function netDir(): ProcDir {
  const entries: Record<string, () => ProcNode> = {};
  for (const n of HOST_FILES) entries[n] = () => textFile(() => hostText(n));
  entries.unix = () => textFile(() => UNIX_HEADER);
  return staticDir(entries);
}
