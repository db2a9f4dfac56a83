// The gofer's wire format (docs/sentry-gofer.md; native/gofer/proto.h is the other side): one
// request per SOCK_SEQPACKET message, one reply per message, little-endian, fixed layouts. Replies
// are decoded here and every field is checked: a gofer that says something malformed is treated as
// broken, never believed.

import { EINVAL, ENAMETOOLONG, ENOENT } from '../abi/errno';

export const GOFER_VERSION = 1;

export const OP_HELLO = 1;
export const OP_ATTACH = 2;
export const OP_WALK = 3;
export const OP_STAT = 4;
export const OP_READLINK = 5;
export const OP_READDIR = 6;
export const OP_OPEN = 7;
export const OP_CLOSE = 8;
export const OP_CREATE = 9;
export const OP_MKDIR = 10;
export const OP_SYMLINK = 11;
export const OP_UNLINK = 12;
export const OP_RENAME = 13;
export const OP_SETATTR = 14;
export const OP_WALKPATH = 15;

/** WALKPATH: at most this many components per request. */
export const WALK_MAX = 16;
/** WALKPATH flag: the last component, walked and a regular file, also comes opened for reading. */
export const WALK_OPEN = 1;
/** One WALKPATH reply entry: u32 handle, u32 0, stat. */
export const WALK_ENTRY = 8 + 112;

/** SETATTR's mask bits. */
export const SETATTR_MODE = 1;
export const SETATTR_UID = 2;
export const SETATTR_GID = 4;
export const SETATTR_SIZE = 8;
export const SETATTR_ATIME = 16;
export const SETATTR_MTIME = 32;

/** Request header: u16 op, u16 0, u32 seq. */
export const REQ_HDR = 8;
/** Reply header: u16 op, u16 0, u32 seq, u32 errno, u32 0. */
export const REP_HDR = 16;
/** The largest request (a SYMLINK: a 255-byte name, a 4095-byte target) fits; the gofer answers EMSGSIZE beyond. */
export const MAX_REQ = 4608;
/** The largest reply (a full READDIR page). */
export const MAX_REP = 65536;
export const STAT_SIZE = 112;
export const DIRENT_HDR = 12;
export const READDIR_END = 1;
export const MAX_NAME = 255;
/** PATH_MAX less its NUL: the longest symlink target. */
export const MAX_TARGET = 4095;

/** open(2) flags (x86_64) OPEN accepts besides O_RDONLY. */
export const O_DIRECTORY = 0o200000;
export const O_NOATIME = 0o1000000;
/** In a read-write tree, OPEN of a regular file also takes these. */
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_TRUNC = 0o1000;
/** UNLINK's flag for a directory. */
export const AT_REMOVEDIR = 0x200;

export interface GoferStat {
  dev: number;
  /** A bigint: overlayfs (xino) and others put bits above 2^53 in inode numbers. */
  ino: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blocks: number;
  blksize: number;
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
}

export interface GoferEntry {
  handle: number;
  stat: GoferStat;
}

/** A WALKPATH's answer: the entries walked, in order, and why it stopped short (0: it did not, or at a non-directory). */
export interface GoferWalk {
  entries: GoferEntry[];
  err: number;
  /** The last entry opened for reading (WALK_OPEN), or -1. */
  fd: number;
}

export interface GoferDirent {
  ino: bigint;
  /** DT_* as getdents64 gives it (DT_UNKNOWN when the filesystem does not say). */
  type: number;
  name: string;
}

const FILE_TYPES = new Set([0o010000, 0o020000, 0o040000, 0o060000, 0o100000, 0o120000, 0o140000]);
const DT_TYPES = new Set([0, 1, 2, 4, 6, 8, 10, 12, 14]);

/** An unsigned 64-bit field as a number, or -1 if it is beyond 2^53. */
export function u64(b: Buffer, off: number): number {
  const hi = b.readUInt32LE(off + 4);
  return hi >= 0x200000 ? -1 : hi * 0x100000000 + b.readUInt32LE(off);
}

/** A signed 64-bit field as a number, or NaN if it is beyond ±2^53. */
function i64(b: Buffer, off: number): number {
  const hi = b.readInt32LE(off + 4);
  return hi >= 0x200000 || hi < -0x200000 ? NaN : hi * 0x100000000 + b.readUInt32LE(off);
}

/** A timestamp (i64 sec, u32 nsec, u32 0); null if malformed. */
function time(b: Buffer, off: number): [number, number] | null {
  const sec = i64(b, off);
  const nsec = b.readUInt32LE(off + 8);
  if (Number.isNaN(sec) || nsec >= 1e9 || b.readUInt32LE(off + 12) !== 0) return null;
  return [sec, nsec];
}

/** The 112-byte stat body at off; null if any field is out of range. */
export function decodeStat(b: Buffer, off: number): GoferStat | null {
  const dev = u64(b, off);
  const mode = b.readUInt32LE(off + 16);
  const rdev = u64(b, off + 32);
  const size = u64(b, off + 40);
  const blocks = u64(b, off + 48);
  const at = time(b, off + 64);
  const mt = time(b, off + 80);
  const ct = time(b, off + 96);
  if (dev < 0 || rdev < 0 || size < 0 || blocks < 0 || !at || !mt || !ct) return null;
  if (!FILE_TYPES.has(mode & 0o170000) || mode > 0o177777 || b.readUInt32LE(off + 60) !== 0) return null;
  return {
    dev,
    ino: b.readBigUInt64LE(off + 8),
    mode,
    nlink: b.readUInt32LE(off + 20),
    uid: b.readUInt32LE(off + 24),
    gid: b.readUInt32LE(off + 28),
    rdev,
    size,
    blocks,
    blksize: b.readUInt32LE(off + 56),
    atimeSec: at[0],
    atimeNsec: at[1],
    mtimeSec: mt[0],
    mtimeNsec: mt[1],
    ctimeSec: ct[0],
    ctimeNsec: ct[1],
  };
}

/** Why the len bytes at off cannot be one WALK component, as the errno Linux would give; 0 if they can. */
export function nameError(b: Buffer, off: number, len: number): number {
  if (len === 0) return ENOENT; // as open("") says
  if (len > MAX_NAME) return ENAMETOOLONG;
  for (let i = off; i < off + len; i++) if (b[i] === 0x2f || b[i] === 0) return EINVAL;
  // "." and ".." are the sentry's to resolve (mounts, its own root); never the host's.
  if (b[off] === 0x2e && (len === 1 || (len === 2 && b[off + 1] === 0x2e))) return EINVAL;
  return 0;
}

/**
 * The entries of one READDIR page (body at off, `count` of them, ending exactly at end), appended
 * to out; false if the page is malformed.
 */
export function decodeDirents(b: Buffer, off: number, end: number, count: number, enc: BufferEncoding, out: GoferDirent[]): boolean {
  for (let i = 0; i < count; i++) {
    if (off + DIRENT_HDR > end) return false;
    const type = b[off + 8];
    const len = b.readUInt16LE(off + 10);
    const size = (DIRENT_HDR + len + 7) & ~7;
    if (!DT_TYPES.has(type) || b[off + 9] !== 0 || off + size > end) return false;
    if (nameError(b, off + DIRENT_HDR, len) !== 0) return false;
    for (let p = off + DIRENT_HDR + len; p < off + size; p++) if (b[p] !== 0) return false;
    out.push({ ino: b.readBigUInt64LE(off), type, name: b.toString(enc, off + DIRENT_HDR, off + DIRENT_HDR + len) });
    off += size;
  }
  return off === end;
}
