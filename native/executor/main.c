/*
 * moat-exec: carry out an executor plan (docs/executor-plan.md). No policy lives here.
 *
 *   moat-exec --plan-fd P --report-fd R [--mode create|run|check] [--die-with-parent PID]
 *             [--status-file FILE]
 *
 * --die-with-parent (run mode, `moat do`): P gets RUNNER_DEATH_SIG when its parent (moat, pid PID)
 * dies, even by SIGKILL, and then kills the init — with it the container's pid namespace.
 *
 * --status-file (run mode, moat's containerd shim): FILE (absolute, in the container's state
 * directory) is made empty at start and gets the init's exit status ("N\n") when it ends. P
 * outlives a shim server killed with SIGKILL, so the shim's `delete` can still report the
 * container's real status (docs/shim.md, Crash safety).
 *
 * P (this process) runs the parent ops, clones the init C, runs the after-clone ops, wakes C,
 * and reports `pid N` once C says `ready` (or `error …` if anything failed).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_ops.h"
#include "cloned.h"
#include "parent_ops.h"
#include "plan.h"
#include "report.h"
#include "supervise.h"
#include "sync.h"
#include "util.h"

#define EXIT_SETUP 1  /* after `error …` on the report fd */
#define EXIT_USAGE 2  /* bad command line: nothing to report on */

enum mode { MODE_CREATE, MODE_RUN, MODE_CHECK };

struct args {
	int plan_fd;
	int report_fd;
	enum mode mode;
	pid_t die_with_parent;
	const char *status_file;
};

static void __attribute__((noreturn)) usage(const char *why)
{
	report_stderr(why);
	report_stderr("usage: moat-exec --plan-fd P --report-fd R [--mode create|run|check] [--die-with-parent PID] [--status-file FILE]");
	exit(EXIT_USAGE);
}

static int parse_fd(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 1 << 20 || fcntl((int)v, F_GETFD) < 0)
		usage("bad or closed fd");
	return (int)v;
}

static enum mode parse_mode(const char *s)
{
	if (strcmp(s, "create") == 0)
		return MODE_CREATE;
	if (strcmp(s, "run") == 0)
		return MODE_RUN;
	if (strcmp(s, "check") == 0)
		return MODE_CHECK;
	usage("bad --mode");
}

static void parse_args(int argc, char **argv, struct args *a)
{
	a->plan_fd = a->report_fd = -1;
	a->mode = MODE_CREATE;
	a->die_with_parent = 0;
	a->status_file = NULL;
	for (int i = 1; i < argc; i += 2) {
		const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;

		if (!val)
			usage("missing value");
		if (strcmp(argv[i], "--plan-fd") == 0)
			a->plan_fd = parse_fd(val);
		else if (strcmp(argv[i], "--report-fd") == 0)
			a->report_fd = parse_fd(val);
		else if (strcmp(argv[i], "--mode") == 0)
			a->mode = parse_mode(val);
		else if (strcmp(argv[i], "--die-with-parent") == 0) {
			char *end;
			long v = strtol(val, &end, 10);

			if (*end || v <= 0 || v > 0x3fffffff)
				usage("bad --die-with-parent");
			a->die_with_parent = (pid_t)v;
		}
		else if (strcmp(argv[i], "--status-file") == 0) {
			if (val[0] != '/' || strlen(val) >= PATH_MAX)
				usage("bad --status-file: an absolute path is needed");
			a->status_file = val;
		}
		else
			usage("bad argument");
	}
	if (a->plan_fd < 0 || a->report_fd < 0 || a->plan_fd == a->report_fd)
		usage("need distinct --plan-fd and --report-fd");
	if (a->status_file && a->mode != MODE_RUN)
		usage("--status-file needs --mode run");
}

static void __attribute__((noreturn)) fail(int report_fd, const struct err *e)
{
	(void)report_error(report_fd, e->msg);
	exit(EXIT_SETUP);
}

/* Returns C's wait status (its own, if it had already died: a kill does not change that). */
static int kill_and_reap(pid_t pid)
{
	int status = 0;

	(void)kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

static void __attribute__((noreturn)) fail_child(int report_fd, pid_t pid, const struct err *e)
{
	kill_and_reap(pid);
	fail(report_fd, e);
}

/* C died without a message (a crash, a seccomp kill, the OOM killer): say how. */
static void __attribute__((noreturn)) fail_silent_child(int report_fd, pid_t pid, struct err *e)
{
	int status = kill_and_reap(pid);

	if (WIFSIGNALED(status))
		err_set(e, 0, "the init died during set-up: killed by signal %d", WTERMSIG(status));
	else
		err_set(e, 0, "the init died during set-up: exit status %d", WEXITSTATUS(status));
	fail(report_fd, e);
}

/* The status file, made empty now: close-on-exec, so the container never holds it. */
static int open_status_file(const struct args *a)
{
	struct err e;
	int fd;

	if (!a->status_file)
		return -1;
	fd = open(a->status_file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(&e, errno, "open the status file %s", a->status_file);
		fail(a->report_fd, &e);
	}
	return fd;
}

/* One write of "N\n": readers take nothing else as a status. Best effort: delete may have come. */
static void record_status(int fd, int code)
{
	char buf[16];
	int n;

	if (fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%d\n", code);
	if (pwrite(fd, buf, (size_t)n, 0) < 0) {
		/* nothing to tell: the shim reports 137 when there is no status */
	}
	close(fd);
}

static void load_plan(const struct args *a, struct plan *p)
{
	struct err e;
	unsigned keep;

	if (plan_read(a->plan_fd, p, &e) < 0 || plan_parse(p, &e) < 0)
		fail(a->report_fd, &e);
	/* C closes R at once; an R among the fds handed to the container is a caller bug. */
	keep = plan_keep(p);
	if (a->report_fd >= 3 && (unsigned)a->report_fd < 3 + keep) {
		err_set(&e, 0, "plan: report fd %d is one of the kept fds 3..%u", a->report_fd, 2 + keep);
		fail(a->report_fd, &e);
	}
}

/* Raw clone with no new stack: C continues here like after fork, but CLONE_NEWPID etc. apply. */
static pid_t clone_init(const struct plan *p, int report_fd, int sv[2])
{
	unsigned long flags = SIGCHLD | (unsigned long)p->ops[p->clone_at].a[0].u;
	struct err e;
	pid_t pid;

	if (sync_pair(sv) < 0) {
		err_set(&e, errno, "clone: socketpair");
		fail(report_fd, &e);
	}
	pid = (pid_t)syscall(SYS_clone, flags, 0, 0, 0, 0);
	if (pid < 0) {
		err_set(&e, errno, "clone 0x%lx", flags & ~(unsigned long)SIGCHLD);
		fail(report_fd, &e);
	}
	if (pid == 0) {
		close(sv[0]);
		if (report_fd > 2)
			close(report_fd);
		child_main(p, sv[1]);
	}
	close(sv[1]);
	return pid;
}

int main(int argc, char **argv)
{
	struct args a;
	struct plan p = { 0 };
	struct err e;
	int sv[2], sfd = -1, status_fd, rc;
	pid_t pid;

	parse_args(argc, argv, &a);
	if (a.die_with_parent > 0) {
		/* Until the supervisor catches it, the signal's default action ends P, and an init that
		 * never got `go` ends with its sync socket. Checked after: the parent may be gone already. */
		if (prctl(PR_SET_PDEATHSIG, RUNNER_DEATH_SIG) != 0 || getppid() != a.die_with_parent)
			exit(EXIT_SETUP);
	}
	/* Never let the container reach this binary on the host (CVE-2019-5736): see cloned.h. */
	if (cloned_binary_ensure(argv) < 0) {
		err_set(&e, errno, "re-exec from a sealed copy of the executor");
		fail(a.report_fd, &e);
	}
	/* R must never reach the container, whatever the caller passed. */
	if (a.report_fd > 2)
		(void)fcntl(a.report_fd, F_SETFD, FD_CLOEXEC);
	load_plan(&a, &p);
	if (a.mode == MODE_CHECK)
		return 0;
	status_fd = open_status_file(&a);
	/*
	 * run: we supervise the init until it exits, so its orphans (a container without a pid
	 * namespace of its own) come to us, not to the host's init, and supervise() reaps them.
	 */
	if (a.mode == MODE_RUN)
		(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	if (parent_run(&p, 0, p.clone_at, 0, &e) < 0)
		fail(a.report_fd, &e);

	pid = clone_init(&p, a.report_fd, sv);
	/* Only now: C must not inherit SIG_IGN for SIGPIPE (it would survive execve). */
	signal(SIGPIPE, SIG_IGN);
	if (parent_run(&p, p.clone_at + 1, p.go_at, pid, &e) < 0)
		fail_child(a.report_fd, pid, &e);
	/* If C is already gone, sync_wait_ready sees EOF and says so. */
	(void)sync_send_go(sv[0], parent_tree_fd());
	if (parent_tree_fd() >= 0)
		close(parent_tree_fd()); /* C has its own copy now */
	rc = sync_wait_ready(sv[0], &e);
	if (rc == SYNC_EOF)
		fail_silent_child(a.report_fd, pid, &e);
	if (rc < 0)
		fail_child(a.report_fd, pid, &e);
	close(sv[0]);

	if (a.mode == MODE_RUN && (sfd = supervise_prepare()) < 0) {
		err_set(&e, errno, "run: signalfd");
		fail_child(a.report_fd, pid, &e);
	}
	if (report_pid(a.report_fd, pid) < 0) {
		/* Nobody learnt the pid: do not leave an init behind that nobody can start or kill. */
		kill_and_reap(pid);
		return EXIT_SETUP;
	}
	if (a.mode == MODE_CREATE)
		return 0;
	if (a.report_fd > 2)
		close(a.report_fd); /* callers reading R to EOF are not kept waiting for the init */
	rc = supervise(pid, sfd);
	record_status(status_fd, rc);
	return rc;
}
