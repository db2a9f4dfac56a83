// The IP-level control messages a host recvmsg hands back, as the application receives them: only
// those its receive options (IP_PKTINFO, IP_RECVTOS, IP_RECVTTL, IP_RECVORIGDSTADDR, IP_RECVERR's error
// queue and their IPv6 forms) ask for, each checked for its exact size and re-encoded by the sentry into the
// application's room (MSG_CTRUNC past it). Nothing else of the host's control data passes.

import { CmsgWriter, parseCmsgs } from '../message';

const SOL_IP = 0;
const SOL_IPV6 = 41;

/** level:type → the payload size Linux puts there (ip_cmsg_recv, ip6_datagram_recv_ctl). */
const ALLOWED = new Map<string, number | number[]>([
  [`${SOL_IP}:1`, 1], // IP_TOS
  [`${SOL_IP}:2`, 4], // IP_TTL
  [`${SOL_IP}:8`, 12], // IP_PKTINFO: struct in_pktinfo
  // IP_RECVERR (MSG_ERRQUEUE): struct sock_extended_err + the offender, a sockaddr_in (or, on an
  // IPv6 socket's IPv4 error, a sockaddr_in6: ipv6_recv_error's errhdr)
  [`${SOL_IP}:11`, [32, 44]],
  [`${SOL_IP}:20`, 16], // IP_ORIGDSTADDR: struct sockaddr_in
  [`${SOL_IPV6}:50`, 20], // IPV6_PKTINFO: struct in6_pktinfo
  [`${SOL_IPV6}:25`, 44], // IPV6_RECVERR (MSG_ERRQUEUE): struct sock_extended_err + sockaddr_in6
  [`${SOL_IPV6}:52`, 4], // IPV6_HOPLIMIT
  [`${SOL_IPV6}:67`, 4], // IPV6_TCLASS
  [`${SOL_IPV6}:74`, 28], // IPV6_ORIGDSTADDR: struct sockaddr_in6
]);

/** The host's control bytes ctl, filtered and re-encoded into w. */
export function relayInetCmsgs(ctl: Uint8Array, w: CmsgWriter): void {
  const msgs = parseCmsgs(ctl);
  if (typeof msgs === 'number') return;
  for (const m of msgs) {
    const size = ALLOWED.get(`${m.level}:${m.type}`);
    if (size !== undefined && (typeof size === 'number' ? [size] : size).includes(m.data.length)) w.put(m.level, m.type, m.data.slice());
  }
}
