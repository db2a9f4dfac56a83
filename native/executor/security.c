/* Privileges: no_new_privs, capability sets, seccomp (and its listener). Masks and filters come ready-made. */
#include "child_ops.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "fdpass.h"
#include "util.h"

int op_no_new_privs(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	(void)op;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		err_set(e, errno, "no-new-privs");
		return -1;
	}
	return 0;
}

/* Drop from the bounding set every capability the kernel knows that is not in the mask. */
int op_cap_bounding(struct child *c, const struct plan_op *op, struct err *e)
{
	uint64_t keep = op->a[0].u;

	(void)c;
	/* PR_CAPBSET_READ fails with EINVAL past the kernel's last capability. */
	for (unsigned long cap = 0; cap < 64 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
		if (keep & (UINT64_C(1) << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			err_set(e, errno, "cap-bounding: drop %lu", cap);
			return -1;
		}
	}
	return 0;
}

int op_keep_caps(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	if (prctl(PR_SET_KEEPCAPS, (unsigned long)op->a[0].u, 0, 0, 0) < 0) {
		err_set(e, errno, "keep-caps %s", op->a[0].s);
		return -1;
	}
	return 0;
}

static int raise_ambient(uint64_t ambient, struct err *e)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		err_set(e, errno, "capset: clear ambient");
		return -1;
	}
	for (unsigned long cap = 0; cap < 64; cap++) {
		if (!(ambient & (UINT64_C(1) << cap)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
			err_set(e, errno, "capset: raise ambient %lu", cap);
			return -1;
		}
	}
	return 0;
}

/* capset(2) v3 takes each 64-bit set as two 32-bit halves. */
int op_capset(struct child *c, const struct plan_op *op, struct err *e)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	uint64_t eff = op->a[0].u, perm = op->a[1].u, inh = op->a[2].u;

	(void)c;
	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(eff >> (32 * i));
		data[i].permitted = (uint32_t)(perm >> (32 * i));
		data[i].inheritable = (uint32_t)(inh >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, data) < 0) {
		err_set(e, errno, "capset");
		return -1;
	}
	return raise_ambient(op->a[3].u, e);
}

/* seccomp(SECCOMP_SET_MODE_FILTER): the syscall's result (with NEW_LISTENER, the listener fd). */
static int load_filter(const struct plan_op *op, unsigned flags, struct err *e)
{
	/* Static: 32 KiB is too much for the stack of a process that may be tiny; C is single-threaded. */
	static struct sock_filter insns[BPF_MAXINSNS];
	const struct plan_arg *words = &op->a[1];
	struct sock_fprog prog = { .len = (unsigned short)(words->n / 4), .filter = insns };
	long ret;

	for (size_t i = 0; i < prog.len; i++) {
		insns[i].code = (uint16_t)words->nums[4 * i];
		insns[i].jt = (uint8_t)words->nums[4 * i + 1];
		insns[i].jf = (uint8_t)words->nums[4 * i + 2];
		insns[i].k = words->nums[4 * i + 3];
	}
	ret = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (ret < 0)
		err_set(e, errno, "%s (%u instructions)", op_name(op->kind), (unsigned)prog.len);
	return (int)ret;
}

int op_seccomp(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	return load_filter(op, (unsigned)op->a[0].u, e) < 0 ? -1 : 0;
}

/*
 * Connect to the seccomp listener while the caller's filesystem and credentials are still ours,
 * and note our pid as the caller's /proc shows it (getpid() says 1 in a new pid namespace).
 */
int op_seccomp_connect(struct child *c, const struct plan_op *op, struct err *e)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *path = op->a[0].s;
	ssize_t n;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		err_set(e, ENAMETOOLONG, "seccomp-connect %s", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	n = readlink("/proc/self", c->hostpid, sizeof(c->hostpid) - 1);
	if (n <= 0) {
		err_set(e, n < 0 ? errno : EINVAL, "seccomp-connect: readlink /proc/self");
		return -1;
	}
	c->hostpid[n] = '\0';
	c->notifysock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->notifysock < 0 || connect(c->notifysock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		err_set(e, errno, "seccomp-connect %s", path);
		return -1;
	}
	return 0;
}

/* parts[0] pid parts[1] pid ... parts[n-1], NUL-terminated; NULL when out of memory. */
static char *join_state(const struct plan_arg *parts, const char *pid, size_t *len)
{
	size_t total = 1;
	char *buf, *p;

	for (size_t i = 0; i < parts->n; i++)
		total += strlen(parts->list[i]) + (i > 0 ? strlen(pid) : 0);
	buf = p = malloc(total);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < parts->n; i++)
		p = stpcpy(i > 0 ? stpcpy(p, pid) : p, parts->list[i]);
	*len = (size_t)(p - buf);
	return buf;
}

/* The fd rides with the first byte(s); the rest of the JSON follows. Only sendmsg is used. */
static int send_with_fd(int sock, int fd, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = fdpass_send(sock, buf + off, len - off, &fd, off == 0 ? 1 : 0, 0);

		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/*
 * Load the filter with a listener and hand the listener to the seccomp agent with the container
 * process state (runtime-spec), then close our copy and the connection: one state per connection.
 * The JSON is built before the filter exists, so that only sendmsg and close run under it.
 */
int op_seccomp_notify(struct child *c, const struct plan_op *op, struct err *e)
{
	size_t len = 0;
	char *state = join_state(&op->a[2], c->hostpid, &len);
	int fd, rc = 0;

	if (!state) {
		err_set(e, ENOMEM, "seccomp-notify");
		return -1;
	}
	fd = load_filter(op, (unsigned)op->a[0].u | SECCOMP_FILTER_FLAG_NEW_LISTENER, e);
	if (fd >= 0 && send_with_fd(c->notifysock, fd, state, len) < 0) {
		err_set(e, errno, "seccomp-notify: send the listener fd");
		rc = -1;
	}
	if (fd < 0)
		rc = -1;
	close_fd(&fd);
	close_fd(&c->notifysock);
	free(state);
	return rc;
}
