// The sandbox's network namespace's settings (/proc/sys/net) that programs read to size or place
// their sockets, and that the sentry itself consults (TCP_CONGESTION's allowed algorithms): read
// live from the sentry's namespace, the sandbox's, through fds opened before the sentry confines
// itself. Only these names: nothing else of the host's sysctl tree is shown.

import * as fs from 'node:fs';

export const SYSCTL_NET: Record<string, string[]> = {
  core: ['somaxconn', 'rmem_default', 'rmem_max', 'wmem_default', 'wmem_max', 'optmem_max', 'netdev_max_backlog'],
  ipv4: [
    'ip_local_port_range', 'ip_unprivileged_port_start', 'ip_forward', 'ip_nonlocal_bind', 'ip_default_ttl', 'ping_group_range',
    'tcp_rmem', 'tcp_wmem', 'tcp_mem', 'tcp_sack', 'tcp_timestamps', 'tcp_window_scaling', 'tcp_syncookies', 'tcp_fin_timeout',
    'tcp_keepalive_time', 'tcp_keepalive_intvl', 'tcp_keepalive_probes', 'tcp_max_syn_backlog', 'tcp_congestion_control',
    'tcp_available_congestion_control', 'tcp_allowed_congestion_control', 'tcp_recovery', 'tcp_fastopen', 'udp_mem',
  ],
  ipv6: ['bindv6only', 'ip_nonlocal_bind'],
  unix: ['max_dgram_qlen'],
};

/** fds of those files, opened with the others before the sentry confines itself (holdNetFiles). */
const heldSysctl = new Map<string, number>();

/** Open them now: once confined, the sentry opens no path (called by holdNetFiles). */
export function holdSysctlFiles(): void {
  for (const [dir, names] of Object.entries(SYSCTL_NET)) {
    for (const n of names) {
      const key = `${dir}/${n}`;
      if (heldSysctl.has(key)) continue;
      try {
        heldSysctl.set(key, fs.openSync(`/proc/sys/net/${key}`, fs.constants.O_RDONLY));
      } catch {
        /* not on this kernel: empty */
      }
    }
  }
}

/** One of them as the namespace has it now ('' if it is not on this kernel). */
export function netSysctl(dir: string, name: string): string {
  try {
    const fd = heldSysctl.get(`${dir}/${name}`);
    if (fd !== undefined) return readFrom(fd);
    if (heldSysctl.size > 0) return '';
    return fs.readFileSync(`/proc/sys/net/${dir}/${name}`, 'latin1');
  } catch {
    return '';
  }
}


function readFrom(fd: number): string {
  const b = Buffer.allocUnsafe(4096);
  const n = fs.readSync(fd, b, 0, b.length, 0);
  return b.subarray(0, Math.max(0, n)).toString('latin1');
}

/**
 * net.core.wmem_max or rmem_max as the namespace has it: the most SO_SNDBUF/SO_RCVBUF may ask for
 * (sock_setsockopt clamps there), so what /proc/sys/net/core shows is what the sentry applies.
 * Linux's default when unreadable; bounded at 2^30 (the sentry's own limits apply on top).
 */
export function netMemMax(name: 'wmem_max' | 'rmem_max'): number {
  const v = Number.parseInt(netSysctl('core', name).trim(), 10);
  return Number.isFinite(v) && v > 0 ? Math.min(v, 0x3fffffff) : 212992;
}
