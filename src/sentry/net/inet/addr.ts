// AF_INET/AF_INET6 socket addresses: the application's bytes parsed and checked as Linux does
// (inet_bind/inet6_bind/tcp_v4_connect/udpv6_sendmsg …), then re-encoded by the sentry. The host
// only ever sees an address the sentry built from the fields it checked (and the egress policy
// judged), never the application's bytes.

import { EAFNOSUPPORT, EINVAL } from '../../abi/errno';

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCKADDR_IN_LEN = 16;
export const SOCKADDR_IN6_LEN = 28;
/** RFC 2133's sockaddr_in6 without sin6_scope_id: Linux still accepts it. */
const SIN6_LEN_RFC2133 = 24;

export interface InetAddr {
  family: number;
  port: number;
  /** 4 bytes (AF_INET) or 16 (AF_INET6); AF_UNSPEC: empty. */
  addr: Uint8Array;
  flowinfo: number;
  scope: number;
}

/**
 * The address of raw for a socket of family `sockFamily`. `unspec`: what AF_UNSPEC means here —
 * 'disconnect' (connect), 'inet' (an AF_INET socket's bind of INADDR_ANY, or sendto, which uses
 * it as AF_INET), 'none' (an AF_INET6 sendto: no address) or 'refuse'.
 */
export function parseInetAddr(raw: Uint8Array, sockFamily: number, unspec: 'disconnect' | 'inet' | 'none' | 'refuse'): InetAddr | null | number {
  if (raw.length < 2) return -EINVAL;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  let family = dv.getUint16(0, true);
  if (family === AF_UNSPEC) {
    if (unspec === 'disconnect') return { family: AF_UNSPEC, port: 0, addr: new Uint8Array(0), flowinfo: 0, scope: 0 };
    if (unspec === 'none') return null;
    if (unspec === 'refuse' || sockFamily !== AF_INET) return -EAFNOSUPPORT;
    family = AF_INET;
  }
  if (family === AF_INET) {
    if (raw.length < SOCKADDR_IN_LEN) return -EINVAL;
    return { family, port: dv.getUint16(2, false), addr: raw.slice(4, 8), flowinfo: 0, scope: 0 };
  }
  if (family === AF_INET6 && sockFamily === AF_INET6) {
    if (raw.length < SIN6_LEN_RFC2133) return -EINVAL;
    const scope = raw.length >= SOCKADDR_IN6_LEN ? dv.getUint32(24, true) : 0;
    return { family, port: dv.getUint16(2, false), addr: raw.slice(8, 24), flowinfo: dv.getUint32(4, false), scope };
  }
  // Another family: a short address is EINVAL first (inet_bind, tcp_v4_connect, inet6_bind …);
  // an IPv6 sendto's unknown family is EINVAL whatever its length (udpv6_sendmsg).
  if (sockFamily === AF_INET6 && unspec === 'none') return -EINVAL;
  return raw.length < (sockFamily === AF_INET6 ? SIN6_LEN_RFC2133 : SOCKADDR_IN_LEN) ? -EINVAL : -EAFNOSUPPORT;
}

/** Encode a into out (at least 28 bytes); returns its length. */
export function encodeInetAddr(a: InetAddr, out: Uint8Array): number {
  out.fill(0, 0, SOCKADDR_IN6_LEN);
  const dv = new DataView(out.buffer, out.byteOffset, out.length);
  dv.setUint16(0, a.family, true);
  if (a.family === AF_UNSPEC) return SOCKADDR_IN_LEN;
  dv.setUint16(2, a.port, false);
  if (a.family === AF_INET) {
    out.set(a.addr, 4);
    return SOCKADDR_IN_LEN;
  }
  dv.setUint32(4, a.flowinfo, false);
  out.set(a.addr, 8);
  dv.setUint32(24, a.scope, true);
  return SOCKADDR_IN6_LEN;
}
