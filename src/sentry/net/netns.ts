// The sentry's network namespace, entered at start-up before any socket or stub exists (the stubs
// inherit it; the sentry opens the sandbox's host sockets in it). setns/unshare act on the calling
// thread: this runs on the JavaScript main thread, which is the one that makes every socket call.

import { errnoName } from '../abi/errno';
import type { SentryConfig } from '../config';
import { netSys } from './host';
import { sentrySys } from '../native';

const CLONE_NEWNET = 0x40000000;

/** Enter the configured namespace; returns an error message, or undefined. */
export function enterNetwork(net: SentryConfig['network']): string | undefined {
  const n = net ?? { mode: 'new' };
  if (n.mode === 'host') return undefined;
  if (n.mode === 'join') {
    const r = netSys().netnsEnter(n.path);
    return r < 0 ? `network namespace ${n.path}: setns: ${errnoName(r)}` : undefined;
  }
  const r = sentrySys().unshare(CLONE_NEWNET);
  if (r < 0) return `a new network namespace: unshare(CLONE_NEWNET): ${errnoName(r)}`;
  // A new namespace has only lo, and it is down: bring it up so 127.0.0.1 and ::1 work (runc leaves
  // that to Docker or CNI's loopback plugin; here nobody else can reach the namespace).
  const up = netSys().loUp();
  return up < 0 ? `bringing lo up in the new network namespace: ${errnoName(up)}` : undefined;
}
