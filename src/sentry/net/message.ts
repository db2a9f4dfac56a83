// The messages sockets carry between the syscall layer and a family: what sendmsg hands down
// (data views of application memory, the destination, the control messages parsed) and what
// recvmsg hands back (bytes copied, the source address, control messages encoded to fit the
// caller's buffer, msg_flags). Also the cmsg codec (CMSG_ALIGN framing, as include/linux/socket.h
// lays it out) and SOL_SOCKET's SCM_RIGHTS / SCM_CREDENTIALS, which any family may accept.

import { EBADF, EINVAL, EPERM, ESRCH } from '../abi/errno';
import { CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN, capable } from '../kernel/creds';
import type { Task } from '../kernel/task';
import type { FileDescription } from '../vfs';
import { MSG_CTRUNC, SCM_CREDENTIALS, SCM_MAX_FD, SCM_RIGHTS, SOL_SOCKET } from './constants';

/** sizeof(struct cmsghdr): cmsg_len (size_t), cmsg_level, cmsg_type (int). */
export const CMSG_HDR = 16;

export function cmsgAlign(n: number): number {
  return (n + 7) & ~7;
}
export function cmsgLen(n: number): number {
  return CMSG_HDR + n;
}
export function cmsgSpace(n: number): number {
  return CMSG_HDR + cmsgAlign(n);
}

export interface ControlMessage {
  level: number;
  type: number;
  data: Uint8Array;
}

/** sendmsg's message, validated by the syscall layer. */
export interface SendRequest {
  /** Views of application memory (the bytes to send, in order). */
  data: Uint8Array[];
  /** The destination sockaddr (msg_name), or null. */
  addr: Uint8Array | null;
  control: ControlMessage[];
  /** MSG_* (MSG_DONTWAIT already set for an O_NONBLOCK file). */
  flags: number;
}

/** recvmsg's request. */
export interface RecvRequest {
  /** Views of application memory to fill. */
  data: Uint8Array[];
  /** MSG_* (MSG_DONTWAIT already set for an O_NONBLOCK file). */
  flags: number;
  /** Room for control messages (msg_controllen; 0: none wanted). */
  controlLen: number;
}

export interface RecvResult {
  /** The call's result: bytes copied (or the real length, with MSG_TRUNC). */
  n: number;
  /** The source sockaddr, or null (msg_namelen becomes 0). */
  addr: Uint8Array | null;
  /** Encoded control messages, at most controlLen bytes. */
  control: Uint8Array | null;
  /** msg_flags: MSG_TRUNC, MSG_CTRUNC, MSG_EOR, ... */
  flags: number;
}

/** The total length of views. */
export function viewsLength(vs: Uint8Array[]): number {
  let n = 0;
  for (const v of vs) n += v.length;
  return n;
}

/** Copy src into the views from byte offset `at` on; returns bytes copied. */
export function copyToViews(dst: Uint8Array[], src: Uint8Array, at = 0): number {
  let skip = at;
  let p = 0;
  for (const d of dst) {
    if (p >= src.length) break;
    if (skip >= d.length) {
      skip -= d.length;
      continue;
    }
    const n = Math.min(d.length - skip, src.length - p);
    d.set(src.subarray(p, p + n), skip);
    p += n;
    skip = 0;
  }
  return p;
}

/** Bytes [from, from+len) of the views, copied into one buffer. */
export function gatherViews(src: Uint8Array[], from: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let skip = from;
  let p = 0;
  for (const s of src) {
    if (p >= len) break;
    if (skip >= s.length) {
      skip -= s.length;
      continue;
    }
    const n = Math.min(s.length - skip, len - p);
    out.set(s.subarray(skip, skip + n), p);
    p += n;
    skip = 0;
  }
  return out;
}

/**
 * The control messages of a msg_control buffer (__scm_send's walk): each cmsg_len at least the
 * header and within the buffer, the next one at CMSG_ALIGN(cmsg_len); -EINVAL otherwise.
 */
export function parseCmsgs(buf: Uint8Array): ControlMessage[] | number {
  const out: ControlMessage[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  let off = 0;
  while (off + CMSG_HDR <= buf.length) {
    const lo = dv.getUint32(off, true);
    const hi = dv.getUint32(off + 4, true);
    if (hi !== 0 || lo < CMSG_HDR || lo > buf.length - off) return -EINVAL;
    out.push({ level: dv.getInt32(off + 8, true), type: dv.getInt32(off + 12, true), data: buf.subarray(off + CMSG_HDR, off + lo) });
    off += cmsgAlign(lo);
  }
  return out;
}

const CMSG_ROOM_MAX = 16384;

/** Builds recvmsg's control buffer within the caller's room; what does not fit sets MSG_CTRUNC. */
export class CmsgWriter {
  private readonly buf: Uint8Array;
  private readonly dv: DataView;
  /** The caller's room, bounded: no control message the sentry makes comes near it. */
  readonly room: number;
  private used = 0;
  flags = 0;

  constructor(room: number) {
    this.room = Math.max(0, Math.min(room, CMSG_ROOM_MAX));
    this.buf = new Uint8Array(this.room);
    this.dv = new DataView(this.buf.buffer);
  }

  /** How many items of `size` bytes fit in one more message (SCM_RIGHTS installs only those). */
  fits(size: number): number {
    const left = this.room - this.used - CMSG_HDR;
    return left <= 0 ? 0 : Math.floor(left / size);
  }

  /** One message (put_cmsg): truncated to the room left, with MSG_CTRUNC, as Linux does. */
  put(level: number, type: number, data: Uint8Array): void {
    const left = this.room - this.used;
    if (left < CMSG_HDR) {
      this.flags |= MSG_CTRUNC;
      return;
    }
    let len = cmsgLen(data.length);
    if (len > left) {
      this.flags |= MSG_CTRUNC;
      len = left;
    }
    this.dv.setUint32(this.used, len, true);
    this.dv.setUint32(this.used + 4, 0, true);
    this.dv.setInt32(this.used + 8, level, true);
    this.dv.setInt32(this.used + 12, type, true);
    this.buf.set(data.subarray(0, len - CMSG_HDR), this.used + CMSG_HDR);
    this.used = Math.min(this.room, this.used + cmsgAlign(len));
  }

  /** The bytes written (msg_controllen becomes their length). */
  result(): Uint8Array | null {
    return this.used === 0 ? null : this.buf.subarray(0, this.used);
  }
}

/** struct ucred as SCM_CREDENTIALS and SO_PEERCRED carry it. */
export interface Ucred {
  pid: number;
  uid: number;
  gid: number;
}

export function encodeUcred(c: Ucred): Uint8Array {
  const b = new Uint8Array(12);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, c.pid, true);
  dv.setUint32(4, c.uid >>> 0, true);
  dv.setUint32(8, c.gid >>> 0, true);
  return b;
}

/** What SOL_SOCKET control messages of a sendmsg carry (scm_cookie): files hold a reference. */
export interface Scm {
  files: FileDescription[];
  creds: Ucred | null;
}

/** Drop the references an Scm holds (a message not sent, or dropped unread). */
export function releaseScm(s: Scm | null): void {
  if (!s) return;
  for (const f of s.files) f.decRef();
  s.files.length = 0;
}

/** The sender's own credentials (what an SCM_CREDENTIALS-less message carries with SO_PASSCRED). */
export function ownCreds(t: Task): Ucred {
  return { pid: t.pid, uid: t.creds.uid, gid: t.creds.gid };
}

/**
 * SOL_SOCKET messages (__scm_send): SCM_RIGHTS (only where `rights`: AF_UNIX) takes a reference
 * on each file, at most SCM_MAX_FD in all; SCM_CREDENTIALS must be the sender's own ids (with
 * capabilities, any existing pid and valid ids); other levels are the protocol's and are skipped; anything else is EINVAL.
 */
export function parseScm(t: Task, msgs: ControlMessage[], rights: boolean): Scm | number {
  const scm: Scm = { files: [], creds: null };
  for (const m of msgs) {
    if (m.level !== SOL_SOCKET) continue;
    let r = 0;
    if (m.type === SCM_RIGHTS) r = rights ? takeFiles(t, m.data, scm) : -EINVAL;
    else if (m.type === SCM_CREDENTIALS) r = takeCreds(t, m.data, scm);
    else r = -EINVAL;
    if (r < 0) {
      releaseScm(scm);
      return r;
    }
  }
  return scm;
}

function takeFiles(t: Task, data: Uint8Array, scm: Scm): number {
  const n = data.length >> 2;
  if (n === 0) return 0;
  if (scm.files.length + n > SCM_MAX_FD) return -EINVAL;
  const dv = new DataView(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < n; i++) {
    const f = t.files.get(dv.getInt32(i * 4, true));
    if (!f) return -EBADF;
    scm.files.push(f.incRef());
  }
  return 0;
}

/**
 * scm_check_creds, then find_get_pid: ids that are not valid (-1) are EINVAL; another pid needs
 * CAP_SYS_ADMIN, ids not among the caller's real/effective/saved ones CAP_SETUID/CAP_SETGID
 * (else EPERM); the pid must name a process or thread that exists (zombies too; else ESRCH).
 */
function takeCreds(t: Task, data: Uint8Array, scm: Scm): number {
  if (data.length !== 12) return -EINVAL;
  const dv = new DataView(data.buffer, data.byteOffset, 12);
  const c = { pid: dv.getInt32(0, true), uid: dv.getUint32(4, true), gid: dv.getUint32(8, true) };
  if (c.uid === 0xffffffff || c.gid === 0xffffffff) return -EINVAL;
  const cr = t.creds;
  if (c.pid !== t.pid && !capable(cr, CAP_SYS_ADMIN)) return -EPERM;
  if (![cr.uid, cr.euid, cr.suid].includes(c.uid) && !capable(cr, CAP_SETUID)) return -EPERM;
  if (![cr.gid, cr.egid, cr.sgid].includes(c.gid) && !capable(cr, CAP_SETGID)) return -EPERM;
  if (c.pid <= 0 || !(t.pidns.tasks.has(c.pid) || t.pidns.groups.has(c.pid))) return -ESRCH;
  scm.creds = c;
  return 0;
}
