/* TCP over loopback between two processes of one sandbox (bench/net.ts runs it natively, under
 * runsc and under moat's sentry):
 *   pingpong  a 1-byte request and a 1-byte reply, N round trips (TCP_NODELAY both ends): the
 *             latency of a request/response exchange, µs per round trip
 *   bulk      the client writes M MiB in 64 KiB writes, the server reads them in 64 KiB reads
 *             until EOF: MiB/s, from the server's accept to its EOF
 * usage: tcp [round-trips (default 5000)] [MiB (default 256)]
 * The parent listens on 127.0.0.1, port 0, before it forks the client, so no start-up race.
 * Prints one JSON line: {"pingpong_us": N, "round_trips": N, "bulk_mib_s": N, "mib": N}; exit 1 on
 * any error (with perror's message).
 * Across a network (bench/vm-net.ts: a vm or runc container against a peer namespace):
 *   tcp serve PORT                      serve clients one at a time, forever: each connection's
 *                                       first byte says what it is, 'p' (echo bytes back until EOF)
 *                                       or 'b' (read to EOF, then send one byte back)
 *   tcp connect ADDR PORT [N] [MiB]     the same two measurements against a server, timed here:
 *                                       bulk from the first write to the server's byte after EOF */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static struct sockaddr_in loopback(void)
{
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return addr;
}

/* Listen on *addr (port 0: any), which then holds the port taken. */
static int listener(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) die("socket");
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)addr, sizeof(*addr)) < 0) die("bind");
	if (listen(s, 4) < 0) die("listen");
	if (getsockname(s, (struct sockaddr *)addr, &len) < 0) die("getsockname");
	return s;
}

static int dial(const struct sockaddr_in *addr)
{
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) die("socket");
	if (connect(s, (const struct sockaddr *)addr, sizeof(*addr)) < 0) die("connect");
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return s;
}

static int take(int l)
{
	int one = 1, s = accept(l, NULL, NULL);
	if (s < 0) die("accept");
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return s;
}

static void reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "the client failed (status %#x)\n", st);
		exit(1);
	}
}

/* The client's side of a round trip: send one byte, read one back. */
static void pingpong_client(const struct sockaddr_in *addr, long n)
{
	char c = 'x';
	int s = dial(addr);
	for (long i = 0; i < n; i++) {
		if (write(s, &c, 1) != 1) die("client write");
		if (read(s, &c, 1) != 1) die("client read");
	}
	close(s);
	exit(0);
}

static double pingpong(long n)
{
	struct sockaddr_in addr = loopback();
	int l = listener(&addr);
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) pingpong_client(&addr, n);
	int s = take(l);
	char c;
	long long t0 = now_ns();
	for (long i = 0; i < n; i++) {
		if (read(s, &c, 1) != 1) die("server read");
		if (write(s, &c, 1) != 1) die("server write");
	}
	long long t1 = now_ns();
	close(s);
	close(l);
	reap(pid);
	return (double)(t1 - t0) / n / 1000.0;
}

static double bulk(long mib)
{
	struct sockaddr_in addr = loopback();
	static char buf[CHUNK];
	int l = listener(&addr);
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		int s = dial(&addr);
		memset(buf, 'b', sizeof(buf));
		for (long left = mib * 1024 * 1024; left > 0;) {
			ssize_t w = write(s, buf, left < CHUNK ? left : CHUNK);
			if (w <= 0) die("client write");
			left -= w;
		}
		close(s);
		exit(0);
	}
	int s = take(l);
	long long got = 0, t0 = now_ns();
	for (;;) {
		ssize_t r = read(s, buf, sizeof(buf));
		if (r < 0) die("server read");
		if (r == 0) break;
		got += r;
	}
	long long t1 = now_ns();
	close(s);
	close(l);
	reap(pid);
	if (got != mib * 1024 * 1024) {
		fprintf(stderr, "read %lld bytes, expected %ld MiB\n", got, mib);
		exit(1);
	}
	return (double)got / (1024 * 1024) / ((double)(t1 - t0) / 1e9);
}

static void write_all(int s, const char *buf, long len)
{
	while (len > 0) {
		ssize_t w = write(s, buf, len);
		if (w <= 0) die("write");
		buf += w;
		len -= w;
	}
}

/* tcp serve PORT: one connection at a time, its first byte names the measurement. */
static _Noreturn void serve(int port)
{
	static char buf[CHUNK];
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	int l = listener(&addr);
	for (;;) {
		int s = take(l);
		char mode;
		ssize_t r = read(s, &mode, 1);
		if (r == 1 && mode == 'p') {
			while ((r = read(s, buf, sizeof(buf))) > 0) write_all(s, buf, r);
		} else if (r == 1 && mode == 'b') {
			while ((r = read(s, buf, sizeof(buf))) > 0) {
			}
			if (r == 0) write_all(s, "k", 1);
		}
		close(s);
	}
}

/* tcp connect ADDR PORT N MiB: both measurements against a server, timed on this side. */
static int connect_to(const char *host, int port, long n, long mib)
{
	static char buf[CHUNK];
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		fprintf(stderr, "tcp connect: %s is not an IPv4 address\n", host);
		return 2;
	}
	int s = dial(&addr);
	char c = 'p';
	write_all(s, &c, 1);
	long long t0 = now_ns();
	for (long i = 0; i < n; i++) {
		write_all(s, &c, 1);
		if (read(s, &c, 1) != 1) die("pingpong read");
	}
	double us = (double)(now_ns() - t0) / n / 1000.0;
	close(s);
	s = dial(&addr);
	memset(buf, 'b', sizeof(buf));
	t0 = now_ns();
	write_all(s, "b", 1);
	for (long left = mib * 1024 * 1024; left > 0; left -= CHUNK) write_all(s, buf, left < CHUNK ? left : CHUNK);
	if (shutdown(s, SHUT_WR) < 0) die("shutdown");
	if (read(s, &c, 1) != 1 || c != 'k') die("bulk: no acknowledgement");
	double rate = (double)mib / ((double)(now_ns() - t0) / 1e9);
	close(s);
	printf("{\"pingpong_us\": %.2f, \"round_trips\": %ld, \"bulk_mib_s\": %.1f, \"mib\": %ld}\n", us, n, rate, mib);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0) serve(atoi(argv[2]));
	if (argc >= 4 && strcmp(argv[1], "connect") == 0)
		return connect_to(argv[2], atoi(argv[3]), argc > 4 ? atol(argv[4]) : 5000, argc > 5 ? atol(argv[5]) : 256);
	long n = argc > 1 ? atol(argv[1]) : 5000;
	long mib = argc > 2 ? atol(argv[2]) : 256;
	if (n <= 0 || mib <= 0) {
		fprintf(stderr, "usage: tcp [round-trips] [MiB]\n");
		return 2;
	}
	double us = pingpong(n);
	double rate = bulk(mib);
	printf("{\"pingpong_us\": %.2f, \"round_trips\": %ld, \"bulk_mib_s\": %.1f, \"mib\": %ld}\n", us, n, rate, mib);
	return 0;
}
