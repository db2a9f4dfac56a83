/*
 * The plan: NUL-terminated tokens read from --plan-fd, parsed and fully validated into an op
 * array before anything runs (docs/executor-plan.md is the contract).
 */
#ifndef MOAT_PLAN_H
#define MOAT_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "report.h"

#define PLAN_MAGIC "MOATPLAN1"
#define PLAN_MAX_BYTES (8u << 20)   /* whole plan */
#define PLAN_MAX_OPS 4096u
#define PLAN_MAX_LIST 65536u        /* entries in one list argument */
#define PLAN_MAX_ARGS 6
#define PLAN_MAX_KEEP 1024u         /* exec: fds 3 .. 3+keep-1 passed on */
#define PLAN_NUM_NONE UINT64_MAX    /* "-1" where allowed: keep id / RLIM_INFINITY */
#define IDMAP_TREE_ATTRS 0x7u       /* idmap-tree: MOUNT_ATTR_RDONLY | _NOSUID | _NODEV */

enum op_kind {
	/* parent (P, before clone) */
	OP_SETNS,
	OP_UNSHARE,
	OP_WRITE,
	OP_CLONE,
	/* after clone (P) */
	OP_CHILD_WRITE,
	OP_IDMAP_TREE,
	OP_GO,
	/* child (C) */
	OP_SETSID,
	OP_SETRESGID,
	OP_SETRESUID,
	OP_MOUNT,
	OP_ROOTFS,
	OP_MOUNTAT,
	OP_MKDIRAT,
	OP_MKNODAT,
	OP_SYMLINKAT,
	OP_OPEN_START,
	OP_PIVOT_ROOT,
	OP_MOVE_ROOT,
	OP_MASK,
	OP_READONLY,
	OP_REMOUNT_RO,
	OP_SETHOSTNAME,
	OP_SETDOMAINNAME,
	OP_LOOPBACK_UP,
	OP_WRITE_BENEATH,
	OP_RLIMIT,
	OP_SETGROUPS,
	OP_UMASK,
	OP_CHDIR,
	OP_NO_NEW_PRIVS,
	OP_CAP_BOUNDING,
	OP_KEEP_CAPS,
	OP_CAPSET,
	OP_SECCOMP,
	OP_SECCOMP_CONNECT,
	OP_SECCOMP_NOTIFY,
	OP_CONSOLE_SETUP,
	OP_SESSION_KEYRING,
	OP_CHECK_EXEC,
	OP_READY,
	OP_WAIT_START,
	OP_EXEC,
	OP_ATTACH_TREE,
	OP_UMOUNT,
	OP__COUNT
};

/* `create` argument of mountat. */
enum create_kind { CREATE_DIR, CREATE_FILE, CREATE_NONE };

/* One argument. Which fields are set depends on the op's signature (plan.c). */
struct plan_arg {
	const char *s;       /* string (points into the plan buffer) */
	uint64_t u;          /* number; PLAN_NUM_NONE for "-1" */
	const char **list;   /* string list, NULL-terminated (argv/env ready for execve) */
	uint32_t *nums;      /* number list (ids, BPF words: all 32-bit) */
	size_t n;            /* list length */
};

struct plan_op {
	enum op_kind kind;
	struct plan_arg a[PLAN_MAX_ARGS];
};

struct plan {
	char *buf;
	size_t len;
	struct plan_op *ops;
	size_t nops;
	size_t clone_at;     /* index of `clone` */
	size_t go_at;        /* index of `go`; child ops are (go_at, nops) */
};

/* Read fd to EOF (bounded by PLAN_MAX_BYTES) and close it. */
int plan_read(int fd, struct plan *p, struct err *e);

/* Tokenize and validate everything: names, arg counts, numbers, ranges and op order. */
int plan_parse(struct plan *p, struct err *e);

const char *op_name(enum op_kind k);

/* The plan's exec `keep` (parse guarantees exactly one exec). */
unsigned plan_keep(const struct plan *p);

#endif
