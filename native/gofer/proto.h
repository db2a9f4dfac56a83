/*
 * The gofer's wire format (docs/sentry-gofer.md): one request per SOCK_SEQPACKET message, one reply
 * per message, little-endian, fixed layouts. src/sentry/gofer/protocol.ts is the other side.
 *
 *   request  = u16 op, u16 zero, u32 seq, body
 *   reply    = u16 op, u16 zero, u32 seq, u32 errno, u32 zero, body (only when errno is 0)
 */
#ifndef MOAT_GOFER_PROTO_H
#define MOAT_GOFER_PROTO_H

#include <stdint.h>

#define GOFER_VERSION 1

enum gofer_op {
	OP_HELLO = 1,    /* u32 version, u32 0         -> u32 version, u32 trees, u32 max handles, u32 max reply */
	OP_ATTACH = 2,   /* u32 tree, u32 0            -> u32 handle, u32 0, stat */
	OP_WALK = 3,     /* u32 dir, u16 len, u16 0, name[len] -> u32 handle, u32 0, stat */
	OP_STAT = 4,     /* u32 handle, u32 0          -> stat */
	OP_READLINK = 5, /* u32 handle, u32 0          -> u32 len, u32 0, target[len] */
	OP_READDIR = 6,  /* u32 handle, u32 0, u64 cookie -> u64 next, u32 count, u32 flags, entries */
	OP_OPEN = 7,     /* u32 handle, u32 flags      -> (nothing) + the fd as SCM_RIGHTS */
	OP_CLOSE = 8,    /* u32 handle, u32 0          -> (nothing) */
	/* Read-write trees only (EROFS elsewhere). Each names one component in a directory handle. */
	OP_CREATE = 9,   /* u32 dir, u32 mode, u32 uid, u32 gid, u16 len, u16 0, name -> u32 handle, u32 0, stat */
	OP_MKDIR = 10,   /* same as CREATE */
	OP_SYMLINK = 11, /* u32 dir, u32 0, u32 uid, u32 gid, u16 len, u16 tlen, name, target -> as CREATE */
	OP_UNLINK = 12,  /* u32 dir, u32 flags (0 or AT_REMOVEDIR), u16 len, u16 0, name -> (nothing) */
	OP_RENAME = 13,  /* u32 olddir, u32 newdir, u32 flags, u16 oldlen, u16 newlen, old, new -> (nothing) */
	OP_SETATTR = 14, /* u32 handle, u32 mask, u32 mode, u32 uid, u32 gid, u32 0, u64 size,
			    atime, mtime (i64 sec, u32 nsec, u32 0)  -> stat */
	/* Several components in one round trip: path = 1..WALK_MAX names joined by single '/'. */
	OP_WALKPATH = 15, /* u32 dir, u16 len, u16 flags, path[len] -> u32 count, u32 errno,
			     count x (u32 handle, u32 0, stat) [+ the last one's fd with WALK_OPEN] */
};

/* WALKPATH: at most this many components; flag WALK_OPEN: when every component was walked and the
 * last is a regular file, it also comes opened for reading (as OPEN with flags 0 would give it). */
#define WALK_MAX 16
#define WALK_OPEN 1u
#define WALK_ENTRY (8 + STAT_SIZE)

/* SETATTR mask bits. */
#define SETATTR_MODE 1u
#define SETATTR_UID 2u
#define SETATTR_GID 4u
#define SETATTR_SIZE 8u
#define SETATTR_ATIME 16u
#define SETATTR_MTIME 32u
#define SETATTR_ALL 63u
#define SETATTR_SIZE_BODY 64

#define REQ_HDR 8
#define REP_HDR 16
/* The largest request is a SYMLINK with a 255-byte name and a 4095-byte target; anything longer
 * is EMSGSIZE. */
#define MAX_REQ 4608
/* Replies never exceed this (a READDIR page fills up to it); the client's buffer is this big. */
#define MAX_REP 65536

/* stat body: dev, ino (u64); mode, nlink, uid, gid (u32); rdev, size, blocks (u64); blksize, 0
 * (u32); then atime, mtime, ctime as i64 sec, u32 nsec, u32 0. */
#define STAT_SIZE 112

/* READDIR entry: u64 ino, u8 d_type, u8 0, u16 len, name[len], zero padding to 8 bytes. */
#define DIRENT_HDR 12
#define READDIR_END 1u

/* OPEN flags (x86_64 open(2) values): read-only, optionally these; and in a read-write tree, a
 * regular file also for writing (O_WRONLY or O_RDWR, O_TRUNC). */
#define OPEN_ALLOWED (O_DIRECTORY | O_NOATIME)
#define OPEN_WRITE_ALLOWED (O_WRONLY | O_RDWR | O_TRUNC)
#define MAX_TARGET 4095

#define MAX_NAME 255

#endif
