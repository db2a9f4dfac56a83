// What the sentry's network families share at run time: the egress policy, the sentry's log (for
// what it reports once: denied destinations, refused options) and the namespace's unprivileged
// port floor. Set once at start-up by main.ts (configureNet).

import * as fs from 'node:fs';
import { egressAllowed, formatDest, parseEgress, type EgressPolicy } from './egress';

interface NetState {
  egress: EgressPolicy;
  log: (line: string) => void;
  /** net.ipv4.ip_unprivileged_port_start of the namespace: below it, binding needs root. */
  unprivilegedPortStart: number;
}

const state: NetState = { egress: { all: true, rules: [] }, log: () => {}, unprivilegedPortStart: 1024 };
const reported = new Set<string>();

export function configureNet(egress: string | undefined, log: (line: string) => void): void {
  state.egress = parseEgress(egress);
  state.log = log;
  try {
    const v = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
    if (Number.isInteger(v) && v >= 0 && v <= 65536) state.unprivilegedPortStart = v;
  } catch {
    /* an old kernel: 1024 */
  }
}

/** Whether the policy lets the sandbox reach addr:port; a denial is logged once per destination. */
export function egressPermits(addr: Uint8Array, port: number, proto: string): boolean {
  if (state.egress.all || egressAllowed(state.egress, addr, port)) return true;
  const dest = `${proto} ${formatDest(addr, port)}`;
  if (!reported.has(dest) && reported.size < 1024) {
    reported.add(dest);
    state.log(`egress denied by dev.moat.network.egress: ${dest} (EACCES)`);
  }
  return false;
}

export function unprivilegedPortStart(): number {
  return state.unprivilegedPortStart;
}

/** Report something once (by key) to the sentry's log. */
export function logOnce(key: string, line: string): void {
  if (reported.has(key) || reported.size >= 1024) return;
  reported.add(key);
  state.log(line);
}
