// The socket families the sentry offers (each registers itself with socket.ts's registry).
// AF_UNIX is the sentry's own (registered with the syscalls); the host-backed AF_INET/AF_INET6 and
// the read side of NETLINK_ROUTE are registered by main.ts once the sentry is in the sandbox's
// network namespace (registerNetFamilies).

import { registerInet } from './inet/socket';
import { registerNetlink } from './netlink/socket';
import { configureNet } from './policy';
import { registerUnix } from './unix';

export function registerSocketFamilies(): void {
  registerUnix();
}

export function registerNetFamilies(egress: string | undefined, log: (line: string) => void): void {
  configureNet(egress, log);
  registerInet();
  registerNetlink();
}
