/* The hand-over: open-start, ready, wait-start, exec. */
#include "child_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sync.h"
#include "util.h"

/*
 * The fifo is opened O_PATH now, while the host's filesystem is still visible; wait-start
 * reopens it for writing through the host /proc/<C>/fd directory kept here, which works after
 * the pivot even when the container has no /proc of its own.
 */
int op_open_start(struct child *c, const struct plan_op *op, struct err *e)
{
	const char *fifo = op->a[0].s;
	struct stat st;

	c->fifofd = open(fifo, O_PATH | O_CLOEXEC);
	if (c->fifofd < 0) {
		err_set(e, errno, "open-start %s", fifo);
		return -1;
	}
	if (fstat(c->fifofd, &st) < 0) {
		err_set(e, errno, "open-start %s: stat", fifo);
		return -1;
	}
	if (!S_ISFIFO(st.st_mode)) {
		err_set(e, 0, "open-start %s: not a fifo", fifo);
		return -1;
	}
	c->procfd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->procfd < 0) {
		err_set(e, errno, "open-start: /proc/self/fd");
		return -1;
	}
	return 0;
}

int op_ready(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)op;
	/* In create mode P exits as soon as it has read this: we must outlive it from now on. If P
	 * died just before, the send fails with EPIPE and we stop here. */
	if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0 || sync_send_ready(c->sock) < 0) {
		err_set(e, errno, "ready");
		return -1;
	}
	c->ready = true;
	close_fd(&c->sock);
	return 0;
}

int op_wait_start(struct child *c, const struct plan_op *op, struct err *e)
{
	char name[16];
	int fd;

	(void)op;
	snprintf(name, sizeof(name), "%d", c->fifofd);
	/* Blocks until `moat start` opens the fifo for reading. */
	do
		fd = openat(c->procfd, name, O_WRONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		err_set(e, errno, "wait-start: open fifo");
		return -1;
	}
	if (write_all(fd, "", 1) < 0) {
		err_set(e, errno, "wait-start: write fifo");
		close_fd(&fd);
		return -1;
	}
	close_fd(&fd);
	close_fd(&c->fifofd);
	close_fd(&c->procfd);
	return 0;
}

/*
 * close_range(2) refused: ENOSYS (an old kernel, or a seccomp filter older than the syscall, which
 * answers ENOSYS for syscalls it does not know, as runc's does) or EPERM (a filter denying it).
 * Close every fd >= from that the container's /proc/self/fd lists instead, as runc always does.
 */
static int close_from_listing(unsigned from)
{
	char buf[4096];
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return -1;
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));

		if (n < 0) {
			int err = errno;

			close(dfd);
			errno = err;
			return -1;
		}
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			char *end;
			unsigned long fd = strtoul(d->name, &end, 10);

			off += d->reclen;
			if (*end == 0 && end != d->name && fd >= from && fd != (unsigned long)dfd)
				close((int)fd);
		}
	}
	close(dfd);
	return 0;
}

/* Only fds 0..2 and the plan's 3..3+keep-1 may reach the container (CVE-2024-21626). */
static int hand_over_fds(struct child *c, unsigned keep, struct err *e)
{
	close_fd(&c->rootfd);
	close_fd(&c->procfd);
	close_fd(&c->fifofd);
	close_fd(&c->sock);
	close_fd(&c->notifysock);
	if (close_range(3 + keep, ~0U, 0) < 0 && ((errno != ENOSYS && errno != EPERM) || close_from_listing(3 + keep) < 0)) {
		err_set(e, errno, "exec: close_range");
		return -1;
	}
	for (unsigned fd = 3; fd < 3 + keep; fd++) {
		int flags = fcntl((int)fd, F_GETFD);

		if (flags >= 0 && fcntl((int)fd, F_SETFD, flags & ~FD_CLOEXEC) < 0) {
			err_set(e, errno, "exec: keep fd %u", fd);
			return -1;
		}
	}
	return 0;
}

int op_exec(struct child *c, const struct plan_op *op, struct err *e)
{
	const struct plan_arg *cands = &op->a[1];
	char *const *argv = (char *const *)op->a[2].list;
	char *const *envp = (char *const *)op->a[3].list;
	int first = 0;

	if (hand_over_fds(c, (unsigned)op->a[0].u, e) < 0)
		return -1;
	for (size_t i = 0; i < cands->n; i++) {
		int err;

		execve(cands->list[i], argv, envp);
		err = errno;
		if (err != ENOENT && first == 0)
			first = err;
		if (err != ENOENT && err != ENOTDIR && err != EACCES)
			break;
	}
	err_set(e, first ? first : ENOENT, "exec \"%s\"", argv[0]);
	return -1;
}

/*
 * check-exec argv0 candidates: fail set-up (so `create` reports it, as runc does) when no
 * candidate is a regular file this process may execute. exec can still fail later (a file that
 * vanished, a bad ELF): that shows as exit 127.
 */
int op_check_exec(struct child *c, const struct plan_op *op, struct err *e)
{
	const struct plan_arg *cands = &op->a[1];
	int first_err = ENOENT;
	struct stat st;

	(void)c;
	for (size_t i = 0; i < cands->n; i++) {
		const char *path = cands->list[i];

		/* A seccomp filter that refuses the check itself (ENOSYS/EPERM) leaves the verdict to exec. */
		if (stat(path, &st) < 0) {
			if (errno == ENOSYS || errno == EPERM)
				return 0;
			if (errno != ENOENT && errno != ENOTDIR && first_err == ENOENT)
				first_err = errno;
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			if (first_err == ENOENT)
				first_err = EACCES;
			continue;
		}
		if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0 || errno == ENOSYS || errno == EPERM)
			return 0;
		if (first_err == ENOENT)
			first_err = errno;
	}
	/* runc's words: clients match them (Docker turns them into exit 127 / 126). */
	if (first_err == ENOENT && strchr(op->a[0].s, '/') == NULL)
		err_set(e, 0, "exec: \"%s\": executable file not found in $PATH", op->a[0].s);
	else if (first_err == ENOENT)
		err_set(e, 0, "exec: \"%s\": stat %s: no such file or directory", op->a[0].s, op->a[0].s);
	else if (first_err == EACCES)
		err_set(e, 0, "exec: \"%s\": permission denied", op->a[0].s);
	else
		err_set(e, first_err, "exec: \"%s\"", op->a[0].s);
	return -1;
}
