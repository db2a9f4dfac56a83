/* AF_INET/AF_INET6/AF_NETLINK: TCP over 127.0.0.1 and ::1 across fork, port-0 bind and
 * getsockname, non-blocking connect with poll and SO_ERROR, ECONNREFUSED, UDP sendto/recvfrom,
 * shutdown half-close, a 4 MiB transfer, poll/epoll readiness, FIONREAD, options, getifaddrs
 * (netlink) listing lo, accept after a reset, shutdown of an unconnected UDP socket, edge-triggered epoll, an
 * epoll set of 100 sockets, IP_PKTINFO/IP_RECVTOS control messages, signals on blocking accept/recv/
 * send (EINTR, SA_RESTART, SO_RCVTIMEO), UDP sendmmsg/recvmmsg, the interface ioctls (SIOCGIFCONF …),
 * /proc/net/{tcp,tcp6,udp,udp6,dev}, AF_INET on IPv6 UDP, the error queue (IP_RECVERR), netlink
 * SO_PASSCRED and multicast memberships, SO_REUSEPORT, select on sockets. Ports are printed only as relations (the kernel picks them). */
#include "common.h"
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/errqueue.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <linux/capability.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#define BIG (4 << 20)

static socklen_t loopback(int family, struct sockaddr_storage *ss, int port)
{
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof *s;
	}
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	s->sin6_addr = in6addr_loopback;
	return sizeof *s;
}

static int port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A listening TCP socket on loopback, port chosen by the kernel. */
static int server(int family, const char *tag, int *port)
{
	char name[64];
	struct sockaddr_storage ss;
	int one = 1;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(name, sizeof name, "%s_socket", tag);
	if (OK(name, fd) < 0) return -1;
	snprintf(name, sizeof name, "%s_reuseaddr", tag);
	OK(name, setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
	socklen_t len = loopback(family, &ss, 0);
	snprintf(name, sizeof name, "%s_bind_port0", tag);
	OK(name, bind(fd, (struct sockaddr *)&ss, len));
	*port = port_of(fd);
	snprintf(name, sizeof name, "%s_getsockname_port_set", tag);
	EXPECT(name, *port > 0);
	snprintf(name, sizeof name, "%s_listen", tag);
	OK(name, listen(fd, 8));
	return fd;
}

static int dial(int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, &ss, port);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0) return -1;
	return fd;
}

static ssize_t read_full(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) break;
		got += r;
	}
	return got;
}

static void tcp_fork(int family, const char *tag)
{
	char name[64], buf[64];
	int port, lfd = server(family, tag, &port);
	if (lfd < 0) return;
	pid_t pid = fork();
	if (pid == 0) {
		int c = dial(family, port);
		if (c < 0) _exit(2);
		if (write(c, "hello", 5) != 5) _exit(3);
		if (read_full(c, buf, 5) != 5 || memcmp(buf, "HELLO", 5) != 0) _exit(4);
		/* Half-close: the server sees EOF, then still answers. */
		if (shutdown(c, SHUT_WR) < 0) _exit(5);
		if (read_full(c, buf, 3) != 3 || memcmp(buf, "bye", 3) != 0) _exit(6);
		if (read(c, buf, 1) != 0) _exit(7);
		_exit(0);
	}
	struct sockaddr_storage peer;
	socklen_t plen = sizeof peer;
	int a = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	snprintf(name, sizeof name, "%s_accept", tag);
	OK(name, a);
	snprintf(name, sizeof name, "%s_accept_peer_family", tag);
	EXPECT(name, peer.ss_family == family && plen == (family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)));
	snprintf(name, sizeof name, "%s_read_hello", tag);
	EXPECT(name, read_full(a, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0);
	snprintf(name, sizeof name, "%s_write", tag);
	EXPECT(name, write(a, "HELLO", 5) == 5);
	snprintf(name, sizeof name, "%s_eof_after_shutdown", tag);
	EXPECT(name, read(a, buf, sizeof buf) == 0);
	snprintf(name, sizeof name, "%s_write_after_peer_shutdown", tag);
	EXPECT(name, write(a, "bye", 3) == 3);
	close(a);
	int st = 0;
	waitpid(pid, &st, 0);
	snprintf(name, sizeof name, "%s_client_status", tag);
	SHOW(name, "%d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	close(lfd);
}

static void nonblocking_connect(void)
{
	int port, lfd = server(AF_INET, "nb", &port);
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, port);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(c, (struct sockaddr *)&ss, len);
	EXPECT("nb_connect_started", r == 0 || errno == EINPROGRESS);
	struct pollfd p = { .fd = c, .events = POLLOUT };
	EXPECT("nb_poll_writable", poll(&p, 1, 5000) == 1 && (p.revents & POLLOUT));
	int err = -1;
	socklen_t elen = sizeof err;
	OK("nb_so_error", getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &elen));
	SHOW("nb_so_error_value", "%s", err == 0 ? "0" : en(err));
	/* Linux: the first connect after completion says 0, the next EISCONN. */
	r = connect(c, (struct sockaddr *)&ss, len);
	SHOW("nb_connect_again", "%s", r == 0 ? "0" : en(errno));
	FAILS("nb_connect_third", connect(c, (struct sockaddr *)&ss, len), EISCONN);
	char b;
	FAILS("nb_read_nothing", read(c, &b, 1), EAGAIN);
	int a = accept(lfd, NULL, NULL);
	OK("nb_accept", a);
	/* Readiness: nothing to read yet, then the peer writes. */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 7 }, evs[2];
	OK("epoll_ctl", epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev));
	EXPECT("epoll_not_ready", epoll_wait(ep, evs, 2, 0) == 0);
	EXPECT("write_5", write(c, "abcde", 5) == 5);
	EXPECT("epoll_ready", epoll_wait(ep, evs, 2, 5000) == 1 && evs[0].data.u32 == 7 && (evs[0].events & EPOLLIN));
	int n = -1;
	OK("fionread", ioctl(a, FIONREAD, &n));
	SHOW("fionread_value", "%d", n);
	char buf[8];
	EXPECT("peek", recv(a, buf, 8, MSG_PEEK) == 5 && memcmp(buf, "abcde", 5) == 0);
	EXPECT("recv_after_peek", recv(a, buf, 8, 0) == 5);
	int one = 1, v = 0;
	socklen_t vlen = sizeof v;
	OK("tcp_nodelay_set", setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
	OK("tcp_nodelay_get", getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &vlen));
	EXPECT("tcp_nodelay_on", v != 0);
	vlen = sizeof v;
	OK("so_reuseaddr_get", getsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &v, &vlen));
	EXPECT("so_reuseaddr_on", v == 1);
	vlen = sizeof v;
	OK("so_type_get", getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &vlen));
	SHOW("so_type", "%d", v);
	struct linger lg = { 1, 1 }, lg2 = { 0, 0 };
	socklen_t ll = sizeof lg2;
	OK("so_linger_set", setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
	OK("so_linger_get", getsockopt(c, SOL_SOCKET, SO_LINGER, &lg2, &ll));
	EXPECT("so_linger_value", lg2.l_onoff == 1 && lg2.l_linger == 1 && ll == sizeof lg2);
	close(ep);
	close(a);
	close(c);
	close(lfd);
}

static void refused(void)
{
	/* A bound socket that does not listen: connecting to its port is refused. */
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int b = socket(AF_INET, SOCK_STREAM, 0);
	bind(b, (struct sockaddr *)&ss, len);
	len = loopback(AF_INET, &ss, port_of(b));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	FAILS("connect_refused", connect(c, (struct sockaddr *)&ss, len), ECONNREFUSED);
	close(c);
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(c, (struct sockaddr *)&ss, len);
	if (r < 0 && errno == EINPROGRESS) {
		struct pollfd p = { .fd = c, .events = POLLOUT };
		poll(&p, 1, 5000);
	}
	int err = 0;
	socklen_t elen = sizeof err;
	getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &elen);
	EXPECT("nb_connect_refused", (r < 0 && errno == ECONNREFUSED) || err == ECONNREFUSED);
	close(c);
	close(b);
	struct sockaddr_in bad = { .sin_family = AF_INET };
	c = socket(AF_INET, SOCK_STREAM, 0);
	FAILS("connect_short_addr", connect(c, (struct sockaddr *)&bad, 8), EINVAL);
	struct sockaddr_in6 six = { .sin6_family = AF_INET6 };
	FAILS("connect_wrong_family", connect(c, (struct sockaddr *)&six, sizeof six), EAFNOSUPPORT);
	FAILS("listen_udp", listen(socket(AF_INET, SOCK_DGRAM, 0), 1), EOPNOTSUPP);
	FAILS("socket_seqpacket", socket(AF_INET, SOCK_SEQPACKET, 0), ESOCKTNOSUPPORT);
	FAILS("socket_stream_udp", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
	close(c);
}

static void udp(int family, const char *tag)
{
	char name[64], buf[16];
	struct sockaddr_storage a, b, from;
	socklen_t alen = loopback(family, &a, 0), blen = loopback(family, &b, 0), flen = sizeof from;
	int s1 = socket(family, SOCK_DGRAM, 0), s2 = socket(family, SOCK_DGRAM, 0);
	bind(s1, (struct sockaddr *)&a, alen);
	bind(s2, (struct sockaddr *)&b, blen);
	int p1 = port_of(s1);
	blen = loopback(family, &b, port_of(s2));
	snprintf(name, sizeof name, "%s_sendto", tag);
	EXPECT(name, sendto(s1, "ping", 4, 0, (struct sockaddr *)&b, blen) == 4);
	snprintf(name, sizeof name, "%s_recvfrom", tag);
	EXPECT(name, recvfrom(s2, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) == 4 && memcmp(buf, "ping", 4) == 0);
	snprintf(name, sizeof name, "%s_from_port", tag);
	EXPECT(name, ntohs(family == AF_INET ? ((struct sockaddr_in *)&from)->sin_port : ((struct sockaddr_in6 *)&from)->sin6_port) == p1 && flen == alen);
	/* Truncation: a datagram longer than the buffer. */
	sendto(s1, "0123456789", 10, 0, (struct sockaddr *)&b, blen);
	snprintf(name, sizeof name, "%s_trunc", tag);
	EXPECT(name, recv(s2, buf, 4, MSG_TRUNC) == 10);
	snprintf(name, sizeof name, "%s_empty", tag);
	FAILS(name, recv(s2, buf, 4, MSG_DONTWAIT), EAGAIN);
	close(s1);
	close(s2);
}

/* accept reports the peer's address even if the peer reset the connection before it was accepted;
 * shutdown(SHUT_RD) of an unconnected UDP socket fails (ENOTCONN) but ends a blocked recv (0). */
static void resets_and_shutdowns(void)
{
	struct sockaddr_storage ss, from;
	socklen_t len = loopback(AF_INET, &ss, 0), flen = sizeof from;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&ss, len);
	listen(l, 1);
	len = loopback(AF_INET, &ss, port_of(l));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	connect(c, (struct sockaddr *)&ss, len);
	struct linger lg = { 1, 0 };
	setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(c);
	int a = accept(l, (struct sockaddr *)&from, &flen);
	EXPECT("accept_after_reset_has_address", a >= 0 && flen == sizeof(struct sockaddr_in) && from.ss_family == AF_INET);
	close(a);
	close(l);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	len = loopback(AF_INET, &ss, 0);
	bind(u, (struct sockaddr *)&ss, len);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(200000);
		_exit(shutdown(u, SHUT_RD) == -1 && errno == ENOTCONN ? 0 : 1);
	}
	char buf[4];
	SHOW("udp_recv_ended_by_shutdown", "%zd", recv(u, buf, sizeof buf, 0));
	int st = 0;
	waitpid(pid, &st, 0);
	EXPECT("udp_shutdown_unconnected_enotconn", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	FAILS("udp_shut_recv_nonblocking", recv(u, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
	close(u);
}

static int have_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0) return 0;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

/* Options kept per socket (SO_NO_CHECK) and the FORCE buffer sizes (CAP_NET_ADMIN; doubled). */
static void inet_options(void)
{
	int u = socket(AF_INET, SOCK_DGRAM, 0), v = 1, got = -1;
	socklen_t len = sizeof got;
	OK("so_no_check_set", setsockopt(u, SOL_SOCKET, SO_NO_CHECK, &v, sizeof v));
	getsockopt(u, SOL_SOCKET, SO_NO_CHECK, &got, &len);
	EXPECT("so_no_check_kept", got == 1);
	v = 300000;
	int r = setsockopt(u, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v);
	got = 0;
	len = sizeof got;
	getsockopt(u, SOL_SOCKET, SO_RCVBUF, &got, &len);
	EXPECT("so_rcvbufforce_doubled_or_eperm", have_cap(CAP_NET_ADMIN) ? r == 0 && got == 600000 : r == -1 && errno == EPERM);
	close(u);
	/* TCP_CONGESTION: reno is always there and allowed; an unknown name is ENOENT. */
	int t = socket(AF_INET, SOCK_STREAM, 0);
	char cc[16] = { 0 };
	OK("tcp_congestion_set_reno", setsockopt(t, IPPROTO_TCP, TCP_CONGESTION, "reno", 4));
	len = sizeof cc;
	getsockopt(t, IPPROTO_TCP, TCP_CONGESTION, cc, &len);
	EXPECT("tcp_congestion_reads_reno", strcmp(cc, "reno") == 0 && len == 16);
	FAILS("tcp_congestion_unknown", setsockopt(t, IPPROTO_TCP, TCP_CONGESTION, "no_such_cc", 10), ENOENT);
	close(t);
}

/* Edge-triggered epoll on a connected TCP socket: each change is reported once. */
static void edge_triggered(void)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&ss, len);
	listen(l, 1);
	len = loopback(AF_INET, &ss, port_of(l));
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(c, (struct sockaddr *)&ss, len);
	int a = accept(l, NULL, NULL);
	struct pollfd pf = { c, POLLOUT, 0 };
	poll(&pf, 1, 5000);
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = c }, got[4];
	epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
	int n = epoll_wait(ep, got, 4, 1000);
	EXPECT("et_first_wait_writable", n == 1 && got[0].events == EPOLLOUT);
	SHOW("et_again_nothing_new", "%d", epoll_wait(ep, got, 4, 100));
	write(a, "hello", 5);
	n = epoll_wait(ep, got, 4, 5000);
	EXPECT("et_data_reported", n == 1 && got[0].events == (EPOLLIN | EPOLLOUT));
	SHOW("et_data_reported_once", "%d", epoll_wait(ep, got, 4, 100));
	char buf[16];
	while (read(c, buf, sizeof buf) > 0) {}
	write(a, "again", 5);
	n = epoll_wait(ep, got, 4, 5000);
	EXPECT("et_new_data_after_draining", n == 1 && (got[0].events & EPOLLIN));
	close(ep);
	close(a);
	close(c);
	close(l);
}

/* An epoll set of many sockets (more than a server's first few dozen): data on the last one ends
 * the wait at once, not at its timeout. */
#define MANY 100
static void many_sockets(void)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int l = socket(AF_INET, SOCK_STREAM, 0), c[MANY], a[MANY], ok = 1;
	bind(l, (struct sockaddr *)&ss, len);
	listen(l, MANY);
	len = loopback(AF_INET, &ss, port_of(l));
	int ep = epoll_create1(0);
	for (int i = 0; i < MANY; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM, 0);
		ok &= connect(c[i], (struct sockaddr *)&ss, len) == 0;
		a[i] = accept(l, NULL, NULL);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		ok &= epoll_ctl(ep, EPOLL_CTL_ADD, a[i], &ev) == 0;
	}
	EXPECT("many_connected", ok);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(100000);
		write(c[MANY - 1], "x", 1);
		_exit(0);
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct epoll_event got;
	int n = epoll_wait(ep, &got, 1, 10000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	EXPECT("many_last_reported", n == 1 && got.data.u32 == MANY - 1);
	EXPECT("many_woken_before_the_timeout", ms < 5000);
	waitpid(pid, NULL, 0);
	for (int i = 0; i < MANY; i++) {
		close(c[i]);
		close(a[i]);
	}
	close(ep);
	close(l);
}

/* IP_PKTINFO and IP_RECVTOS: the datagram's destination and TOS arrive as control messages. */
static void udp_cmsgs(void)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int r = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0), on = 1, tos = 0x10;
	bind(r, (struct sockaddr *)&ss, len);
	len = loopback(AF_INET, &ss, port_of(r));
	OK("ip_pktinfo_on", setsockopt(r, IPPROTO_IP, IP_PKTINFO, &on, sizeof on));
	OK("ip_recvtos_on", setsockopt(r, IPPROTO_IP, IP_RECVTOS, &on, sizeof on));
	setsockopt(s, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
	sendto(s, "x", 1, 0, (struct sockaddr *)&ss, len);
	char b, cbuf[256];
	struct iovec iov = { &b, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	EXPECT("udp_cmsgs_recv", recvmsg(r, &m, 0) == 1);
	int pkt = 0, gottos = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof pi);
			pkt = pi.ipi_addr.s_addr == htonl(INADDR_LOOPBACK);
		}
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) gottos = *(unsigned char *)CMSG_DATA(c);
	}
	EXPECT("udp_cmsg_pktinfo_dst_127.0.0.1", pkt);
	EXPECT("udp_cmsg_tos", gottos == tos);
	/* No room: the messages are cut, MSG_CTRUNC. */
	sendto(s, "y", 1, 0, (struct sockaddr *)&ss, len);
	m.msg_controllen = 20;
	recvmsg(r, &m, 0);
	EXPECT("udp_cmsg_ctrunc", (m.msg_flags & MSG_CTRUNC) != 0);
	close(r);
	close(s);
}

static void big(void)
{
	int port, lfd = server(AF_INET, "big", &port);
	pid_t pid = fork();
	if (pid == 0) {
		int c = dial(AF_INET, port);
		char *b = malloc(BIG);
		for (int i = 0; i < BIG; i++) b[i] = (char)(i * 7 + (i >> 12));
		for (size_t off = 0; off < BIG;) {
			ssize_t w = send(c, b + off, BIG - off, 0);
			if (w <= 0) _exit(2);
			off += w;
		}
		_exit(0);
	}
	int a = accept(lfd, NULL, NULL);
	char *b = malloc(BIG);
	ssize_t got = recv(a, b, BIG, MSG_WAITALL);
	int same = got == BIG;
	for (int i = 0; same && i < BIG; i++) same = b[i] == (char)(i * 7 + (i >> 12));
	EXPECT("big_4MiB_waitall", same);
	char x;
	EXPECT("big_eof", read(a, &x, 1) == 0);
	int st;
	waitpid(pid, &st, 0);
	SHOW("big_client_status", "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	free(b);
	close(a);
	close(lfd);
}

static void interfaces(void)
{
	struct ifaddrs *ifa = NULL;
	int lo4 = 0, lo6 = 0;
	OK("getifaddrs", getifaddrs(&ifa));
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (strcmp(i->ifa_name, "lo") != 0 || !i->ifa_addr) continue;
		if (i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) lo4 = 1;
		if (i->ifa_addr->sa_family == AF_INET6 &&
		    IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr)) lo6 = 1;
	}
	if (ifa) freeifaddrs(ifa);
	EXPECT("getifaddrs_lo_127.0.0.1", lo4);
	EXPECT("getifaddrs_lo_::1", lo6);
	EXPECT("if_nametoindex_lo", if_nametoindex("lo") == 1);
	char nm[IF_NAMESIZE];
	EXPECT("if_indextoname_1", if_indextoname(1, nm) && strcmp(nm, "lo") == 0);
	struct ifreq ifr = { 0 };
	strcpy(ifr.ifr_name, "lo");
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	OK("siocgifflags", ioctl(s, SIOCGIFFLAGS, &ifr));
	EXPECT("lo_up_loopback", (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_LOOPBACK));
	OK("siocgifaddr", ioctl(s, SIOCGIFADDR, &ifr));
	EXPECT("lo_addr", ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
	close(s);
	/* (Refusals of changes, raw sockets and other netlink protocols are not compared here: natively
	 * as root they would succeed, on the host's own interfaces. shell.test.ts checks them.) */
}

static volatile int alarms;
static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* SIGALRM in 50 ms, with or without SA_RESTART. */
static void alarm_soon(int restart)
{
	struct sigaction sa = { 0 };
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 0 }, { 0, 50000 } };
	setitimer(ITIMER_REAL, &it, NULL);
}

/* Blocking TCP/UDP calls and signals, as Linux: EINTR without SA_RESTART; with it, accept and recv
 * restart — unless the socket has a receive timeout (sock_intr_errno: EINTR then); a blocking send
 * that moved some bytes returns that count. */
static void interrupts(void)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&ss, len);
	listen(l, 4);
	len = loopback(AF_INET, &ss, port_of(l));
	alarm_soon(0);
	FAILS("intr_accept_eintr", accept(l, NULL, NULL), EINTR);
	alarms = 0;
	alarm_soon(1);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(200000);
		int c = socket(AF_INET, SOCK_STREAM, 0);
		connect(c, (struct sockaddr *)&ss, len);
		usleep(300000);
		write(c, "r", 1);
		usleep(300000);
		write(c, "s", 1);
		usleep(300000);
		_exit(0);
	}
	int a = accept(l, NULL, NULL);
	EXPECT("intr_accept_sa_restart_restarted", a >= 0 && alarms == 1);
	char b = 0;
	alarm_soon(1);
	EXPECT("intr_recv_sa_restart_restarted", recv(a, &b, 1, 0) == 1 && b == 'r' && alarms == 2);
	struct timeval tv = { 5, 0 };
	setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	alarm_soon(1);
	FAILS("intr_recv_with_rcvtimeo_sa_restart_eintr", recv(a, &b, 1, 0), EINTR);
	waitpid(pid, NULL, 0);
	close(a);
	/* A send blocked on a full buffer: the signal ends it with the bytes it moved. */
	int c = socket(AF_INET, SOCK_STREAM, 0);
	connect(c, (struct sockaddr *)&ss, len);
	a = accept(l, NULL, NULL);
	const size_t big = 64 << 20;
	char *data = calloc(1, big);
	alarm_soon(0);
	ssize_t n = send(c, data, big, 0);
	EXPECT("intr_send_partial_count", n > 0 && (size_t)n < big);
	free(data);
	close(a);
	close(c);
	close(l);
	/* UDP: a blocking recvfrom is interrupted too. */
	int u = socket(AF_INET6, SOCK_DGRAM, 0);
	len = loopback(AF_INET6, &ss, 0);
	bind(u, (struct sockaddr *)&ss, len);
	alarm_soon(0);
	FAILS("intr_udp_recvfrom_eintr", recvfrom(u, &b, 1, 0, NULL, NULL), EINTR);
	close(u);
	signal(SIGALRM, SIG_DFL);
}

/* sendmmsg/recvmmsg over UDP: three datagrams in one call each, a short buffer marks MSG_TRUNC. */
static void udp_mmsg(void)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int r = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
	bind(r, (struct sockaddr *)&ss, len);
	len = loopback(AF_INET, &ss, port_of(r));
	struct iovec iv[3] = { { "one", 3 }, { "two!", 4 }, { "three", 5 } };
	struct mmsghdr mo[3];
	memset(mo, 0, sizeof mo);
	for (int i = 0; i < 3; i++) {
		mo[i].msg_hdr.msg_name = &ss;
		mo[i].msg_hdr.msg_namelen = len;
		mo[i].msg_hdr.msg_iov = &iv[i];
		mo[i].msg_hdr.msg_iovlen = 1;
	}
	EXPECT("udp_sendmmsg_3", sendmmsg(s, mo, 3, 0) == 3 && mo[0].msg_len == 3 && mo[2].msg_len == 5);
	char bufs[4][4];
	struct iovec in[4];
	struct mmsghdr mi[4];
	memset(mi, 0, sizeof mi);
	for (int i = 0; i < 4; i++) {
		in[i].iov_base = bufs[i];
		in[i].iov_len = sizeof bufs[i];
		mi[i].msg_hdr.msg_iov = &in[i];
		mi[i].msg_hdr.msg_iovlen = 1;
	}
	struct timespec ts = { 1, 0 };
	int n = recvmmsg(r, mi, 4, MSG_WAITFORONE, &ts);
	SHOW("udp_recvmmsg_waitforone", "%d lens %u %u %u", n, mi[0].msg_len, mi[1].msg_len, mi[2].msg_len);
	EXPECT("udp_recvmmsg_trunc_flag", n == 3 && !(mi[1].msg_hdr.msg_flags & MSG_TRUNC) && (mi[2].msg_hdr.msg_flags & MSG_TRUNC));
	FAILS("udp_recvmmsg_nothing_left", recvmmsg(r, mi, 4, MSG_DONTWAIT, NULL), EAGAIN);
	FAILS("udp_recvmmsg_bad_timeout", recvmmsg(r, mi, 4, 0, &(struct timespec){ 0, 2000000000 }), EINVAL);
	close(r);
	close(s);
}

/* The interface ioctls (SIOCGIFCONF, SIOCGIFINDEX/NAME/NETMASK/MTU/HWADDR) for lo. */
static void interface_ioctls(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifconf ifc = { .ifc_len = 0, .ifc_buf = NULL };
	OK("siocgifconf_size", ioctl(s, SIOCGIFCONF, &ifc));
	EXPECT("siocgifconf_size_whole_entries", ifc.ifc_len > 0 && ifc.ifc_len % sizeof(struct ifreq) == 0);
	struct ifreq reqs[64];
	ifc.ifc_len = sizeof reqs;
	ifc.ifc_req = reqs;
	OK("siocgifconf", ioctl(s, SIOCGIFCONF, &ifc));
	int lo = 0;
	for (size_t i = 0; i < ifc.ifc_len / sizeof(struct ifreq); i++)
		if (strcmp(reqs[i].ifr_name, "lo") == 0 && reqs[i].ifr_addr.sa_family == AF_INET &&
		    ((struct sockaddr_in *)&reqs[i].ifr_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) lo = 1;
	EXPECT("siocgifconf_lists_lo_127.0.0.1", lo);
	ifc.ifc_len = sizeof(struct ifreq) - 1;
	OK("siocgifconf_no_room", ioctl(s, SIOCGIFCONF, &ifc));
	SHOW("siocgifconf_no_room_len", "%d", ifc.ifc_len);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	OK("siocgifindex", ioctl(s, SIOCGIFINDEX, &ifr));
	SHOW("siocgifindex_lo", "%d", ifr.ifr_ifindex);
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_ifindex = 1;
	OK("siocgifname", ioctl(s, SIOCGIFNAME, &ifr));
	SHOW("siocgifname_1", "%s", ifr.ifr_name);
	OK("siocgifnetmask", ioctl(s, SIOCGIFNETMASK, &ifr));
	SHOW("siocgifnetmask_lo", "%s", inet_ntoa(((struct sockaddr_in *)&ifr.ifr_netmask)->sin_addr));
	OK("siocgifmtu", ioctl(s, SIOCGIFMTU, &ifr));
	EXPECT("siocgifmtu_lo_positive", ifr.ifr_mtu > 0);
	OK("siocgifhwaddr", ioctl(s, SIOCGIFHWADDR, &ifr));
	SHOW("siocgifhwaddr_lo_family", "%d", ifr.ifr_hwaddr.sa_family);
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "nosuchif0");
	FAILS("siocgifindex_unknown", ioctl(s, SIOCGIFINDEX, &ifr), ENODEV);
	FAILS("siocgifconf_bad_pointer", ioctl(s, SIOCGIFCONF, (void *)8), EFAULT);
	close(s);
}

/* Whether /proc/net/FILE has a socket bound to PORT in STATE (hex, as the kernel prints them). */
static int proc_net_has(const char *file, int port, const char *state)
{
	char path[64], line[512], want[16];
	snprintf(path, sizeof path, "/proc/net/%s", file);
	snprintf(want, sizeof want, ":%04X", port);
	FILE *f = fopen(path, "r");
	if (!f) return 0;
	int found = 0;
	while (fgets(line, sizeof line, f)) {
		char local[64], st[8];
		if (sscanf(line, " %*d: %63s %*s %7s", local, st) == 2 && strstr(local, want) && strcmp(st, state) == 0) found = 1;
	}
	fclose(f);
	return found;
}

/* /proc/net/{tcp,tcp6,udp,udp6,dev}: the sandbox's own sockets and interfaces. */
static void proc_net(void)
{
	struct sockaddr_storage ss;
	int t4 = socket(AF_INET, SOCK_STREAM, 0), t6 = socket(AF_INET6, SOCK_STREAM, 0);
	int u4 = socket(AF_INET, SOCK_DGRAM, 0), u6 = socket(AF_INET6, SOCK_DGRAM, 0);
	socklen_t len = loopback(AF_INET, &ss, 0);
	bind(t4, (struct sockaddr *)&ss, len);
	bind(u4, (struct sockaddr *)&ss, len);
	len = loopback(AF_INET6, &ss, 0);
	bind(t6, (struct sockaddr *)&ss, len);
	bind(u6, (struct sockaddr *)&ss, len);
	listen(t4, 1);
	listen(t6, 1);
	EXPECT("proc_net_tcp_listener", proc_net_has("tcp", port_of(t4), "0A"));
	EXPECT("proc_net_tcp6_listener", proc_net_has("tcp6", port_of(t6), "0A"));
	EXPECT("proc_net_udp_bound", proc_net_has("udp", port_of(u4), "07"));
	EXPECT("proc_net_udp6_bound", proc_net_has("udp6", port_of(u6), "07"));
	int closed_port = port_of(t4);
	close(t4);
	EXPECT("proc_net_tcp_closed_gone", !proc_net_has("tcp", closed_port, "0A"));
	FILE *f = fopen("/proc/net/dev", "r");
	char line[512];
	int lo = 0;
	while (f && fgets(line, sizeof line, f)) lo |= strncmp(line + strspn(line, " "), "lo:", 3) == 0;
	if (f) fclose(f);
	EXPECT("proc_net_dev_lo", lo);
	close(t6);
	close(u4);
	close(u6);
}

/* AF_INET addresses on an IPv6 UDP socket (it sends and connects over IPv4 unless IPV6_V6ONLY),
 * and AF_UNSPEC in an IPv4 bind (only INADDR_ANY). */
static void v4_on_v6(void)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int r = socket(AF_INET, SOCK_DGRAM, 0), s6 = socket(AF_INET6, SOCK_DGRAM, 0), on = 1;
	bind(r, (struct sockaddr *)&ss, len);
	len = loopback(AF_INET, &ss, port_of(r));
	EXPECT("v4_on_v6_sendto", sendto(s6, "a", 1, 0, (struct sockaddr *)&ss, len) == 1);
	char b;
	EXPECT("v4_on_v6_received", recv(r, &b, 1, MSG_DONTWAIT) == 1 && b == 'a');
	FAILS("v4_on_v6_sendto_short", sendto(s6, "a", 1, 0, (struct sockaddr *)&ss, 8), EINVAL);
	OK("v4_on_v6_connect", connect(s6, (struct sockaddr *)&ss, len));
	struct sockaddr_storage peer;
	socklen_t plen = sizeof peer;
	getpeername(s6, (struct sockaddr *)&peer, &plen);
	EXPECT("v4_on_v6_peer_is_mapped", peer.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&peer)->sin6_addr));
	EXPECT("v4_on_v6_send_connected", send(s6, "c", 1, 0) == 1 && recv(r, &b, 1, MSG_DONTWAIT) == 1 && b == 'c');
	close(s6);
	s6 = socket(AF_INET6, SOCK_DGRAM, 0);
	setsockopt(s6, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
	FAILS("v4_on_v6only_sendto", sendto(s6, "a", 1, 0, (struct sockaddr *)&ss, len), ENETUNREACH);
	FAILS("v4_on_v6only_connect", connect(s6, (struct sockaddr *)&ss, len), EAFNOSUPPORT);
	close(s6);
	s6 = socket(AF_INET6, SOCK_STREAM, 0);
	FAILS("v4_on_v6_tcp_connect_short", connect(s6, (struct sockaddr *)&ss, len), EINVAL);
	/* The length is checked before the family, on both families. */
	struct sockaddr_storage odd;
	memset(&odd, 0, sizeof odd);
	odd.ss_family = 0x7777;
	FAILS("v6_bind_odd_family", bind(s6, (struct sockaddr *)&odd, sizeof(struct sockaddr_in6)), EAFNOSUPPORT);
	FAILS("v6_connect_odd_family_short", connect(s6, (struct sockaddr *)&odd, 16), EINVAL);
	close(s6);
	s6 = socket(AF_INET, SOCK_STREAM, 0);
	FAILS("v4_connect_odd_family", connect(s6, (struct sockaddr *)&odd, 16), EAFNOSUPPORT);
	FAILS("v4_connect_odd_family_short", connect(s6, (struct sockaddr *)&odd, 8), EINVAL);
	FAILS("v4_bind_odd_family_short", bind(s6, (struct sockaddr *)&odd, 8), EINVAL);
	close(s6);
	close(r);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	len = loopback(AF_INET, &ss, 0);
	ss.ss_family = AF_UNSPEC;
	FAILS("bind_unspec_loopback", bind(u, (struct sockaddr *)&ss, len), EAFNOSUPPORT);
	((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_ANY);
	OK("bind_unspec_any", bind(u, (struct sockaddr *)&ss, len));
	close(u);
}

/* IP_RECVERR/IPV6_RECVERR and MSG_ERRQUEUE: a local EMSGSIZE (IPv6) and an ICMP port unreachable
 * (IPv4) come back from the error queue with their sock_extended_err; an empty queue is EAGAIN at
 * once. IP_ADD_MEMBERSHIP's arguments are checked as Linux checks them. */
static void error_queue(void)
{
	struct sockaddr_storage ss, from;
	int on = 1;
	char cbuf[256], data[64];
	struct iovec iov = { data, sizeof data };
	struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	int r6 = socket(AF_INET6, SOCK_DGRAM, 0), s6 = socket(AF_INET6, SOCK_DGRAM, 0);
	socklen_t len = loopback(AF_INET6, &ss, 0);
	bind(r6, (struct sockaddr *)&ss, len);
	len = loopback(AF_INET6, &ss, port_of(r6));
	connect(s6, (struct sockaddr *)&ss, len);
	OK("ipv6_recverr_on", setsockopt(s6, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on));
	FAILS("errqueue_empty", recvmsg(s6, &m, MSG_ERRQUEUE), EAGAIN);
	static char big[0x10000];
	FAILS("udp6_send_too_big", send(s6, big, sizeof big, 0), EMSGSIZE);
	ssize_t n = recvmsg(s6, &m, MSG_ERRQUEUE);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	struct sock_extended_err ee = { 0 };
	if (c && c->cmsg_len >= CMSG_LEN(sizeof ee)) memcpy(&ee, CMSG_DATA(c), sizeof ee);
	SHOW("errqueue_emsgsize", "%ld flags_errqueue %d cmsg %d/%d len %ld errno %s origin %d info %u", (long)n, !!(m.msg_flags & MSG_ERRQUEUE),
	     c ? c->cmsg_level : -1, c ? c->cmsg_type : -1, c ? (long)c->cmsg_len : -1L, en(ee.ee_errno), ee.ee_origin, ee.ee_info);
	EXPECT("errqueue_name_is_peer", n >= 0 && from.ss_family == AF_INET6 && ((struct sockaddr_in6 *)&from)->sin6_port == ((struct sockaddr_in6 *)&ss)->sin6_port);
	close(r6);
	close(s6);
	/* IPv4: a datagram to a port nobody has; the ICMP error is queued for the sender. */
	int closed = socket(AF_INET, SOCK_DGRAM, 0);
	len = loopback(AF_INET, &ss, 0);
	bind(closed, (struct sockaddr *)&ss, len);
	len = loopback(AF_INET, &ss, port_of(closed));
	close(closed);
	int s4 = socket(AF_INET, SOCK_DGRAM, 0);
	OK("ip_recverr_on", setsockopt(s4, IPPROTO_IP, IP_RECVERR, &on, sizeof on));
	sendto(s4, "x", 1, 0, (struct sockaddr *)&ss, len);
	struct pollfd pf = { s4, 0, 0 };
	poll(&pf, 1, 2000);
	EXPECT("errqueue_pollerr", pf.revents & POLLERR);
	m.msg_namelen = sizeof from;
	m.msg_controllen = sizeof cbuf;
	n = recvmsg(s4, &m, MSG_ERRQUEUE);
	c = CMSG_FIRSTHDR(&m);
	memset(&ee, 0, sizeof ee);
	if (c && c->cmsg_len >= CMSG_LEN(sizeof ee)) memcpy(&ee, CMSG_DATA(c), sizeof ee);
	SHOW("errqueue_port_unreachable", "%ld data %.1s cmsg %d/%d errno %s origin %d type %d code %d", (long)n, n > 0 ? data : "-",
	     c ? c->cmsg_level : -1, c ? c->cmsg_type : -1, en(ee.ee_errno), ee.ee_origin, ee.ee_type, ee.ee_code);
	m.msg_controllen = CMSG_LEN(4);
	sendto(s4, "y", 1, 0, (struct sockaddr *)&ss, len);
	poll(&pf, 1, 2000);
	n = recvmsg(s4, &m, MSG_ERRQUEUE);
	SHOW("errqueue_no_room_ctrunc", "%ld %d", (long)n, !!(m.msg_flags & MSG_CTRUNC));
	struct ip_mreqn req = { 0 };
	FAILS("ip_add_membership_not_multicast", setsockopt(s4, IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, sizeof req), EINVAL);
	FAILS("ip_add_membership_short", setsockopt(s4, IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, 4), EINVAL);
	close(s4);
	int t = socket(AF_INET, SOCK_STREAM, 0);
	FAILS("ip_add_membership_tcp", setsockopt(t, IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, sizeof req), EPROTO);
	close(t);
	struct ipv6_mreq req6 = { 0 };
	int u6 = socket(AF_INET6, SOCK_DGRAM, 0);
	FAILS("ipv6_add_membership_not_multicast", setsockopt(u6, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &req6, sizeof req6), EINVAL);
	FAILS("ipv6_add_membership_short", setsockopt(u6, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &req6, 8), EINVAL);
	close(u6);
	t = socket(AF_INET6, SOCK_STREAM, 0);
	FAILS("ipv6_add_membership_tcp", setsockopt(t, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &req6, sizeof req6), EPROTO);
	FAILS("ipv6_add_membership_tcp_short", setsockopt(t, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &req6, 8), EINVAL);
	close(t);
}

/* A NETLINK_ROUTE dump with SO_PASSCRED: each reply carries the kernel's credentials (pid 0, root). */
static void netlink_passcred(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), on = 1;
	OK("netlink_so_passcred", setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
	struct { struct nlmsghdr h; struct rtgenmsg g; } req = { { sizeof req, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0 }, { AF_UNSPEC } };
	EXPECT("netlink_dump_sent", send(fd, &req, sizeof req, 0) == sizeof req);
	static char buf[65536];
	char cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { buf, sizeof buf };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	ssize_t n = recvmsg(fd, &m, 0);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	struct ucred uc = { -1, 1, 1 };
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) memcpy(&uc, CMSG_DATA(c), sizeof uc);
	SHOW("netlink_reply_creds", "%d pid %d uid %u gid %u", n > 0, uc.pid, uc.uid, uc.gid);
	/* No room for them: MSG_CTRUNC. */
	send(fd, &req, sizeof req, 0);
	while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0 && ((struct nlmsghdr *)buf)->nlmsg_type != NLMSG_DONE) {}
	send(fd, &req, sizeof req, 0);
	m.msg_control = NULL;
	m.msg_controllen = 0;
	n = recvmsg(fd, &m, 0);
	SHOW("netlink_creds_no_room", "%d ctrunc %d", n > 0, !!(m.msg_flags & MSG_CTRUNC));
	close(fd);
}

/* SO_REUSEPORT: two sockets with it share a port (UDP and TCP listeners); one without is refused. */
static void reuseport(void)
{
	for (int type = SOCK_STREAM; type <= SOCK_DGRAM; type++) {
		struct sockaddr_storage ss;
		socklen_t len = loopback(AF_INET, &ss, 0);
		int on = 1, a = socket(AF_INET, type, 0), b = socket(AF_INET, type, 0), c = socket(AF_INET, type, 0);
		setsockopt(a, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
		setsockopt(b, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
		bind(a, (struct sockaddr *)&ss, len);
		if (type == SOCK_STREAM) listen(a, 1);
		len = loopback(AF_INET, &ss, port_of(a));
		int v = 0;
		socklen_t vl = sizeof v;
		getsockopt(b, SOL_SOCKET, SO_REUSEPORT, &v, &vl);
		EXPECT(type == SOCK_STREAM ? "tcp_so_reuseport_get" : "udp_so_reuseport_get", v == 1);
		if (type == SOCK_STREAM) {
			OK("tcp_reuseport_second_bind", bind(b, (struct sockaddr *)&ss, len));
			OK("tcp_reuseport_second_listen", listen(b, 1));
			FAILS("tcp_no_reuseport_bind", bind(c, (struct sockaddr *)&ss, len), EADDRINUSE);
		} else {
			OK("udp_reuseport_second_bind", bind(b, (struct sockaddr *)&ss, len));
			FAILS("udp_no_reuseport_bind", bind(c, (struct sockaddr *)&ss, len), EADDRINUSE);
		}
		close(a);
		close(b);
		close(c);
	}
}

/* select on sockets: a listener is readable with a connection pending, a connected socket writable
 * at once and readable when the peer writes (from another process, during the wait); AF_UNIX too. */
static void selects(void)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&ss, len);
	listen(l, 1);
	len = loopback(AF_INET, &ss, port_of(l));
	fd_set r, w;
	struct timeval tv = { 0, 0 };
	FD_ZERO(&r);
	FD_SET(l, &r);
	SHOW("select_listener_idle", "%d", select(l + 1, &r, NULL, NULL, &tv));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	connect(c, (struct sockaddr *)&ss, len);
	FD_ZERO(&r);
	FD_SET(l, &r);
	tv = (struct timeval){ 5, 0 };
	EXPECT("select_listener_pending", select(l + 1, &r, NULL, NULL, &tv) == 1 && FD_ISSET(l, &r));
	int a = accept(l, NULL, NULL);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	for (int unix_ = 0; unix_ < 2; unix_++) {
		int me = unix_ ? sv[0] : c, peer = unix_ ? sv[1] : a;
		FD_ZERO(&w);
		FD_SET(me, &w);
		tv = (struct timeval){ 0, 0 };
		EXPECT(unix_ ? "select_unix_writable" : "select_tcp_writable", select(me + 1, NULL, &w, NULL, &tv) == 1 && FD_ISSET(me, &w));
		pid_t pid = fork();
		if (pid == 0) {
			usleep(100000);
			write(peer, "s", 1);
			_exit(0);
		}
		FD_ZERO(&r);
		FD_SET(me, &r);
		tv = (struct timeval){ 5, 0 };
		EXPECT(unix_ ? "select_unix_woken_by_peer" : "select_tcp_woken_by_peer", select(me + 1, &r, NULL, NULL, &tv) == 1 && FD_ISSET(me, &r));
		waitpid(pid, NULL, 0);
	}
	close(sv[0]);
	close(sv[1]);
	close(a);
	close(c);
	close(l);
}

/* NETLINK_ROUTE multicast memberships: joined by bind's mask and NETLINK_ADD_MEMBERSHIP, listed by
 * NETLINK_LIST_MEMBERSHIPS (whole words that fit, the full length told) and getsockname. */
static void netlink_groups(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	socklen_t len = 0;
	OK("nl_list_before_any_group", getsockopt(fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, NULL, &len));
	SHOW("nl_list_len_before", "%u", len);
	struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	OK("nl_bind_link_group", bind(fd, (struct sockaddr *)&a, sizeof a));
	int g = RTNLGRP_IPV4_IFADDR;
	OK("nl_add_membership", setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g));
	g = 0;
	FAILS("nl_add_membership_0", setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g), EINVAL);
	g = 100000;
	FAILS("nl_add_membership_huge", setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g), EINVAL);
	len = 0;
	OK("nl_list_size_probe", getsockopt(fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, NULL, &len));
	unsigned int words[8] = { 0 };
	socklen_t full = len;
	socklen_t got = sizeof words;
	getsockopt(fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, words, &got);
	SHOW("nl_list", "len %s first word 0x%x", got == full && full >= 4 ? "full" : "wrong", words[0]);
	memset(words, 0xaa, sizeof words);
	got = 6;
	getsockopt(fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, words, &got);
	SHOW("nl_list_room_6", "len %s word 0x%x next byte 0x%x", got == full ? "full" : "wrong", words[0], ((unsigned char *)words)[4]);
	socklen_t al = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &al);
	SHOW("nl_getsockname_groups", "0x%x", a.nl_groups);
	FAILS("nl_get_add_membership", getsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, &al), ENOPROTOOPT);
	FAILS("nl_set_list_memberships", setsockopt(fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, &g, sizeof g), ENOPROTOOPT);
	g = 5;
	OK("nl_set_pktinfo", setsockopt(fd, SOL_NETLINK, NETLINK_PKTINFO, &g, sizeof g));
	al = sizeof g;
	getsockopt(fd, SOL_NETLINK, NETLINK_PKTINFO, &g, &al);
	SHOW("nl_get_pktinfo", "%d", g);
	al = 2;
	FAILS("nl_get_pktinfo_short", getsockopt(fd, SOL_NETLINK, NETLINK_PKTINFO, &g, &al), EINVAL);
	g = 1;
	int r = setsockopt(fd, SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &g, sizeof g);
	EXPECT("nl_listen_all_nsid_needs_cap_net_broadcast", have_cap(CAP_NET_BROADCAST) ? r == 0 : r == -1 && errno == EPERM);
	al = sizeof a;
	g = RTNLGRP_LINK;
	OK("nl_drop_membership", setsockopt(fd, SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, &g, sizeof g));
	getsockname(fd, (struct sockaddr *)&a, &al);
	SHOW("nl_getsockname_after_drop", "0x%x", a.nl_groups);
	close(fd);
}

int main(void)
{
	tcp_fork(AF_INET, "tcp4");
	tcp_fork(AF_INET6, "tcp6");
	nonblocking_connect();
	refused();
	udp(AF_INET, "udp4");
	udp(AF_INET6, "udp6");
	resets_and_shutdowns();
	inet_options();
	edge_triggered();
	many_sockets();
	udp_cmsgs();
	big();
	interfaces();
	interrupts();
	udp_mmsg();
	interface_ioctls();
	proc_net();
	v4_on_v6();
	error_queue();
	netlink_passcred();
	reuseport();
	selects();
	netlink_groups();
	return finish();
}
