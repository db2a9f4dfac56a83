/* moat-gofer internals (docs/sentry-gofer.md): confinement, the handle table, the request handlers. */
#ifndef MOAT_GOFER_H
#define MOAT_GOFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "proto.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the gofer protocol is little-endian and this code writes it in host order"
#endif

#define SOCK_FD 3
#define FIRST_TREE_FD 4
#define MAX_TREES 64
/* Handle values carry a 16-bit slot, so the table never has more than this many. */
#define MAX_HANDLES 65536u

/* ---- confine.c ---- */

/* Everything before the first request: fds, rlimits, namespaces, root, capabilities, no_new_privs.
 * May lower *max_handles to what RLIMIT_NOFILE allows. Exits with a message on failure. */
void confine(unsigned ntrees, uint32_t *max_handles, const bool *rw);
/* The last step: the seccomp allowlist of exactly the calls serve() makes (writable: some tree is
 * read-write, so the calls that change a tree are allowed too). */
void install_seccomp(bool writable);
void die(const char *what, int err);

/* ---- handles.c ---- */

struct handle {
	int fd;           /* O_PATH; -1 when the slot is free */
	uint16_t gen;     /* bumped on every free, so a stale handle value no longer matches */
	bool open;        /* the sentry holds it (CLOSE clears) */
	uint32_t refs;    /* regular files walked from this directory that may still be reopened */
	uint32_t parent;  /* for a regular file: slot + 1 of the directory it was walked from */
	uint32_t next_free;
	dev_t dev;        /* identity and type never change for an inode the fd pins */
	ino_t ino;
	mode_t fmt;
	uint8_t tree;     /* the tree it was walked in (RENAME stays within one) */
	uint8_t namelen;  /* for a regular file: its name in parent, to reopen it for reading */
	char name[MAX_NAME];
};

void handles_init(uint32_t max);
uint32_t handles_max(void);
/* A new handle for fd (owned by the table on success). 0, or ENFILE when the table is full. */
int handle_new(int fd, const struct stat *st, unsigned tree, struct handle *parent, const char *name,
	       size_t len, uint32_t *out);
/* The live entry a handle value names, or NULL (EBADF). */
struct handle *handle_get(uint32_t value);
struct handle *handle_parent(const struct handle *h);
/* 0, or EBADF. */
int handle_close(uint32_t value);

/* ---- ops.c ---- */

/* files[i]: the name of tree i's one file (a single-file tree), or NULL for a whole directory;
 * rw[i]: tree i is served read-write. */
void ops_init(unsigned ntrees, const char *const *files, const bool *rw);
/* 0 if s is one plain component the protocol can carry, else an errno. */
int ops_check_name(const char *s);
/* Serve one request (recv_flags: recvmsg's msg_flags): writes the reply into rep (MAX_REP bytes)
 * and returns its length; *fd_out is an fd to donate with it (closed by the caller after sending)
 * or -1. */
size_t dispatch(const uint8_t *req, size_t len, int recv_flags, uint8_t *rep, int *fd_out);

#endif
