// AF_INET/AF_INET6 sockets (TCP and UDP), each backed by a non-blocking host socket the sentry
// opened in the sandbox's network namespace (docs/sentry.md, "Networking"). The application never
// makes a host call: the sentry checks every address (addr.ts) and option (options.ts), applies the
// egress policy on connect and send, moves the bytes between the host socket and application
// memory, and parks the task (waking on the host fd's readiness) where Linux would block.

import * as fs from 'node:fs';
import { EACCES, EAFNOSUPPORT, EAGAIN, EALREADY, EFAULT, EINPROGRESS, EINVAL, EISCONN, EOPNOTSUPP, EPERM, EPROTONOSUPPORT, ESOCKTNOSUPPORT } from '../../abi/errno';
import { BLOCK, type Task } from '../../kernel/task';
import { O_NONBLOCK, POLLERR, POLLHUP, POLLIN, POLLOUT } from '../../vfs/constants';
import { MSG_DONTWAIT, MSG_ERRQUEUE, SHUT_WR, SO_RCVBUF, SO_RCVBUFFORCE, SO_SNDBUF, SO_SNDBUFFORCE, MSG_PEEK, MSG_TRUNC, MSG_WAITALL, SO_LINGER, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET } from '../constants';
import { CmsgWriter, type RecvRequest, type RecvResult, type SendRequest } from '../message';
import { relayInetCmsgs } from './cmsg';
import { CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, capable } from '../../kernel/creds';
import { netPrivileged, optInt, progressOf, registerSocketFamily, Socket } from '../socket';
import { netAux, netSys, WATCH_ONLY_OUT, WATCH_OUT, WATCH_SIGNALLED } from '../host';
import { egressPermits, unprivilegedPortStart } from '../policy';
import { netMemMax } from '../sysctl';
import { AF_INET, AF_INET6, AF_UNSPEC, encodeInetAddr, parseInetAddr, type InetAddr } from './addr';
import { hostOption, inetGetOpt, inetSetOpt } from './options';
import { hostPolled } from '../../vfs/host-poll';

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;
const SOCK_RAW = 3;
const POLLPRI = 0x2;
const POLLRDHUP = 0x2000;
const FIONREAD = 0x541b;
const SIOCOUTQ = 0x5411;
const SIOCATMARK = 0x8905;
const SIOCOUTQNSD = 0x894b;
/** What the host gets of a send's flags (the rest are the sentry's or refused). */
const HOST_SEND = 0x1 | 0x4 | 0x80 | 0x800 | 0x8000; // OOB DONTROUTE EOR CONFIRM MORE
const KNOWN_SEND = HOST_SEND | MSG_DONTWAIT | 0x4000 | 0x40000000; // + NOSIGNAL, CMSG_CLOEXEC
const HOST_RECV = 0x1 | MSG_PEEK | MSG_TRUNC; // OOB PEEK TRUNC

/** The most SO_SNDBUFFORCE/SO_RCVBUFFORCE hands the host (which doubles it): 32 MiB. */
const FORCE_MAX = 32 << 20;

const addrScratch = new Uint8Array(128);
/** The host's control messages of one datagram (the sentry keeps an allow-list of them: cmsg.ts). */
const ctlScratch = new Uint8Array(512);
const nameScratch = new Uint8Array(128);

function skipViews(vs: Uint8Array[], n: number): Uint8Array[] {
  if (n === 0) return vs;
  const out: Uint8Array[] = [];
  let skip = n;
  for (const v of vs) {
    if (skip >= v.length) {
      skip -= v.length;
      continue;
    }
    out.push(skip > 0 ? v.subarray(skip) : v);
    skip = 0;
  }
  return out;
}

function total(vs: Uint8Array[]): number {
  let n = 0;
  for (const v of vs) n += v.length;
  return n;
}

export class InetSocket extends Socket {
  private released = false;
  /** shutdown(SHUT_RD or SHUT_RDWR) was called. */
  private readShut = false;
  /** Calls that may have changed the host socket's readiness (for EPOLLET: edgeActivity). */
  private activity = 0;

  constructor(family: number, type: number, protocol: number, flags: number, readonly hostFd: number) {
    super(family, type, protocol, flags);
  }

  private get proto(): string {
    return this.type === SOCK_STREAM ? 'tcp' : 'udp';
  }

  /** Park on the host fd (readable, or writable for 'snd'); returns waitFor's answer. */
  private park(t: Task, dir: 'snd' | 'rcv', flags: number, progress = 0): number {
    const r = this.waitFor(t, [this.waitQueue], dir, flags, progress);
    if (r === BLOCK) t.kernel.watchHostFd(t, (dir === 'snd' ? this.hostFd | WATCH_OUT | WATCH_ONLY_OUT : this.hostFd) | WATCH_SIGNALLED);
    return r;
  }

  /**
   * The destination of a connect or send: an IPv6 UDP socket also takes an AF_INET address and
   * sends over IPv4 (udpv6_sendmsg, __ip6_datagram_connect; the host answers ENETUNREACH or
   * EAFNOSUPPORT if it is IPV6_V6ONLY); TCP and the rest go by the socket's family.
   */
  private destination(raw: Uint8Array, unspec: 'disconnect' | 'inet' | 'none'): InetAddr | null | number {
    if (this.family === AF_INET6 && this.type === SOCK_DGRAM && raw.length >= 2 && (raw[0] | (raw[1] << 8)) === AF_INET) {
      return parseInetAddr(raw, AF_INET, 'refuse');
    }
    return parseInetAddr(raw, this.family, unspec);
  }

  override bind(t: Task, raw: Uint8Array): number {
    const a = parseInetAddr(raw, this.family, 'inet');
    if (typeof a === 'number') return a;
    if (!a || a.family === AF_UNSPEC) return -EAFNOSUPPORT;
    // AF_UNSPEC binds only INADDR_ANY (inet_bind: EAFNOSUPPORT for any other address).
    if (this.family === AF_INET && raw[0] === AF_UNSPEC && raw[1] === 0 && a.addr.some((b) => b !== 0)) return -EAFNOSUPPORT;
    if (a.port !== 0 && a.port < unprivilegedPortStart() && !capable(t.creds, CAP_NET_BIND_SERVICE)) return -EACCES;
    const len = encodeInetAddr(a, addrScratch);
    return netSys().sockBind(this.hostFd, addrScratch, len);
  }

  override connect(t: Task, raw: Uint8Array): number {
    this.activity++;
    const a = this.destination(raw, 'disconnect');
    if (typeof a === 'number') return a;
    if (!a) return -EAFNOSUPPORT;
    if (a.family !== AF_UNSPEC && !egressPermits(a.addr, a.port, this.proto)) return -EACCES;
    const len = encodeInetAddr(a, addrScratch);
    // A re-run of a connect this task parked in: the host says how it ended.
    const st = t.blockState as { sock?: unknown } | undefined;
    const rerun = st !== undefined && st.sock === this;
    let r = netSys().sockConnect(this.hostFd, addrScratch, len);
    if (rerun && r === -EISCONN) r = 0;
    if (r === -EINPROGRESS || (rerun && r === -EALREADY)) {
      this.waitQueue.notify();
      if (this.flags & O_NONBLOCK) return -EINPROGRESS;
      const w = this.park(t, 'snd', 0);
      return w === -EAGAIN ? -EINPROGRESS : w;
    }
    this.waitQueue.notify();
    return r;
  }

  override listen(_t: Task, backlog: number): number {
    if (this.type !== SOCK_STREAM) return -EOPNOTSUPP;
    const r = netSys().sockListen(this.hostFd, backlog);
    if (r === 0) this.listening = true;
    return r;
  }

  override accept(t: Task, flags: number): Socket | number {
    this.activity++;
    if (this.type !== SOCK_STREAM) return -EOPNOTSUPP;
    const fd = netSys().sockAccept(this.hostFd, nameScratch);
    if (fd === -EAGAIN) return this.park(t, 'rcv', this.flags & O_NONBLOCK ? MSG_DONTWAIT : 0);
    if (fd < 0) return fd;
    const s = new InetSocket(this.family, this.type, this.protocol, flags, fd);
    s.acceptedFrom = nameScratch.slice(0, Math.max(0, Math.min(netAux[0], nameScratch.length)));
    return s;
  }

  override getsockname(_t: Task): Uint8Array | number {
    const n = netSys().sockName(this.hostFd, false, nameScratch);
    return n < 0 ? n : nameScratch.slice(0, n);
  }

  override getpeername(_t: Task): Uint8Array | number {
    const n = netSys().sockName(this.hostFd, true, nameScratch);
    return n < 0 ? n : nameScratch.slice(0, n);
  }

  override sendmsg(t: Task, m: SendRequest): number {
    this.activity++;
    if (m.flags & ~KNOWN_SEND) return -EOPNOTSUPP;
    let dest: InetAddr | null = null;
    if (m.addr && m.addr.length > 0 && this.type === SOCK_DGRAM) {
      const a = this.destination(m.addr, this.family === AF_INET ? 'inet' : 'none');
      if (typeof a === 'number') return a;
      dest = a;
      if (dest && !egressPermits(dest.addr, dest.port, this.proto)) return -EACCES;
    }
    const len = dest ? encodeInetAddr(dest, addrScratch) : 0;
    const addr = dest ? addrScratch : null;
    const hostFlags = m.flags & HOST_SEND;
    const done = progressOf(t);
    const want = total(m.data);
    const r = netSys().sockSend(this.hostFd, skipViews(m.data, done), hostFlags, addr, len);
    if (r === -EAGAIN) return this.park(t, 'snd', m.flags, done);
    if (r < 0) return done > 0 ? done : r;
    this.waitQueue.notify();
    // A stream's blocking send moves everything before it returns (tcp_sendmsg).
    if (this.type === SOCK_STREAM && done + r < want && !(m.flags & MSG_DONTWAIT)) return this.park(t, 'snd', m.flags, done + r);
    return done + r;
  }

  override recvmsg(t: Task, m: RecvRequest): RecvResult | number {
    this.activity++;
    if (m.flags & MSG_ERRQUEUE) return this.recvErrQueue(m);
    const done = progressOf(t);
    const dgram = this.type === SOCK_DGRAM;
    // Control messages only for a datagram reader with room for them (TCP has none to give).
    const ctl = dgram && m.controlLen > 0 ? ctlScratch : null;
    const r = netSys().sockRecv(this.hostFd, skipViews(m.data, done), m.flags & HOST_RECV, dgram ? addrScratch : null, ctl);
    // A datagram socket shut for reading: a blocking read ends (0) where the host's non-blocking one says EAGAIN.
    if (r === -EAGAIN && dgram && this.readShut && !(m.flags & MSG_DONTWAIT)) return { n: 0, addr: null, control: null, flags: 0 };
    if (r === -EAGAIN) return this.finishOrPark(t, m, done);
    if (r < 0) return done > 0 ? { n: done, addr: null, control: null, flags: 0 } : r;
    const flags = netAux[1] & (MSG_TRUNC | 0x80 | 0x1 | 0x8);
    const addr = dgram && netAux[0] > 0 ? addrScratch.slice(0, netAux[0]) : null;
    const n = done + r;
    // MSG_WAITALL on a stream: keep reading until full, EOF, an error or a signal.
    if (!dgram && m.flags & MSG_WAITALL && !(m.flags & (MSG_PEEK | MSG_DONTWAIT)) && r > 0 && n < total(m.data)) {
      return this.park(t, 'rcv', m.flags, n);
    }
    let control: Uint8Array | null = null;
    let cflags = 0;
    if (ctl && netAux[2] > 0) {
      const w = new CmsgWriter(m.controlLen);
      relayInetCmsgs(ctl.subarray(0, Math.min(netAux[2], ctl.length)), w);
      control = w.result();
      cflags = w.flags;
    }
    return { n, addr, control, flags: flags | cflags };
  }

  /**
   * MSG_ERRQUEUE (IP_RECVERR/IPV6_RECVERR): the host socket's error queue, never waited for (Linux:
   * EAGAIN when empty); its IP_RECVERR/IPV6_RECVERR message re-encoded like the others (cmsg.ts).
   */
  private recvErrQueue(m: RecvRequest): RecvResult | number {
    const r = netSys().sockRecv(this.hostFd, m.data, (m.flags & HOST_RECV) | MSG_ERRQUEUE, addrScratch, ctlScratch);
    if (r < 0) return r;
    const addr = netAux[0] > 0 ? addrScratch.slice(0, netAux[0]) : null;
    const w = new CmsgWriter(m.controlLen);
    if (netAux[2] > 0) relayInetCmsgs(ctlScratch.subarray(0, Math.min(netAux[2], ctlScratch.length)), w);
    const flags = netAux[1] & (MSG_TRUNC | MSG_ERRQUEUE | 0x8);
    return { n: r, addr, control: m.controlLen > 0 ? w.result() : null, flags: flags | w.flags };
  }

  private finishOrPark(t: Task, m: RecvRequest, done: number): RecvResult | number {
    const w = this.park(t, 'rcv', m.flags, done);
    if (w > 0) return { n: w, addr: null, control: null, flags: 0 };
    return w;
  }

  override shutdown(_t: Task, how: number): number {
    this.activity++;
    // Linux marks the socket shut even when it answers ENOTCONN (an unconnected UDP socket).
    if (how !== SHUT_WR) this.readShut = true;
    const r = netSys().sockShutdown(this.hostFd, how);
    this.waitQueue.notify();
    return r;
  }

  override getsockopt(t: Task, level: number, name: number, optlen: number): Uint8Array | number {
    if (hostOption(level, name)) return inetGetOpt(this.hostFd, level, name, optlen);
    return super.getsockopt(t, level, name, optlen);
  }

  override setsockopt(t: Task, level: number, name: number, val: Uint8Array): number {
    if (level === SOL_SOCKET && name === SO_LINGER) return this.setLinger(t, val);
    if (level === SOL_SOCKET && (name === SO_SNDBUFFORCE || name === SO_RCVBUFFORCE)) return this.forceBuffer(t, name, val);
    if (hostOption(level, name)) return inetSetOpt(this.hostFd, level, name, val, netPrivileged(t), this.type === SOCK_STREAM);
    return super.setsockopt(t, level, name, val);
  }

  /**
   * SO_SNDBUFFORCE/SO_RCVBUFFORCE: the application needs CAP_NET_ADMIN. A size within the
   * namespace's wmem_max/rmem_max is what plain SO_SNDBUF/SO_RCVBUF sets (the host doubles it
   * either way); above it the host's FORCE is asked, which the confined sentry (no CAP_NET_ADMIN
   * of its own) is refused: EPERM. The size reaching the host is bounded (FORCE_MAX).
   */
  private forceBuffer(t: Task, name: number, val: Uint8Array): number {
    if (!capable(t.creds, CAP_NET_ADMIN)) return -EPERM;
    const v = optInt(val);
    if (Number.isNaN(v)) return -EINVAL;
    const size = Math.min(Math.max(v, 0), FORCE_MAX);
    const snd = name === SO_SNDBUFFORCE;
    const plain = size <= netMemMax(snd ? 'wmem_max' : 'rmem_max');
    const host = new Uint8Array(4);
    new DataView(host.buffer).setInt32(0, size, true);
    return netSys().sockSetOpt(this.hostFd, SOL_SOCKET, plain ? (snd ? SO_SNDBUF : SO_RCVBUF) : name, host, 4);
  }

  /**
   * SO_LINGER is kept by the sentry: a lingering close would block the sentry's own close(2) for
   * up to l_linger seconds. Only its abortive form (on, 0 s: reset on close) reaches the host.
   */
  private setLinger(t: Task, val: Uint8Array): number {
    const r = super.setsockopt(t, SOL_SOCKET, SO_LINGER, val);
    if (r < 0) return r;
    const host = new Uint8Array(8);
    new DataView(host.buffer).setInt32(0, this.linger.onoff && this.linger.linger === 0 ? 1 : 0, true);
    return netSys().sockSetOpt(this.hostFd, SOL_SOCKET, SO_LINGER, host, 8);
  }

  override readiness(): number {
    const polled = hostPolled(this);
    const rev = polled >= 0 ? polled : netSys().pollNow(this.hostFd, POLLIN | POLLOUT | POLLPRI | POLLRDHUP);
    return rev & (POLLIN | POLLOUT | POLLPRI | POLLRDHUP | POLLERR | POLLHUP);
  }

  override hostBacked(): boolean {
    return true;
  }

  override hostPollFd(): number {
    return this.hostFd;
  }

  override edgeActivity(): number {
    return this.activity;
  }

  /** Readable; writable too while the socket cannot take more (or is connecting). Its readiness is signalled (net.c sockOpen). */
  override hostWatchFd(): number {
    const fd = this.hostFd | WATCH_SIGNALLED;
    const polled = hostPolled(this);
    const rev = polled >= 0 ? polled : netSys().pollNow(this.hostFd, POLLOUT);
    return rev & POLLOUT ? fd : fd | WATCH_OUT;
  }

  override ioctl(t: Task, cmd: number, arg: number): number {
    switch (cmd) {
      case FIONREAD:
      case SIOCOUTQ:
      case SIOCATMARK:
      case SIOCOUTQNSD: {
        if (this.listening && cmd === FIONREAD) return -EINVAL; // as tcp_ioctl on a listener
        const v = netSys().sockIoctlInt(this.hostFd, cmd);
        if (v < 0) return v;
        return t.mm.writeU32(arg, v) ? 0 : -EFAULT;
      }
      default:
        return super.ioctl(t, cmd, arg);
    }
  }

  override release(): void {
    if (this.released) return;
    this.released = true;
    closeHost(this.hostFd);
  }
}

export function closeHost(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already gone */
  }
}

/** socket(AF_INET/AF_INET6, type, protocol): TCP and UDP only (inet_create's answers otherwise). */
function create(family: number) {
  return (_t: Task, type: number, protocol: number, flags: number): Socket | number => {
    if (type === SOCK_STREAM) {
      if (protocol !== 0 && protocol !== IPPROTO_TCP) return -EPROTONOSUPPORT;
    } else if (type === SOCK_DGRAM) {
      // Ping sockets: net.ipv4.ping_group_range is "1 0" (nobody) by default.
      if (protocol === IPPROTO_ICMP || protocol === IPPROTO_ICMPV6) return -EACCES;
      if (protocol !== 0 && protocol !== IPPROTO_UDP) return -EPROTONOSUPPORT;
    } else if (type === SOCK_RAW) {
      return -EPERM; // no CAP_NET_RAW in the sandbox: the sentry gives out no raw sockets
    } else {
      return -ESOCKTNOSUPPORT;
    }
    const proto = type === SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
    const fd = netSys().sockOpen(family, type, proto);
    if (fd < 0) return fd;
    return new InetSocket(family, type, proto, flags, fd);
  };
}

export function registerInet(): void {
  registerSocketFamily(AF_INET, { create: create(AF_INET) });
  registerSocketFamily(AF_INET6, { create: create(AF_INET6) });
}
