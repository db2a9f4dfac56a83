#include "child_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <linux/keyctl.h>
#include <sys/syscall.h>

#include "inroot.h"
#include "sync.h"
#include "util.h"

_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "setgroups passes the plan's u32 list as is");

static const child_op_fn handlers[OP__COUNT] = {
	[OP_SETSID] = op_setsid,
	[OP_SESSION_KEYRING] = op_session_keyring,
	[OP_SETRESGID] = op_setresgid,
	[OP_SETRESUID] = op_setresuid,
	[OP_MOUNT] = op_mount,
	[OP_ROOTFS] = op_rootfs,
	[OP_MOUNTAT] = op_mountat,
	[OP_MKDIRAT] = op_mkdirat,
	[OP_MKNODAT] = op_mknodat,
	[OP_SYMLINKAT] = op_symlinkat,
	[OP_OPEN_START] = op_open_start,
	[OP_PIVOT_ROOT] = op_pivot_root,
	[OP_MOVE_ROOT] = op_move_root,
	[OP_MASK] = op_mask,
	[OP_READONLY] = op_readonly,
	[OP_REMOUNT_RO] = op_remount_ro,
	[OP_SETHOSTNAME] = op_sethostname,
	[OP_SETDOMAINNAME] = op_setdomainname,
	[OP_LOOPBACK_UP] = op_loopback_up,
	[OP_WRITE_BENEATH] = op_write_beneath,
	[OP_RLIMIT] = op_rlimit,
	[OP_SETGROUPS] = op_setgroups,
	[OP_UMASK] = op_umask,
	[OP_CHDIR] = op_chdir,
	[OP_NO_NEW_PRIVS] = op_no_new_privs,
	[OP_CAP_BOUNDING] = op_cap_bounding,
	[OP_KEEP_CAPS] = op_keep_caps,
	[OP_CAPSET] = op_capset,
	[OP_SECCOMP] = op_seccomp,
	[OP_SECCOMP_CONNECT] = op_seccomp_connect,
	[OP_SECCOMP_NOTIFY] = op_seccomp_notify,
	[OP_CONSOLE_SETUP] = op_console_setup,
	[OP_CHECK_EXEC] = op_check_exec,
	[OP_READY] = op_ready,
	[OP_WAIT_START] = op_wait_start,
	[OP_EXEC] = op_exec,
	[OP_ATTACH_TREE] = op_attach_tree,
	[OP_UMOUNT] = op_umount,
};

/* Before `ready` P is listening and turns our text into `error …`; after it only stderr is left. */
static void __attribute__((noreturn)) child_fail(struct child *c, const struct err *e)
{
	if (!c->ready) {
		(void)sync_send_error(c->sock, e->msg);
		_exit(1);
	}
	report_stderr(e->msg);
	_exit(127);
}

void child_main(const struct plan *p, int sock)
{
	struct child c = { .sock = sock, .rootfd = -1, .procfd = -1, .fifofd = -1, .notifysock = -1, .treefd = -1 };
	struct err e;

	/* If P dies during set-up nobody would report or reap us: die with it. Cleared by `ready`,
	 * since in create mode P exits right after. P dying before this line shows up as EOF. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (sync_wait_go(sock, &c.treefd) < 0)
		_exit(1);
	for (size_t i = p->go_at + 1; i < p->nops; i++) {
		const struct plan_op *op = &p->ops[i];

		if (handlers[op->kind](&c, op, &e) < 0)
			child_fail(&c, &e);
	}
	/* The plan always ends in exec, which only returns on failure. */
	err_set(&e, 0, "plan: ran off the end");
	child_fail(&c, &e);
}

/* ---- process attributes ---- */

/*
 * A session keyring of the container's own (runc's `_ses.<id>`): without it the container shares
 * the keyring of the session moat was started from, and with it the host user's keys.
 */
int op_session_keyring(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, op->a[0].s, 0, 0, 0) < 0) {
		err_set(e, errno, "session-keyring %s", op->a[0].s);
		return -1;
	}
	return 0;
}

int op_setsid(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	(void)op;
	if (setsid() < 0) {
		err_set(e, errno, "setsid");
		return -1;
	}
	return 0;
}

/* PLAN_NUM_NONE ("-1") narrows to (gid_t)-1 / (uid_t)-1: "leave unchanged". */
int op_setresgid(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	if (setresgid((gid_t)op->a[0].u, (gid_t)op->a[1].u, (gid_t)op->a[2].u) < 0) {
		err_set(e, errno, "setresgid %s %s %s", op->a[0].s, op->a[1].s, op->a[2].s);
		return -1;
	}
	return 0;
}

int op_setresuid(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	if (setresuid((uid_t)op->a[0].u, (uid_t)op->a[1].u, (uid_t)op->a[2].u) < 0) {
		err_set(e, errno, "setresuid %s %s %s", op->a[0].s, op->a[1].s, op->a[2].s);
		return -1;
	}
	return 0;
}

int op_sethostname(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	if (sethostname(op->a[0].s, strlen(op->a[0].s)) < 0) {
		err_set(e, errno, "sethostname %s", op->a[0].s);
		return -1;
	}
	return 0;
}

int op_setdomainname(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	if (setdomainname(op->a[0].s, strlen(op->a[0].s)) < 0) {
		err_set(e, errno, "setdomainname %s", op->a[0].s);
		return -1;
	}
	return 0;
}

/* The network namespace we are in (a new one): bring its loopback up, as runc does. */
int op_loopback_up(struct child *c, const struct plan_op *op, struct err *e)
{
	struct ifreq ifr;
	int fd, rc = -1;

	(void)c;
	(void)op;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_set(e, errno, "loopback-up: socket");
		return -1;
	}
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		err_set(e, errno, "loopback-up: SIOCGIFFLAGS lo");
		goto out;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
			err_set(e, errno, "loopback-up: SIOCSIFFLAGS lo");
			goto out;
		}
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

int op_write_beneath(struct child *c, const struct plan_op *op, struct err *e)
{
	const char *base = op->a[0].s, *rel = op->a[1].s, *data = op->a[2].s;
	int basefd, fd, rc = -1;

	(void)c;
	basefd = openat2_fd(AT_FDCWD, base, O_PATH | O_DIRECTORY, RESOLVE_NO_MAGICLINKS);
	if (basefd < 0) {
		err_set(e, errno, "write-beneath %s", base);
		return -1;
	}
	fd = openat2_fd(basefd, rel, O_WRONLY | O_NOCTTY,
			RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		err_set(e, errno, "write-beneath %s/%s: open", base, rel);
	else if (write_all(fd, data, strlen(data)) < 0)
		err_set(e, errno, "write-beneath %s/%s: write", base, rel);
	else
		rc = 0;
	close_fd(&fd);
	close_fd(&basefd);
	return rc;
}

int op_rlimit(struct child *c, const struct plan_op *op, struct err *e)
{
	struct rlimit rl = {
		.rlim_cur = op->a[1].u == PLAN_NUM_NONE ? RLIM_INFINITY : (rlim_t)op->a[1].u,
		.rlim_max = op->a[2].u == PLAN_NUM_NONE ? RLIM_INFINITY : (rlim_t)op->a[2].u,
	};

	(void)c;
	if (setrlimit((int)op->a[0].u, &rl) < 0) {
		err_set(e, errno, "rlimit %s", op->a[0].s);
		return -1;
	}
	return 0;
}

int op_setgroups(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	if (setgroups(op->a[0].n, (const gid_t *)op->a[0].nums) < 0) {
		err_set(e, errno, "setgroups (%zu groups)", op->a[0].n);
		return -1;
	}
	return 0;
}

int op_umask(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	(void)e;
	umask((mode_t)op->a[0].u);
	return 0;
}

int op_chdir(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	if (chdir(op->a[0].s) < 0) {
		err_set(e, errno, "chdir %s", op->a[0].s);
		return -1;
	}
	return 0;
}
