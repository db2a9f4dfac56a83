/* AF_UNIX sockets: socket/socketpair flags and errors, stream/dgram/seqpacket boundaries, bind on
 * a path (a socket inode stat shows) and abstract names, listen/accept (backlog, non-blocking,
 * poll readiness), an echo server across fork, shutdown/EOF, EPIPE and SIGPIPE, SCM_RIGHTS (a pipe
 * passed between processes, MSG_CTRUNC, MSG_CMSG_CLOEXEC), SCM_CREDENTIALS and SO_PEERCRED,
 * MSG_PEEK/DONTWAIT/WAITALL/TRUNC, sendmmsg/recvmmsg, socket options, FIONREAD/SIOCOUTQ,
 * signals during a blocking recv (EINTR, SA_RESTART), SO_RCVTIMEO, and a 1 MiB transfer. */
#include "common.h"
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

static char dir[64];

static socklen_t path_addr(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "moat-sockets-%d-%s", getpid(), name);
	return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a->sun_path + 1);
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static int reap(pid_t pid)
{
	int st = -1;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
	return st;
}

static int send_fds(int s, const int *fds, int n, const char *byte)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = { (void *)byte, 1 };
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	return sendmsg(s, &m, 0);
}

/* Receives one byte and up to 8 fds into fds; returns the fd count, -1 on error; *flags gets msg_flags. */
static int recv_fds(int s, int *fds, size_t room, int rflags, int *flags)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	char b;
	struct iovec iov = { &b, 1 };
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = room;
	if (recvmsg(s, &m, rflags) < 0) return -1;
	*flags = m.msg_flags;
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds + n, CMSG_DATA(c), sizeof(int) * k);
			n += k;
		}
	}
	return n;
}

static void errors_and_flags(void)
{
	FAILS("socket bad family", socket(1234, SOCK_STREAM, 0), EAFNOSUPPORT);
	FAILS("socket AF_MAX", socket(46, SOCK_STREAM, 0), EAFNOSUPPORT);
	FAILS("socket bad type", socket(AF_UNIX, 99, 0), EINVAL);
	FAILS("socket SOCK_RDM", socket(AF_UNIX, SOCK_RDM, 0), ESOCKTNOSUPPORT);
	FAILS("socket bad protocol", socket(AF_UNIX, SOCK_STREAM, 5), EPROTONOSUPPORT);
	FAILS("socket bad flags", socket(AF_UNIX, SOCK_STREAM | 0x100000, 0), EINVAL);
	int s = OK("socket NONBLOCK|CLOEXEC", socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	SHOW("fd flags", "%d", fcntl(s, F_GETFD));
	SHOW("fl flags nonblock rdwr", "%d %d", !!(fcntl(s, F_GETFL) & O_NONBLOCK), fcntl(s, F_GETFL) & O_ACCMODE);
	struct stat st;
	OK("fstat socket", fstat(s, &st));
	EXPECT("fstat S_IFSOCK", S_ISSOCK(st.st_mode));
	char link[64], lp[64];
	snprintf(lp, sizeof lp, "/proc/self/fd/%d", s);
	ssize_t n = readlink(lp, link, sizeof link - 1);
	link[n > 0 ? n : 0] = 0;
	EXPECT("/proc/self/fd link socket:[ino]", strncmp(link, "socket:[", 8) == 0);
	int v = -1;
	socklen_t len = sizeof v;
	getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len);
	SHOW("SO_TYPE", "%d len %d", v, (int)len);
	getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &len);
	SHOW("SO_DOMAIN", "%d", v);
	getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &len);
	SHOW("SO_PROTOCOL", "%d", v);
	getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
	SHOW("SO_ACCEPTCONN", "%d", v);
	getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &len);
	SHOW("SO_ERROR", "%d", v);
	len = 2;
	v = 0;
	getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len);
	SHOW("SO_TYPE short optlen", "%d len %d", v, (int)len);
	v = 1;
	OK("SO_REUSEADDR", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
	OK("SO_KEEPALIVE", setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v));
	FAILS("setsockopt short", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, 2), EINVAL);
	FAILS("getsockopt unknown", getsockopt(s, SOL_SOCKET, 9999, &v, &len), ENOPROTOOPT);
	FAILS("setsockopt SO_TYPE", setsockopt(s, SOL_SOCKET, SO_TYPE, &v, sizeof v), ENOPROTOOPT);
	FAILS("getsockopt SOL_TCP on unix", getsockopt(s, 6 /* SOL_TCP */, 1, &v, &len), EOPNOTSUPP);
	struct linger lg = { 1, 5 };
	OK("SO_LINGER", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
	len = sizeof lg;
	getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &len);
	SHOW("SO_LINGER value", "%d %d", lg.l_onoff, lg.l_linger);
	v = 8192;
	OK("SO_SNDBUF", setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
	len = sizeof v;
	getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &len);
	SHOW("SO_SNDBUF doubled", "%d", v);
	/* A large request is clamped at the namespace's net.core.wmem_max / rmem_max, then doubled. */
	for (int rcv = 0; rcv < 2; rcv++) {
		FILE *f = fopen(rcv ? "/proc/sys/net/core/rmem_max" : "/proc/sys/net/core/wmem_max", "r");
		long max = 0;
		if (f) {
			if (fscanf(f, "%ld", &max) != 1) max = 0;
			fclose(f);
		}
		int big = 1 << 24, got = 0;
		socklen_t glen = sizeof got;
		setsockopt(s, SOL_SOCKET, rcv ? SO_RCVBUF : SO_SNDBUF, &big, sizeof big);
		getsockopt(s, SOL_SOCKET, rcv ? SO_RCVBUF : SO_SNDBUF, &got, &glen);
		EXPECT(rcv ? "SO_RCVBUF clamped at rmem_max, doubled" : "SO_SNDBUF clamped at wmem_max, doubled",
		       max > 0 && got == 2 * (max < big ? max : big));
	}
	v = 1;
	OK("SO_RCVBUF", setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
	getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, &len);
	SHOW("SO_RCVBUF minimum", "%d", v);
	struct timeval tv = { 0, 2000000 };
	FAILS("SO_RCVTIMEO bad usec", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), EDOM);
	struct ucred uc;
	len = sizeof uc;
	OK("SO_PEERCRED unconnected", getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &len));
	SHOW("SO_PEERCRED unconnected value", "%d %d %d", uc.pid, uc.uid, uc.gid);
	struct sockaddr_un a;
	len = sizeof a;
	OK("getsockname unbound", getsockname(s, (struct sockaddr *)&a, &len));
	SHOW("getsockname unbound len", "%d family %d", (int)len, a.sun_family);
	len = sizeof a;
	FAILS("getpeername unconnected", getpeername(s, (struct sockaddr *)&a, &len), ENOTCONN);
	FAILS("accept not listening", accept(s, NULL, NULL), EINVAL);
	FAILS("listen unbound", listen(s, 1), EINVAL);
	FAILS("write unconnected", write(s, "x", 1), ENOTCONN);
	char b;
	FAILS("read unconnected", read(s, &b, 1), EINVAL);
	struct pollfd pf = { s, POLLIN | POLLOUT | POLLRDHUP, 0 };
	poll(&pf, 1, 0);
	SHOW("poll unconnected stream", "0x%x", pf.revents);
	FAILS("shutdown bad how", shutdown(s, 7), EINVAL);
	FAILS("connect bad family", connect(s, (struct sockaddr *)&(struct sockaddr_un){ .sun_family = AF_INET }, sizeof a), EINVAL);
	FAILS("connect addrlen 200", connect(s, (struct sockaddr *)&a, 200), EINVAL);
	FAILS("connect addrlen 1", connect(s, (struct sockaddr *)&a, 1), EINVAL);
	FAILS("connect bad pointer", connect(s, (struct sockaddr *)8, sizeof a), EFAULT);
	FAILS("bind on a non-socket", bind(0 + 1000, (struct sockaddr *)&a, sizeof a), EBADF);
	int pp[2];
	pipe(pp);
	FAILS("bind on a pipe", bind(pp[0], (struct sockaddr *)&a, sizeof a), ENOTSOCK);
	close(pp[0]);
	close(pp[1]);
	close(s);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	FAILS("listen dgram", listen(s, 1), EOPNOTSUPP);
	FAILS("accept dgram", accept(s, NULL, NULL), EOPNOTSUPP);
	FAILS("send unconnected dgram", send(s, "x", 1, 0), ENOTCONN);
	close(s);
	s = socket(AF_UNIX, SOCK_RAW, 0);
	getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len);
	SHOW("SOCK_RAW becomes", "%d", v);
	close(s);
	int sv[2];
	FAILS("socketpair bad family", socketpair(AF_INET6 + 100, SOCK_STREAM, 0, sv), EAFNOSUPPORT);
	FAILS("socketpair bad pointer", syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, 8L), EFAULT);
}

static int sigpipes;
static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void stream_pair(void)
{
	int sv[2];
	char buf[64];
	OK("socketpair stream", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	struct pollfd pf = { sv[0], POLLIN | POLLOUT | POLLRDHUP, 0 };
	poll(&pf, 1, 0);
	SHOW("poll fresh pair", "0x%x", pf.revents);
	write(sv[1], "ab", 2);
	write(sv[1], "cd", 2);
	int avail = -1;
	ioctl(sv[0], FIONREAD, &avail);
	SHOW("FIONREAD", "%d", avail);
	ioctl(sv[1], SIOCOUTQ, &avail);
	EXPECT("SIOCOUTQ counts what the peer has not read", avail >= 4);
	ssize_t n = recv(sv[0], buf, 3, MSG_PEEK);
	SHOW("peek", "%ld %.*s", (long)n, (int)n, buf);
	n = read(sv[0], buf, sizeof buf);
	SHOW("coalesced read", "%ld %.*s", (long)n, (int)n, buf);
	FAILS("recv empty MSG_DONTWAIT", recv(sv[0], buf, 1, MSG_DONTWAIT), EAGAIN);
	struct sockaddr_un a;
	socklen_t len = sizeof a;
	OK("getpeername pair", getpeername(sv[0], (struct sockaddr *)&a, &len));
	SHOW("getpeername pair len", "%d", (int)len);
	struct ucred uc;
	len = sizeof uc;
	getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &uc, &len);
	EXPECT("SO_PEERCRED of a pair is the creator", uc.pid == getpid() && uc.uid == geteuid() && uc.gid == getegid());
	/* MSG_WAITALL across a writer that sends in pieces */
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 4; i++) {
			msleep(20);
			write(sv[1], "wxyz" + i, 1);
		}
		_exit(0);
	}
	n = recv(sv[0], buf, 4, MSG_WAITALL);
	SHOW("MSG_WAITALL", "%ld %.*s", (long)n, (int)n, buf);
	reap(pid);
	/* shutdown(SHUT_WR): the peer reads EOF, sees POLLRDHUP; writing fails with EPIPE */
	write(sv[1], "z", 1);
	OK("shutdown SHUT_WR", shutdown(sv[1], SHUT_WR));
	pf.fd = sv[0];
	pf.events = POLLIN | POLLRDHUP;
	poll(&pf, 1, 0);
	SHOW("poll after peer SHUT_WR", "0x%x", pf.revents);
	n = read(sv[0], buf, sizeof buf);
	SHOW("read before EOF", "%ld", (long)n);
	SHOW("read at EOF", "%ld", (long)read(sv[0], buf, sizeof buf));
	signal(SIGPIPE, on_sigpipe);
	FAILS("write after SHUT_WR", write(sv[1], "x", 1), EPIPE);
	SHOW("SIGPIPE count", "%d", sigpipes);
	FAILS("send MSG_NOSIGNAL after SHUT_WR", send(sv[1], "x", 1, MSG_NOSIGNAL), EPIPE);
	SHOW("SIGPIPE count after MSG_NOSIGNAL", "%d", sigpipes);
	write(sv[0], "still", 5);
	n = read(sv[1], buf, sizeof buf);
	SHOW("other direction still open", "%ld", (long)n);
	close(sv[1]);
	pf.events = POLLIN | POLLOUT | POLLRDHUP;
	poll(&pf, 1, 0);
	SHOW("poll after peer close", "0x%x", pf.revents);
	FAILS("write after peer close", send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
	close(sv[0]);
	signal(SIGPIPE, SIG_IGN);

	/* close with unread data: the peer gets ECONNRESET */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[0], "unread", 6);
	write(sv[1], "x", 1);
	close(sv[1]);
	SHOW("read what the peer sent before closing", "%ld", (long)read(sv[0], buf, sizeof buf));
	FAILS("then ECONNRESET (it closed with unread data)", read(sv[0], buf, sizeof buf), ECONNRESET);
	SHOW("then EOF", "%ld", (long)read(sv[0], buf, sizeof buf));
	close(sv[0]);
}

static void boundaries(int type, const char *name)
{
	int sv[2], sp[2];
	char buf[64];
	char label[96];
	snprintf(label, sizeof label, "socketpair %s", name);
	OK(label, socketpair(AF_UNIX, type, 0, sv));
	send(sv[0], "a", 1, 0);
	send(sv[0], "bb", 2, 0);
	send(sv[0], "ccc", 3, 0);
	send(sv[0], "", 0, 0);
	int avail = -1;
	ioctl(sv[1], FIONREAD, &avail);
	snprintf(label, sizeof label, "%s FIONREAD (first message)", name);
	SHOW(label, "%d", avail);
	for (int i = 0; i < 4; i++) {
		ssize_t n = recv(sv[1], buf, sizeof buf, 0);
		snprintf(label, sizeof label, "%s message %d", name, i);
		SHOW(label, "%ld %.*s", (long)n, n > 0 ? (int)n : 0, buf);
	}
	send(sv[0], "0123456789", 10, 0);
	struct iovec iov = { buf, 4 };
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	ssize_t n = recvmsg(sv[1], &m, MSG_PEEK);
	snprintf(label, sizeof label, "%s peek truncated", name);
	SHOW(label, "%ld flags 0x%x", (long)n, m.msg_flags);
	n = recvmsg(sv[1], &m, MSG_TRUNC);
	snprintf(label, sizeof label, "%s MSG_TRUNC gives the real length", name);
	SHOW(label, "%ld flags 0x%x %.4s", (long)n, m.msg_flags, buf);
	snprintf(label, sizeof label, "%s rest of it is gone", name);
	FAILS(label, recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
	/* EPIPE without SIGPIPE (only streams raise it) after this end's SHUT_WR */
	int pipes_before = sigpipes;
	signal(SIGPIPE, on_sigpipe);
	socketpair(AF_UNIX, type, 0, sp);
	shutdown(sp[0], SHUT_WR);
	snprintf(label, sizeof label, "%s send after SHUT_WR", name);
	FAILS(label, send(sp[0], "x", 1, 0), EPIPE);
	close(sp[1]);
	snprintf(label, sizeof label, "%s send after the peer closed", name);
	errno = 0;
	long sr = send(sp[0], "x", 1, 0);
	SHOW(label, "%ld %s", sr, en(errno));
	snprintf(label, sizeof label, "%s no SIGPIPE", name);
	EXPECT(label, sigpipes == pipes_before);
	signal(SIGPIPE, SIG_IGN);
	close(sp[0]);
	/* sendmmsg/recvmmsg */
	struct mmsghdr mm[3];
	struct iovec iv[3];
	char rb[3][8];
	const char *msgs[3] = { "one", "three", "two" };
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 3; i++) {
		iv[i].iov_base = (void *)msgs[i];
		iv[i].iov_len = strlen(msgs[i]);
		mm[i].msg_hdr.msg_iov = &iv[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	snprintf(label, sizeof label, "%s sendmmsg", name);
	int sent = sendmmsg(sv[0], mm, 3, 0);
	SHOW(label, "%d lens %u %u %u", sent, mm[0].msg_len, mm[1].msg_len, mm[2].msg_len);
	for (int i = 0; i < 3; i++) {
		iv[i].iov_base = rb[i];
		iv[i].iov_len = sizeof rb[i];
	}
	snprintf(label, sizeof label, "%s recvmmsg", name);
	int got = recvmmsg(sv[1], mm, 3, MSG_DONTWAIT, NULL);
	SHOW(label, "%d lens %u %u %u %.3s", got, mm[0].msg_len, mm[1].msg_len, mm[2].msg_len, rb[1]);
	/* shutdown: the reader gets 0 */
	shutdown(sv[1], SHUT_RD);
	snprintf(label, sizeof label, "%s read after SHUT_RD", name);
	SHOW(label, "%ld", (long)recv(sv[1], buf, sizeof buf, 0));
	close(sv[0]);
	close(sv[1]);
}

static void scm_rights(void)
{
	int sv[2], p[2], fds[8], flags = 0;
	char buf[32];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pipe(p);
	OK("send a pipe's write end", send_fds(sv[0], &p[1], 1, "F"));
	close(p[1]);
	int n = recv_fds(sv[1], fds, sizeof(char[CMSG_SPACE(sizeof(int) * 8)]), 0, &flags);
	SHOW("fds received", "%d flags 0x%x", n, flags);
	if (n == 1) {
		write(fds[0], "via fd", 6);
		close(fds[0]);
		ssize_t r = read(p[0], buf, sizeof buf);
		SHOW("read through the passed fd", "%ld %.*s", (long)r, r > 0 ? (int)r : 0, buf);
		SHOW("then EOF (the passed end closed)", "%ld", (long)read(p[0], buf, sizeof buf));
	}
	close(p[0]);
	/* MSG_CMSG_CLOEXEC */
	pipe(p);
	send_fds(sv[0], p, 2, "G");
	n = recv_fds(sv[1], fds, sizeof(char[CMSG_SPACE(sizeof(int) * 8)]), MSG_CMSG_CLOEXEC, &flags);
	SHOW("two fds with MSG_CMSG_CLOEXEC", "%d cloexec %d %d", n, n > 0 ? fcntl(fds[0], F_GETFD) : -1, n > 1 ? fcntl(fds[1], F_GETFD) : -1);
	for (int i = 0; i < n; i++) close(fds[i]);
	/* MSG_CTRUNC: room for one of two */
	send_fds(sv[0], p, 2, "H");
	n = recv_fds(sv[1], fds, CMSG_LEN(sizeof(int)), 0, &flags);
	SHOW("room for one of two fds", "%d MSG_CTRUNC %d", n, !!(flags & MSG_CTRUNC));
	for (int i = 0; i < n; i++) close(fds[i]);
	send_fds(sv[0], p, 2, "I");
	n = recv_fds(sv[1], fds, 0, 0, &flags);
	SHOW("no room at all", "%d MSG_CTRUNC %d", n, !!(flags & MSG_CTRUNC));
	close(p[0]);
	close(p[1]);
	/* errors */
	int bad = 999;
	FAILS("SCM_RIGHTS with a bad fd", send_fds(sv[0], &bad, 1, "J"), EBADF);
	/* an fd passed from a child process to its parent */
	pid_t pid = fork();
	if (pid == 0) {
		int q[2];
		pipe(q);
		write(q[1], "from child", 10);
		close(q[1]);
		send_fds(sv[0], &q[0], 1, "K");
		_exit(0);
	}
	n = recv_fds(sv[1], fds, sizeof(char[CMSG_SPACE(sizeof(int) * 8)]), 0, &flags);
	reap(pid);
	ssize_t r = n == 1 ? read(fds[0], buf, sizeof buf) : -1;
	SHOW("a pipe from the child", "%d %ld %.*s", n, (long)r, r > 0 ? (int)r : 0, buf);
	if (n == 1) close(fds[0]);
	/* an in-flight fd is released when the message is dropped */
	pipe(p);
	send_fds(sv[0], &p[1], 1, "L");
	close(p[1]);
	close(sv[1]);
	SHOW("in-flight write end dropped with the socket: EOF", "%ld", (long)read(p[0], buf, sizeof buf));
	close(p[0]);
	close(sv[0]);
}

static void credentials(void)
{
	int sv[2], on = 1;
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	OK("SO_PASSCRED", setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
	pid_t pid = fork();
	if (pid == 0) {
		send(sv[0], "c", 1, 0);
		_exit(0);
	}
	reap(pid);
	char cbuf[CMSG_SPACE(sizeof(struct ucred))], b;
	struct iovec iov = { &b, 1 };
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof cbuf;
	OK("recvmsg with SO_PASSCRED", recvmsg(sv[1], &m, 0));
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	EXPECT("SCM_CREDENTIALS received", c && c->cmsg_type == SCM_CREDENTIALS);
	if (c) {
		struct ucred uc;
		memcpy(&uc, CMSG_DATA(c), sizeof uc);
		EXPECT("SCM_CREDENTIALS is the sender's", uc.pid == pid && uc.uid == getuid() && uc.gid == getgid());
	}
	/* explicit credentials: our own are accepted, another pid is not (unless root) */
	struct ucred mine = { getpid(), getuid(), getgid() };
	char cb2[CMSG_SPACE(sizeof mine)];
	memset(cb2, 0, sizeof cb2);
	m.msg_control = cb2;
	m.msg_controllen = sizeof cb2;
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof mine);
	memcpy(CMSG_DATA(c), &mine, sizeof mine);
	OK("send explicit SCM_CREDENTIALS", sendmsg(sv[0], &m, 0));
	m.msg_controllen = sizeof cbuf;
	m.msg_control = cbuf;
	recvmsg(sv[1], &m, 0);
	c = CMSG_FIRSTHDR(&m);
	EXPECT("explicit credentials arrive", c && ((struct ucred *)CMSG_DATA(c))->pid == getpid());
	/* a malformed control message */
	m.msg_control = cb2;
	m.msg_controllen = sizeof cb2;
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_len = 4;
	FAILS("cmsg_len below the header", sendmsg(sv[0], &m, 0), EINVAL);
	c->cmsg_len = 1000;
	FAILS("cmsg_len past the buffer", sendmsg(sv[0], &m, 0), EINVAL);
	c->cmsg_len = CMSG_LEN(sizeof mine);
	c->cmsg_type = 77;
	FAILS("unknown SOL_SOCKET cmsg", sendmsg(sv[0], &m, 0), EINVAL);
	close(sv[0]);
	close(sv[1]);
}

static void path_server(void)
{
	struct sockaddr_un a, b;
	socklen_t alen = path_addr(&a, "srv"), len;
	int l = OK("socket listener", socket(AF_UNIX, SOCK_STREAM, 0));
	int c0 = socket(AF_UNIX, SOCK_STREAM, 0);
	FAILS("connect before bind", connect(c0, (struct sockaddr *)&a, alen), ENOENT);
	OK("bind path", bind(l, (struct sockaddr *)&a, alen));
	FAILS("bind again, same path", bind(l, (struct sockaddr *)&a, alen), EADDRINUSE);
	struct sockaddr_un a2;
	socklen_t a2len = path_addr(&a2, "srv2");
	FAILS("bind again, new path", bind(l, (struct sockaddr *)&a2, a2len), EINVAL);
	FAILS("which is not left behind", access(a2.sun_path, F_OK), ENOENT);
	struct stat st;
	OK("stat bound path", stat(a.sun_path, &st));
	EXPECT("bound path is S_IFSOCK", S_ISSOCK(st.st_mode));
	SHOW("bound path mode", "0%o", st.st_mode & 0777);
	int o = socket(AF_UNIX, SOCK_STREAM, 0);
	FAILS("bind an existing path", bind(o, (struct sockaddr *)&a, alen), EADDRINUSE);
	FAILS("open a socket file", open(a.sun_path, O_RDONLY), ENXIO);
	close(o);
	len = sizeof b;
	getsockname(l, (struct sockaddr *)&b, &len);
	EXPECT("getsockname is the path", len == alen && strcmp(b.sun_path, a.sun_path) == 0);
	FAILS("connect before listen", connect(c0, (struct sockaddr *)&a, alen), ECONNREFUSED);
	close(c0);
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	FAILS("connect dgram to a stream socket", connect(d, (struct sockaddr *)&a, alen), EPROTOTYPE);
	close(d);
	OK("listen", listen(l, 5));
	int v;
	len = sizeof v;
	getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
	SHOW("SO_ACCEPTCONN listening", "%d", v);
	int pr;
	fcntl(l, F_SETFL, O_NONBLOCK);
	FAILS("accept non-blocking, nobody waiting", accept(l, NULL, NULL), EAGAIN);
	struct pollfd pf = { l, POLLIN | POLLOUT, 0 };
	pr = poll(&pf, 1, 0);
	SHOW("poll listener, nobody waiting", "%d 0x%x", pr, pf.revents);
	fcntl(l, F_SETFL, 0);
	int pfd[2];
	pipe(pfd);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&a, alen) < 0) _exit(2);
		write(pfd[1], "c", 1);
		char buf[32];
		write(c, "hello", 5);
		ssize_t n = read(c, buf, sizeof buf);
		_exit(n == 5 && memcmp(buf, "HELLO", 5) == 0 ? 0 : 3);
	}
	close(pfd[1]);
	char cc;
	read(pfd[0], &cc, 1);
	close(pfd[0]);
	pf.revents = 0;
	pr = poll(&pf, 1, 1000);
	SHOW("poll listener, a connection waiting", "%d 0x%x", pr, pf.revents);
	len = sizeof b;
	memset(&b, 0x55, sizeof b);
	int s = OK("accept4 SOCK_CLOEXEC", accept4(l, (struct sockaddr *)&b, &len, SOCK_CLOEXEC));
	SHOW("accepted peer address len", "%d", (int)len);
	SHOW("accepted fd flags", "%d", fcntl(s, F_GETFD));
	len = sizeof b;
	getsockname(s, (struct sockaddr *)&b, &len);
	EXPECT("accepted socket's name is the listener's", strcmp(b.sun_path, a.sun_path) == 0);
	struct ucred uc;
	len = sizeof uc;
	getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &len);
	EXPECT("SO_PEERCRED is the connecting child", uc.pid == pid && uc.uid == geteuid() && (int)len == (int)sizeof uc);
	char buf[32];
	ssize_t n = read(s, buf, sizeof buf);
	for (ssize_t i = 0; i < n; i++) buf[i] -= 32;
	write(s, buf, n > 0 ? n : 0);
	SHOW("echo child exit", "%d", WEXITSTATUS(reap(pid)));
	close(s);
	/* the backlog: a listener with backlog 0 takes one connection, then non-blocking connects fail */
	OK("listen backlog 0", listen(l, 0));
	for (int i = 0; i < 3; i++) {
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		errno = 0;
		int r = connect(c, (struct sockaddr *)&a, alen);
		SHOW("connect with backlog 0", "%d %s", r, r < 0 ? en(errno) : "ok");
		if (r == 0) {
			write(c, "pending", 7);
			o = c;
		} else close(c);
	}
	/* closing the listener resets the connection it never accepted */
	close(l);
	FAILS("read on a connection the listener never accepted", read(o, buf, sizeof buf), ECONNRESET);
	close(o);
	c0 = socket(AF_UNIX, SOCK_STREAM, 0);
	FAILS("connect after the listener closed", connect(c0, (struct sockaddr *)&a, alen), ECONNREFUSED);
	OK("unlink the socket file", unlink(a.sun_path));
	FAILS("connect after unlink", connect(c0, (struct sockaddr *)&a, alen), ENOENT);
	close(c0);
	/* a regular file is not a socket */
	socklen_t flen = path_addr(&b, "file");
	close(open(b.sun_path, O_CREAT | O_WRONLY, 0600));
	c0 = socket(AF_UNIX, SOCK_STREAM, 0);
	FAILS("connect to a regular file", connect(c0, (struct sockaddr *)&b, flen), ECONNREFUSED);
	unlink(b.sun_path);
	/* permission: a socket file without write permission (as non-root only) */
	close(c0);
}

static void dgram_paths(void)
{
	struct sockaddr_un a, b, from;
	socklen_t alen = path_addr(&a, "dgram-srv"), blen = path_addr(&b, "dgram-cli"), len;
	int s = socket(AF_UNIX, SOCK_DGRAM, 0), c = socket(AF_UNIX, SOCK_DGRAM, 0);
	OK("bind dgram server", bind(s, (struct sockaddr *)&a, alen));
	FAILS("sendto nobody", sendto(c, "x", 1, 0, (struct sockaddr *)&b, blen), ENOENT);
	OK("sendto unbound client", sendto(c, "anon", 4, 0, (struct sockaddr *)&a, alen));
	char buf[32];
	len = sizeof from;
	ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
	SHOW("recvfrom unnamed sender", "%ld addrlen %d", (long)n, (int)len);
	OK("bind dgram client", bind(c, (struct sockaddr *)&b, blen));
	sendto(c, "named", 5, 0, (struct sockaddr *)&a, alen);
	len = sizeof from;
	n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
	EXPECT("recvfrom gives the sender's path", n == 5 && len == blen && strcmp(from.sun_path, b.sun_path) == 0);
	len = 4;
	memset(&from, 0, sizeof from);
	sendto(c, "short", 5, 0, (struct sockaddr *)&a, alen);
	recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
	EXPECT("a short address buffer: truncated, the full length returned", len == blen && from.sun_path[0] == '/' && from.sun_path[2] == 0);
	/* a connected dgram socket refuses others: EPERM */
	OK("connect dgram", connect(s, (struct sockaddr *)&b, blen));
	int o = socket(AF_UNIX, SOCK_DGRAM, 0);
	FAILS("send to a socket connected elsewhere", sendto(o, "x", 1, 0, (struct sockaddr *)&a, alen), EPERM);
	close(o);
	/* the receive queue is bounded: non-blocking sends stop with EAGAIN */
	int sent = 0;
	o = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_un free_a;
	socklen_t free_len = path_addr(&free_a, "dgram-q");
	int q = socket(AF_UNIX, SOCK_DGRAM, 0);
	bind(q, (struct sockaddr *)&free_a, free_len);
	while (sent < 100000 && sendto(o, "q", 1, 0, (struct sockaddr *)&free_a, free_len) == 1) sent++;
	SHOW("dgram queue full", "%s bounded %d", en(errno), sent < 100000);
	struct sockaddr_un un = { .sun_family = AF_UNSPEC };
	OK("dgram disconnect (AF_UNSPEC)", connect(s, (struct sockaddr *)&un, sizeof un));
	close(q);
	close(o);
	close(s);
	close(c);
	unlink(a.sun_path);
	unlink(b.sun_path);
	unlink(free_a.sun_path);
}

static void abstract_names(void)
{
	struct sockaddr_un a, b;
	socklen_t alen = abstract_addr(&a, "abs"), len;
	int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	OK("bind abstract", bind(l, (struct sockaddr *)&a, alen));
	int o = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	FAILS("bind the same abstract name", bind(o, (struct sockaddr *)&a, alen), EADDRINUSE);
	len = sizeof b;
	getsockname(l, (struct sockaddr *)&b, &len);
	EXPECT("getsockname abstract", len == alen && memcmp(&a, &b, alen) == 0);
	listen(l, 4);
	OK("connect abstract seqpacket", connect(o, (struct sockaddr *)&a, alen));
	int s = accept(l, NULL, NULL);
	send(o, "p1", 2, 0);
	send(o, "p22", 3, 0);
	char buf[8];
	long r1 = recv(s, buf, sizeof buf, 0);
	long r2 = recv(s, buf, sizeof buf, 0);
	SHOW("seqpacket over a connection", "%ld %ld", r1, r2);
	close(o);
	SHOW("seqpacket EOF", "%ld", (long)recv(s, buf, sizeof buf, 0));
	close(s);
	close(l);
	o = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	FAILS("abstract name freed on close", connect(o, (struct sockaddr *)&a, alen), ECONNREFUSED);
	/* autobind */
	struct sockaddr_un fam = { .sun_family = AF_UNIX };
	OK("autobind", bind(o, (struct sockaddr *)&fam, sizeof(sa_family_t)));
	len = sizeof b;
	getsockname(o, (struct sockaddr *)&b, &len);
	SHOW("autobind name", "len %d abstract %d", (int)len, b.sun_path[0] == 0);
	OK("autobind again is a no-op", bind(o, (struct sockaddr *)&fam, sizeof(sa_family_t)));
	close(o);
}

static volatile int alarms;
static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void signals_and_timeouts(void)
{
	int sv[2];
	char b;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	struct sigaction sa = { 0 };
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 0 }, { 0, 50000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	FAILS("blocking recv interrupted", recv(sv[0], &b, 1, 0), EINTR);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	pid_t pid = fork();
	if (pid == 0) {
		msleep(150);
		write(sv[1], "r", 1);
		_exit(0);
	}
	setitimer(ITIMER_REAL, &it, NULL);
	ssize_t n = recv(sv[0], &b, 1, 0);
	SHOW("SA_RESTART recv completes", "%ld %c alarms %d", (long)n, n == 1 ? b : '-', alarms);
	reap(pid);
	struct timeval tv = { 0, 100000 };
	OK("SO_RCVTIMEO", setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	struct timeval got;
	socklen_t len = sizeof got;
	getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &got, &len);
	SHOW("SO_RCVTIMEO value", "%ld %ld", (long)got.tv_sec, (long)got.tv_usec);
	FAILS("recv times out", recv(sv[0], &b, 1, 0), EAGAIN);
	FAILS("read times out too", read(sv[0], &b, 1), EAGAIN);
	/* epoll sees a socket become readable */
	int ep = epoll_create1(0);
	struct epoll_event ev = { EPOLLIN, { .fd = sv[0] } };
	OK("epoll_ctl a socket", epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev));
	SHOW("epoll nothing yet", "%d", epoll_wait(ep, &ev, 1, 0));
	pid = fork();
	if (pid == 0) {
		msleep(30);
		write(sv[1], "e", 1);
		_exit(0);
	}
	int ne = epoll_wait(ep, &ev, 1, 5000);
	SHOW("epoll woken by a write", "%d 0x%x", ne, ev.events);
	reap(pid);
	close(ep);
	close(sv[0]);
	close(sv[1]);
}

static void bulk(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	const size_t total = 1 << 20;
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		static unsigned char out[1 << 20];
		for (size_t i = 0; i < total; i++) out[i] = (unsigned char)(i * 7 + (i >> 12));
		size_t off = 0;
		while (off < total) {
			ssize_t w = write(sv[1], out + off, total - off);
			if (w <= 0) _exit(1);
			off += w;
		}
		_exit(0);
	}
	close(sv[1]);
	static unsigned char in[1 << 20];
	size_t got = 0;
	int reads = 0;
	while (got < total) {
		ssize_t r = read(sv[0], in + got, total - got);
		if (r <= 0) break;
		got += r;
		reads++;
	}
	int ok = got == total;
	for (size_t i = 0; ok && i < total; i++) ok = in[i] == (unsigned char)(i * 7 + (i >> 12));
	EXPECT("1 MiB through a stream socket, intact", ok);
	/* How many reads it took is not checked: while the reader copies, Linux goes on to the skbs
	 * the writer keeps appending, so one read can return all of it. "filled a bounded buffer"
	 * below is what shows the bound. */
	(void)reads;
	SHOW("writer exit", "%d", WEXITSTATUS(reap(pid)));
	SHOW("EOF after", "%ld", (long)read(sv[0], in, 1));
	close(sv[0]);
	/* a non-blocking writer fills the buffer and gets EAGAIN; poll says not writable */
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	size_t filled = 0;
	char chunk[4096];
	memset(chunk, 'f', sizeof chunk);
	for (;;) {
		ssize_t w = write(sv[0], chunk, sizeof chunk);
		if (w < 0) break;
		filled += w;
	}
	SHOW("fill ends with", "%s", en(errno));
	EXPECT("filled a bounded buffer", filled > 0 && filled < (8u << 20));
	struct pollfd pf = { sv[0], POLLOUT, 0 };
	SHOW("poll full socket for POLLOUT", "%d", poll(&pf, 1, 0));
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof dir, "/tmp/moat-sockets-XXXXXX");
	if (!mkdtemp(dir)) {
		out("mkdtemp failed\n");
		return 1;
	}
	errors_and_flags();
	stream_pair();
	boundaries(SOCK_DGRAM, "dgram");
	boundaries(SOCK_SEQPACKET, "seqpacket");
	scm_rights();
	credentials();
	path_server();
	dgram_paths();
	abstract_names();
	signals_and_timeouts();
	bulk();
	rmdir(dir);
	return finish();
}
