/*
 * A syscall fuzzer for the sentry: each round a child process opens a few files (a pipe, /etc/passwd,
 * a directory, epoll, eventfd, /proc, /dev/null), fills a buffer with random bytes and makes 300
 * syscalls with random numbers and arguments (small fds, pointers into the buffer, -1, huge values,
 * the stub's page). Calls that would end or stall the child on purpose (exit, fork, execve, kill,
 * waits, sleeps, blocking reads) are skipped; everything else goes. One call in three is a socket
 * call with socket-shaped arguments: AF_UNIX sockets of every type (and random domains, types and
 * protocols), sockaddr_un paths and abstract names of random lengths, msghdrs with random iovecs
 * and control messages (SCM_RIGHTS of random fds, SCM_CREDENTIALS, bad cmsg_len), random
 * MSG_* flags and socket options. Of the rest, one in five is splice, tee, vmsplice or sendfile
 * with splice-shaped arguments (splice_call). A child dying of a signal is fine; what must hold is that the
 * sentry survives every round and the run ends normally.
 *   fuzz ROUNDS SEED
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>
/* Not drawn at random: what ends or stalls the child (the socket calls are drawn by socket_call, on non-blocking fds). */
static const int skip[] = { 42, 43, 44, 45, 46, 47, 288, 299, 307, 15, 56, 57, 58, 59, 60, 61, 62, 200, 231, 234, 322, 435, 34, 130, 35, 230, 247, 202, 7, 23, 270, 271, 232, 281, 0, 17, 19, 295, 128, 101, 169, 62 };
static unsigned long long rnd(void) { return ((unsigned long long)random() << 33) ^ ((unsigned long long)random() << 11) ^ random(); }
static char buf[65536];
static unsigned long arg(void) {
	switch (random() % 9) {
	case 0: return 0;
	case 1: return (unsigned long)-1;
	case 2: return random() % 12;
	case 3: return (unsigned long)buf + (random() % 4096);
	case 4: return rnd();
	case 5: return (unsigned long)buf;
	case 6: return 4096;
	case 7: return 0x7ff000000000UL + (random() % 8192);
	default: return (unsigned long)(long)(int)rnd();
	}
}
static const int socket_calls[] = { SYS_socket, SYS_socketpair, SYS_bind, SYS_connect, SYS_listen, SYS_accept, SYS_accept4,
	SYS_getsockname, SYS_getpeername, SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_recvmsg, SYS_sendmmsg, SYS_recvmmsg,
	SYS_shutdown, SYS_getsockopt, SYS_setsockopt, SYS_read, SYS_write, SYS_close, SYS_ioctl };
static const char *const names[] = { "/tmp/fz-a", "/tmp/fz-b", "\0fz-a", "\0fz-b", "/proc/self/status", "/tmp", "" };
static int fds[16], nfds;
/* One of the sockets (or any small fd), made non-blocking: no socket call may stall the child. */
static int pick_fd(void) {
	int fd = random() % 5 == 0 ? (int)(random() % 20) - 1 : fds[random() % nfds];
	if (fd >= 0) fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}
/* A sockaddr_un at p (a known name, or random bytes), returning a length that may be wrong. */
static long sockaddr_at(char *p) {
	struct sockaddr_un *a = (struct sockaddr_un *)p;
	a->sun_family = random() % 8 ? AF_UNIX : random() % 50;
	const char *n = names[random() % (sizeof(names) / sizeof(names[0]))];
	size_t len = n[0] == 0 && n[1] ? 1 + strlen(n + 1) : strlen(n);
	if (n[0] == 0 && n[1]) { a->sun_path[0] = 0; memcpy(a->sun_path + 1, n + 1, len - 1); }
	else memcpy(a->sun_path, n, len + 1);
	static const long lens[] = { 0, 1, 2, 3, 16, 110, 111, 128, 129, -1 };
	return random() % 3 ? (long)(2 + len + (n[0] != 0)) : lens[random() % 10];
}
/* A msghdr at p with iovecs and control messages pointing into buf. */
static void msghdr_at(char *p) {
	struct msghdr *m = (struct msghdr *)p;
	struct iovec *iov = (struct iovec *)(buf + 8192);
	char *ctl = buf + 12288;
	memset(m, 0, sizeof *m);
	if (random() % 2) { m->msg_name = buf + 4096; m->msg_namelen = sockaddr_at(buf + 4096); }
	m->msg_iovlen = random() % 4 ? random() % 4 : arg();
	for (int i = 0; i < 4; i++) { iov[i].iov_base = buf + 16384 + random() % 4096; iov[i].iov_len = random() % 3 ? random() % 512 : arg(); }
	m->msg_iov = random() % 8 ? iov : (struct iovec *)arg();
	if (random() % 2) {
		m->msg_control = ctl;
		m->msg_controllen = random() % 4 ? CMSG_SPACE(sizeof(int) * 3) + CMSG_SPACE(12) : arg();
		struct cmsghdr *c = (struct cmsghdr *)ctl;
		c->cmsg_len = random() % 4 ? CMSG_LEN(sizeof(int) * (random() % 4)) : arg();
		c->cmsg_level = random() % 4 ? SOL_SOCKET : (int)arg();
		c->cmsg_type = random() % 3 ? SCM_RIGHTS : random() % 2 ? SCM_CREDENTIALS : (int)arg();
		for (int i = 0; i < 3; i++) ((int *)CMSG_DATA(c))[i] = pick_fd();
		struct cmsghdr *d = (struct cmsghdr *)(ctl + CMSG_SPACE(sizeof(int) * 3));
		d->cmsg_len = CMSG_LEN(12);
		d->cmsg_level = SOL_SOCKET;
		d->cmsg_type = SCM_CREDENTIALS;
		((int *)CMSG_DATA(d))[0] = random() % 2 ? getpid() : (int)arg();
		((int *)CMSG_DATA(d))[1] = random() % 2 ? 0 : (int)arg();
		((int *)CMSG_DATA(d))[2] = 0;
	}
	m->msg_flags = arg();
}
static unsigned long msgflags(void) { return (random() % 4 ? MSG_DONTWAIT : 0) | (random() % 2 ? (random() & 0x4000ffff) : 0); }
static void socket_call(void) {
	long nr = socket_calls[random() % (sizeof(socket_calls) / sizeof(socket_calls[0]))];
	char *a = buf + 1024, *b = buf + 2048;
	*(int *)(buf + 3072) = random() % 4 ? 128 : (int)arg();
	unsigned long lenp = random() % 8 ? (unsigned long)(buf + 3072) : arg();
	int domain = random() % 4 ? AF_UNIX : (int)arg(), type = random() % 4 ? 1 + random() % 5 : (int)arg();
	type |= random() % 2 ? SOCK_NONBLOCK : 0;
	switch (nr) {
	case SYS_socket: syscall(nr, domain, type, random() % 4 ? 0 : arg()); break;
	case SYS_socketpair: syscall(nr, domain, type, random() % 4 ? 0 : arg(), random() % 4 ? (unsigned long)a : arg()); break;
	case SYS_bind: case SYS_connect: syscall(nr, pick_fd(), a, sockaddr_at(a)); break;
	case SYS_listen: syscall(nr, pick_fd(), arg()); break;
	case SYS_accept: case SYS_accept4: syscall(nr, pick_fd(), random() % 2 ? (unsigned long)a : arg(), lenp, random() % 2 ? SOCK_NONBLOCK : arg()); break;
	case SYS_getsockname: case SYS_getpeername: syscall(nr, pick_fd(), random() % 4 ? (unsigned long)a : arg(), lenp); break;
	case SYS_sendto: syscall(nr, pick_fd(), b, random() % 4 ? random() % 70000 : arg(), msgflags(), random() % 2 ? (unsigned long)a : 0, sockaddr_at(a)); break;
	case SYS_recvfrom: syscall(nr, pick_fd(), b, random() % 4 ? random() % 70000 : arg(), msgflags() | MSG_DONTWAIT, random() % 2 ? (unsigned long)a : 0, lenp); break;
	case SYS_sendmsg: case SYS_recvmsg: msghdr_at(b); syscall(nr, pick_fd(), random() % 8 ? (unsigned long)b : arg(), msgflags() | (nr == SYS_recvmsg ? MSG_DONTWAIT : 0)); break;
	case SYS_sendmmsg: case SYS_recvmmsg:
		msghdr_at(b);
		msghdr_at(b + 64);
		syscall(nr, pick_fd(), random() % 8 ? (unsigned long)b : arg(), random() % 4 ? 2 : arg(), msgflags() | (nr == SYS_recvmmsg ? MSG_DONTWAIT : 0), 0);
		break;
	case SYS_shutdown: syscall(nr, pick_fd(), random() % 4); break;
	case SYS_getsockopt: syscall(nr, pick_fd(), random() % 4 ? SOL_SOCKET : arg(), random() % 70, random() % 4 ? (unsigned long)a : arg(), lenp); break;
	case SYS_setsockopt: syscall(nr, pick_fd(), random() % 4 ? SOL_SOCKET : arg(), random() % 70, random() % 4 ? (unsigned long)a : arg(), random() % 4 ? random() % 20 : arg()); break;
	case SYS_read: case SYS_write: case SYS_ioctl: {
		int fd = pick_fd();
		syscall(nr, fd, nr == SYS_ioctl ? (random() % 2 ? 0x541b : 0x5411) : (unsigned long)b, random() % 4 ? random() % 70000 : arg());
		break;
	}
	case SYS_close: if (random() % 4 == 0) syscall(nr, pick_fd()); break;
	}
}
/* splice, tee, vmsplice and sendfile with their own shapes: fds among non-blocking pipes (one
 * resized small, one holding bytes), a writable file, the sockets and any small fd; offsets that
 * are NULL, random bytes of the buffer (negative, huge) or wild pointers; lengths up to 200 KB or
 * random; flags mostly valid (SPLICE_F_NONBLOCK on most, so a pipe cannot stall the child); iovecs
 * of random bases and lengths. */
static int spipes[4], sfile = -1;
static void open_splice_fds(void) {
	int p[2];
	for (int i = 0; i < 2; i++) {
		if (pipe2(p, O_NONBLOCK) == 0) { spipes[2 * i] = p[0]; spipes[2 * i + 1] = p[1]; }
	}
	fcntl(spipes[1], F_SETPIPE_SZ, 4096);
	write(spipes[3], buf, 3000);
	char path[32];
	snprintf(path, sizeof path, "/tmp/fz-s%d", getpid());
	sfile = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	write(sfile, buf, 10000);
}
static int splice_fd(void) {
	switch (random() % 4) {
	case 0: case 1: return spipes[random() % 4];
	case 2: return random() % 2 ? sfile : pick_fd();
	default: return (int)(random() % 20) - 1;
	}
}
static void splice_call(void) {
	long *off = (long *)(buf + 4096 + 8 * (random() % 8));
	unsigned long offp = random() % 2 ? 0 : random() % 4 ? (unsigned long)off : arg();
	unsigned long offq = random() % 2 ? 0 : random() % 4 ? (unsigned long)(off + 1) : arg();
	if (random() % 2) *off = random() % 20000;
	unsigned long len = random() % 4 ? random() % 200000 : arg();
	unsigned long flags = random() % 8 ? (random() % 16) | 2 : arg();
	struct iovec *iov = (struct iovec *)(buf + 8192);
	int n = random() % 4;
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = random() % 4 ? buf + 16384 + random() % 32768 : (void *)arg();
		iov[i].iov_len = random() % 4 ? random() % 16384 : arg();
	}
	switch (random() % 4) {
	case 0: syscall(SYS_splice, splice_fd(), offp, splice_fd(), offq, len, flags); break;
	case 1: syscall(SYS_tee, splice_fd(), splice_fd(), len, flags); break;
	case 2: syscall(SYS_vmsplice, splice_fd(), random() % 8 ? (unsigned long)iov : arg(), random() % 8 ? (unsigned long)n : arg(), flags); break;
	default: syscall(SYS_sendfile, splice_fd(), splice_fd(), offp, len); break;
	}
}
static void open_sockets(void) {
	int sv[2];
	nfds = 0;
	for (int t = 1; t <= 5; t++) {
		if (t == 3 || t == 4) continue;
		if (socketpair(AF_UNIX, t | SOCK_NONBLOCK, 0, sv) == 0) { fds[nfds++] = sv[0]; fds[nfds++] = sv[1]; }
		int s = socket(AF_UNIX, t | SOCK_NONBLOCK, 0);
		if (s >= 0) fds[nfds++] = s;
	}
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "/tmp/fz-l%d", getpid());
	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 2);
	fds[nfds++] = l;
	fds[nfds++] = 3;
}
int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 50;
	unsigned seed = argc > 2 ? atoi(argv[2]) : 1;
	for (int r = 0; r < rounds; r++) {
		pid_t p = fork();
		if (p == 0) {
			srandom(seed * 1000 + r);
			alarm(2);
			for (unsigned k = 0; k < sizeof(buf); k++) buf[k] = random();
			int pfd[2];
			pipe(pfd);
			open("/etc/passwd", 0);
			open("/tmp", 0x10000);
			syscall(SYS_epoll_create1, 0);
			syscall(SYS_eventfd2, 0, 0);
			open("/proc/self/status", 0);
			open("/dev/null", 2);
			open_sockets();
			open_splice_fds();
			for (int i = 0; i < 300; i++) {
				if (random() % 3 == 0) {
					socket_call();
					continue;
				}
				if (random() % 5 == 0) {
					splice_call();
					continue;
				}
				long nr;
				int bad;
				do {
					nr = random() % 460;
					bad = 0;
					for (unsigned k = 0; k < sizeof(skip) / sizeof(skip[0]); k++) if (skip[k] == nr) bad = 1;
				} while (bad);
				syscall(nr, arg(), arg(), arg(), arg(), arg(), arg());
			}
			_exit(0);
		}
		int st;
		waitpid(p, &st, 0);
	}
	printf("fuzz done\n");
	return 0;
}
