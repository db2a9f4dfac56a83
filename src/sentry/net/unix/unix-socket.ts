// AF_UNIX sockets, entirely inside the sentry (never a host socket): SOCK_STREAM, SOCK_SEQPACKET
// (connection-oriented: bind, listen, connect, accept) and SOCK_DGRAM. Names are found through the
// sandbox's own VFS (a socket inode made by bind) or its abstract namespace (namespace.ts). This
// file holds the socket's state and its connection management; moving data is io.ts.
//
// A connection is two sockets, each the other's peer; connect() makes the server's half (an
// "embryo") at once and queues it on the listener, where accept() takes it, as Linux does.
// shutdown() and close set the shutdown bits of both halves (RCV/SEND), which is what reads (EOF),
// writes (EPIPE) and poll (POLLRDHUP, POLLHUP) look at.

import { EADDRINUSE, ECONNREFUSED, ECONNRESET, EFAULT, EINVAL, EISCONN, ENOSPC, ENOTCONN, EOPNOTSUPP, EPERM, EPROTOTYPE } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import { O_NONBLOCK, O_RDWR, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, POLLRDNORM, POLLWRBAND, POLLWRNORM, S_IFMT, S_IFSOCK } from '../../vfs/constants';
import { lookupAt, mksockAt, unlinkAt } from '../../vfs/namei';
import { inodePermission, MAY_WRITE } from '../../vfs/permission';
import {
  AF_UNIX, AF_UNSPEC, MSG_DONTWAIT, SIOCINQ, SIOCOUTQ, SO_PEERCRED, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM, SOL_SOCKET,
} from '../constants';
import { encodeUcred, releaseScm, type RecvRequest, type RecvResult, type SendRequest, type Ucred } from '../message';
import { Socket } from '../socket';
import { abstractAddress, parseAddress, parseBindAddress, pathAddress, SUN_PATH_OFFSET, unnamedAddress, type UnixName } from './address';
import { recvMessage, sendMessage } from './io';
import { inodeKey, namespaceOf, type UnixNamespace } from './namespace';
import { MessageQueue } from './queue';

export const RCV_SHUTDOWN = 1;
export const SEND_SHUTDOWN = 2;
const SHUTDOWN_MASK = 3;
/** net.unix.max_dgram_qlen: datagrams queued on a socket from senders it is not connected to. */
export const MAX_DGRAM_QLEN = 10;
/** Whatever SO_SNDBUF says, a sender's unread bytes stay below this (a sandbox cannot grow the sentry without bound). */
const SEND_LIMIT_MAX = 8 << 20;

type State = 'unconnected' | 'listening' | 'connected';

/** The caller's credentials as a peer sees them (SO_PEERCRED: the effective ids). */
function peerCredsOf(t: Task): Ucred {
  return { pid: t.pid, uid: t.creds.euid, gid: t.creds.egid };
}

export class UnixSocket extends Socket {
  state: State = 'unconnected';
  peer: UnixSocket | null = null;
  readonly queue = new MessageQueue();
  /** The bound address (as getsockname reports it), or null. */
  name: Uint8Array | null = null;
  private abstractKey: string | null = null;
  private inodeKey: string | null = null;
  /** RCV_SHUTDOWN | SEND_SHUTDOWN: this half's own and what its peer did. */
  shut = 0;
  backlog = 0;
  /** Connections made to this listener, not accepted yet. */
  readonly pending: UnixSocket[] = [];
  /** Bytes this socket sent that nobody has read yet (sk_wmem_alloc). */
  outstanding = 0;
  /** SO_PEERCRED. */
  peerCred: Ucred | null = null;
  /** The listener's credentials, recorded at listen() (what its clients see as their peer's). */
  private listenCred: Ucred | null = null;
  /** Queued on a listener, not accepted yet. */
  embryo = false;
  released = false;

  constructor(readonly ns: UnixNamespace<UnixSocket>, type: number, flags: number) {
    super(AF_UNIX, type, 0, flags);
    ns.live.add(this);
  }

  /**
   * This socket's line of /proc/net/unix (unix_seq_show): no kernel address (%pK shows zeros to
   * the unprivileged), references, protocol 0, __SO_ACCEPTCON for a listener, the type, the state
   * (SS_CONNECTED, SS_UNCONNECTED; a connection not accepted yet SS_CONNECTING), the inode, the
   * name (an abstract one with '@' for its NULs).
   */
  procLine(): string {
    const hex = (v: number, w: number) => (v >>> 0).toString(16).toUpperCase().padStart(w, '0');
    const connected = this.state === 'connected' && !!this.peer;
    const st = this.embryo ? (connected ? 2 : 4) : connected ? 3 : 1;
    let line = `0000000000000000: ${hex(this.refs + 1, 8)} ${hex(0, 8)} ${hex(this.listening ? 1 << 16 : 0, 8)} ${hex(this.type, 4)} ${hex(st, 2)} ${String(this.sockIno).padStart(5)}`;
    const n = this.name;
    if (n && n.length > SUN_PATH_OFFSET) {
      let path = n.subarray(SUN_PATH_OFFSET);
      if (path[0] !== 0 && path[path.length - 1] === 0) path = path.subarray(0, path.length - 1);
      line += ' ' + Buffer.from(path.map((c) => (c === 0 ? 0x40 : c))).toString('latin1');
    }
    return line + '\n';
  }

  get connectionless(): boolean {
    return this.type === SOCK_DGRAM;
  }

  /** The most unread bytes this socket may have out (SO_SNDBUF, bounded). */
  get sendLimit(): number {
    return Math.min(this.sndbuf, SEND_LIMIT_MAX);
  }

  // ---- names ----

  override bind(t: Task, a: Uint8Array): number {
    const n = parseBindAddress(a);
    if (typeof n === 'number') return n;
    if (n.kind === 'auto') return this.name ? 0 : this.autobind();
    if (n.kind === 'abstract') {
      if (this.name) return -EINVAL;
      if (this.ns.abstract.has(n.key)) return -EADDRINUSE;
      this.ns.abstract.set(n.key, this);
      this.abstractKey = n.key;
      this.name = a.slice();
      return 0;
    }
    // As unix_bind_bsd: the node first (EADDRINUSE), then a bound socket is EINVAL, the node undone.
    const r = mksockAt(t, t.fs.cwdLoc, n.path);
    if (typeof r === 'number') return r;
    if (this.name) {
      unlinkAt(t, t.fs.cwdLoc, n.path, false);
      return -EINVAL;
    }
    this.inodeKey = inodeKey(r.dentry.inode);
    this.ns.byInode.set(this.inodeKey, this);
    this.name = pathAddress(n.path);
    return 0;
  }

  /** An automatic abstract name (bind with the family alone, or a SO_PASSCRED socket's first use). */
  autobind(): number {
    const key = this.ns.autoName();
    if (key === null) return -ENOSPC;
    this.ns.abstract.set(key, this);
    this.abstractKey = key;
    this.name = abstractAddress(key);
    return 0;
  }

  /** The socket a name leads to (unix_find_other): ECONNREFUSED if none, EPROTOTYPE if of another type. */
  find(t: Task, n: UnixName): UnixSocket | number {
    let s: UnixSocket | undefined;
    if (n.kind === 'abstract') s = this.ns.abstract.get(n.key);
    else if (n.kind === 'path') {
      const r = lookupAt(t, t.fs.cwdLoc, n.path, true);
      if (typeof r === 'number') return r;
      const inode = r.dentry.inode;
      const perm = inodePermission(t.creds, inode, MAY_WRITE);
      if (perm < 0) return perm;
      if ((inode.attr().mode & S_IFMT) !== S_IFSOCK) return -ECONNREFUSED;
      s = this.ns.byInode.get(inodeKey(inode));
    }
    if (!s || s.released) return -ECONNREFUSED;
    return s.type === this.type ? s : -EPROTOTYPE;
  }

  override getsockname(_t: Task): Uint8Array {
    return this.name ?? unnamedAddress();
  }

  override getpeername(_t: Task): Uint8Array | number {
    const p = this.peer;
    if (!p || (!this.connectionless && this.state !== 'connected')) return -ENOTCONN;
    return p.name ?? unnamedAddress();
  }

  // ---- connections ----

  override connect(t: Task, a: Uint8Array): number {
    if (this.connectionless) return this.connectDgram(t, a);
    const n = parseAddress(a);
    if (typeof n === 'number') return n;
    if (this.state === 'connected') return -EISCONN;
    if (this.state === 'listening') return -EINVAL;
    const l = this.find(t, n);
    if (typeof l === 'number') return l;
    if (l.state !== 'listening' || l.shut & RCV_SHUTDOWN) return -ECONNREFUSED;
    if (l.pending.length > l.backlog) return this.waitFor(t, [l.waitQueue], 'snd', this.flags & O_NONBLOCK ? MSG_DONTWAIT : 0);
    if (this.passCred && !this.name) {
      const r = this.autobind();
      if (r < 0) return r;
    }
    const e = new UnixSocket(this.ns, this.type, 0);
    e.state = 'connected';
    e.embryo = true;
    e.peer = this;
    e.name = l.name;
    e.peerCred = peerCredsOf(t);
    this.peer = e;
    this.state = 'connected';
    this.peerCred = l.listenCred;
    l.pending.push(e);
    l.waitQueue.notify();
    this.waitQueue.notify();
    return 0;
  }

  private connectDgram(t: Task, a: Uint8Array): number {
    if (a.length >= 2 && (a[0] | (a[1] << 8)) === AF_UNSPEC) {
      this.peer = null;
      this.peerCred = null;
      this.waitQueue.notify();
      return 0;
    }
    const n = parseAddress(a);
    if (typeof n === 'number') return n;
    if (this.passCred && !this.name) {
      const r = this.autobind();
      if (r < 0) return r;
    }
    const p = this.find(t, n);
    if (typeof p === 'number') return p;
    if (p.peer && p.peer !== this && !p.peer.released) return -EPERM; // unix_may_send
    this.peer = p;
    this.waitQueue.notify();
    return 0;
  }

  override listen(t: Task, backlog: number): number {
    if (this.connectionless) return -EOPNOTSUPP;
    if (!this.name || this.state === 'connected') return -EINVAL;
    this.state = 'listening';
    this.listening = true;
    this.backlog = backlog;
    this.listenCred = peerCredsOf(t);
    // init_peercred: a listener's own SO_PEERCRED is its creator's (who listened).
    this.peerCred = this.listenCred;
    this.waitQueue.notify();
    return 0;
  }

  override accept(t: Task, flags: number): UnixSocket | number {
    if (this.connectionless) return -EOPNOTSUPP;
    if (this.state !== 'listening') return -EINVAL;
    const e = this.pending.shift();
    if (!e) return this.waitFor(t, [this.waitQueue], 'rcv', this.flags & O_NONBLOCK ? MSG_DONTWAIT : 0);
    e.embryo = false;
    e.flags = O_RDWR | (flags & O_NONBLOCK);
    e.passCred = this.passCred;
    this.waitQueue.notify();
    return e;
  }

  override shutdown(_t: Task, how: number): number {
    const mode = (how + 1) & SHUTDOWN_MASK;
    this.shut |= mode;
    const p = this.peer;
    if (p && !this.connectionless) {
      p.shut |= (mode & RCV_SHUTDOWN ? SEND_SHUTDOWN : 0) | (mode & SEND_SHUTDOWN ? RCV_SHUTDOWN : 0);
      p.waitQueue.notify();
    }
    this.waitQueue.notify();
    return 0;
  }

  // ---- data ----

  override sendmsg(t: Task, m: SendRequest): number {
    return sendMessage(t, this, m);
  }

  override recvmsg(t: Task, r: RecvRequest): RecvResult | number {
    return recvMessage(t, this, r);
  }

  /** Whether this socket's own unread bytes leave room (unix_writable: a quarter of SO_SNDBUF). */
  private hasSendRoom(): boolean {
    return this.state !== 'listening' && this.outstanding * 4 <= this.sendLimit;
  }

  override readiness(): number {
    let m = 0;
    if (this.error) m |= POLLERR;
    if (this.shut === SHUTDOWN_MASK) m |= POLLHUP;
    if (this.shut & RCV_SHUTDOWN) m |= POLLRDHUP | POLLIN | POLLRDNORM;
    if (this.queue.length > 0 || this.pending.length > 0) m |= POLLIN | POLLRDNORM;
    if (this.type === SOCK_STREAM && this.state === 'unconnected') m |= POLLHUP;
    if (this.type === SOCK_SEQPACKET && this.state === 'unconnected') m |= POLLHUP;
    let w = this.hasSendRoom();
    if (w && this.connectionless) {
      const p = this.peer;
      if (p && p.peer !== this && p.queue.length > MAX_DGRAM_QLEN) w = false;
    }
    if (w) m |= POLLOUT | POLLWRNORM | POLLWRBAND;
    return m;
  }

  override ioctl(t: Task, cmd: number, arg: number): number {
    if (cmd !== SIOCINQ && cmd !== SIOCOUTQ) return super.ioctl(t, cmd, arg);
    if (this.state === 'listening') return -EINVAL;
    let v = this.outstanding;
    // unix_inq_len: every unread byte of a stream or seqpacket socket, a datagram socket's next one.
    if (cmd === SIOCINQ) v = this.type !== SOCK_DGRAM ? this.queue.bytes : this.queue.length > 0 ? this.queue.at(0)!.data.length : 0;
    return t.mm.writeU32(arg, v) ? 0 : -EFAULT;
  }

  override getsockopt(t: Task, level: number, name: number, optlen: number): Uint8Array | number {
    if (level === SOL_SOCKET && name === SO_PEERCRED) {
      // No peer: pid 0 and the invalid ids (-1), as Linux reports nobody.
      return encodeUcred(this.peerCred ?? { pid: 0, uid: 0xffffffff, gid: 0xffffffff });
    }
    return super.getsockopt(t, level, name, optlen);
  }

  // ---- the end ----

  override release(): void {
    this.released = true;
    this.ns.live.delete(this);
    if (this.abstractKey !== null && this.ns.abstract.get(this.abstractKey) === this) this.ns.abstract.delete(this.abstractKey);
    if (this.inodeKey !== null && this.ns.byInode.get(this.inodeKey) === this) this.ns.byInode.delete(this.inodeKey);
    for (const e of this.pending.splice(0)) e.decRef();
    const p = this.peer;
    if (p && !this.connectionless) {
      p.shut = SHUTDOWN_MASK;
      // Unread data or a never-accepted connection: the peer learns it was reset.
      if (this.queue.length > 0 || this.embryo) p.error = ECONNRESET;
      p.waitQueue.notify();
    }
    this.peer = null;
    for (const m of this.queue.drain()) {
      if (m.scm) this.ns.inflight -= m.scm.files.length;
      releaseScm(m.scm);
    }
    this.waitQueue.notify();
  }
}

export function newUnixSocket(t: Task, type: number, flags: number): UnixSocket {
  return new UnixSocket(namespaceOf<UnixSocket>(t.kernel), type, flags);
}

/** socketpair(2): two connected sockets, each with the creator as its peer's credentials. */
export function unixPair(t: Task, type: number, flags: number): [UnixSocket, UnixSocket] {
  const a = newUnixSocket(t, type, flags);
  const b = newUnixSocket(t, type, flags);
  a.peer = b;
  b.peer = a;
  a.state = b.state = 'connected';
  a.peerCred = peerCredsOf(t);
  b.peerCred = peerCredsOf(t);
  return [a, b];
}
