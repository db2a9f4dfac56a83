// The TCP/IP socket options an application may read or set on its host-backed socket: an
// allow-list of those with effects confined to the socket itself. Anything else at these levels is
// ENOPROTOOPT (reported once to the sentry's log); SOL_SOCKET options not listed here are the
// sentry's own (timeouts, SO_PASSCRED …, kept by net/socket.ts).

import { netSysctl } from '../sysctl';
import { EINVAL, ENOENT, ENOPROTOOPT, EPERM, EPROTO } from '../../abi/errno';
import { netSys } from '../host';
import { logOnce } from '../policy';

const SOL_SOCKET = 1;
const SOL_IP = 0;
const SOL_TCP = 6;
const SOL_UDP = 17;
const SOL_IPV6 = 41;

/** SO_REUSEADDR TYPE ERROR BROADCAST SNDBUF RCVBUF KEEPALIVE OOBINLINE PRIORITY REUSEPORT RCVLOWAT ACCEPTCONN PROTOCOL DOMAIN (SO_LINGER: socket.ts) */
const SOCKET_OPTS = new Set([2, 3, 4, 6, 7, 8, 9, 10, 12, 15, 18, 30, 38, 39]);
/** TCP_NODELAY MAXSEG CORK KEEPIDLE KEEPINTVL KEEPCNT SYNCNT LINGER2 DEFER_ACCEPT WINDOW_CLAMP INFO QUICKACK CONGESTION (an algorithm already loaded) USER_TIMEOUT NOTSENT_LOWAT */
const TCP_OPTS = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 18, 25]);
const TCP_READ_ONLY = new Set([11]); // TCP_INFO
const TCP_CONGESTION = 13;
/** TCP_CA_NAME_MAX: a congestion control name and its NUL. */
const TCP_CA_NAME_MAX = 16;
/** IP_TOS TTL PKTINFO RECVERR RECVTTL RECVTOS MTU_DISCOVER MTU(get) FREEBIND RECVORIGDSTADDR MULTICAST_TTL MULTICAST_LOOP BIND_ADDRESS_NO_PORT (the RECV ones: their control messages pass, inet/cmsg.ts) */
const IP_OPTS = new Set([1, 2, 8, 11, 12, 13, 10, 14, 15, 20, 33, 34, 24]);
/** IPV6_UNICAST_HOPS MULTICAST_HOPS MULTICAST_LOOP MTU_DISCOVER MTU(get) V6ONLY RECVERR RECVPKTINFO RECVHOPLIMIT RECVTCLASS TCLASS RECVORIGDSTADDR */
const IPV6_OPTS = new Set([16, 18, 19, 23, 24, 25, 26, 49, 51, 66, 67, 74]);
const IP_ADD_MEMBERSHIP = 35;
const IPV6_ADD_MEMBERSHIP = 20;
/** sizeof(struct ip_mreq) and sizeof(struct ipv6_mreq): the least a join takes. */
const IP_MREQ_LEN = 8;
const IPV6_MREQ_LEN = 20;
const READ_ONLY = new Set([`${SOL_IP}:14`, `${SOL_IPV6}:24`, `${SOL_SOCKET}:3`, `${SOL_SOCKET}:4`, `${SOL_SOCKET}:30`, `${SOL_SOCKET}:38`, `${SOL_SOCKET}:39`]);
/** UDP_CORK */
const UDP_OPTS = new Set([1]);
const SO_PRIORITY = 12;

const buf = new Uint8Array(256);

/** Whether (level, name) is served by the host socket; false: the caller's generic handling. */
export function hostOption(level: number, name: number): boolean {
  switch (level) {
    case SOL_SOCKET:
      return SOCKET_OPTS.has(name);
    case SOL_TCP:
    case SOL_IP:
    case SOL_IPV6:
    case SOL_UDP:
      return true;
    default:
      return false;
  }
}

function allowed(level: number, name: number): boolean {
  switch (level) {
    case SOL_SOCKET:
      return SOCKET_OPTS.has(name);
    case SOL_TCP:
      return TCP_OPTS.has(name);
    case SOL_IP:
      return IP_OPTS.has(name);
    case SOL_IPV6:
      return IPV6_OPTS.has(name);
    case SOL_UDP:
      return UDP_OPTS.has(name);
    default:
      return false;
  }
}

function refused(level: number, name: number): number {
  logOnce(`opt:${level}:${name}`, `socket option level ${level} name ${name} is not offered by the sentry: ENOPROTOOPT`);
  return -ENOPROTOOPT;
}

export function inetGetOpt(fd: number, level: number, name: number, optlen: number): Uint8Array | number {
  if (!allowed(level, name)) return refused(level, name);
  if (optlen < 0) return -EINVAL;
  const view = buf.subarray(0, Math.max(4, Math.min(optlen, buf.length)));
  view.fill(0);
  const n = netSys().sockGetOpt(fd, level, name, view);
  return n < 0 ? n : view.slice(0, n);
}

export function inetSetOpt(fd: number, level: number, name: number, val: Uint8Array, privileged: boolean, stream: boolean): number {
  if (level === SOL_IP && name === IP_ADD_MEMBERSHIP) return addMembership(val, stream);
  if (level === SOL_IPV6 && name === IPV6_ADD_MEMBERSHIP) return addMembership6(val, stream);
  if (!allowed(level, name)) return refused(level, name);
  if ((level === SOL_TCP && TCP_READ_ONLY.has(name)) || READ_ONLY.has(`${level}:${name}`)) return -ENOPROTOOPT;
  if (level === SOL_TCP && name === TCP_CONGESTION) return setCongestion(fd, val, privileged);
  if (val.length > buf.length) return -EINVAL;
  // SO_PRIORITY above 6 needs CAP_NET_ADMIN (or CAP_NET_RAW), which the application may not have
  // (nor the confined sentry: the host then refuses it for the sandbox's root too, EPERM).
  if (level === SOL_SOCKET && name === SO_PRIORITY && !privileged && val.length >= 4) {
    const v = new DataView(val.buffer, val.byteOffset, 4).getInt32(0, true);
    if (v < 0 || v > 6) return -EPERM;
  }
  buf.set(val);
  return netSys().sockSetOpt(fd, level, name, buf, val.length);
}

/** The names of a sysctl's space-separated list, read from the sentry's namespace (empty if unreadable). */
function sysctlList(name: string): string[] {
  return netSysctl('ipv4', name).trim().split(/\s+/);
}

/**
 * TCP_CONGESTION: only an algorithm the host has loaded already (the sentry, which may load
 * modules, must never do it for the application), and without CAP_NET_ADMIN only one of
 * tcp_allowed_congestion_control (EPERM, as Linux); an unknown name is ENOENT.
 */
function setCongestion(fd: number, val: Uint8Array, privileged: boolean): number {
  const raw = val.subarray(0, Math.min(val.length, TCP_CA_NAME_MAX - 1));
  const nul = raw.indexOf(0);
  const cc = Buffer.from(nul < 0 ? raw : raw.subarray(0, nul)).toString('latin1');
  if (!/^[A-Za-z0-9_-]+$/.test(cc) || !sysctlList('tcp_available_congestion_control').includes(cc)) return -ENOENT;
  if (!privileged && !sysctlList('tcp_allowed_congestion_control').includes(cc)) return -EPERM;
  const b = new Uint8Array(TCP_CA_NAME_MAX);
  b.set(Buffer.from(cc, 'latin1'));
  return netSys().sockSetOpt(fd, SOL_TCP, TCP_CONGESTION, b, cc.length);
}

/**
 * IP_ADD_MEMBERSHIP is checked as Linux's do_ip_setsockopt/ip_mc_join_group check it (EPROTO on
 * TCP, EINVAL for a short request or a group that is not multicast); a real join is then refused:
 * the sentry joins no multicast group for the sandbox (no IGMP of its own on the host's links).
 */
function addMembership(val: Uint8Array, stream: boolean): number {
  if (stream) return -EPROTO;
  if (val.length < IP_MREQ_LEN) return -EINVAL;
  if ((val[0] & 0xf0) !== 0xe0) return -EINVAL; // imr_multiaddr, network order: 224.0.0.0/4
  return refused(SOL_IP, IP_ADD_MEMBERSHIP);
}

/** IPV6_ADD_MEMBERSHIP likewise (do_ipv6_setsockopt, ipv6_sock_mc_join: the length first, then EPROTO on TCP, EINVAL for a group outside ff00::/8). */
function addMembership6(val: Uint8Array, stream: boolean): number {
  if (val.length < IPV6_MREQ_LEN) return -EINVAL;
  if (stream) return -EPROTO;
  if (val[0] !== 0xff) return -EINVAL;
  return refused(SOL_IPV6, IPV6_ADD_MEMBERSHIP);
}
