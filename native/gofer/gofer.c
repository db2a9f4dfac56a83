/*
 * moat-gofer: serves the container's trees to the sentry, fd-relative and read-only but for -w
 * trees, so the application's path strings never reach a host path syscall (gVisor's gofer;
 * docs/sentry-gofer.md).
 *
 *   moat-gofer N [MAX_HANDLES] [-f TREE NAME]... [-w TREE]...
 *     fd 3            connected AF_UNIX SOCK_SEQPACKET socket to the sentry
 *     fd 4 .. 4+N-1   O_PATH|O_DIRECTORY fds of the trees (0 = the rootfs, then bind sources)
 *     MAX_HANDLES     size of the handle table, 1..65536 (default 65536)
 *     -f TREE NAME    tree TREE is the one regular file NAME in its directory (a single-file bind
 *                     mount): ATTACH gives that file, and nothing else of the directory is reachable
 *     -w TREE         tree TREE is served read-write (a writable bind mount); the others read-only
 *
 * One request per message, one reply per message, strictly in turn. Exits 0 when the sentry's end
 * closes; 1 with a message on stderr if it cannot set itself up. The sentry is untrusted too: it
 * faces the application, so every request is checked as if the application wrote it.
 */
#include "fdpass.h"
#include "gofer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define USAGE "usage: moat-gofer N [MAX_HANDLES] [-f TREE NAME]... [-w TREE]..."

static uint8_t req[MAX_REQ];
static uint8_t rep[MAX_REP];

static unsigned long parse_num(const char *s, unsigned long min, unsigned long max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		die(what, EINVAL);
	return v;
}

/* The fds we were handed must be what the contract says, before anything trusts them. */
static void check_fds(unsigned ntrees)
{
	int type = 0;
	socklen_t len = sizeof(type);
	struct stat st;

	if (getsockopt(SOCK_FD, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET)
		die("fd 3 is not a SOCK_SEQPACKET socket", errno ? errno : EINVAL);
	for (unsigned i = 0; i < ntrees; i++) {
		int fd = FIRST_TREE_FD + (int)i;

		if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
			die("a tree fd is not a directory", errno ? errno : ENOTDIR);
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			die("F_SETFD", errno);
	}
}

static void reply(size_t len, int fd)
{
	ssize_t n = fdpass_send(SOCK_FD, rep, len, &fd, fd >= 0 ? 1 : 0, 0);

	if (fd >= 0)
		close(fd);
	if (n < 0)
		_exit(0); /* the sentry is gone (_exit: nothing to flush, no stdio after seccomp) */
}

static void serve(void)
{
	for (;;) {
		struct iovec iov = { req, sizeof(req) };
		/* No control buffer: fds the sentry might send are never installed (MSG_CTRUNC). */
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(SOCK_FD, &msg, 0);
		size_t len;
		int fd;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0); /* EOF (or the socket broke): the sentry is done with us */
		len = dispatch(req, (size_t)n, msg.msg_flags, rep, &fd);
		reply(len, fd);
	}
}

int main(int argc, char **argv)
{
	unsigned ntrees;
	uint32_t max_handles = MAX_HANDLES;
	static const char *files[MAX_TREES];
	static bool rw[MAX_TREES];
	bool writable = false;
	int i = 2;

	if (argc < 2)
		die(USAGE, EINVAL);
	ntrees = (unsigned)parse_num(argv[1], 1, MAX_TREES, "N (number of trees)");
	if (i < argc && argv[i][0] != '-')
		max_handles = (uint32_t)parse_num(argv[i++], 1, MAX_HANDLES, "MAX_HANDLES");
	while (i < argc) {
		unsigned tree;

		if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) {
			tree = (unsigned)parse_num(argv[i + 1], 0, ntrees - 1, "-w TREE");
			rw[tree] = writable = true;
			i += 2;
			continue;
		}
		if (strcmp(argv[i], "-f") != 0 || i + 2 >= argc)
			die(USAGE, EINVAL);
		tree = (unsigned)parse_num(argv[i + 1], 0, ntrees - 1, "-f TREE");
		if (files[tree] || ops_check_name(argv[i + 2]))
			die("-f NAME (one plain component, once per tree)", EINVAL);
		files[tree] = argv[i + 2];
		i += 3;
	}
	check_fds(ntrees);
	confine(ntrees, &max_handles, rw);
	handles_init(max_handles);
	ops_init(ntrees, files, rw);
	install_seccomp(writable);
	/* Nothing is written after this point; the slots go to handles. */
	close(0);
	close(1);
	close(2);
	serve();
	return 0;
}
