/*
 * A socket fuzzer for the sentry's AF_INET/AF_INET6/AF_NETLINK families: each round a child opens
 * non-blocking TCP, UDP (v4 and v6) and NETLINK_ROUTE sockets and a connected loopback pair, then
 * makes 300 random socket calls (socket, bind, connect, listen, accept4, send/recv families,
 * sendmmsg/recvmmsg, get/setsockopt, shutdown, getsockname/peername, ioctl, epoll with EPOLLET)
 * with random sockaddrs (families, lengths 0-130, ports), random option levels/names/lengths, random netlink
 * messages (every type, garbage attributes) and random flags. Addresses are loopback, unspecified
 * or unroutable in the sandbox's fresh namespace, so nothing leaves it. Must hold: the sentry
 * survives every round, the run ends, and no host socket of a finished round is left open.
 *   netfuzz ROUNDS SEED
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long long rnd(void) { return ((unsigned long long)random() << 33) ^ ((unsigned long long)random() << 11) ^ random(); }
static unsigned char buf[65536];
static int fds[16], nfds;

static int fd(void) { return random() % 8 == 0 ? (int)(random() % 40) - 2 : fds[random() % nfds]; }

/* A sockaddr of a random family and length in buf+off; returns its length. */
static int addr(unsigned off)
{
	unsigned char *a = buf + off;
	int len = random() % 4 ? (int[]){ 16, 28, 12, 24, 2, 0 }[random() % 6] : (int)(random() % 131);
	for (int i = 0; i < 128; i++) a[i] = random();
	unsigned short fam = (unsigned short[]){ AF_INET, AF_INET6, AF_NETLINK, AF_UNSPEC, AF_INET, AF_INET6, 0xffff, 17 }[random() % 8];
	memcpy(a, &fam, 2);
	unsigned short port = htons(random() % 3 ? 40000 + random() % 40 : random());
	memcpy(a + 2, &port, 2);
	if (fam == AF_INET || fam == AF_UNSPEC) {
		unsigned ip = (unsigned[]){ htonl(0x7f000001), 0, htonl(0x7f000000 | (random() & 0xffffff)), htonl(0x0affff00 | (random() & 0xff)), 0xffffffff }[random() % 5];
		memcpy(a + 4, &ip, 4);
	} else if (fam == AF_INET6) {
		struct in6_addr six = random() % 2 ? in6addr_loopback : in6addr_any;
		if (random() % 4 == 0) { six.s6_addr[10] = 0xff; six.s6_addr[11] = 0xff; six.s6_addr[12] = 127; six.s6_addr[15] = 1; }
		memcpy(a + 8, &six, 16);
	} else if (fam == AF_NETLINK) {
		unsigned pid = random() % 3 ? 0 : rnd();
		memcpy(a + 4, &pid, 4);
	}
	return len;
}

/* A netlink message (or several) of random types, flags and attributes at buf+off; returns its length. */
static int nlmsg(unsigned off)
{
	unsigned total = 0;
	int n = 1 + random() % 3;
	for (int m = 0; m < n; m++) {
		struct nlmsghdr *h = (struct nlmsghdr *)(buf + off + total);
		unsigned body = random() % 64;
		for (unsigned i = 0; i < body; i++) ((unsigned char *)NLMSG_DATA(h))[i] = random();
		h->nlmsg_len = random() % 8 ? NLMSG_LENGTH(body) : random() % 200;
		h->nlmsg_type = random() % 4 ? (unsigned short[]){ RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_NEWLINK, RTM_DELADDR, RTM_SETLINK, RTM_NEWROUTE, NLMSG_DONE }[random() % 8] : random();
		h->nlmsg_flags = random() % 2 ? NLM_F_REQUEST | NLM_F_DUMP : random();
		h->nlmsg_seq = random();
		h->nlmsg_pid = random() % 2 ? 0 : random();
		total += NLMSG_ALIGN(NLMSG_LENGTH(body));
		if (total > 2000) break;
	}
	return total;
}

static unsigned long arg(void)
{
	switch (random() % 6) {
	case 0: return 0;
	case 1: return random() % 64;
	case 2: return (unsigned long)buf + 8192 + (random() % 4096);
	case 3: return rnd();
	case 4: return (unsigned long)-1;
	default: return (unsigned long)(long)(int)rnd();
	}
}

static void call(void)
{
	int s = fd(), flags = random() % 2 ? MSG_DONTWAIT : (int)(random() | MSG_DONTWAIT);
	int len;
	struct iovec iov[2] = { { buf + 4096, random() % 4096 }, { buf + 20000, random() % 70000 } };
	struct msghdr msg = { .msg_name = buf, .msg_namelen = random() % 140, .msg_iov = iov, .msg_iovlen = 1 + random() % 2,
			      .msg_control = random() % 3 ? NULL : buf + 30000, .msg_controllen = random() % 64 };
	socklen_t sl = random() % 140;
	switch (random() % 18) {
	case 0: syscall(SYS_socket, (int[]){ AF_INET, AF_INET6, AF_NETLINK, 45, -1 }[random() % 5], (int)(random() % 12) | SOCK_NONBLOCK, random() % 4 ? (int)(random() % 20) : (int)rnd()); break;
	case 1: len = addr(0); bind(s, (struct sockaddr *)buf, len); break;
	case 2: len = addr(0); connect(s, (struct sockaddr *)buf, len); break;
	case 3: listen(s, (int)rnd()); break;
	case 4: accept4(s, random() % 2 ? (struct sockaddr *)buf : NULL, random() % 2 ? &sl : NULL, (int)(random() & (SOCK_NONBLOCK | SOCK_CLOEXEC | 1))); break;
	case 5: len = addr(0); sendto(s, buf + 4096, random() % 9000, flags, random() % 3 ? (struct sockaddr *)buf : NULL, len); break;
	case 6: recvfrom(s, buf + 4096, random() % 9000, flags, (struct sockaddr *)buf, &sl); break;
	case 7: len = nlmsg(4096); iov[0].iov_len = random() % 8 ? (unsigned)len : random() % 3000; addr(0); sendmsg(s, &msg, flags); break;
	case 8: recvmsg(s, &msg, flags); break;
	case 9: shutdown(s, (int)(random() % 4)); break;
	case 10: getsockname(s, (struct sockaddr *)buf, &sl); break;
	case 11: getpeername(s, (struct sockaddr *)buf, random() % 8 ? &sl : (socklen_t *)arg()); break;
	case 12: {
		int level = (int[]){ SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_UDP, 270, (int)rnd() }[random() % 7];
		setsockopt(s, level, (int)(random() % 80), buf + 8192, random() % 300);
		break;
	}
	case 13: {
		int level = (int[]){ SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_UDP, 270, (int)rnd() }[random() % 7];
		getsockopt(s, level, (int)(random() % 80), buf + 8192, &sl);
		break;
	}
	case 14: syscall(SYS_ioctl, s, (unsigned long[]){ 0x541b, 0x5411, 0x8905, 0x8912, 0x8913, 0x8914, 0x8910, 0x8933, 0x8927, 0x890b, 0x8900 + (random() % 256), rnd() }[random() % 12], random() % 4 ? (unsigned long)buf + 8192 : arg()); break;
	case 15: syscall(SYS_sendmmsg, s, buf + 40000, random() % 4, flags); break;
	case 16: {
		/* epoll on host-backed sockets: random events (EPOLLET, EPOLLONESHOT, garbage bits), waits that never block. */
		static int ep = -1;
		if (ep < 0) ep = epoll_create1(0);
		struct epoll_event ev = { .events = random() % 4 ? (uint32_t)(EPOLLIN | EPOLLOUT | (random() % 2 ? EPOLLET : 0)) : (uint32_t)rnd() };
		epoll_ctl(ep, 1 + random() % 3, s, &ev);
		struct epoll_event out[8];
		epoll_wait(ep, out, 1 + random() % 8, random() % 3);
		break;
	}
	default: syscall(SYS_recvmmsg, s, buf + 40000, random() % 4, flags, NULL); break;
	}
}

static void setup(void)
{
	nfds = 0;
	fds[nfds++] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	fds[nfds++] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	fds[nfds++] = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
	fds[nfds++] = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	fds[nfds++] = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 4);
	getsockname(l, (struct sockaddr *)&a, &al);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(c, (struct sockaddr *)&a, sizeof a);
	usleep(10000);
	fds[nfds++] = l;
	fds[nfds++] = c;
	fds[nfds++] = accept4(l, NULL, NULL, SOCK_NONBLOCK);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	unsigned seed = argc > 2 ? atoi(argv[2]) : 1;
	for (int r = 0; r < rounds; r++) {
		pid_t p = fork();
		if (p == 0) {
			srandom(seed * 1000 + r);
			alarm(3);
			signal(SIGPIPE, SIG_IGN); /* a send after shutdown: keep going */
			for (unsigned k = 0; k < sizeof(buf); k++) buf[k] = random();
			setup();
			for (int i = 0; i < 300; i++) call();
			_exit(0);
		}
		int st;
		waitpid(p, &st, 0);
	}
	/* Every round's process is gone: no host socket of theirs may be left open in the sentry (a
	 * socket with an inode in /proc/net; TIME_WAIT entries have none). */
	int left = 0;
	const char *files[] = { "/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6" };
	for (unsigned i = 0; i < 4; i++) {
		FILE *f = fopen(files[i], "r");
		char line[512];
		unsigned long inode;
		while (f && fgets(line, sizeof line, f))
			if (sscanf(line, " %*d: %*s %*s %*s %*s %*s %*s %*s %*s %lu", &inode) == 1 && inode != 0) left++;
		if (f) fclose(f);
	}
	printf("host sockets left %d\n", left);
	printf("netfuzz done\n");
	return 0;
}
