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
};

#define REQ_HDR 8
#define REP_HDR 16
/* The largest request is a WALK with a 255-byte name; anything longer is EMSGSIZE. */
#define MAX_REQ 512
/* Replies never exceed this (a READDIR page fills up to it); the client's buffer is this big. */
#define MAX_REP 65536

/* stat body: dev, ino (u64); mode, nlink, uid, gid (u32); rdev, size, blocks (u64); blksize, 0
 * (u32); then atime, mtime, ctime as i64 sec, u32 nsec, u32 0. */
#define STAT_SIZE 112

/* READDIR entry: u64 ino, u8 d_type, u8 0, u16 len, name[len], zero padding to 8 bytes. */
#define DIRENT_HDR 12
#define READDIR_END 1u

/* OPEN flags (x86_64 open(2) values): read-only, optionally these. */
#define OPEN_ALLOWED (O_DIRECTORY | O_NOATIME)

#define MAX_NAME 255

#endif
