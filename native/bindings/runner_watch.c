/*
 * `moat do` on the vm platform: the sandbox's host processes (QEMU, its virtiofsd servers) must die
 * with the runner, even one killed by SIGKILL, and none of them can carry a parent-death signal
 * for it: QEMU's -runas clears it when it changes uid, and each is spawned through other programs.
 *
 *   watchRunner(pidfds) -> fd   start a watcher process (forked twice: never a zombie of the
 *                               runner's) that waits for end-of-file on a pipe whose write end only
 *                               the runner holds (the returned fd, close-on-exec), then SIGKILLs each
 *                               process of pidfds that is still alive (pidfd_send_signal: never a
 *                               reused pid) and exits; it exits by itself once all have exited.
 *                               The caller closes its pidfds afterwards; the watcher has its copies.
 *
 * The watcher is a fork of Node: it only makes async-signal-safe calls (setsid, sigaction, poll,
 * read, close_range, pidfd_send_signal, _exit), every other fd closed, signals at their defaults.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "napi_util.h"

#define MAX_WATCHED 32

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every fd but the sorted, distinct keep[0..n). */
static void close_others(const int *keep, int n)
{
	unsigned int from = 0;

	for (int i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > from)
			syscall(SYS_close_range, from, (unsigned int)keep[i] - 1, 0);
		from = (unsigned int)keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

static __attribute__((noreturn)) void watcher(int rd, const int *fds, int n)
{
	struct pollfd pf[MAX_WATCHED + 1];
	int keep[MAX_WATCHED + 1];
	struct sigaction sa;
	sigset_t none;
	int alive = n;
	char buf[64];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < 65; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	prctl(PR_SET_NAME, "moat-do-watch", 0, 0, 0);
	keep[0] = rd;
	for (int i = 0; i < n; i++)
		keep[i + 1] = fds[i];
	qsort(keep, (size_t)n + 1, sizeof(int), cmp_int);
	close_others(keep, n + 1);
	pf[0].fd = rd;
	pf[0].events = POLLIN;
	for (int i = 0; i < n; i++) {
		pf[i + 1].fd = fds[i];
		pf[i + 1].events = POLLIN;
	}
	while (alive > 0) {
		if (poll(pf, (nfds_t)n + 1, -1) < 0)
			continue;
		if (pf[0].revents) {
			ssize_t r = read(rd, buf, sizeof(buf));

			if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
				/* The runner is gone: so is its sandbox. */
				for (int i = 1; i <= n; i++)
					if (pf[i].fd >= 0)
						syscall(SYS_pidfd_send_signal, pf[i].fd, SIGKILL, NULL, 0);
				_exit(0);
			}
		}
		for (int i = 1; i <= n; i++) {
			if (pf[i].fd >= 0 && pf[i].revents) {
				pf[i].fd = -1; /* exited: poll skips it from now on */
				alive--;
			}
		}
	}
	_exit(0);
}

static napi_value watch_runner_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], v, out;
	bool is;
	uint32_t len;
	int fds[MAX_WATCHED];
	int p[2], status;
	pid_t pid;

	if (!get_args(env, info, 1, argv))
		return NULL;
	if (napi_is_array(env, argv[0], &is) != napi_ok || !is || napi_get_array_length(env, argv[0], &len) != napi_ok ||
	    len == 0 || len > MAX_WATCHED) {
		throw_type(env, "watchRunner", "pidfds", "an array of 1..32 pidfds");
		return NULL;
	}
	for (uint32_t i = 0; i < len; i++) {
		if (napi_get_element(env, argv[0], i, &v) != napi_ok || !get_fd(env, v, "watchRunner", "pidfds", &fds[i]))
			return NULL;
		for (uint32_t j = 0; j < i; j++) {
			if (fds[j] == fds[i]) {
				throw_type(env, "watchRunner", "pidfds", "distinct fds");
				return NULL;
			}
		}
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		throw_errno(env, errno, "pipe2", NULL);
		return NULL;
	}
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		if (fork() == 0)
			watcher(p[0], fds, (int)len);
		_exit(0);
	}
	close(p[0]);
	if (pid < 0) {
		int err = errno;

		close(p[1]);
		throw_errno(env, err, "fork", "the do watcher");
		return NULL;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	napi_create_int32(env, p[1], &out);
	return out;
}

bool moat_register_runner_watch(napi_env env, napi_value exports)
{
	static const struct napi_export fns[] = {
		{ "watchRunner", watch_runner_js },
	};

	return export_functions(env, exports, fns, sizeof(fns) / sizeof(fns[0]));
}
