// Sockets: the file description every address family implements, and the registry the socket
// syscalls (syscalls/linux/sys_socket.ts) find families in.
//
// How a family plugs in (AF_UNIX does it in net/unix/, AF_INET/AF_INET6/AF_NETLINK the same way):
//
//   registerSocketFamily(AF_X, {
//     create(t, type, protocol, flags) → a Socket or -errno   (type without SOCK_NONBLOCK/CLOEXEC;
//                                                              flags: the file's O_NONBLOCK)
//     pair?(t, type, protocol, flags)  → two connected Sockets (socketpair; absent: EOPNOTSUPP)
//   });
//
// and subclasses Socket, overriding the operations it supports. The syscall layer has already
// looked up the fd (EBADF/ENOTSOCK), bounded and copied the arguments (sockaddrs as raw bytes of
// at most 128, iovecs as views of application memory, control messages split into
// {level, type, data}) and copies results back (address lengths in/out, msg_flags, controllen).
// Each operation returns a result, -errno, or BLOCK after parking the task with waitFor() below.
//
// Blocking: an operation that must wait calls waitFor(t, this, queues, dir) and returns what it
// returns (-EAGAIN if the file is O_NONBLOCK or the call has MSG_DONTWAIT, else BLOCK). The kernel
// re-runs the whole syscall when a queue is notified, so an operation must have no effect before
// it blocks, or record its progress with waitFor's `progress` (a stream send or MSG_WAITALL
// receive that moved some bytes already): the re-run finds it in progressOf(t), a signal then
// ends the call with that count, and SO_RCVTIMEO/SO_SNDTIMEO bound the wait (EAGAIN at expiry).
// Notify this.waitQueue whenever readiness() may have changed.
//
// SOL_SOCKET options common to all families (SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ERROR,
// SO_SNDBUF/RCVBUF, SO_RCVTIMEO/SNDTIMEO, SO_REUSEADDR, SO_KEEPALIVE, SO_LINGER, ...) are kept
// here; a family overrides getsockopt/setsockopt for its own and calls super for the rest.

import { EAGAIN, EDOM, EINTR, EINVAL, ENOPROTOOPT, ENOTCONN, ENOTTY, EOPNOTSUPP, EPERM } from '../abi/errno';
import { CAP_NET_ADMIN, CAP_NET_RAW, capable } from '../kernel/creds';
import type { Task } from '../kernel/task';
import type { WaitQueue } from '../kernel/waitqueue';
import { O_NONBLOCK, O_RDWR, S_IFSOCK } from '../vfs/constants';
import { allocAnonIno, anonStat, FileDescription, type StatInfo } from '../vfs/file';
import {
  MSG_DONTWAIT, RMEM_DEFAULT, SO_ACCEPTCONN, SO_BROADCAST, SO_DEBUG, SO_DOMAIN, SO_DONTROUTE, SO_ERROR,
  SO_KEEPALIVE, SO_LINGER, SO_MARK, SO_NO_CHECK, SO_OOBINLINE, SO_PASSCRED, SO_PRIORITY, SO_PROTOCOL, SO_RCVBUF,
  SO_RCVBUFFORCE, SO_RCVLOWAT, SO_RCVTIMEO_NEW, SO_RCVTIMEO_OLD, SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF,
  SO_SNDBUFFORCE, SO_SNDLOWAT, SO_SNDTIMEO_NEW, SO_SNDTIMEO_OLD, SO_TYPE, SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF,
  SOL_SOCKET, WMEM_DEFAULT,
} from './constants';
import type { RecvRequest, RecvResult, SendRequest } from './message';
import { netdevIoctl } from './netdev';
import { netMemMax } from './sysctl';

export interface SocketFamily {
  /** socket(2): type is SOCK_STREAM etc. (flags stripped); flags is O_NONBLOCK or 0. */
  create(t: Task, type: number, protocol: number, flags: number): Socket | number;
  /** socketpair(2); absent: EOPNOTSUPP. */
  pair?(t: Task, type: number, protocol: number, flags: number): [Socket, Socket] | number;
}

const families = new Map<number, SocketFamily>();

/** Make family (AF_*) available to socket(2) and socketpair(2). */
export function registerSocketFamily(family: number, impl: SocketFamily): void {
  families.set(family, impl);
}

export function socketFamily(family: number): SocketFamily | undefined {
  return families.get(family);
}

/** The blocking state a parked socket call keeps across its re-runs. */
interface SockWait {
  sock: Socket;
  deadline: number;
  progress: number;
}

/** Bytes a parked stream call had moved before it parked (0 at its first run). */
export function progressOf(t: Task): number {
  const st = t.blockState as SockWait | undefined;
  return st && st.sock ? st.progress : 0;
}

/** The next operation of the same call starts with nothing moved (sendmmsg/recvmmsg between messages). */
export function resetProgress(t: Task): void {
  const st = t.blockState as SockWait | undefined;
  if (st && st.sock) st.progress = 0;
}

/** struct linger. */
export interface Linger {
  onoff: number;
  linger: number;
}

function intBytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

/** An int option's value (setsockopt: optlen at least sizeof(int)). */
export function optInt(val: Uint8Array): number {
  if (val.length < 4) return NaN;
  return new DataView(val.buffer, val.byteOffset, 4).getInt32(0, true);
}

export { intBytes };

export abstract class Socket extends FileDescription {
  readonly sockIno = allocAnonIno();
  /** SO_ERROR: a pending asynchronous error (positive errno), cleared when read. */
  error = 0;
  /** SO_SNDBUF/SO_RCVBUF as getsockopt reports them (Linux doubles what is asked). */
  sndbuf = WMEM_DEFAULT;
  rcvbuf = RMEM_DEFAULT;
  /** SO_SNDTIMEO/SO_RCVTIMEO in ms; 0: wait forever. */
  sndTimeoMs = 0;
  rcvTimeoMs = 0;
  /** Options kept and reported, without effect in the sentry. */
  reuseAddr = false;
  reusePort = false;
  keepAlive = false;
  broadcast = false;
  oobInline = false;
  passCred = false;
  priority = 0;
  noCheck = false;
  rcvLowat = 1;
  mark = 0;
  linger: Linger = { onoff: 0, linger: 0 };
  /** Whether listen() was called (SO_ACCEPTCONN). */
  listening = false;
  /** A socket accept() made: the peer's address as it was then (accept reports it even if the peer has reset since). */
  acceptedFrom: Uint8Array | null = null;

  constructor(readonly family: number, readonly type: number, readonly protocol: number, flags: number) {
    super(O_RDWR | (flags & O_NONBLOCK));
  }

  // ---- the operations (defaults: what Linux answers for a family without them) ----

  bind(_t: Task, _addr: Uint8Array): number {
    return -EOPNOTSUPP;
  }
  connect(_t: Task, _addr: Uint8Array): number {
    return -EOPNOTSUPP;
  }
  listen(_t: Task, _backlog: number): number {
    return -EOPNOTSUPP;
  }
  /** A new connected socket (its file flags from accept4's flags), -errno or BLOCK. */
  accept(_t: Task, _flags: number): Socket | number {
    return -EOPNOTSUPP;
  }
  getsockname(_t: Task): Uint8Array | number {
    return -EOPNOTSUPP;
  }
  getpeername(_t: Task): Uint8Array | number {
    return -ENOTCONN;
  }
  /** Bytes sent, -errno (EPIPE: the caller raises SIGPIPE unless MSG_NOSIGNAL) or BLOCK. */
  sendmsg(_t: Task, _m: SendRequest): number {
    return -EOPNOTSUPP;
  }
  recvmsg(_t: Task, _m: RecvRequest): RecvResult | number {
    return -EOPNOTSUPP;
  }
  shutdown(_t: Task, _how: number): number {
    return -EOPNOTSUPP;
  }
  /** The option's value (the caller copies at most optlen bytes of it), or -errno. */
  getsockopt(t: Task, level: number, name: number, optlen: number): Uint8Array | number {
    if (level !== SOL_SOCKET) return -EOPNOTSUPP;
    return this.socketOption(t, name, optlen);
  }
  /**
   * The optlen getsockopt reports for an option whose value is cut to the caller's room but whose
   * length is told whole (NETLINK_LIST_MEMBERSHIPS); undefined for the usual min(room, value).
   */
  reportedOptlen(_level: number, _name: number): number | undefined {
    return undefined;
  }
  setsockopt(t: Task, level: number, name: number, val: Uint8Array): number {
    if (level !== SOL_SOCKET) return -EOPNOTSUPP;
    return this.setSocketOption(t, name, val);
  }

  // ---- read/write are recvmsg/sendmsg without address or flags ----

  override read(t: Task, dst: Uint8Array[], _pos: number): number {
    // sock_read_iter: reading nothing returns 0 at once (recvmsg of nothing would wait).
    if (dst.every((d) => d.length === 0)) return 0;
    const r = this.recvmsg(t, { data: dst, flags: this.flags & O_NONBLOCK ? MSG_DONTWAIT : 0, controlLen: 0 });
    return typeof r === 'number' ? r : r.n;
  }

  override write(t: Task, src: Uint8Array[], _pos: number): number {
    return this.sendmsg(t, { data: src, addr: null, control: [], flags: this.flags & O_NONBLOCK ? MSG_DONTWAIT : 0 });
  }

  abstract override readiness(): number;

  /** sock_do_ioctl: what a family does not answer goes to the interface ioctls (dev_ioctl). */
  override ioctl(t: Task, cmd: number, arg: number): number {
    return netdevIoctl(t, cmd, arg) ?? -ENOTTY;
  }

  override stat(): StatInfo {
    return anonStat(S_IFSOCK | 0o777, this.sockIno);
  }

  override get displayPath(): string {
    return `socket:[${this.sockIno}]`;
  }

  // ---- blocking ----

  /**
   * Wait on queues for a send ('snd') or receive ('rcv'): -EAGAIN if non-blocking (flags has
   * MSG_DONTWAIT) or the SO_*TIMEO passed, else park and return BLOCK. progress: bytes already
   * moved by this call (returned instead of EAGAIN, or of EINTR on a signal).
   */
  waitFor(t: Task, queues: WaitQueue[], dir: 'snd' | 'rcv', flags: number, progress = 0): number {
    if (flags & MSG_DONTWAIT) return progress > 0 ? progress : -EAGAIN;
    let st = t.blockState as SockWait | undefined;
    if (st && t.timedOut) return progress > 0 ? progress : -EAGAIN;
    const ms = dir === 'snd' ? this.sndTimeoMs : this.rcvTimeoMs;
    if (ms < 0) return progress > 0 ? progress : -EAGAIN;
    if (!st || st.sock !== this) st = { sock: this, deadline: ms > 0 ? performance.now() + ms : Infinity, progress: 0 };
    st.progress = progress;
    // sock_intr_errno: with a timeout, EINTR; without, restart if SA_RESTART says so.
    t.interruptResult = progress > 0 ? progress : ms > 0 ? -EINTR : -512;
    return t.block(queues, st.deadline, st);
  }

  // ---- SOL_SOCKET ----

  protected socketOption(_t: Task, name: number, _optlen: number): Uint8Array | number {
    switch (name) {
      case SO_TYPE:
        return intBytes(this.type);
      case SO_DOMAIN:
        return intBytes(this.family);
      case SO_PROTOCOL:
        return intBytes(this.protocol);
      case SO_ERROR: {
        const e = this.error;
        this.error = 0;
        return intBytes(e);
      }
      case SO_SNDBUF:
        return intBytes(this.sndbuf);
      case SO_RCVBUF:
        return intBytes(this.rcvbuf);
      case SO_RCVTIMEO_OLD:
      case SO_RCVTIMEO_NEW:
        return timeval(this.rcvTimeoMs);
      case SO_SNDTIMEO_OLD:
      case SO_SNDTIMEO_NEW:
        return timeval(this.sndTimeoMs);
      case SO_REUSEADDR:
        return intBytes(this.reuseAddr ? 1 : 0);
      case SO_REUSEPORT:
        return intBytes(this.reusePort ? 1 : 0);
      case SO_KEEPALIVE:
        return intBytes(this.keepAlive ? 1 : 0);
      case SO_BROADCAST:
        return intBytes(this.broadcast ? 1 : 0);
      case SO_OOBINLINE:
        return intBytes(this.oobInline ? 1 : 0);
      case SO_PASSCRED:
        return intBytes(this.passCred ? 1 : 0);
      case SO_ACCEPTCONN:
        return intBytes(this.listening ? 1 : 0);
      case SO_PRIORITY:
        return intBytes(this.priority);
      case SO_RCVLOWAT:
        return intBytes(this.rcvLowat);
      case SO_SNDLOWAT:
        return intBytes(1);
      case SO_MARK:
        return intBytes(this.mark);
      case SO_NO_CHECK:
        return intBytes(this.noCheck ? 1 : 0);
      case SO_DEBUG:
      case SO_DONTROUTE:
        return intBytes(0);
      case SO_LINGER: {
        const b = new Uint8Array(8);
        const dv = new DataView(b.buffer);
        dv.setInt32(0, this.linger.onoff, true);
        dv.setInt32(4, this.linger.linger, true);
        return b;
      }
      default:
        return -ENOPROTOOPT;
    }
  }

  protected setSocketOption(t: Task, name: number, val: Uint8Array): number {
    if (name === SO_RCVTIMEO_OLD || name === SO_RCVTIMEO_NEW || name === SO_SNDTIMEO_OLD || name === SO_SNDTIMEO_NEW) {
      const r = timeoutMs(val);
      if (typeof r === 'number') return r;
      const ms = r.ms;
      if (name === SO_RCVTIMEO_OLD || name === SO_RCVTIMEO_NEW) this.rcvTimeoMs = ms;
      else this.sndTimeoMs = ms;
      return 0;
    }
    if (name === SO_LINGER) {
      if (val.length < 8) return -EINVAL;
      const dv = new DataView(val.buffer, val.byteOffset, 8);
      this.linger = { onoff: dv.getInt32(0, true) ? 1 : 0, linger: dv.getInt32(4, true) };
      return 0;
    }
    const v = optInt(val);
    if (Number.isNaN(v)) return -EINVAL;
    return this.setIntOption(t, name, v);
  }

  private setIntOption(t: Task, name: number, v: number): number {
    const on = v !== 0;
    switch (name) {
      case SO_SNDBUF:
      case SO_SNDBUFFORCE:
        if (name === SO_SNDBUFFORCE && !capable(t.creds, CAP_NET_ADMIN)) return -EPERM;
        this.sndbuf = Math.max(SOCK_MIN_SNDBUF, bufferAsk(name === SO_SNDBUF, v, netMemMax('wmem_max')) * 2);
        this.bufferChanged();
        return 0;
      case SO_RCVBUF:
      case SO_RCVBUFFORCE:
        if (name === SO_RCVBUFFORCE && !capable(t.creds, CAP_NET_ADMIN)) return -EPERM;
        this.rcvbuf = Math.max(SOCK_MIN_RCVBUF, bufferAsk(name === SO_RCVBUF, v, netMemMax('rmem_max')) * 2);
        this.bufferChanged();
        return 0;
      case SO_REUSEADDR:
        this.reuseAddr = on;
        return 0;
      case SO_REUSEPORT:
        this.reusePort = on;
        return 0;
      case SO_KEEPALIVE:
        this.keepAlive = on;
        return 0;
      case SO_BROADCAST:
        this.broadcast = on;
        return 0;
      case SO_OOBINLINE:
        this.oobInline = on;
        return 0;
      case SO_PASSCRED:
        this.passCred = on;
        return 0;
      case SO_PRIORITY:
        if ((v < 0 || v > 6) && !netPrivileged(t)) return -EPERM;
        this.priority = v;
        return 0;
      case SO_RCVLOWAT:
        this.rcvLowat = v < 0 ? 0x7fffffff : v === 0 ? 1 : v;
        return 0;
      case SO_MARK:
        if (!netPrivileged(t)) return -EPERM;
        this.mark = v;
        return 0;
      case SO_NO_CHECK:
        this.noCheck = on;
        return 0;
      case SO_DEBUG:
      case SO_DONTROUTE:
        return 0;
      case SO_TYPE:
      case SO_DOMAIN:
      case SO_PROTOCOL:
      case SO_ERROR:
      case SO_ACCEPTCONN:
      case SO_SNDLOWAT:
        return -ENOPROTOOPT;
      default:
        return -ENOPROTOOPT;
    }
  }

  /** SO_SNDBUF/SO_RCVBUF changed: a family with queues re-checks who may now proceed. */
  protected bufferChanged(): void {
    this.waitQueue.notify();
  }
}

/** sockopt_ns_capable(CAP_NET_RAW) || (CAP_NET_ADMIN): what SO_MARK and a SO_PRIORITY above 6 need. */
export function netPrivileged(t: Task): boolean {
  return capable(t.creds, CAP_NET_ADMIN) || capable(t.creds, CAP_NET_RAW);
}

/** SO_SNDBUF asks for at most the sysctl's maximum (a negative value, as unsigned, is huge); the FORCE forms for anything from 0. */
function bufferAsk(capped: boolean, v: number, max: number): number {
  return capped ? Math.min(v >>> 0, max) : Math.min(Math.max(v, 0), 0x3fffffff);
}

/** A timeout as struct timeval (0,0: none). */
function timeval(ms: number): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  if (ms > 0) {
    const us = Math.round(ms * 1000);
    dv.setBigInt64(0, BigInt(Math.floor(us / 1e6)), true);
    dv.setBigInt64(8, BigInt(us % 1e6), true);
  }
  return b;
}

/** sock_set_timeout: a struct timeval → ms (0: forever; -1: a negative time, every wait fails at once), or -errno. */
function timeoutMs(val: Uint8Array): { ms: number } | number {
  if (val.length < 16) return -EINVAL;
  const dv = new DataView(val.buffer, val.byteOffset, 16);
  const sec = Number(dv.getBigInt64(0, true));
  const usec = Number(dv.getBigInt64(8, true));
  if (usec < 0 || usec >= 1e6) return -EDOM;
  if (sec < 0) return { ms: -1 };
  if (sec === 0 && usec === 0) return { ms: 0 };
  return { ms: Math.min(sec * 1000 + usec / 1000, 0x7fffffff * 1000) };
}

/** For the syscall layer: whether f is a socket (else ENOTSOCK). */
export function isSocket(f: FileDescription): f is Socket {
  return f instanceof Socket;
}

