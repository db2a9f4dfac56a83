// The sentry's synchronous gofer client: each call is one blocking round trip through the addon
// (the sentry's loop has no event loop to wait on), over one preallocated request and reply
// buffer. Errors come back as negative errno numbers the sentry can hand to the application as-is.
// A gofer that breaks the protocol (or dies) makes this client answer -EIO from then on.

import * as fs from 'node:fs';
import { sys, type Sys } from '../../sys';
import { MoatError } from '../../util/errors';
import { EBADF, EINVAL, EIO, ENAMETOOLONG } from '../abi/errno';
import {
  decodeDirents,
  decodeStat,
  DIRENT_HDR,
  GOFER_VERSION,
  MAX_REP,
  MAX_REQ,
  MAX_NAME,
  MAX_TARGET,
  nameError,
  OP_ATTACH,
  OP_CLOSE,
  OP_CREATE,
  OP_HELLO,
  OP_MKDIR,
  OP_RENAME,
  OP_SETATTR,
  OP_SYMLINK,
  OP_UNLINK,
  OP_OPEN,
  OP_READDIR,
  OP_READLINK,
  OP_STAT,
  OP_WALK,
  OP_WALKPATH,
  READDIR_END,
  REP_HDR,
  REQ_HDR,
  STAT_SIZE,
  WALK_ENTRY,
  WALK_MAX,
  WALK_OPEN,
  type GoferWalk,
  type GoferDirent,
  type GoferEntry,
  type GoferStat,
} from './protocol';

/** Pages one readdir may take before the gofer is deemed to be going round in circles. */
const MAX_PAGES = 1 << 20;

export interface GoferClientOptions {
  /**
   * How names are turned into strings and back. 'latin1' keeps every byte (a name that is not
   * UTF-8 still walks); 'utf8' (the default) is what Node's fs does, lossy for such names.
   */
  names?: 'utf8' | 'latin1';
}

/** A SETATTR request: mask says which fields count (SETATTR_* bits). */
export interface GoferSetAttr {
  mask: number;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atimeSec?: number;
  atimeNsec?: number;
  mtimeSec?: number;
  mtimeNsec?: number;
}

export class GoferClient {
  /** Trees the gofer serves (attach indexes 0 .. trees-1). */
  readonly trees: number;
  /** Handles the gofer can hold at once: beyond, walk and attach give -ENFILE. */
  readonly maxHandles: number;
  private readonly native: Pick<Sys, 'goferCall'>;
  private readonly req = Buffer.alloc(MAX_REQ);
  private readonly rep = Buffer.alloc(MAX_REP);
  private readonly enc: BufferEncoding;
  private seq = 0;
  private broken = false;
  private disconnected = false;
  /** The fd that came with the last reply (OPEN's), or -1. */
  private received = -1;
  /** Round trips so far, per op (index: the op number). */
  readonly calls = new Array<number>(16).fill(0);

  /** Says hello on fd (the sentry's end of the channel); throws if the gofer does not answer in kind. */
  constructor(
    private readonly fd: number,
    opts: GoferClientOptions = {},
  ) {
    this.native = sys();
    this.enc = opts.names ?? 'utf8';
    this.req.writeUInt32LE(GOFER_VERSION, REQ_HDR);
    this.req.writeUInt32LE(0, REQ_HDR + 4);
    const n = this.call(OP_HELLO, 8);
    const body = this.rep.subarray(REP_HDR);
    if (n !== 16 || body.readUInt32LE(0) !== GOFER_VERSION || body.readUInt32LE(12) !== MAX_REP) {
      throw new MoatError('ENATIVE', `gofer on fd ${fd}: no hello (${n < 0 ? `errno ${-n}` : 'malformed reply'})`);
    }
    this.trees = body.readUInt32LE(4);
    this.maxHandles = body.readUInt32LE(8);
  }

  /** A handle on the root of tree (0 = the rootfs). */
  attach(tree: number): GoferEntry | number {
    if (!isU32(tree)) return -EINVAL;
    this.req.writeUInt32LE(tree, REQ_HDR);
    this.req.writeUInt32LE(0, REQ_HDR + 4);
    return this.entryReply(this.call(OP_ATTACH, 8));
  }

  /** A handle on name in dir: one component, never followed if it is a symlink. */
  walk(dir: number, name: string): GoferEntry | number {
    if (!isU32(dir)) return -EBADF;
    const len = Buffer.byteLength(name, this.enc);
    if (len > MAX_NAME) return -ENAMETOOLONG;
    if (this.enc === 'latin1' && /[^\0-\xff]/.test(name)) return -EINVAL; // would not survive the round trip
    this.req.write(name, REQ_HDR + 8, len, this.enc);
    const bad = nameError(this.req, REQ_HDR + 8, len);
    if (bad) return -bad;
    this.req.writeUInt32LE(dir, REQ_HDR);
    this.req.writeUInt16LE(len, REQ_HDR + 4);
    this.req.writeUInt16LE(0, REQ_HDR + 6);
    return this.entryReply(this.call(OP_WALK, 8 + len));
  }

  /**
   * names walked one after the other from dir (1..WALK_MAX plain components) in one round trip:
   * what WALK of each in the previous one's handle would give, stopping at the first failure or
   * after a non-directory. open: the last one, if walked and a regular file, comes opened for
   * reading too (the fd is the caller's to close). -errno when not even the first was walked.
   */
  walkPath(dir: number, names: readonly string[], open = false): GoferWalk | number {
    if (!isU32(dir)) return -EBADF;
    if (names.length === 0 || names.length > WALK_MAX) return -EINVAL;
    let off = REQ_HDR + 8;
    for (let i = 0; i < names.length; i++) {
      if (i > 0) this.req[off++] = 0x2f;
      const len = this.putName(names[i]!, off);
      if (len < 0) return len;
      off += len;
    }
    this.req.writeUInt32LE(dir, REQ_HDR);
    this.req.writeUInt16LE(off - REQ_HDR - 8, REQ_HDR + 4);
    this.req.writeUInt16LE(open ? WALK_OPEN : 0, REQ_HDR + 6);
    const n = this.call(OP_WALKPATH, off - REQ_HDR);
    if (n < 0) return n;
    const count = n >= 8 ? this.rep.readUInt32LE(REP_HDR) : 0;
    const err = n >= 8 ? this.rep.readUInt32LE(REP_HDR + 4) : 0;
    const fd = this.received;
    this.received = -1;
    // A malformed reply: no entries or more than asked, a length that does not fit, an fd that was
    // not asked for or comes with a walk cut short.
    if (count < 1 || count > names.length || n !== 8 + count * WALK_ENTRY || err >= 4096 || (fd >= 0 && (!open || count !== names.length || err !== 0))) {
      if (fd >= 0) fs.closeSync(fd);
      return this.fail();
    }
    const entries: GoferEntry[] = [];
    for (let i = 0; i < count; i++) {
      const at = REP_HDR + 8 + i * WALK_ENTRY;
      const handle = this.rep.readUInt32LE(at);
      const stat = handle !== 0 && this.rep.readUInt32LE(at + 4) === 0 && decodeStat(this.rep, at + 8);
      if (!stat) {
        if (fd >= 0) fs.closeSync(fd);
        for (const e of entries) this.close(e.handle);
        return this.fail();
      }
      entries.push({ handle, stat });
    }
    return { entries, err, fd };
  }

  stat(h: number): GoferStat | number {
    const n = this.handleCall(OP_STAT, h);
    if (n < 0) return n;
    return (n === STAT_SIZE && decodeStat(this.rep, REP_HDR)) || this.fail();
  }

  /** The target of the symlink h; -EINVAL if h is not a symlink. */
  readlink(h: number): string | number {
    const n = this.handleCall(OP_READLINK, h);
    if (n < 0) return n;
    const len = n >= 8 ? this.rep.readUInt32LE(REP_HDR) : -1;
    if (len < 1 || len > MAX_TARGET || n !== 8 + len || this.rep.readUInt32LE(REP_HDR + 4) !== 0) return this.fail();
    const end = REP_HDR + 8 + len;
    for (let i = REP_HDR + 8; i < end; i++) if (this.rep[i] === 0) return this.fail();
    return this.rep.toString(this.enc, REP_HDR + 8, end);
  }

  /** Every entry of directory h, "." and ".." excluded (the sentry makes its own), all pages. */
  readdir(h: number): GoferDirent[] | number {
    if (!isU32(h)) return -EBADF;
    const out: GoferDirent[] = [];
    let cookie = 0n;
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      this.req.writeUInt32LE(h, REQ_HDR);
      this.req.writeUInt32LE(0, REQ_HDR + 4);
      this.req.writeBigUInt64LE(cookie, REQ_HDR + 8);
      const n = this.call(OP_READDIR, 16);
      if (n < 0) return n;
      if (n < 16) return this.fail();
      const next = this.rep.readBigUInt64LE(REP_HDR);
      const count = this.rep.readUInt32LE(REP_HDR + 8);
      const flags = this.rep.readUInt32LE(REP_HDR + 12);
      if ((flags & ~READDIR_END) !== 0 || count > (n - 16) / DIRENT_HDR) return this.fail();
      if (!decodeDirents(this.rep, REP_HDR + 16, REP_HDR + n, count, this.enc, out)) return this.fail();
      if (flags & READDIR_END) return out;
      if (count === 0 && next === cookie) return this.fail(); // no progress: it would loop forever
      cookie = next;
    }
    return this.fail();
  }

  /**
   * h opened for reading by the gofer and handed over: a host fd (close-on-exec, the sentry's to
   * pread and close), or -errno. flags: 0, or O_DIRECTORY / O_NOATIME; in a read-write tree also
   * O_WRONLY / O_RDWR / O_TRUNC for a regular file; anything that writes elsewhere is -EROFS.
   */
  open(h: number, flags = 0): number {
    if (!isU32(flags)) return -EINVAL;
    this.req.writeUInt32LE(flags, REQ_HDR + 4);
    const n = this.handleCall(OP_OPEN, h, false);
    if (n < 0) return n;
    if (n !== 0 || this.received < 0) return this.fail();
    const fd = this.received;
    this.received = -1;
    return fd;
  }

  // ---- writes: read-write trees only (-EROFS elsewhere) ----

  /** A new regular file (never an existing name), owned by uid:gid; its handle (OPEN it to write). */
  create(dir: number, name: string, mode: number, uid: number, gid: number): GoferEntry | number {
    return this.make(OP_CREATE, dir, name, mode, uid, gid, '');
  }

  mkdir(dir: number, name: string, mode: number, uid: number, gid: number): GoferEntry | number {
    return this.make(OP_MKDIR, dir, name, mode, uid, gid, '');
  }

  symlink(dir: number, name: string, target: string, uid: number, gid: number): GoferEntry | number {
    return this.make(OP_SYMLINK, dir, name, 0, uid, gid, target);
  }

  /** Remove name from dir (flags: 0, or AT_REMOVEDIR for a directory). */
  unlink(dir: number, name: string, flags: number): number {
    if (!isU32(dir)) return -EBADF;
    const len = this.putName(name, REQ_HDR + 12);
    if (len < 0) return len;
    this.req.writeUInt32LE(dir, REQ_HDR);
    this.req.writeUInt32LE(flags >>> 0, REQ_HDR + 4);
    this.req.writeUInt16LE(len, REQ_HDR + 8);
    this.req.writeUInt16LE(0, REQ_HDR + 10);
    return this.noBody(this.call(OP_UNLINK, 12 + len));
  }

  /** renameat2 of one name to another, both in the same tree (flags: RENAME_NOREPLACE / RENAME_EXCHANGE). */
  rename(oldDir: number, oldName: string, newDir: number, newName: string, flags: number): number {
    if (!isU32(oldDir) || !isU32(newDir)) return -EBADF;
    const olen = this.putName(oldName, REQ_HDR + 16);
    if (olen < 0) return olen;
    const nlen = this.putName(newName, REQ_HDR + 16 + olen);
    if (nlen < 0) return nlen;
    this.req.writeUInt32LE(oldDir, REQ_HDR);
    this.req.writeUInt32LE(newDir, REQ_HDR + 4);
    this.req.writeUInt32LE(flags >>> 0, REQ_HDR + 8);
    this.req.writeUInt16LE(olen, REQ_HDR + 12);
    this.req.writeUInt16LE(nlen, REQ_HDR + 14);
    return this.noBody(this.call(OP_RENAME, 16 + olen + nlen));
  }

  /** Change what a names (mask: SETATTR_* bits); the new stat. */
  setattr(h: number, a: GoferSetAttr): GoferStat | number {
    if (!isU32(h)) return -EBADF;
    const r = this.req;
    r.fill(0, REQ_HDR, REQ_HDR + 64);
    r.writeUInt32LE(h, REQ_HDR);
    r.writeUInt32LE(a.mask, REQ_HDR + 4);
    r.writeUInt32LE(a.mode ?? 0, REQ_HDR + 8);
    r.writeUInt32LE(a.uid ?? 0, REQ_HDR + 12);
    r.writeUInt32LE(a.gid ?? 0, REQ_HDR + 16);
    r.writeBigUInt64LE(BigInt(a.size ?? 0), REQ_HDR + 24);
    r.writeBigInt64LE(BigInt(a.atimeSec ?? 0), REQ_HDR + 32);
    r.writeUInt32LE(a.atimeNsec ?? 0, REQ_HDR + 40);
    r.writeBigInt64LE(BigInt(a.mtimeSec ?? 0), REQ_HDR + 48);
    r.writeUInt32LE(a.mtimeNsec ?? 0, REQ_HDR + 56);
    const n = this.call(OP_SETATTR, 64);
    if (n < 0) return n;
    return (n === STAT_SIZE && decodeStat(this.rep, REP_HDR)) || this.fail();
  }

  private make(op: number, dir: number, name: string, mode: number, uid: number, gid: number, target: string): GoferEntry | number {
    if (!isU32(dir)) return -EBADF;
    if (!isU32(mode) || !isU32(uid) || !isU32(gid)) return -EINVAL;
    const len = this.putName(name, REQ_HDR + 20);
    if (len < 0) return len;
    const tlen = Buffer.byteLength(target, this.enc);
    if (tlen > MAX_TARGET) return -ENAMETOOLONG;
    if (target.includes('\0') || (this.enc === 'latin1' && /[^\0-\xff]/.test(target))) return -EINVAL;
    this.req.write(target, REQ_HDR + 20 + len, tlen, this.enc);
    this.req.writeUInt32LE(dir, REQ_HDR);
    this.req.writeUInt32LE(mode, REQ_HDR + 4);
    this.req.writeUInt32LE(uid, REQ_HDR + 8);
    this.req.writeUInt32LE(gid, REQ_HDR + 12);
    this.req.writeUInt16LE(len, REQ_HDR + 16);
    this.req.writeUInt16LE(tlen, REQ_HDR + 18);
    return this.entryReply(this.call(op, 20 + len + tlen));
  }

  /** name written at off of the request, checked as WALK checks it: its length, or -errno. */
  private putName(name: string, off: number): number {
    const len = Buffer.byteLength(name, this.enc);
    if (len > MAX_NAME) return -ENAMETOOLONG;
    if (this.enc === 'latin1' && /[^\0-\xff]/.test(name)) return -EINVAL;
    this.req.write(name, off, len, this.enc);
    const bad = nameError(this.req, off, len);
    return bad ? -bad : len;
  }

  private noBody(n: number): number {
    if (n < 0) return n;
    return n === 0 ? 0 : this.fail();
  }

  /** Forget h (and the gofer's fd behind it). Closing a bad handle is a no-op. */
  close(h: number): void {
    if (this.handleCall(OP_CLOSE, h) > 0) this.fail();
  }

  /** No further calls: the channel is closed, and the gofer exits on its EOF (a pod's container is gone). */
  disconnect(): void {
    if (this.disconnected) return;
    this.disconnected = true;
    this.broken = true;
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }

  // ---- the round trip ----

  /** Requests whose body starts with u32 handle (then u32 0 unless the caller wrote flags). */
  private handleCall(op: number, h: number, zeroSecond = true): number {
    if (!isU32(h)) return -EBADF;
    this.req.writeUInt32LE(h, REQ_HDR);
    if (zeroSecond) this.req.writeUInt32LE(0, REQ_HDR + 4);
    return this.call(op, 8);
  }

  private entryReply(n: number): GoferEntry | number {
    if (n < 0) return n;
    const handle = this.rep.readUInt32LE(REP_HDR);
    const stat = n === 8 + STAT_SIZE && handle !== 0 && this.rep.readUInt32LE(REP_HDR + 4) === 0 && decodeStat(this.rep, REP_HDR + 8);
    return stat ? { handle, stat } : this.fail();
  }

  /** Send the request in req (body already written) and check the reply's header: its body's
   * length, or -errno from the gofer, or -EIO if the channel is broken. */
  private call(op: number, bodyLen: number): number {
    if (this.broken) return -EIO;
    this.seq = (this.seq + 1) >>> 0;
    this.req.writeUInt16LE(op, 0);
    this.req.writeUInt16LE(0, 2);
    this.req.writeUInt32LE(this.seq, 4);
    this.calls[op]++;
    let res: { length: number; fd: number };
    try {
      res = this.native.goferCall(this.fd, this.req, this.rep, REQ_HDR + bodyLen);
    } catch {
      return this.fail();
    }
    this.received = res.fd;
    const r = this.rep;
    const n = res.length;
    if (n < REP_HDR || r.readUInt16LE(0) !== op || r.readUInt16LE(2) !== 0 || r.readUInt32LE(4) !== this.seq || r.readUInt32LE(12) !== 0) {
      return this.fail();
    }
    const err = r.readUInt32LE(8);
    if (err !== 0) return n === REP_HDR && err < 4096 && res.fd < 0 ? -err : this.fail();
    if (res.fd >= 0 && op !== OP_OPEN && op !== OP_WALKPATH) return this.fail();
    return n - REP_HDR;
  }

  /** The gofer said something it should not have (or went away): no further calls. */
  private fail(): number {
    this.broken = true;
    if (this.received >= 0) fs.closeSync(this.received);
    this.received = -1;
    return -EIO;
  }
}

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}
