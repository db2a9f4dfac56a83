/* C's side: the state it carries between ops, and one handler per child op. */
#ifndef MOAT_CHILD_OPS_H
#define MOAT_CHILD_OPS_H

#include <stdbool.h>

#include "plan.h"
#include "report.h"

struct child {
	int sock;    /* to P, until `ready` */
	int rootfd;  /* `rootfs`: O_PATH dir of the container root */
	int procfd;  /* `open-start`: the host's /proc/self/fd, for `wait-start` after the pivot */
	int fifofd;  /* `open-start`: O_PATH fd of the exec fifo */
	int notifysock; /* `seccomp-connect`: connected to the seccomp listener */
	int treefd;  /* the `idmap-tree` P sent with "go", until `attach-tree` */
	char hostpid[16]; /* `seccomp-connect`: our pid as the caller's /proc shows it */
	bool ready;  /* after `ready`, errors go to stderr and C exits 127 */
};

/* Entry point of C after the clone: wait for "go", run ops (go_at, nops), exec. Never returns. */
void child_main(const struct plan *p, int sock) __attribute__((noreturn));

typedef int (*child_op_fn)(struct child *c, const struct plan_op *op, struct err *e);

/* child_ops.c: process attributes */
int op_setsid(struct child *c, const struct plan_op *op, struct err *e);
int op_session_keyring(struct child *c, const struct plan_op *op, struct err *e);
int op_setresgid(struct child *c, const struct plan_op *op, struct err *e);
int op_setresuid(struct child *c, const struct plan_op *op, struct err *e);
int op_sethostname(struct child *c, const struct plan_op *op, struct err *e);
int op_setdomainname(struct child *c, const struct plan_op *op, struct err *e);
int op_loopback_up(struct child *c, const struct plan_op *op, struct err *e);
int op_write_beneath(struct child *c, const struct plan_op *op, struct err *e);
int op_rlimit(struct child *c, const struct plan_op *op, struct err *e);
int op_setgroups(struct child *c, const struct plan_op *op, struct err *e);
int op_umask(struct child *c, const struct plan_op *op, struct err *e);
int op_chdir(struct child *c, const struct plan_op *op, struct err *e);

/* rootfs_ops.c: mounts and the container's filesystem */
int op_mount(struct child *c, const struct plan_op *op, struct err *e);
int op_rootfs(struct child *c, const struct plan_op *op, struct err *e);
int op_mountat(struct child *c, const struct plan_op *op, struct err *e);
int op_mkdirat(struct child *c, const struct plan_op *op, struct err *e);
int op_mknodat(struct child *c, const struct plan_op *op, struct err *e);
int op_symlinkat(struct child *c, const struct plan_op *op, struct err *e);
int op_pivot_root(struct child *c, const struct plan_op *op, struct err *e);
int op_move_root(struct child *c, const struct plan_op *op, struct err *e);
int op_mask(struct child *c, const struct plan_op *op, struct err *e);
int op_readonly(struct child *c, const struct plan_op *op, struct err *e);
int op_remount_ro(struct child *c, const struct plan_op *op, struct err *e);
int op_attach_tree(struct child *c, const struct plan_op *op, struct err *e);
int op_umount(struct child *c, const struct plan_op *op, struct err *e);

/* security.c: privileges */
int op_no_new_privs(struct child *c, const struct plan_op *op, struct err *e);
int op_cap_bounding(struct child *c, const struct plan_op *op, struct err *e);
int op_keep_caps(struct child *c, const struct plan_op *op, struct err *e);
int op_capset(struct child *c, const struct plan_op *op, struct err *e);
int op_seccomp(struct child *c, const struct plan_op *op, struct err *e);
int op_seccomp_connect(struct child *c, const struct plan_op *op, struct err *e);
int op_seccomp_notify(struct child *c, const struct plan_op *op, struct err *e);

/* console.c: a pty for the container process */
int op_console_setup(struct child *c, const struct plan_op *op, struct err *e);

/* start.c: the hand-over to the container process */
int op_open_start(struct child *c, const struct plan_op *op, struct err *e);
int op_ready(struct child *c, const struct plan_op *op, struct err *e);
int op_check_exec(struct child *c, const struct plan_op *op, struct err *e);
int op_wait_start(struct child *c, const struct plan_op *op, struct err *e);
int op_exec(struct child *c, const struct plan_op *op, struct err *e);

#endif
