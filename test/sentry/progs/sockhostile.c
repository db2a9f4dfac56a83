/* Hostile arguments to the socket calls, each answered as Linux answers it: bad and unmapped
 * pointers (addresses, lengths, iovecs, control buffers, mmsghdr vectors, timeouts), buffers that
 * run into an unmapped page (a datagram is sent whole or not at all, a stream up to the fault),
 * negative and huge lengths, too many iovecs or fds, unknown flags and families, SIGPIPE. */
#include "common.h"
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

static volatile int pipes;
static void on_pipe(int s)
{
	(void)s;
	pipes++;
}

/* A loopback socket pair of `type` (connected UDP, or TCP through a listener). */
static void inet_pair(int type, int fds[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int l = socket(AF_INET, type, 0);
	bind(l, (struct sockaddr *)&a, sizeof a);
	getsockname(l, (struct sockaddr *)&a, &len);
	if (type == SOCK_STREAM) listen(l, 1);
	fds[1] = socket(AF_INET, type, 0);
	connect(fds[1], (struct sockaddr *)&a, sizeof a);
	if (type == SOCK_STREAM) {
		fds[0] = accept(l, NULL, NULL);
		close(l);
	} else {
		fds[0] = l;
		getsockname(fds[1], (struct sockaddr *)&a, &len);
		connect(l, (struct sockaddr *)&a, sizeof a);
	}
}

int main(void)
{
	signal(SIGPIPE, on_pipe);
	char dir[] = "/tmp/moat-sockhostile-XXXXXX";
	if (!mkdtemp(dir) || chdir(dir) < 0) return 1;
	int sv[2], u = socket(AF_INET, SOCK_DGRAM, 0), t6 = socket(AF_INET6, SOCK_STREAM, 0);
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	void *bad = (void *)8;
	/* A page followed by an unmapped one. */
	char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(page + 4096, 4096);
	char *edge = page + 4096 - 100;
	memset(page, 'p', 4096);

	FAILS("socketpair bad sv", syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, bad), EFAULT);
	FAILS("socket huge domain", socket(INT_MAX, SOCK_STREAM, 0), EAFNOSUPPORT);
	FAILS("socket negative type", socket(AF_INET, -1, 0), EINVAL);
	FAILS("bind bad addr", bind(u, bad, 16), EFAULT);
	FAILS("bind huge len", bind(u, (struct sockaddr *)page, 1 << 30), EINVAL);
	FAILS("bind negative len", syscall(SYS_bind, u, page, -1), EINVAL);
	FAILS("connect addr into unmapped", connect(u, (struct sockaddr *)(page + 4090), 16), EFAULT);
	socklen_t neg = -1;
	char buf[256];
	FAILS("getsockname negative len", getsockname(u, (struct sockaddr *)buf, &neg), EINVAL);
	FAILS("getsockname bad len ptr", syscall(SYS_getsockname, u, buf, bad), EFAULT);
	int v = 1;
	FAILS("setsockopt bad optval", setsockopt(u, SOL_SOCKET, SO_REUSEADDR, bad, 4), EFAULT);
	FAILS("setsockopt short", setsockopt(u, SOL_SOCKET, SO_REUSEADDR, &v, 2), EINVAL);
	socklen_t ol = -5;
	FAILS("getsockopt negative optlen", getsockopt(u, SOL_SOCKET, SO_TYPE, &v, &ol), EINVAL);
	FAILS("getsockopt bad optlen ptr", syscall(SYS_getsockopt, u, SOL_SOCKET, SO_TYPE, &v, bad), EFAULT);

	struct iovec iov = { buf, sizeof buf };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1025 };
	FAILS("sendmsg iovlen 1025", sendmsg(sv[0], &m, 0), EMSGSIZE);
	m.msg_iovlen = 1;
	m.msg_iov = bad;
	FAILS("sendmsg bad iov", sendmsg(sv[0], &m, 0), EFAULT);
	m.msg_iov = &iov;
	m.msg_control = buf;
	m.msg_controllen = (size_t)1 << 40;
	FAILS("sendmsg huge controllen", sendmsg(sv[0], &m, 0), ENOBUFS);
	m.msg_control = bad;
	m.msg_controllen = 64;
	FAILS("sendmsg bad control", sendmsg(sv[0], &m, 0), EFAULT);
	m.msg_control = NULL;
	m.msg_controllen = 0;
	m.msg_name = bad;
	m.msg_namelen = 16;
	FAILS("sendmsg bad name", sendmsg(sv[0], &m, 0), EFAULT);
	m.msg_name = NULL;
	m.msg_namelen = 0;
	FAILS("sendmmsg bad vector", syscall(SYS_sendmmsg, sv[0], bad, 2, 0), EFAULT);
	FAILS("recvmmsg bad vector", syscall(SYS_recvmmsg, sv[1], bad, 2, MSG_DONTWAIT, NULL), EFAULT);
	FAILS("recvmmsg bad timeout", syscall(SYS_recvmmsg, sv[1], buf, 1, 0, bad), EFAULT);

	/* Buffers running into the unmapped page. */
	iov.iov_base = edge;
	iov.iov_len = 200;
	FAILS("unix dgram send into unmapped", sendmsg(sv[0], &m, 0), EFAULT);
	FAILS("nothing was queued", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
	int ud[2], tc[2];
	inet_pair(SOCK_DGRAM, ud);
	FAILS("udp send into unmapped", sendmsg(ud[1], &m, 0), EFAULT);
	FAILS("udp nothing was sent", recv(ud[0], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
	inet_pair(SOCK_STREAM, tc);
	/* Linux copies a stream's bytes a chunk at a time and gives up at the chunk that faults (here
	 * the first: EFAULT); what is sent is never past the fault, and is what the peer gets. */
	errno = 0;
	long sent = sendmsg(tc[1], &m, 0);
	EXPECT("tcp send stops at the fault", (sent == -1 && errno == EFAULT) || (sent > 0 && sent <= 100));
	usleep(50000);
	long got = recv(tc[0], buf, sizeof buf, MSG_DONTWAIT);
	EXPECT("tcp peer gets what was sent", sent > 0 ? got == sent && buf[0] == 'p' : got == -1 && errno == EAGAIN);
	/* Receiving a datagram into a buffer that runs into the unmapped page. */
	send(sv[0], page, 200, 0);
	FAILS("unix dgram recv into unmapped", recvmsg(sv[1], &m, 0), EFAULT);
	SHOW("the datagram after", "%ld", (long)recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
	send(ud[1], page, 200, 0);
	usleep(20000);
	FAILS("udp recv into unmapped", recvmsg(ud[0], &m, 0), EFAULT);
	SHOW("the datagram after", "%ld", (long)recv(ud[0], buf, sizeof buf, MSG_DONTWAIT));
	iov.iov_base = buf;
	iov.iov_len = sizeof buf;

	FAILS("accept4 bad flags", accept4(t6, NULL, NULL, 0x1234), EINVAL);
	FAILS("accept4 on a socket not listening", accept4(t6, NULL, NULL, SOCK_NONBLOCK), EINVAL);
	FAILS("shutdown bad how", shutdown(sv[0], 7), EINVAL);
	FAILS("sendto tcp unconnected", sendto(t6, "x", 1, 0, NULL, 0), EPIPE);
	SHOW("sigpipes", "%d", pipes);
	FAILS("sendto tcp unconnected nosignal", sendto(t6, "x", 1, MSG_NOSIGNAL, NULL, 0), EPIPE);
	SHOW("sigpipes", "%d", pipes);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	memset(un.sun_path, 'a', sizeof un.sun_path);
	int us = socket(AF_UNIX, SOCK_STREAM, 0);
	FAILS("unix bind too long", bind(us, (struct sockaddr *)&un, sizeof un + 1), EINVAL);
	OK("unix bind a full unterminated path", bind(us, (struct sockaddr *)&un, sizeof un));
	char name[sizeof un.sun_path + 1];
	memcpy(name, un.sun_path, sizeof un.sun_path);
	name[sizeof un.sun_path] = 0;
	OK("its file is there", unlink(name));
	int fds[300];
	for (int i = 0; i < 300; i++) fds[i] = sv[0];
	char cb[CMSG_SPACE(sizeof fds)];
	m.msg_control = cb;
	m.msg_controllen = CMSG_LEN(sizeof fds);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fds);
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	FAILS("SCM_RIGHTS 300 fds", sendmsg(sv[0], &m, 0), EINVAL);
	rmdir(dir);
	return finish();
}
