// NETLINK_ROUTE requests and replies, checked and rebuilt by the sentry (pure; no host calls).
//
// The read side of rtnetlink is answered by the host kernel for the sandbox's namespace: the
// sentry forwards a request only after rebuilding it from the fields it checked — a header of its
// own, the fixed family header, and an allow-list of attributes — so the host parses nothing the
// application wrote. Change requests (RTM_NEW*/DEL*/SET*) never leave the sentry: EPERM, as
// without CAP_NET_ADMIN. Replies are re-framed for the application: each message's length is
// checked, its sequence number and port id replaced with the application's.

export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_MIN_TYPE = 0x10;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;

export const RTM_GETLINK = 18;
export const RTM_GETADDR = 22;
export const RTM_GETROUTE = 26;
export const RTM_GETNEIGH = 30;
export const RTM_GETRULE = 34;
const RTM_BASE = 16;
const RTM_MAX = 127;

/** The GET requests forwarded: the family header's size and the attributes a request may carry. */
const GETS: ReadonlyMap<number, { body: number; attrs: ReadonlySet<number> }> = new Map([
  [RTM_GETLINK, { body: 16, attrs: new Set([3, 29, 53]) }], // ifinfomsg; IFLA_IFNAME, IFLA_EXT_MASK, IFLA_ALT_IFNAME
  [RTM_GETADDR, { body: 8, attrs: new Set<number>() }], // ifaddrmsg
  [RTM_GETROUTE, { body: 12, attrs: new Set([1, 2, 3, 4, 15]) }], // rtmsg; RTA_DST, SRC, IIF, OIF, TABLE
  [RTM_GETNEIGH, { body: 12, attrs: new Set<number>() }], // ndmsg
  [RTM_GETRULE, { body: 12, attrs: new Set<number>() }], // fib_rule_hdr
]);

export interface NlHeader {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

export function readHeader(b: Uint8Array, off: number): NlHeader {
  const dv = new DataView(b.buffer, b.byteOffset + off, NLMSG_HDRLEN);
  return { len: dv.getUint32(0, true), type: dv.getUint16(4, true), flags: dv.getUint16(6, true), seq: dv.getUint32(8, true), pid: dv.getUint32(12, true) };
}

const align4 = (n: number) => (n + 3) & ~3;

/** What the sentry does with one message of the application's. */
export type Action =
  | { kind: 'forward'; request: Uint8Array; header: NlHeader }
  | { kind: 'error'; errno: number; header: NlHeader }
  | { kind: 'ignore' };

/** The messages of one sendmsg (nlmsg_ok walk): each action in order; -EINVAL stops at a bad one as Linux does (netlink_rcv_skb). */
export function parseRequests(b: Uint8Array): Action[] {
  const out: Action[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= b.length) {
    const h = readHeader(b, off);
    if (h.len < NLMSG_HDRLEN || h.len > b.length - off) break;
    out.push(classify(b.subarray(off, off + h.len), h));
    off += align4(h.len);
  }
  return out;
}

function classify(msg: Uint8Array, h: NlHeader): Action {
  // Control messages and replies are not requests: the kernel skips them without an answer.
  if (!(h.flags & NLM_F_REQUEST) || h.type < NLMSG_MIN_TYPE) return { kind: 'ignore' };
  if (h.type < RTM_BASE || h.type > RTM_MAX) return { kind: 'error', errno: 95, header: h }; // EOPNOTSUPP
  const op = (h.type - RTM_BASE) & 3; // NEW, DEL, GET, SET
  if (op !== 2) return { kind: 'error', errno: 1, header: h }; // EPERM: no CAP_NET_ADMIN
  const g = GETS.get(h.type);
  if (!g) return { kind: 'error', errno: 95, header: h };
  const payload = msg.subarray(NLMSG_HDRLEN);
  // A dump may carry just the rtgenmsg family byte: the rest of the header is zero.
  if (!(h.flags & NLM_F_DUMP) && payload.length < g.body) return { kind: 'error', errno: 22, header: h }; // EINVAL
  const attrs = h.flags & NLM_F_DUMP ? new Uint8Array(0) : copyAttrs(payload.subarray(g.body), g.attrs);
  if (typeof attrs === 'number') return { kind: 'error', errno: -attrs, header: h };
  const len = NLMSG_HDRLEN + g.body + attrs.length;
  const req = new Uint8Array(len);
  const dv = new DataView(req.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, h.type, true);
  dv.setUint16(6, h.flags & (NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP), true);
  req.set(payload.subarray(0, Math.min(g.body, payload.length)), NLMSG_HDRLEN);
  req.set(attrs, NLMSG_HDRLEN + g.body);
  return { kind: 'forward', request: req, header: h };
}

/** The allowed attributes of a request, re-framed (nla_len checked, NLA_F_* bits kept out). */
function copyAttrs(b: Uint8Array, allow: ReadonlySet<number>): Uint8Array | number {
  const parts: Uint8Array[] = [];
  let off = 0;
  let total = 0;
  while (off + 4 <= b.length) {
    const dv = new DataView(b.buffer, b.byteOffset + off, 4);
    const len = dv.getUint16(0, true);
    const type = dv.getUint16(2, true) & 0x3fff;
    if (len < 4 || len > b.length - off) return -22;
    if (allow.has(type)) {
      const a = new Uint8Array(align4(len));
      a.set(b.subarray(off, off + len));
      new DataView(a.buffer).setUint16(2, type, true);
      parts.push(a);
      total += a.length;
    }
    off += align4(len);
  }
  const out = new Uint8Array(total);
  let p = 0;
  for (const a of parts) {
    out.set(a, p);
    p += a.length;
  }
  return out;
}

/** NLMSG_ERROR for h: struct nlmsgerr (error, then the request's header, as with NETLINK_CAP_ACK). */
export function errorMessage(h: NlHeader, errno: number, portId: number): Uint8Array {
  const len = NLMSG_HDRLEN + 4 + NLMSG_HDRLEN;
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, NLMSG_ERROR, true);
  dv.setUint16(6, errno === 0 ? 0x100 : 0, true); // NLM_F_CAPPED
  dv.setUint32(8, h.seq, true);
  dv.setUint32(12, portId, true);
  dv.setInt32(16, -errno, true);
  dv.setUint32(20, h.len, true);
  dv.setUint16(24, h.type, true);
  dv.setUint16(26, h.flags, true);
  dv.setUint32(28, h.seq, true);
  dv.setUint32(32, h.pid, true);
  return b;
}

/**
 * One datagram of the host's replies, re-framed for the application: every message's length
 * checked (a malformed one ends the datagram), seq and pid replaced. Returns the messages kept and
 * whether the reply is complete (NLMSG_DONE, NLMSG_ERROR, or a message that is not multipart).
 */
export function reframeReply(b: Uint8Array, req: NlHeader, portId: number): { data: Uint8Array; done: boolean } {
  const seq = req.seq;
  let off = 0;
  let done = false;
  while (off + NLMSG_HDRLEN <= b.length) {
    const dv = new DataView(b.buffer, b.byteOffset + off, NLMSG_HDRLEN);
    const len = dv.getUint32(0, true);
    if (len < NLMSG_HDRLEN || len > b.length - off) break;
    const type = dv.getUint16(4, true);
    const flags = dv.getUint16(6, true);
    dv.setUint32(8, seq, true);
    dv.setUint32(12, portId, true);
    if (type === NLMSG_DONE || type === NLMSG_ERROR || !(flags & 0x2)) done = true; // NLM_F_MULTI
    if (type === NLMSG_ERROR && len >= NLMSG_HDRLEN + 4 + NLMSG_HDRLEN) {
      // The echoed request header is the sentry's: show the application its own seq and pid.
      const echo = new DataView(b.buffer, b.byteOffset + off + NLMSG_HDRLEN + 4, NLMSG_HDRLEN);
      echo.setUint32(8, seq, true);
      echo.setUint32(12, req.pid, true);
    }
    off += align4(len);
  }
  return { data: b.subarray(0, Math.min(off, b.length)), done };
}
