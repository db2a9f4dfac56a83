/* Every way a sandbox's socket can reach a destination, for the egress annotation
 * (dev.moat.network.egress, docs/sentry.md): TCP connect over IPv4, IPv6, IPv4-mapped IPv6 and
 * 0.0.0.0; UDP sendto, sendmsg, sendmmsg, connect then send, a connected socket's sendto to
 * another address, AF_UNSPEC as AF_INET, mapped and AF_INET addresses on an IPv6 socket, another loopback
 * address; TCP Fast Open (a sendto that would connect). Listeners of its own on [::]:5556 and
 * [::]:5557 (dual stack; listening is not restricted). Prints "name: ok" or "name: ERRNO" per
 * attempt, and at the end what the listeners received, so a check cannot pass by the call lying. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PA 5556
#define PB 5557

static void show(const char *name, long r)
{
	printf("%s: %s\n", name, r >= 0 ? "ok" : strerrorname_np(errno));
	fflush(stdout);
}

static socklen_t v4(struct sockaddr_storage *ss, const char *ip, int port, int family)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof *ss);
	s->sin_family = family;
	s->sin_port = htons(port);
	inet_pton(AF_INET, ip, &s->sin_addr);
	return sizeof *s;
}

static socklen_t v6(struct sockaddr_storage *ss, const char *ip, int port)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof *ss);
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &s->sin6_addr);
	return sizeof *s;
}

static int listener(int type, int port)
{
	struct sockaddr_storage ss;
	int fd = socket(AF_INET6, type | SOCK_NONBLOCK, 0), off = 0, on = 1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	socklen_t len = v6(&ss, "::", port);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || (type == SOCK_STREAM && listen(fd, 64) < 0)) {
		printf("listener %d: %s\n", port, strerrorname_np(errno));
		return -1;
	}
	return fd;
}

static void tcp(const char *name, int family, struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(family, SOCK_STREAM, 0);
	show(name, connect(fd, (struct sockaddr *)ss, len));
	close(fd);
}

static void udp_sendto(const char *name, int family, struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(family, SOCK_DGRAM, 0);
	show(name, sendto(fd, name, strlen(name), 0, (struct sockaddr *)ss, len));
	close(fd);
}

/* How many datagrams (and TCP connections) a listener got. */
static int drain(int fd, int type)
{
	int n = 0;
	char buf[256];
	if (type == SOCK_STREAM) {
		int c;
		while ((c = accept(fd, NULL, NULL)) >= 0) {
			n++;
			close(c);
		}
		return n;
	}
	while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0) n++;
	return n;
}

int main(void)
{
	struct sockaddr_storage ss, ss2;
	socklen_t len, len2;
	int ta = listener(SOCK_STREAM, PA), tb = listener(SOCK_STREAM, PB);
	int ua = listener(SOCK_DGRAM, PA), ub = listener(SOCK_DGRAM, PB);
	if (ta < 0 || tb < 0 || ua < 0 || ub < 0) return 2;

	len = v4(&ss, "127.0.0.1", PA, AF_INET);
	tcp("tcp 127.0.0.1:A", AF_INET, &ss, len);
	len = v4(&ss, "127.0.0.1", PB, AF_INET);
	tcp("tcp 127.0.0.1:B", AF_INET, &ss, len);
	len = v6(&ss, "::1", PA);
	tcp("tcp [::1]:A", AF_INET6, &ss, len);
	len = v6(&ss, "::ffff:127.0.0.1", PA);
	tcp("tcp [::ffff:127.0.0.1]:A", AF_INET6, &ss, len);
	len = v6(&ss, "::ffff:127.0.0.1", PB);
	tcp("tcp [::ffff:127.0.0.1]:B", AF_INET6, &ss, len);
	len = v4(&ss, "0.0.0.0", PB, AF_INET);
	tcp("tcp 0.0.0.0:B", AF_INET, &ss, len);
	len = v4(&ss, "127.0.0.2", PA, AF_INET);
	tcp("tcp 127.0.0.2:A", AF_INET, &ss, len);

	len = v4(&ss, "127.0.0.1", PA, AF_INET);
	udp_sendto("udp sendto 127.0.0.1:A", AF_INET, &ss, len);
	len = v4(&ss, "127.0.0.1", PB, AF_INET);
	udp_sendto("udp sendto 127.0.0.1:B", AF_INET, &ss, len);
	len = v4(&ss, "127.0.0.1", PB, AF_UNSPEC);
	udp_sendto("udp sendto AF_UNSPEC 127.0.0.1:B", AF_INET, &ss, len);
	len = v6(&ss, "::ffff:127.0.0.1", PB);
	udp_sendto("udp6 sendto [::ffff:127.0.0.1]:B", AF_INET6, &ss, len);
	len = v6(&ss, "::1", PB);
	udp_sendto("udp6 sendto [::1]:B", AF_INET6, &ss, len);
	len = v4(&ss, "127.0.0.1", PB, AF_INET);
	udp_sendto("udp6 sendto AF_INET 127.0.0.1:B", AF_INET6, &ss, len);
	{
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		len = v4(&ss, "127.0.0.1", PB, AF_INET);
		struct iovec iov = { "m", 1 };
		struct msghdr m = { .msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 };
		show("udp sendmsg 127.0.0.1:B", sendmsg(fd, &m, 0));
		/* sendmmsg: A then B; a refusal after a sent message ends the call with the count. */
		len2 = v4(&ss2, "127.0.0.1", PA, AF_INET);
		struct mmsghdr mm[2] = { { .msg_hdr = { .msg_name = &ss2, .msg_namelen = len2, .msg_iov = &iov, .msg_iovlen = 1 } },
					 { .msg_hdr = { .msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 } } };
		int n = sendmmsg(fd, mm, 2, 0);
		if (n < 0) show("udp sendmmsg A,B", n);
		else printf("udp sendmmsg A,B: %d sent\n", n);
		close(fd);
	}
	{
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		len = v4(&ss, "127.0.0.1", PB, AF_INET);
		show("udp connect 127.0.0.1:B", connect(fd, (struct sockaddr *)&ss, len));
		show("udp send after connect B", send(fd, "c", 1, 0));
		close(fd);
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		len = v4(&ss, "127.0.0.1", PA, AF_INET);
		show("udp connect 127.0.0.1:A", connect(fd, (struct sockaddr *)&ss, len));
		len = v4(&ss, "127.0.0.1", PB, AF_INET);
		show("udp connected to A, sendto B", sendto(fd, "d", 1, 0, (struct sockaddr *)&ss, len));
		close(fd);
	}
	{
		/* TCP Fast Open: a sendto that would connect an unconnected socket. */
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		len = v4(&ss, "127.0.0.1", PB, AF_INET);
		long r = sendto(fd, "f", 1, MSG_FASTOPEN, (struct sockaddr *)&ss, len);
		printf("tcp fastopen to B: %s\n", r >= 0 ? "ok" : errno == EACCES ? "EACCES" : "refused");
		close(fd);
	}
	usleep(200000);
	printf("received: tcp A %d, tcp B %d, udp A %d, udp B %d\n", drain(ta, SOCK_STREAM), drain(tb, SOCK_STREAM), drain(ua, SOCK_DGRAM), drain(ub, SOCK_DGRAM));
	return 0;
}
