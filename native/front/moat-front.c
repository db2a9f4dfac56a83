/*
 * moat's native front-end (docs/cli-speed.md, "The resident service"). bin/moat execs it as
 *
 *   moat-front BUILD/moat.js ARGS...
 *
 * With no service listening (the default), it execs `node BUILD/moat.js ARGS...` at once: moat
 * stays daemonless. When `moat service` listens on its socket and runs as our own uid, the command
 * is handed to it: argv, environment and cwd go over the socket; the service answers with frames:
 *
 *   'N'                      not mine: exec Node as above (sent before the service did anything)
 *   'O' u8 fd, bytes         write these bytes to our fd 1 or 2 (the command's output)
 *   'S' spawn (fds attached) fork+exec the executor here, so that it and the container's init
 *                            are our descendants (a subreaper above us gets the init, as with
 *                            runc create); answered with 'P' pid (or -errno)
 *   'X' i32                  exit with this status
 *
 * and it sends 'W' (the executor's exit status, once reaped) and, while a `run` waits, 'G' for
 * each of SIGINT SIGTERM SIGHUP SIGQUIT SIGUSR1 SIGUSR2 it receives (moat's run forwards these).
 * A frame is u32 length (little-endian, of type + payload), u8 type, payload. src/service/wire.ts
 * is the other side.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"

#define MAX_FRAME (16u << 20)
#define MAX_REQUEST (1u << 20)
#define MAX_COUNT 4096
#define SOCK_FD_MIN 200

extern char **environ;

static const char *js_path;
static char **user_args;
static int user_argc;

static __attribute__((noreturn)) void run_node(void)
{
	char **av = calloc((size_t)user_argc + 3, sizeof(char *));

	if (!av) {
		perror("moat");
		_exit(1);
	}
	av[0] = "node";
	av[1] = (char *)js_path;
	for (int i = 0; i < user_argc; i++)
		av[2 + i] = user_args[i];
	signal(SIGPIPE, SIG_DFL);
	execvp("node", av);
	fprintf(stderr, "moat: cannot run node: %s\n", strerror(errno));
	_exit(127);
}

static const char *socket_path(char *buf, size_t len)
{
	const char *p = getenv("MOAT_SERVICE_SOCKET");
	const char *xdg;

	if (p)
		return *p ? p : NULL;
	if (geteuid() == 0)
		return "/run/moat-service/service.sock";
	xdg = getenv("XDG_RUNTIME_DIR");
	if (!xdg || xdg[0] != '/')
		return NULL;
	if ((size_t)snprintf(buf, len, "%s/moat-service/service.sock", xdg) >= len)
		return NULL;
	return buf;
}

/* A connected socket to a service of our own uid, or -1 (then Node runs the command). */
static int connect_service(void)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = socket_path(buf, sizeof buf);
	struct ucred cred;
	socklen_t clen = sizeof cred;
	int s, high;

	if (!path || strlen(path) >= sizeof sa.sun_path || getenv("MOAT_NO_SERVICE"))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.uid != geteuid()) {
		close(s);
		return -1;
	}
	/* Out of the way of the fds 3.. that --preserve-fds hands to a container. */
	high = fcntl(s, F_DUPFD_CLOEXEC, SOCK_FD_MIN);
	if (high >= 0) {
		close(s);
		s = high;
	}
	return s;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };

			poll(&pf, 1, -1);
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_frame(int s, char type, const void *payload, size_t len)
{
	unsigned char head[5];
	uint32_t l = (uint32_t)len + 1;

	memcpy(head, &l, 4);
	head[4] = (unsigned char)type;
	if (fdpass_send(s, head, 5, NULL, 0, 0) != 5)
		return -1;
	while (len > 0) {
		ssize_t n = fdpass_send(s, payload, len, NULL, 0, 0);

		if (n <= 0)
			return -1;
		payload = (const char *)payload + n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_int(int s, char type, int32_t v)
{
	return send_frame(s, type, &v, 4);
}

/* The request: u32 argc, u32 envc, cwd, argv..., env... (each NUL-terminated). */
static int send_request(int s)
{
	char cwd[PATH_MAX];
	size_t len = 8, off, envc = 0;
	uint32_t c;
	char *buf;
	int r;

	if (!getcwd(cwd, sizeof cwd))
		return -1; /* a deleted cwd: Node says what it says about it */
	len += strlen(cwd) + 1;
	for (int i = 0; i < user_argc; i++)
		len += strlen(user_args[i]) + 1;
	for (char **e = environ; *e; e++, envc++)
		len += strlen(*e) + 1;
	/* What the service would refuse (src/service/wire.ts): Node runs it instead. */
	if (len > MAX_REQUEST || user_argc > MAX_COUNT || envc > MAX_COUNT)
		return -1;
	buf = malloc(len);
	if (!buf)
		return -1;
	c = (uint32_t)user_argc;
	memcpy(buf, &c, 4);
	c = (uint32_t)envc;
	memcpy(buf + 4, &c, 4);
	off = 8;
#define PUT(str) do { size_t l_ = strlen(str) + 1; memcpy(buf + off, (str), l_); off += l_; } while (0)
	PUT(cwd);
	for (int i = 0; i < user_argc; i++)
		PUT(user_args[i]);
	for (char **e = environ; *e; e++)
		PUT(*e);
#undef PUT
	r = send_frame(s, 'R', buf, len);
	free(buf);
	return r;
}

/* Received fds waiting for the frame they came with. */
static int pending[FDPASS_MAX * 4];
static size_t npending;

static int fill(int s, unsigned char *buf, size_t want, size_t *have)
{
	while (*have < want) {
		int fds[FDPASS_MAX];
		size_t nfds = 0;
		ssize_t n = fdpass_recv(s, buf + *have, want - *have, fds, FDPASS_MAX, &nfds, 0);

		for (size_t i = 0; i < nfds; i++) {
			if (npending < sizeof pending / sizeof pending[0])
				pending[npending++] = fds[i];
			else
				close(fds[i]);
		}
		if (n <= 0)
			return -1;
		*have += (size_t)n;
	}
	return 0;
}

static __attribute__((noreturn)) void service_gone(const char *what)
{
	fprintf(stderr, "moat: the moat service %s before answering (did it stop or crash?): the command's outcome is unknown; `moat state`/`moat list` tell what happened, or stop the service to run moat without it\n", what);
	exit(125);
}

static pid_t child = -1;
static int child_run_mode;

static void restore_signals(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
	signal(SIGPIPE, SIG_DFL);
}

/*
 * 'S': u32 preserveFds, u8 run mode, u32 argc, then argc strings (argv[0] is the executor's path).
 * fds attached: the plan pipe, the report pipe and, if the service sent one, the console socket,
 * placed at 3+N, 4+N, 5+N as src/native/launcher.ts lays them out. Its own session (setsid).
 */
static int32_t spawn_executor(const unsigned char *p, size_t len, const sigset_t *oldmask)
{
	uint32_t preserve, argc;
	char *argv[64];
	size_t off = 9, nfds = npending;
	int fds[FDPASS_MAX * 4], errpipe[2], err = 0;
	unsigned char run;
	ssize_t n;

	memcpy(fds, pending, sizeof(int) * npending);
	npending = 0;
	if (len < 9 || child > 0)
		goto bad;
	memcpy(&preserve, p, 4);
	run = p[4];
	memcpy(&argc, p + 5, 4);
	if (argc == 0 || argc >= 64 || preserve > 1024 || nfds < 2 || nfds > 3)
		goto bad;
	for (uint32_t i = 0; i < argc; i++) {
		const unsigned char *end = memchr(p + off, 0, len - off);

		if (!end)
			goto bad;
		argv[i] = (char *)(p + off);
		off = (size_t)(end - p) + 1;
	}
	argv[argc] = NULL;
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		goto fail;
	child = fork();
	if (child == 0) {
		int base = 3 + (int)preserve, high[3];

		restore_signals(oldmask);
		if (setsid() < 0)
			goto child_fail;
		for (size_t i = 0; i < nfds; i++) {
			high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, base + 3 > errpipe[1] + 1 ? base + 3 : errpipe[1] + 1);
			if (high[i] < 0)
				goto child_fail;
		}
		for (size_t i = 0; i < nfds; i++)
			if (dup2(high[i], base + (int)i) < 0)
				goto child_fail;
		/* Nothing else of ours goes through the exec (the caller's own fds above the range neither). */
		syscall(SYS_close_range, (unsigned)(base + (int)nfds), ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
		execv(argv[0], argv);
child_fail:
		err = errno;
		if (write(errpipe[1], &err, sizeof err) < 0)
			_exit(126);
		_exit(126);
	}
	if (child < 0) {
		err = errno;
		close(errpipe[0]);
		close(errpipe[1]);
		goto out;
	}
	close(errpipe[1]);
	do
		n = read(errpipe[0], &err, sizeof err);
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n != sizeof err)
		err = 0;
	else {
		waitpid(child, NULL, 0);
		child = -1;
	}
	child_run_mode = run;
	goto out;
bad:
	err = EINVAL;
	goto out;
fail:
	err = errno;
out:
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	return err ? -err : (int32_t)child;
}

static int frame_loop(int s, const sigset_t *oldmask, int sigfd)
{
	unsigned char head[5];
	size_t have = 0;
	unsigned char *body = NULL;
	size_t body_have = 0;
	uint32_t len = 0;

	for (;;) {
		struct pollfd pf[2] = { { .fd = s, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sigfd, &si, sizeof si) == sizeof si) {
				if (si.ssi_signo == SIGCHLD) {
					int st;

					if (child > 0 && waitpid(child, &st, WNOHANG) == child) {
						int32_t code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);

						child = -1;
						if (send_int(s, 'W', code) < 0)
							service_gone("closed the connection");
					}
				} else if (child > 0 && child_run_mode) {
					send_int(s, 'G', (int32_t)si.ssi_signo);
				} else {
					/* Not waiting on a container: the signal does what it does to moat's Node. */
					restore_signals(oldmask);
					signal((int)si.ssi_signo, SIG_DFL);
					raise((int)si.ssi_signo);
				}
			}
		}
		if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		/* One step of reading a frame; a frame can span several wake-ups. */
		if (have < 5) {
			int fds[FDPASS_MAX];
			size_t nfds = 0;
			ssize_t n = fdpass_recv(s, head + have, 5 - have, fds, FDPASS_MAX, &nfds, MSG_DONTWAIT);

			for (size_t i = 0; i < nfds; i++) {
				if (npending < sizeof pending / sizeof pending[0])
					pending[npending++] = fds[i];
				else
					close(fds[i]);
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0)
				service_gone("closed the connection");
			have += (size_t)n;
			if (have < 5)
				continue;
			memcpy(&len, head, 4);
			if (len < 1 || len > MAX_FRAME)
				service_gone("sent a malformed answer");
			body = malloc(len);
			if (!body)
				return -1;
			body_have = 1;
			body[0] = head[4];
		}
		if (body_have < len && fill(s, body, len, &body_have) < 0)
			service_gone("closed the connection");
		switch (body[0]) {
		case 'N':
			if (child > 0)
				service_gone("declined after it had started the command");
			return 1;
		case 'O':
			if (len >= 2 && (body[1] == 1 || body[1] == 2))
				write_all(body[1], body + 2, len - 2);
			break;
		case 'S':
			if (send_int(s, 'P', spawn_executor(body + 1, len - 1, oldmask)) < 0)
				service_gone("closed the connection");
			break;
		case 'X': {
			int32_t code = 1;

			if (len >= 5)
				memcpy(&code, body + 1, 4);
			/* A `run` answers once the executor has been reaped; nothing of ours is left. */
			exit(code & 0xff);
		}
		default:
			service_gone("sent a malformed answer");
		}
		free(body);
		body = NULL;
		have = 0;
	}
}

int main(int argc, char **argv)
{
	sigset_t mask, old;
	int s, sigfd;

	if (argc < 2) {
		fprintf(stderr, "usage: moat-front BUILD/moat.js ARGS...\n");
		return 2;
	}
	js_path = argv[1];
	user_args = argv + 2;
	user_argc = argc - 2;
	s = connect_service();
	if (s < 0)
		run_node();
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	if (sigfd < 0 || send_request(s) < 0) {
		/* Nothing sent: nothing done; Node runs it. */
		close(s);
		sigprocmask(SIG_SETMASK, &old, NULL);
		run_node();
	}
	if (frame_loop(s, &old, sigfd) == 1) {
		close(s);
		close(sigfd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		run_node();
	}
	service_gone("failed");
}
