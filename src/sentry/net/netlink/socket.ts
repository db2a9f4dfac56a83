// AF_NETLINK sockets, NETLINK_ROUTE only, read side (route.ts says what is forwarded and how).
// getifaddrs, getaddrinfo(AI_ADDRCONFIG), `ip addr/link/route` dump the namespace's interfaces,
// addresses and routes through them. The answers come from the host kernel for the sandbox's own
// namespace, over one host NETLINK_ROUTE socket the sentry holds: the alternative, building them
// from ioctls, would lose IPv6 addresses, routes and link attributes the tools print.

import { ECONNREFUSED, EADDRINUSE, EFAULT, EINVAL, EMSGSIZE, ENOBUFS, ENOPROTOOPT, EPERM, EPROTONOSUPPORT, ESOCKTNOSUPPORT } from '../../abi/errno';
import { CAP_NET_BROADCAST, capable } from '../../kernel/creds';
import type { Task } from '../../kernel/task';
import { POLLIN, POLLOUT } from '../../vfs/constants';
import { MSG_PEEK, MSG_TRUNC, SCM_CREDENTIALS, SOCK_DGRAM, SOL_SOCKET } from '../constants';
import { CmsgWriter, encodeUcred, gatherViews, type RecvRequest, type RecvResult, type SendRequest } from '../message';
import { registerSocketFamily, Socket, intBytes } from '../socket';
import { netAux, netSys } from '../host';
import { errorMessage, parseRequests, reframeReply, readHeader, NLMSG_HDRLEN } from './route';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
const NETLINK_ADD_MEMBERSHIP = 1;
const NETLINK_DROP_MEMBERSHIP = 2;
const NETLINK_LISTEN_ALL_NSID = 8;
const NETLINK_LIST_MEMBERSHIPS = 9;
/** The SOL_NETLINK options netlink_setsockopt / netlink_getsockopt know (flags read back as 0 or 1). */
const SETTABLE = new Set([1, 2, 3, 4, 5, 8, 10, 11, 12]);
const GETTABLE = new Set([3, 4, 5, 8, 10, 11, 12]);
/** NETLINK_ROUTE's multicast groups: RTNLGRP_MAX of Linux 6.1 (the kernel the sentry reports), at least 32. */
const RTNL_GROUPS = 36;
const SOCKADDR_NL = 12;
/** The most reply bytes queued for one socket (a dump of a busy namespace is far less). */
const QUEUE_MAX = 8 << 20;

let hostFd = -1;
let hostSeq = 1;
const hostBuf = new Uint8Array(64 * 1024);
const usedPorts = new Set<number>();
let nextAutoPort = -4096;

function hostSocket(): number {
  if (hostFd < 0) hostFd = netSys().sockOpen(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
  return hostFd;
}

function sockaddrNl(pid: number, groups: number): Uint8Array {
  const b = new Uint8Array(SOCKADDR_NL);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_NETLINK, true);
  dv.setUint32(4, pid >>> 0, true);
  dv.setUint32(8, groups >>> 0, true);
  return b;
}

/** Parse a sockaddr_nl: its port id and groups, or -errno. */
function parseNl(raw: Uint8Array): { pid: number; groups: number } | number {
  if (raw.length < SOCKADDR_NL) return -EINVAL;
  const dv = new DataView(raw.buffer, raw.byteOffset, SOCKADDR_NL);
  if (dv.getUint16(0, true) !== AF_NETLINK) return -EINVAL;
  return { pid: dv.getUint32(4, true), groups: dv.getUint32(8, true) };
}

export class NetlinkSocket extends Socket {
  private portId = 0;
  /** Multicast groups joined (1-based), and how many the protocol has once one was asked for. */
  private readonly memberships = new Set<number>();
  private ngroups = 0;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private readonly opts = new Map<number, number>();

  private bindPort(t: Task, pid: number): number {
    if (this.portId !== 0) return pid === 0 || pid === this.portId ? 0 : -EINVAL;
    if (pid !== 0) {
      if (usedPorts.has(pid)) return -EADDRINUSE;
      this.portId = pid;
    } else {
      // netlink_autobind: the thread group's id first, then negative ids.
      let p = t.pid;
      while (usedPorts.has(p)) p = nextAutoPort-- >>> 0;
      this.portId = p;
    }
    usedPorts.add(this.portId);
    return 0;
  }

  override bind(t: Task, raw: Uint8Array): number {
    const a = parseNl(raw);
    if (typeof a === 'number') return a;
    const r = this.bindPort(t, a.pid);
    if (r === 0 && a.groups !== 0) this.ngroups = RTNL_GROUPS;
    if (r === 0 && this.ngroups > 0) {
      // The first 32 groups are the mask's (netlink_bind); no multicast event is delivered.
      for (let g = 1; g <= 32; g++) {
        if ((a.groups >>> (g - 1)) & 1) this.memberships.add(g);
        else this.memberships.delete(g);
      }
    }
    return r;
  }

  override connect(t: Task, raw: Uint8Array): number {
    const a = parseNl(raw);
    if (typeof a === 'number') return a;
    if (a.pid !== 0) return -ECONNREFUSED; // only the kernel answers here
    return this.bindPort(t, 0);
  }

  override getsockname(_t: Task): Uint8Array {
    return sockaddrNl(this.portId, this.groupMask());
  }

  override getpeername(_t: Task): Uint8Array {
    return sockaddrNl(0, 0);
  }

  override sendmsg(t: Task, m: SendRequest): number {
    if (m.addr && m.addr.length > 0) {
      const a = parseNl(m.addr);
      if (typeof a === 'number') return a;
      if (a.pid !== 0) return -ECONNREFUSED;
    }
    if (this.portId === 0) this.bindPort(t, 0);
    let len = 0;
    for (const v of m.data) len += v.length;
    if (len > 64 * 1024) return -EMSGSIZE;
    const bytes = gatherViews(m.data, 0, len);
    for (const a of parseRequests(bytes)) {
      if (a.kind === 'ignore') continue;
      if (a.kind === 'error') this.enqueue(errorMessage(a.header, a.errno, this.portId));
      else this.forward(a.request, a.header);
    }
    this.waitQueue.notify();
    return len;
  }

  /** Ask the host and queue its whole answer (rtnetlink answers while the sentry reads). */
  private forward(req: Uint8Array, h: ReturnType<typeof readHeader>): void {
    const fd = hostSocket();
    if (fd < 0) {
      this.enqueue(errorMessage(h, -fd, this.portId));
      return;
    }
    const seq = hostSeq++ >>> 0;
    new DataView(req.buffer, req.byteOffset).setUint32(8, seq, true);
    const s = netSys().sockSend(fd, [req], 0, null, 0);
    if (s < 0) {
      this.enqueue(errorMessage(h, -s, this.portId));
      return;
    }
    for (let i = 0; i < 100000; i++) {
      const n = netSys().sockRecv(fd, [hostBuf], 0, null);
      if (n <= 0) break;
      if (n < NLMSG_HDRLEN || readHeader(hostBuf, 0).seq !== seq) continue; // a stale answer
      const r = reframeReply(hostBuf.subarray(0, n), h, this.portId);
      if (r.data.length > 0) this.enqueue(r.data.slice());
      if (r.done || netAux[1] & MSG_TRUNC) break;
    }
  }

  private enqueue(d: Uint8Array): void {
    if (this.queued + d.length > QUEUE_MAX) {
      this.error = ENOBUFS;
      return;
    }
    this.queue.push(d);
    this.queued += d.length;
  }

  override recvmsg(t: Task, m: RecvRequest): RecvResult | number {
    const d = this.queue[0];
    if (!d) return this.waitFor(t, [this.waitQueue], 'rcv', m.flags);
    let copied = 0;
    for (const v of m.data) {
      if (copied >= d.length) break;
      const n = Math.min(v.length, d.length - copied);
      v.set(d.subarray(copied, copied + n));
      copied += n;
    }
    if (!(m.flags & MSG_PEEK)) {
      this.queue.shift();
      this.queued -= d.length;
    }
    const trunc = copied < d.length ? MSG_TRUNC : 0;
    // SO_PASSCRED: every message is from the kernel, pid 0 and root (netlink_recvmsg's scm_recv).
    let control: Uint8Array | null = null;
    let cflags = 0;
    if (this.passCred) {
      const w = new CmsgWriter(m.controlLen);
      w.put(SOL_SOCKET, SCM_CREDENTIALS, encodeUcred({ pid: 0, uid: 0, gid: 0 }));
      control = w.result();
      cflags = w.flags;
    }
    return { n: m.flags & MSG_TRUNC ? d.length : copied, addr: sockaddrNl(0, 0), control, flags: trunc | cflags };
  }

  override shutdown(): number {
    return 0;
  }

  override getsockopt(t: Task, level: number, name: number, optlen: number): Uint8Array | number {
    if (level === SOL_NETLINK && name === NETLINK_LIST_MEMBERSHIPS) return this.listMemberships(optlen);
    if (level === SOL_NETLINK) {
      if (!GETTABLE.has(name)) return -ENOPROTOOPT;
      return optlen < 4 ? -EINVAL : intBytes(this.opts.get(name) ? 1 : 0);
    }
    return super.getsockopt(t, level, name, optlen);
  }

  override reportedOptlen(level: number, name: number): number | undefined {
    return level === SOL_NETLINK && name === NETLINK_LIST_MEMBERSHIPS ? this.membershipBytes() : undefined;
  }

  override setsockopt(t: Task, level: number, name: number, val: Uint8Array): number {
    if (level === SOL_NETLINK) {
      // NETLINK_ADD/DROP_MEMBERSHIP are kept (LIST_MEMBERSHIPS, getsockname show them; no event is
      // delivered); PKTINFO, BROADCAST_ERROR, NO_ENOBUFS, LISTEN_ALL_NSID, CAP_ACK, EXT_ACK,
      // GET_STRICT_CHK: kept, with no effect on what is answered.
      if (!SETTABLE.has(name)) return -ENOPROTOOPT;
      if (val.length < 4) return -EINVAL;
      const v = new DataView(val.buffer, val.byteOffset, 4).getInt32(0, true);
      if (name === NETLINK_ADD_MEMBERSHIP || name === NETLINK_DROP_MEMBERSHIP) {
        this.ngroups = RTNL_GROUPS;
        if (v < 1 || v > this.ngroups) return -EINVAL;
        if (name === NETLINK_ADD_MEMBERSHIP) this.memberships.add(v);
        else this.memberships.delete(v);
        return 0;
      }
      // NETLINK_LISTEN_ALL_NSID: events of every peer namespace, for CAP_NET_BROADCAST only.
      if (name === NETLINK_LISTEN_ALL_NSID && v !== 0 && !capable(t.creds, CAP_NET_BROADCAST)) return -EPERM;
      this.opts.set(name, v);
      return 0;
    }
    return super.setsockopt(t, level, name, val);
  }

  /** ALIGN(BITS_TO_BYTES(ngroups), 4): 0 until a group was asked for (netlink_realloc_groups). */
  private membershipBytes(): number {
    return Math.ceil(Math.ceil(this.ngroups / 8) / 4) * 4;
  }

  /** The membership bitmap, in whole u32 words that fit the caller's room (netlink_getsockopt). */
  private listMemberships(optlen: number): Uint8Array {
    const b = new Uint8Array(this.membershipBytes());
    for (const g of this.memberships) b[(g - 1) >> 3] |= 1 << ((g - 1) & 7);
    return b.subarray(0, Math.min(b.length, Math.floor(Math.max(optlen, 0) / 4) * 4));
  }

  /** The first 32 groups as a mask (sockaddr_nl's nl_groups). */
  private groupMask(): number {
    let m = 0;
    for (const g of this.memberships) if (g <= 32) m |= 1 << (g - 1);
    return m >>> 0;
  }

  override readiness(): number {
    return (this.queue.length > 0 ? POLLIN : 0) | POLLOUT;
  }

  override ioctl(t: Task, cmd: number, arg: number): number {
    if (cmd === 0x541b) return t.mm.writeU32(arg, this.queue[0]?.length ?? 0) ? 0 : -EFAULT; // FIONREAD
    return super.ioctl(t, cmd, arg);
  }

  override release(): void {
    if (this.portId !== 0) usedPorts.delete(this.portId);
    this.queue.length = 0;
  }
}

function create(_t: Task, type: number, protocol: number, flags: number): Socket | number {
  if (type !== SOCK_RAW && type !== SOCK_DGRAM) return -ESOCKTNOSUPPORT;
  if (protocol !== NETLINK_ROUTE) return -EPROTONOSUPPORT;
  return new NetlinkSocket(AF_NETLINK, type, protocol, flags);
}

export function registerNetlink(): void {
  registerSocketFamily(AF_NETLINK, { create });
}
