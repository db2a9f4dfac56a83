// Moving data between AF_UNIX sockets: a stream's bytes (coalesced on reading, split on writing
// by what the sender's SO_SNDBUF leaves room for), and datagrams and seqpackets (one message per
// send, boundaries kept, truncated to the reader's buffer). Control messages travel with the data:
// SCM_RIGHTS files (references held while in flight, installed in the reader's fd table on
// receipt, dropped if they do not fit: MSG_CTRUNC) and the sender's credentials (delivered as
// SCM_CREDENTIALS to a reader with SO_PASSCRED).

import { ECONNREFUSED, EINVAL, EISCONN, EMSGSIZE, ENOTCONN, EOPNOTSUPP, EPERM, EPIPE, ETOOMANYREFS } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import type { FileDescription } from '../../vfs';
import {
  MSG_CMSG_CLOEXEC, MSG_CTRUNC, MSG_OOB, MSG_PEEK, MSG_TRUNC, MSG_WAITALL, SCM_CREDENTIALS, SCM_RIGHTS, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET,
} from '../constants';
import {
  CmsgWriter, copyToViews, encodeUcred, gatherViews, ownCreds, parseScm, releaseScm, viewsLength,
  type RecvRequest, type RecvResult, type Scm, type SendRequest, type Ucred,
} from '../message';
import { progressOf } from '../socket';
import { parseAddress } from './address';
import { MAX_DGRAM_QLEN, RCV_SHUTDOWN, SEND_SHUTDOWN, type UnixSocket } from './unix-socket';
import type { UnixMessage } from './queue';

const NOFILE = 7;
/** Bytes of one stream segment at most (a big write becomes several). */
const SEGMENT_MAX = 65536;

// ---- sending ----

export function sendMessage(t: Task, s: UnixSocket, m: SendRequest): number {
  if (m.flags & MSG_OOB) return -EOPNOTSUPP;
  if (s.type === SOCK_STREAM) return sendStream(t, s, m);
  return sendDatagram(t, s, m);
}

/** The SCM of a message, within the in-flight limit (RLIMIT_NOFILE, as too_many_unix_fds). */
function takeScm(t: Task, s: UnixSocket, m: SendRequest): Scm | number {
  if (m.control.length === 0) return { files: [], creds: null };
  const scm = parseScm(t, m.control, true);
  if (typeof scm === 'number') return scm;
  const limit = t.tg.rlimits.get(NOFILE)?.cur ?? 1024;
  if (scm.files.length > 0 && s.ns.inflight + scm.files.length > limit) {
    releaseScm(scm);
    return -ETOOMANYREFS;
  }
  return scm;
}

/**
 * The credentials a message carries (unix_maybe_add_creds): those of an SCM_CREDENTIALS message,
 * else the sender's own when either end has SO_PASSCRED or the receiver is a connection not
 * accepted yet; else none (a reader that turns SO_PASSCRED on later sees nobody: pid 0, uid and
 * gid 65534).
 */
function messageCreds(t: Task, s: UnixSocket, to: UnixSocket, scm: Scm | null): Ucred | null {
  if (scm?.creds) return scm.creds;
  return s.passCred || to.passCred || to.embryo ? ownCreds(t) : null;
}

function enqueue(s: UnixSocket, to: UnixSocket, data: Uint8Array, scm: Scm | null, creds: Ucred | null): void {
  const files = scm && scm.files.length > 0 ? scm : null;
  if (files) s.ns.inflight += files.files.length;
  to.queue.push({ data, off: 0, scm: files, creds, sender: s });
  to.waitQueue.notify();
}

function sendStream(t: Task, s: UnixSocket, m: SendRequest): number {
  if (m.addr && m.addr.length > 0) return s.state === 'connected' ? -EISCONN : -EOPNOTSUPP;
  const p = s.peer;
  if (s.state !== 'connected' || !p) return -ENOTCONN;
  if (s.shut & SEND_SHUTDOWN) return -EPIPE;
  let sent = progressOf(t);
  // The control messages go with the first segment, which a re-run after a wait has sent already.
  let scm: Scm | null = null;
  if (sent === 0) {
    const r = takeScm(t, s, m);
    if (typeof r === 'number') return r;
    scm = r;
  }
  const creds = messageCreds(t, s, p, scm);
  const total = viewsLength(m.data);
  while (sent < total) {
    if (p.released || p.shut & RCV_SHUTDOWN) break;
    const room = s.sendLimit - s.outstanding;
    if (room <= 0) {
      if (scm) releaseScm(scm);
      return s.waitFor(t, [s.waitQueue, p.waitQueue], 'snd', m.flags, sent);
    }
    const n = Math.min(total - sent, room, SEGMENT_MAX);
    enqueue(s, p, gatherViews(m.data, sent, n), scm, creds);
    scm = null;
    sent += n;
  }
  if (scm) releaseScm(scm);
  if (sent < total && sent === 0) return -EPIPE;
  return sent;
}

/** Where a datagram goes: the address given (SOCK_DGRAM), else the connected peer. */
function destination(t: Task, s: UnixSocket, m: SendRequest): UnixSocket | number {
  if (s.type === SOCK_DGRAM && m.addr && m.addr.length > 0) {
    const n = parseAddress(m.addr);
    if (typeof n === 'number') return n;
    if (s.passCred && !s.name) {
      const r = s.autobind();
      if (r < 0) return r;
    }
    return s.find(t, n);
  }
  if (s.type !== SOCK_DGRAM && s.state !== 'connected') return -ENOTCONN;
  const p = s.peer;
  if (!p) return -ENOTCONN;
  if (p.released) {
    if (s.type !== SOCK_DGRAM) return -EPIPE;
    s.peer = null;
    return -ECONNREFUSED;
  }
  return p;
}

function sendDatagram(t: Task, s: UnixSocket, m: SendRequest): number {
  const len = viewsLength(m.data);
  if (len > s.sendLimit - 32) return -EMSGSIZE;
  if (s.shut & SEND_SHUTDOWN) return -EPIPE;
  const to = destination(t, s, m);
  if (typeof to === 'number') return to;
  if (s.type === SOCK_DGRAM && to.peer && to.peer !== s && !to.peer.released) return -EPERM;
  if (to.shut & RCV_SHUTDOWN) return -EPIPE;
  if ((to.peer !== s && to.queue.length > MAX_DGRAM_QLEN) || s.outstanding >= s.sendLimit) {
    return s.waitFor(t, [s.waitQueue, to.waitQueue], 'snd', m.flags);
  }
  const scm = takeScm(t, s, m);
  if (typeof scm === 'number') return scm;
  enqueue(s, to, gatherViews(m.data, 0, len), scm, messageCreds(t, s, to, scm));
  return len;
}

// ---- receiving ----

export function recvMessage(t: Task, s: UnixSocket, r: RecvRequest): RecvResult | number {
  if (r.flags & MSG_OOB) return -EOPNOTSUPP;
  if (s.type === SOCK_STREAM) return recvStream(t, s, r);
  if (s.type !== SOCK_DGRAM && s.state !== 'connected') return s.state === 'listening' ? -EINVAL : -ENOTCONN;
  return recvDatagram(t, s, r);
}

const EOF: RecvResult = { n: 0, addr: null, control: null, flags: 0 };

/** Nothing to read: the pending error, EOF after a shutdown, or a wait. */
function empty(t: Task, s: UnixSocket, r: RecvRequest, progress: number): RecvResult | number {
  if (progress > 0) return { ...EOF, n: progress };
  if (s.error) {
    const e = s.error;
    s.error = 0;
    return -e;
  }
  if (s.shut & RCV_SHUTDOWN) return EOF;
  return s.waitFor(t, [s.waitQueue], 'rcv', r.flags);
}

/** SCM_CREDENTIALS (with SO_PASSCRED) and SCM_RIGHTS of m into w; a read (not a peek) takes the files. */
function deliverControl(t: Task, s: UnixSocket, m: UnixMessage, w: CmsgWriter, flags: number, creds = true): void {
  if (creds && s.passCred) w.put(SOL_SOCKET, SCM_CREDENTIALS, encodeUcred(m.creds ?? NOBODY));
  const scm = m.scm;
  if (!scm || scm.files.length === 0) return;
  const fds = installFiles(t, scm.files, w.fits(4), (flags & MSG_CMSG_CLOEXEC) !== 0);
  if (fds.length > 0) {
    const b = new Uint8Array(fds.length * 4);
    const dv = new DataView(b.buffer);
    fds.forEach((fd, i) => dv.setInt32(i * 4, fd, true));
    w.put(SOL_SOCKET, SCM_RIGHTS, b);
  }
  if (fds.length < scm.files.length) w.flags |= MSG_CTRUNC;
  if (!(flags & MSG_PEEK)) {
    s.ns.inflight -= scm.files.length;
    releaseScm(scm);
    m.scm = null;
  }
}

/** Up to max of files as new fds (each a new reference); stops at a full table. */
function installFiles(t: Task, files: FileDescription[], max: number, cloexec: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < files.length && i < max; i++) {
    const fd = t.files.install(files[i].incRef(), cloexec);
    if (fd < 0) break;
    out.push(fd);
  }
  return out;
}

function recvDatagram(t: Task, s: UnixSocket, r: RecvRequest): RecvResult | number {
  const m = s.queue.at(0);
  if (!m) return empty(t, s, r, 0);
  const size = viewsLength(r.data);
  const copied = copyToViews(r.data, m.data);
  const w = new CmsgWriter(r.controlLen);
  deliverControl(t, s, m, w, r.flags);
  if (!(r.flags & MSG_PEEK)) s.queue.shift();
  s.waitQueue.notify();
  const len = m.data.length;
  return {
    n: r.flags & MSG_TRUNC ? len : copied,
    addr: m.sender.name,
    control: w.result(),
    flags: w.flags | (len > size ? MSG_TRUNC : 0),
  };
}

/** What a message without credentials shows a SO_PASSCRED reader (no pid, the overflow ids). */
const NOBODY: Ucred = { pid: 0, uid: 65534, gid: 65534 };

function sameCreds(a: Ucred | null, b: Ucred | null): boolean {
  if (!a || !b) return a === b;
  return a.pid === b.pid && a.uid === b.uid && a.gid === b.gid;
}

/**
 * A stream read: segments coalesced into the buffer, stopping after one that carried files, or
 * (with SO_PASSCRED) before one from other credentials. MSG_WAITALL waits for the whole buffer,
 * keeping what it read so far as the call's progress; MSG_PEEK copies without consuming.
 */
function recvStream(t: Task, s: UnixSocket, r: RecvRequest): RecvResult | number {
  if (s.state !== 'connected') return -EINVAL;
  const size = viewsLength(r.data);
  const peek = (r.flags & MSG_PEEK) !== 0;
  const waitAll = (r.flags & MSG_WAITALL) !== 0 && !peek;
  let copied = waitAll ? progressOf(t) : 0;
  const w = new CmsgWriter(r.controlLen);
  let addr: Uint8Array | null = null;
  let first = true;
  let creds: Ucred | null = null;
  let idx = 0;
  // A zero-length read still waits for data (or EOF), then takes the first segment's control
  // messages (its files) and no bytes.
  while (copied < size || first) {
    const m = s.queue.at(idx);
    if (!m) {
      if (copied > 0 && (!waitAll || s.error || s.shut & RCV_SHUTDOWN)) break;
      if (copied === 0) return empty(t, s, r, 0);
      const b = s.waitFor(t, [s.waitQueue], 'rcv', r.flags, copied);
      return b > 0 ? { n: b, addr, control: null, flags: 0 } : b;
    }
    // Never glue segments of different writers (or with and without credentials) for a SO_PASSCRED reader.
    if (!first && s.passCred && !sameCreds(creds, m.creds)) break;
    if (first) {
      first = false;
      creds = m.creds;
      addr = m.sender.name;
      if (s.passCred) w.put(SOL_SOCKET, SCM_CREDENTIALS, encodeUcred(creds ?? NOBODY));
    }
    const n = Math.min(m.data.length - m.off, size - copied);
    copyToViews(r.data, m.data.subarray(m.off, m.off + n), copied);
    copied += n;
    const hadFiles = m.scm !== null && m.scm.files.length > 0;
    if (hadFiles) deliverControl(t, s, m, w, r.flags, false);
    if (peek) idx++;
    else s.queue.consume(n);
    if (hadFiles) break;
  }
  if (!peek) s.waitQueue.notify();
  return { n: copied, addr, control: w.result(), flags: w.flags };
}
