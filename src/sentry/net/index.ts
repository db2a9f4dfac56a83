// The sentry's network families beyond AF_UNIX: host-backed AF_INET/AF_INET6 and the read side of
// NETLINK_ROUTE. Registered by main.ts once the sentry is in the sandbox's network namespace.

import { registerInet } from './inet/socket';
import { registerNetlink } from './netlink/socket';
import { configureNet } from './policy';

export function registerNetFamilies(egress: string | undefined, log: (line: string) => void): void {
  configureNet(egress, log);
  registerInet();
  registerNetlink();
}
