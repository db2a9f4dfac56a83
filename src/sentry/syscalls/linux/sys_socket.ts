// The socket calls (net/socket.c): argument decoding and validation, and copying results back.
// The families (net/unix, and whatever registers with registerSocketFamily) do the rest; see
// net/socket.ts for the interface between the two.
//
// Addresses go down as raw bytes (at most sizeof(sockaddr_storage)); a returned address is copied
// as move_addr_to_user does: at most the caller's length, and the full length written back.
// Where Linux would consume data and then fail to copy an address length out (EFAULT), the
// length pointer is checked first, so a bad pointer never loses a message or a connection.

import { EBADF, EFAULT, EINVAL, EMSGSIZE, ENOBUFS, ENOPROTOOPT, ENOTSOCK, EAFNOSUPPORT, EOPNOTSUPP, EPIPE } from '../../abi/errno';
import { sendSigpipe } from '../../kernel/signals';
import type { Task } from '../../kernel/task';
import {
  AF_MAX, AF_UNIX, SOL_SOCKET, SO_ACCEPTCONN, SO_DOMAIN, SO_ERROR, SO_PROTOCOL, SO_RCVBUF, SO_SNDBUF, SO_TYPE, MSG_CMSG_CLOEXEC, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_TRUNC, MSG_WAITFORONE, OPTMEM_MAX, SHUT_RD, SHUT_RDWR,
  SOCK_CLOEXEC, SOCK_MAX, SOCK_STREAM, SOCK_NONBLOCK, SOCK_TYPE_MASK, SOCKADDR_MAX, SOMAXCONN, UIO_MAXIOV,
} from '../../net/constants';
import { parseCmsgs, type RecvResult } from '../../net/message';
import { isSocket, resetProgress, socketFamily, type Socket } from '../../net/socket';
import { BLOCK } from '../../kernel/task';
import { O_NONBLOCK } from '../../vfs/constants';
import { HostStreamFile } from '../../vfs/host-stream';
import { netSys } from '../../net/host';
import { iovecLength, iovecViews } from './sys_io';

const MSGHDR_SIZE = 56;
const MMSGHDR_SIZE = 64;

/** The socket open at fd: EBADF if none, ENOTSOCK if it is another kind of file. */
function sockOf(t: Task, fd: number): Socket | number {
  const f = t.files.get(fd);
  if (!f) return -EBADF;
  return isSocket(f) ? f : -ENOTSOCK;
}

/** A socket of the sandbox's, or a host socket it was given as stdio (getsockname/getsockopt only: stdioSocketName/Opt). */
function sockOrStdio(t: Task, fd: number): Socket | HostStreamFile | number {
  const f = t.files.get(fd);
  return f instanceof HostStreamFile && f.isHostSocket ? f : sockOf(t, fd);
}

/** move_addr_to_kernel: a sockaddr of len bytes (0..128). */
function readSockaddr(t: Task, addr: number, len: number): Uint8Array | number {
  if (len < 0 || len > SOCKADDR_MAX) return -EINVAL;
  if (len === 0) return new Uint8Array(0);
  return t.mm.read(addr, len) ?? -EFAULT;
}

/** The caller's buffer length for a returned address (*lenp), checked before anything happens. */
function addrRoom(t: Task, addr: number, lenp: number): number {
  if (addr === 0) return 0;
  const len = t.mm.readI32(lenp);
  if (len === null) return -EFAULT;
  if (len < 0) return -EINVAL;
  return len;
}

/** move_addr_to_user: at most room bytes of k to addr, k's full length to *lenp. */
function writeSockaddr(t: Task, k: Uint8Array, addr: number, room: number, lenp: number): number {
  const n = Math.min(room, k.length);
  if (n > 0 && !t.mm.write(addr, k.subarray(0, n))) return -EFAULT;
  return t.mm.writeU32(lenp, k.length) ? 0 : -EFAULT;
}

/** Install a new socket file: SOCK_CLOEXEC from flags. */
function install(t: Task, s: Socket, flags: number): number {
  return t.files.install(s, (flags & SOCK_CLOEXEC) !== 0);
}

/** socket(2)/socketpair(2)'s type argument: the type, and the file flags (O_NONBLOCK). */
function splitType(type: number): { type: number; flags: number } | number {
  const flags = type & ~SOCK_TYPE_MASK;
  if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) return -EINVAL;
  return { type: type & SOCK_TYPE_MASK, flags };
}

function familyOf(domain: number, type: number): ReturnType<typeof socketFamily> | number {
  if (domain < 0 || domain >= AF_MAX) return -EAFNOSUPPORT;
  if (type < 0 || type >= SOCK_MAX) return -EINVAL;
  return socketFamily(domain) ?? -EAFNOSUPPORT;
}

function socket(t: Task): number {
  const st = splitType(t.argInt(1));
  if (typeof st === 'number') return st;
  const fam = familyOf(t.argInt(0), st.type);
  if (typeof fam === 'number') return fam;
  const s = fam!.create(t, st.type, t.argInt(2), st.flags & SOCK_NONBLOCK ? O_NONBLOCK : 0);
  if (typeof s === 'number') return s;
  return install(t, s, st.flags);
}

function socketpair(t: Task): number {
  const st = splitType(t.argInt(1));
  if (typeof st === 'number') return st;
  const fam = familyOf(t.argInt(0), st.type);
  if (typeof fam === 'number') return fam;
  if (!fam!.pair) {
    // Linux makes the socket, then finds the family has no socketpair.
    const s = fam!.create(t, st.type, t.argInt(2), 0);
    if (typeof s === 'number') return s;
    s.decRef();
    return -EOPNOTSUPP;
  }
  const pair = fam!.pair(t, st.type, t.argInt(2), st.flags & SOCK_NONBLOCK ? O_NONBLOCK : 0);
  if (typeof pair === 'number') return pair;
  const a = install(t, pair[0], st.flags);
  if (a < 0) {
    pair[1].decRef();
    return a;
  }
  const b = install(t, pair[1], st.flags);
  if (b < 0) {
    t.files.close(a);
    return b;
  }
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, a, true);
  dv.setInt32(4, b, true);
  if (t.mm.write(t.arg(3), out)) return 0;
  t.files.close(a);
  t.files.close(b);
  return -EFAULT;
}

/** bind and connect: fd, sockaddr, addrlen. */
function withAddr(t: Task, op: (s: Socket, a: Uint8Array) => number): number {
  const s = sockOf(t, t.argInt(0));
  if (typeof s === 'number') return s;
  const a = readSockaddr(t, t.arg(1), t.argInt(2));
  if (typeof a === 'number') return a;
  return op(s, a);
}

function listen(t: Task): number {
  const s = sockOf(t, t.argInt(0));
  if (typeof s === 'number') return s;
  const b = t.argU32(1);
  return s.listen(t, b > SOMAXCONN ? SOMAXCONN : b);
}

function accept4(t: Task, flags: number): number {
  if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) return -EINVAL;
  const s = sockOf(t, t.argInt(0));
  if (typeof s === 'number') return s;
  const addr = t.arg(1);
  const room = addrRoom(t, addr, t.arg(2));
  if (room < 0) return room;
  const n = s.accept(t, flags & SOCK_NONBLOCK ? O_NONBLOCK : 0);
  if (typeof n === 'number') return n;
  if (addr !== 0) {
    const peer = n.acceptedFrom ?? n.getpeername(t);
    const w = writeSockaddr(t, typeof peer === 'number' ? new Uint8Array(0) : peer, addr, room, t.arg(2));
    if (w < 0) {
      n.decRef();
      return w;
    }
  }
  return install(t, n, flags);
}

/** getsockname/getpeername. */
function getName(t: Task, peer: boolean): number {
  const s = sockOrStdio(t, t.argInt(0));
  if (typeof s === 'number') return s;
  // A NULL address with a non-zero length is EFAULT, as copying to it would be.
  const room = addrRoom(t, t.arg(1) || 1, t.arg(2));
  if (room < 0) return room;
  const a = s instanceof HostStreamFile ? stdioSocketName(s.hostFd, peer) : peer ? s.getpeername(t) : s.getsockname(t);
  if (typeof a === 'number') return a;
  return writeSockaddr(t, a, t.arg(1), room, t.arg(2));
}

/**
 * The name of a socket the sandbox was given as stdio (an SDK exec's socketpair, a socket-activated
 * service's connection): asked of the host, as runc's container would. libuv asks it to tell a pipe
 * from a tty or a file — on ENOTSOCK it took Node's stdout for an unknown handle and dropped every
 * byte. A unix socket's name is a host path: only its family is shown.
 */
function stdioSocketName(hostFd: number, peer: boolean): Uint8Array | number {
  const buf = new Uint8Array(SOCKADDR_MAX);
  const n = netSys().sockName(hostFd, peer, buf);
  if (n < 0) return n;
  const family = n >= 2 ? buf[0]! | (buf[1]! << 8) : 0;
  return family === AF_UNIX ? buf.slice(0, 2) : buf.slice(0, n);
}

/** What a stdio socket tells of itself (libuv asks SO_TYPE, Python SO_TYPE/DOMAIN/PROTOCOL): read-only facts, from the host. */
const STDIO_SOCKET_OPTS: ReadonlySet<number> = new Set([SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, SO_ERROR, SO_SNDBUF, SO_RCVBUF]);

function stdioSocketOpt(hostFd: number, level: number, name: number): Uint8Array | number {
  if (level !== SOL_SOCKET || !STDIO_SOCKET_OPTS.has(name)) return -ENOPROTOOPT;
  const buf = new Uint8Array(4);
  const n = netSys().sockGetOpt(hostFd, level, name, buf);
  return n < 0 ? n : buf.subarray(0, Math.min(n, 4));
}

// ---- sending ----

interface MsgHdr {
  name: number;
  namelen: number;
  iov: number;
  iovlen: number;
  control: number;
  controllen: number;
}

/** copy_msghdr_from_user: the struct, with msg_namelen and msg_iovlen bounded. */
function readMsghdr(t: Task, addr: number): MsgHdr | number {
  const b = t.mm.read(addr, MSGHDR_SIZE);
  if (!b) return -EFAULT;
  const dv = new DataView(b.buffer);
  const u64 = (o: number) => dv.getUint32(o + 4, true) * 0x1_0000_0000 + dv.getUint32(o, true);
  const m = { name: u64(0), namelen: dv.getInt32(8, true), iov: u64(16), iovlen: u64(24), control: u64(32), controllen: u64(40) };
  if (m.namelen < 0) return -EINVAL;
  if (m.name === 0) m.namelen = 0;
  m.namelen = Math.min(m.namelen, SOCKADDR_MAX);
  if (m.iovlen > UIO_MAXIOV) return -EMSGSIZE;
  return m;
}

/** Raise SIGPIPE for a stream's EPIPE unless the caller asked not to (MSG_NOSIGNAL); datagrams and seqpackets raise none. */
function epipe(t: Task, s: Socket, flags: number, r: number): number {
  if (r === -EPIPE && !(flags & MSG_NOSIGNAL) && s.type === SOCK_STREAM) {
    sendSigpipe(t);
  }
  return r;
}

/** The call's MSG_* flags, with MSG_DONTWAIT for an O_NONBLOCK file. */
function callFlags(s: Socket, flags: number): number {
  return s.flags & O_NONBLOCK ? flags | MSG_DONTWAIT : flags;
}

/** ____sys_sendmsg: the message m of the caller, sent on s. */
function sendMsg(t: Task, s: Socket, m: MsgHdr, flags: number): number {
  const data = iovecViews(t, m.iov, m.iovlen, false);
  if (data === null) return -EFAULT;
  if (typeof data === 'number') return data;
  // A message (datagram, seqpacket) is sent whole or not at all: a fault part way is EFAULT, as
  // Linux's copy of it fails; a stream sends up to the fault.
  if (s.type !== SOCK_STREAM && data.reduce((n, v) => n + v.length, 0) < iovecLength(t, m.iov, m.iovlen)) return -EFAULT;
  let addr: Uint8Array | null = null;
  if (m.namelen > 0) {
    addr = t.mm.read(m.name, m.namelen);
    if (!addr) return -EFAULT;
  }
  if (m.controllen > 0x7fffffff || m.controllen > OPTMEM_MAX) return -ENOBUFS;
  let control: ReturnType<typeof parseCmsgs> = [];
  if (m.controllen > 0) {
    const cb = t.mm.read(m.control, m.controllen);
    if (!cb) return -EFAULT;
    control = parseCmsgs(cb);
    if (typeof control === 'number') return control;
  }
  const f = callFlags(s, flags);
  return epipe(t, s, f, s.sendmsg(t, { data, addr, control, flags: f }));
}

function sendto(t: Task): number {
  const s = sockOf(t, t.argInt(0));
  if (typeof s === 'number') return s;
  const data = t.mm.views(t.arg(1), Math.min(t.arg(2), 0x7ffff000), false);
  if (!data) return -EFAULT;
  let addr: Uint8Array | null = null;
  if (t.arg(4) !== 0) {
    const a = readSockaddr(t, t.arg(4), t.argInt(5));
    if (typeof a === 'number') return a;
    addr = a;
  }
  const f = callFlags(s, t.argInt(3));
  return epipe(t, s, f, s.sendmsg(t, { data, addr, control: [], flags: f }));
}

function sendmsg(t: Task): number {
  const s = sockOf(t, t.argInt(0));
  if (typeof s === 'number') return s;
  const m = readMsghdr(t, t.arg(1));
  if (typeof m === 'number') return m;
  return sendMsg(t, s, m, t.argInt(2));
}

/**
 * sendmmsg/recvmmsg park between messages as Linux does: the count done so far is kept with the
 * wait (the socket's own block state), so the re-run after a wake-up goes on from there, and a
 * signal or timeout during a later message ends the call with that count.
 */
interface MmsgProgress {
  st: unknown;
  done: number;
  deadline: number;
}
const mmsgProgress = new WeakMap<Task, MmsgProgress>();

/** Where a re-run of this task's parked sendmmsg/recvmmsg left off (none for a fresh call). */
function mmsgResume(t: Task): MmsgProgress | undefined {
  const p = mmsgProgress.get(t);
  mmsgProgress.delete(t);
  return p && p.st !== undefined && p.st === t.blockState ? p : undefined;
}

/** A message of the batch parked: remember the count, which a signal or a timeout then returns. */
function mmsgPark(t: Task, done: number, deadline: number): number {
  if (done > 0) {
    mmsgProgress.set(t, { st: t.blockState, done, deadline });
    t.interruptResult = done;
  }
  return BLOCK;
}

/** sendmmsg: each message in turn (each may wait, as on Linux), msg_len set; the count sent, or the first one's error. */
function sendmmsg(t: Task): number {
  const s = sockOf(t, t.argInt(0));
  if (typeof s === 'number') return s;
  const base = t.arg(1);
  const vlen = Math.min(t.argU32(2), UIO_MAXIOV);
  const flags = t.argInt(3);
  let done = mmsgResume(t)?.done ?? 0;
  for (; done < vlen; done++) {
    const at = base + done * MMSGHDR_SIZE;
    const m = readMsghdr(t, at);
    const r = typeof m === 'number' ? m : sendMsg(t, s, m, flags);
    if (r === BLOCK) return mmsgPark(t, done, Infinity);
    if (r < 0) return done === 0 ? r : done;
    // The next message starts afresh (a stream's bytes-moved count was this one's).
    resetProgress(t);
    if (!t.mm.writeU32(at + MSGHDR_SIZE, r)) return done === 0 ? -EFAULT : done;
  }
  return done;
}

// ---- receiving ----

function recvfrom(t: Task): number {
  const s = sockOf(t, t.argInt(0));
  if (typeof s === 'number') return s;
  const want = Math.min(t.arg(2), 0x7ffff000);
  const data = t.mm.prefixViews(t.arg(1), want, true);
  if (!data) return -EFAULT;
  const addr = t.arg(4);
  const room = addrRoom(t, addr, t.arg(5));
  if (room < 0) return room;
  const r = s.recvmsg(t, { data, flags: callFlags(s, t.argInt(3)), controlLen: 0 });
  if (typeof r === 'number') return r;
  if (faultedMessage(s, data, want, r)) return -EFAULT;
  if (addr !== 0) {
    const w = writeSockaddr(t, r.addr ?? new Uint8Array(0), addr, room, t.arg(5));
    if (w < 0) return w;
  }
  return r.n;
}

/** ____sys_recvmsg into the caller's msghdr at mAddr: the result's name, control and flags copied back. */
function recvMsg(t: Task, s: Socket, mAddr: number, flags: number): number {
  const m = readMsghdr(t, mAddr);
  if (typeof m === 'number') return m;
  const data = iovecViews(t, m.iov, m.iovlen, true);
  if (data === null) return -EFAULT;
  if (typeof data === 'number') return data;
  // put_cmsg: no buffer (a NULL msg_control) is no room: control messages are dropped with MSG_CTRUNC.
  const controlLen = m.control === 0 ? 0 : Math.min(m.controllen, 0x7fffffff);
  const r = s.recvmsg(t, { data, flags: callFlags(s, flags), controlLen });
  if (typeof r === 'number') return r;
  if (faultedMessage(s, data, iovecLength(t, m.iov, m.iovlen), r)) return -EFAULT;
  const w = writeBack(t, mAddr, m, r, flags);
  return w < 0 ? w : r.n;
}

/**
 * A message (datagram, seqpacket) received into a buffer that runs into an unmapped page, and longer
 * than the part before it: Linux's copy faults, the call is EFAULT and the message is gone (taken
 * unless peeked). One that fits before the fault is received as usual. (Not when control messages
 * came with it: files already installed by SCM_RIGHTS are then reported rather than hidden.)
 */
function faultedMessage(s: Socket, data: Uint8Array[], want: number, r: RecvResult): boolean {
  if (s.type === SOCK_STREAM || r.control) return false;
  const mapped = data.reduce((n, v) => n + v.length, 0);
  return mapped < want && (r.flags & MSG_TRUNC) !== 0;
}

function writeBack(t: Task, mAddr: number, m: MsgHdr, r: RecvResult, flags: number): number {
  if (m.name !== 0) {
    const a = r.addr ?? new Uint8Array(0);
    const n = Math.min(m.namelen, a.length);
    if (n > 0 && !t.mm.write(m.name, a.subarray(0, n))) return -EFAULT;
    if (!t.mm.writeU32(mAddr + 8, a.length)) return -EFAULT;
  }
  if (r.control && !t.mm.write(m.control, r.control)) return -EFAULT;
  const b = new Uint8Array(12);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, r.control ? r.control.length : 0, true);
  dv.setInt32(8, r.flags | (flags & MSG_CMSG_CLOEXEC), true);
  if (!t.mm.write(mAddr + 40, b.subarray(0, 8))) return -EFAULT;
  return t.mm.write(mAddr + 48, b.subarray(8, 12)) ? 0 : -EFAULT;
}

function recvmsg(t: Task): number {
  const s = sockOf(t, t.argInt(0));
  if (typeof s === 'number') return s;
  return recvMsg(t, s, t.arg(1), t.argInt(2));
}

/**
 * recvmmsg: each message in turn as recvmsg; after the first, MSG_WAITFORONE makes the rest
 * non-blocking. The timeout is looked at after each message (as Linux does: it does not bound a
 * wait for the next one).
 */
function recvmmsg(t: Task): number {
  const s = sockOf(t, t.argInt(0));
  if (typeof s === 'number') return s;
  const base = t.arg(1);
  const vlen = Math.min(t.argU32(2), UIO_MAXIOV);
  const flags = t.argInt(3);
  const resumed = mmsgResume(t);
  let deadline = resumed?.deadline ?? Infinity;
  const to = t.arg(4);
  if (to !== 0 && !resumed) {
    const ts = t.mm.read(to, 16);
    if (!ts) return -EFAULT;
    const dv = new DataView(ts.buffer);
    const sec = Number(dv.getBigInt64(0, true));
    const nsec = Number(dv.getBigInt64(8, true));
    if (sec < 0 || nsec < 0 || nsec >= 1e9) return -EINVAL;
    deadline = performance.now() + Math.min(sec, 1e9) * 1000 + nsec / 1e6;
  }
  let done = resumed?.done ?? 0;
  for (; done < vlen; done++) {
    const at = base + done * MMSGHDR_SIZE;
    const f = done > 0 && flags & MSG_WAITFORONE ? flags | MSG_DONTWAIT : flags;
    const r = recvMsg(t, s, at, f & ~MSG_WAITFORONE);
    if (r === BLOCK) return mmsgPark(t, done, deadline);
    if (r < 0) return done === 0 ? r : done;
    resetProgress(t);
    if (!t.mm.writeU32(at + MSGHDR_SIZE, r)) return done === 0 ? -EFAULT : done;
    if (performance.now() >= deadline) return done + 1;
  }
  return done;
}

// ---- the rest ----

function shutdown(t: Task): number {
  const s = sockOf(t, t.argInt(0));
  if (typeof s === 'number') return s;
  const how = t.argInt(1);
  if (how < SHUT_RD || how > SHUT_RDWR) return -EINVAL;
  return s.shutdown(t, how);
}

function getsockopt(t: Task): number {
  const s = sockOrStdio(t, t.argInt(0));
  if (typeof s === 'number') return s;
  const lenp = t.arg(4);
  const len = t.mm.readI32(lenp);
  if (len === null) return -EFAULT;
  if (len < 0) return -EINVAL;
  const v = s instanceof HostStreamFile ? stdioSocketOpt(s.hostFd, t.argInt(1), t.argInt(2)) : s.getsockopt(t, t.argInt(1), t.argInt(2), len);
  if (typeof v === 'number') return v;
  const n = Math.min(len, v.length);
  if (n > 0 && !t.mm.write(t.arg(3), v.subarray(0, n))) return -EFAULT;
  const reported = s instanceof HostStreamFile ? undefined : s.reportedOptlen(t.argInt(1), t.argInt(2));
  return t.mm.writeU32(lenp, reported ?? n) ? 0 : -EFAULT;
}

/** The most of an option value read (no option the sentry knows is longer). */
const OPT_MAX = 1024;

function setsockopt(t: Task): number {
  const s = sockOf(t, t.argInt(0));
  if (typeof s === 'number') return s;
  const len = t.argInt(4);
  if (len < 0) return -EINVAL;
  const v = t.mm.read(t.arg(3), Math.min(len, OPT_MAX));
  if (!v) return -EFAULT;
  return s.setsockopt(t, t.argInt(1), t.argInt(2), v);
}

export const sysSocket = {
  socket,
  socketpair,
  bind: (t: Task) => withAddr(t, (s, a) => s.bind(t, a)),
  connect: (t: Task) => withAddr(t, (s, a) => s.connect(t, a)),
  listen,
  accept: (t: Task) => accept4(t, 0),
  accept4: (t: Task) => accept4(t, t.argInt(3)),
  getsockname: (t: Task) => getName(t, false),
  getpeername: (t: Task) => getName(t, true),
  sendto,
  recvfrom,
  sendmsg,
  recvmsg,
  sendmmsg,
  recvmmsg,
  shutdown,
  getsockopt,
  setsockopt,
};

