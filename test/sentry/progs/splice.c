/* splice, tee, vmsplice and sendfile: a file's bytes round trip file -> pipe -> socket -> pipe ->
 * file (an AF_UNIX socketpair, then TCP over 127.0.0.1) and come out the same; tee copies without
 * consuming; vmsplice in and out of a pipe; SPLICE_F_NONBLOCK and O_NONBLOCK give EAGAIN where
 * Linux does; a blocked splice is interrupted by a signal (EINTR) or restarted (SA_RESTART);
 * SO_RCVTIMEO ends a wait; offsets (in and out, file offset left alone); sendfile to a socket and a pipe; the error cases. */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#define SIZE (300 * 1024 + 123)

static char data[SIZE], back[SIZE];

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static int reap(pid_t pid)
{
	int st = -1;
	waitpid(pid, &st, 0);
	return st;
}

static int tmpfile_with(const char *path, const char *buf, size_t n)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) return -1;
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, buf + off, n - off);
		if (w <= 0) return -1;
		off += w;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Child half: socket -> pipe -> file until the socket ends; exits 0 if every splice worked. */
static void drain(int sock, const char *path)
{
	int p[2], out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out < 0 || pipe(p) < 0) _exit(2);
	for (;;) {
		ssize_t n = splice(sock, NULL, p[1], NULL, 1 << 16, SPLICE_F_MORE | SPLICE_F_MOVE);
		if (n < 0) _exit(3);
		if (n == 0) break;
		while (n > 0) {
			ssize_t w = splice(p[0], NULL, out, NULL, n, 0);
			if (w <= 0) _exit(4);
			n -= w;
		}
	}
	_exit(0);
}

/* Parent half: file -> pipe -> socket until the file ends. */
static int feed(int in, int sock)
{
	int p[2];
	if (pipe(p) < 0) return -1;
	long total = 0;
	for (;;) {
		ssize_t n = splice(in, NULL, p[1], NULL, 50000, 0);
		if (n < 0) return -1;
		if (n == 0) break;
		total += n;
		while (n > 0) {
			ssize_t w = splice(p[0], NULL, sock, NULL, n, SPLICE_F_MORE);
			if (w <= 0) return -1;
			n -= w;
		}
	}
	close(p[0]);
	close(p[1]);
	return total;
}

static int same_file(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) return 0;
	size_t got = 0;
	ssize_t r;
	while (got < SIZE && (r = read(fd, back + got, SIZE - got)) > 0) got += r;
	char extra;
	int eof = read(fd, &extra, 1) == 0;
	close(fd);
	return got == SIZE && eof && memcmp(back, data, SIZE) == 0;
}

static void round_trip(const char *name, int a, int b)
{
	char in_path[64], out_path[64];
	snprintf(in_path, sizeof in_path, "/tmp/moat-splice-in-%d", (int)getpid());
	snprintf(out_path, sizeof out_path, "/var/tmp/moat-splice-out-%d", (int)getpid());
	int in = tmpfile_with(in_path, data, SIZE);
	pid_t c = fork();
	if (c == 0) {
		close(a);
		drain(b, out_path);
	}
	close(b);
	char label[96];
	snprintf(label, sizeof label, "%s: file->pipe->socket bytes", name);
	SHOW(label, "%d", feed(in, a));
	shutdown(a, SHUT_WR);
	snprintf(label, sizeof label, "%s: socket->pipe->file child", name);
	SHOW(label, "%#x", reap(c));
	snprintf(label, sizeof label, "%s: content survives the round trip", name);
	EXPECT(label, same_file(out_path));
	close(a);
	close(in);
	unlink(in_path);
	unlink(out_path);
}

static void tcp_pair(int sv[2])
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&sa, sizeof sa);
	listen(l, 1);
	getsockname(l, (struct sockaddr *)&sa, &len);
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	OK("tcp connect", connect(sv[0], (struct sockaddr *)&sa, sizeof sa));
	sv[1] = accept(l, NULL, NULL);
	close(l);
}

static void offsets(void)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/moat-splice-off-%d", (int)getpid());
	int f = tmpfile_with(path, data, 8192), p[2];
	pipe(p);
	loff_t off = 1000;
	SHOW("splice off_in 1000 len 100", "%zd", splice(f, &off, p[1], NULL, 100, 0));
	SHOW("off_in advanced to", "%lld", (long long)off);
	SHOW("file offset untouched", "%lld", (long long)lseek(f, 0, SEEK_CUR));
	char buf[100];
	EXPECT("bytes from offset 1000", read(p[0], buf, 100) == 100 && memcmp(buf, data + 1000, 100) == 0);
	SHOW("splice at file offset", "%zd", splice(f, NULL, p[1], NULL, 10, 0));
	SHOW("file offset advanced to", "%lld", (long long)lseek(f, 0, SEEK_CUR));
	read(p[0], buf, 10);
	write(p[1], "0123456789", 10);
	off = 8190;
	SHOW("splice pipe->file off_out 8190", "%zd", splice(p[0], NULL, f, &off, 10, 0));
	SHOW("off_out advanced to", "%lld", (long long)off);
	struct stat st;
	fstat(f, &st);
	SHOW("file grew to", "%lld", (long long)st.st_size);
	/* the program's own binary: a file of the host's, read through the gofer */
	int self = open("/proc/self/exe", O_RDONLY);
	char head[64], via[64];
	pread(self, head, sizeof head, 0);
	off = 0;
	SHOW("splice own binary off 0", "%zd", splice(self, &off, p[1], NULL, sizeof head, 0));
	EXPECT("own binary bytes via splice", read(p[0], via, sizeof via) == sizeof via && memcmp(via, head, sizeof head) == 0);
	close(self);
	close(f);
	close(p[0]);
	close(p[1]);
	unlink(path);
}

static void tee_and_vmsplice(void)
{
	int a[2], b[2];
	pipe(a);
	pipe(b);
	write(a[1], "hello, tee", 10);
	SHOW("tee", "%zd", tee(a[0], b[1], 100, 0));
	char buf[32] = { 0 };
	SHOW("tee copy", "%zd %.10s", read(b[0], buf, sizeof buf), buf);
	memset(buf, 0, sizeof buf);
	SHOW("tee source kept", "%zd %.10s", read(a[0], buf, sizeof buf), buf);
	FAILS("tee empty nonblock", tee(a[0], b[1], 10, SPLICE_F_NONBLOCK), EAGAIN);
	FAILS("tee same pipe", tee(a[0], a[1], 10, 0), EINVAL);

	char x[] = "vm", y[] = "splice!";
	struct iovec iv[2] = { { x, 2 }, { y, 7 } };
	SHOW("vmsplice into pipe", "%zd", vmsplice(a[1], iv, 2, SPLICE_F_GIFT));
	char o1[4] = { 0 }, o2[8] = { 0 };
	struct iovec ov[2] = { { o1, 3 }, { o2, 8 } };
	SHOW("vmsplice out of pipe", "%zd %.3s|%.6s", vmsplice(a[0], ov, 2, 0), o1, o2);
	FAILS("vmsplice empty nonblock", vmsplice(a[0], ov, 2, SPLICE_F_NONBLOCK), EAGAIN);
	SHOW("vmsplice nothing", "%zd", vmsplice(a[1], iv, 0, 0));
	int fd = open("/dev/null", O_WRONLY);
	FAILS("vmsplice not a pipe", vmsplice(fd, iv, 2, 0), EBADF);
	FAILS("vmsplice bad flags", vmsplice(a[1], iv, 2, 0x10), EINVAL);
	/* import_iovec takes nr_segs as an unsigned int: 2^32+1 is one segment */
	SHOW("vmsplice 2^32+1 segments", "%ld", syscall(SYS_vmsplice, a[1], iv, (1UL << 32) + 1, 0));
	SHOW("drained", "%zd", read(a[0], o2, sizeof o2));
	FAILS("vmsplice bad iovec", vmsplice(a[1], (struct iovec *)8, 2, 0), EFAULT);
	/* fill the pipe, then a nonblocking vmsplice has no room */
	fcntl(a[1], F_SETFL, O_NONBLOCK);
	static char fill[1 << 16];
	while (write(a[1], fill, sizeof fill) > 0) {}
	fcntl(a[1], F_SETFL, 0);
	FAILS("vmsplice full nonblock", vmsplice(a[1], iv, 2, SPLICE_F_NONBLOCK), EAGAIN);
	FAILS("splice into full pipe nonblock", splice(b[0], NULL, a[1], NULL, 1, SPLICE_F_NONBLOCK), EAGAIN);
	close(a[0]);
	signal(SIGPIPE, SIG_IGN);
	FAILS("vmsplice no reader", vmsplice(a[1], iv, 2, 0), EPIPE);
	signal(SIGPIPE, SIG_DFL);
	close(fd);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

static volatile sig_atomic_t usr1;
static void on_usr1(int s) { (void)s; usr1++; }

static void signals(void)
{
	int p[2], q[2];
	pipe(p);
	pipe(q);
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	pid_t parent = getpid(), c = fork();
	if (c == 0) {
		msleep(50);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	FAILS("blocked splice, signal without SA_RESTART", splice(p[0], NULL, q[1], NULL, 10, 0), EINTR);
	reap(c);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	c = fork();
	if (c == 0) {
		msleep(50);
		kill(parent, SIGUSR1);
		msleep(50);
		write(p[1], "r", 1);
		_exit(0);
	}
	SHOW("blocked splice, SA_RESTART, then data", "%zd", splice(p[0], NULL, q[1], NULL, 10, 0));
	reap(c);
	SHOW("handler ran", "%d", (int)usr1);
	signal(SIGUSR1, SIG_DFL);
	/* a blocking splice woken by a writer */
	c = fork();
	if (c == 0) {
		msleep(30);
		write(p[1], "wake", 4);
		_exit(0);
	}
	SHOW("blocked splice woken by a writer", "%zd", splice(p[0], NULL, q[1], NULL, 10, 0));
	reap(c);
	close(p[1]);
	SHOW("splice at EOF", "%zd", splice(p[0], NULL, q[1], NULL, 10, 0));
	close(p[0]);
	close(q[0]);
	close(q[1]);
}

static void nonblocking_sockets(void)
{
	int sv[2], p[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pipe(p);
	FAILS("unix socket empty, SPLICE_F_NONBLOCK", splice(sv[0], NULL, p[1], NULL, 10, SPLICE_F_NONBLOCK), EAGAIN);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	FAILS("unix socket empty, O_NONBLOCK", splice(sv[0], NULL, p[1], NULL, 10, 0), EAGAIN);
	write(sv[1], "sock", 4);
	SHOW("unix socket to pipe", "%zd", splice(sv[0], NULL, p[1], NULL, 10, 0));
	FAILS("socket offset", splice(p[0], NULL, sv[1], &(loff_t){ 0 }, 4, 0), EINVAL);
	SHOW("pipe to unix socket", "%zd", splice(p[0], NULL, sv[1], NULL, 10, 0));
	char buf[8] = { 0 };
	SHOW("read back", "%zd %.4s", read(sv[0], buf, sizeof buf), buf);
	struct timeval tv = { 0, 50000 };
	setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	FAILS("unix socket empty, SO_RCVTIMEO 50ms", splice(sv[1], NULL, p[1], NULL, 10, 0), EAGAIN);
	int t[2];
	tcp_pair(t);
	fcntl(t[1], F_SETFL, O_NONBLOCK);
	FAILS("tcp socket empty, O_NONBLOCK", splice(t[1], NULL, p[1], NULL, 10, 0), EAGAIN);
	close(t[0]);
	SHOW("tcp socket after peer close", "%zd", splice(t[1], NULL, p[1], NULL, 10, 0));
	close(t[1]);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

static void errors(void)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/moat-splice-err-%d", (int)getpid());
	int f = tmpfile_with(path, "abc", 3), g = open(path, O_RDONLY), p[2], q[2];
	pipe(p);
	pipe(q);
	write(p[1], "xyz", 3);
	SHOW("len 0", "%zd", splice(-1, NULL, -1, NULL, 0, 0));
	FAILS("bad flags", splice(p[0], NULL, q[1], NULL, 1, 0x10), EINVAL);
	FAILS("bad fd in", splice(-1, NULL, q[1], NULL, 1, 0), EBADF);
	FAILS("bad fd out", splice(p[0], NULL, 1000, NULL, 1, 0), EBADF);
	FAILS("two files", splice(g, NULL, f, NULL, 1, 0), EINVAL);
	FAILS("same pipe", splice(p[0], NULL, p[1], NULL, 1, 0), EINVAL);
	FAILS("offset on pipe in", splice(p[0], &(loff_t){ 0 }, q[1], NULL, 1, 0), ESPIPE);
	FAILS("offset on pipe out", splice(f, NULL, q[1], &(loff_t){ 0 }, 1, 0), ESPIPE);
	FAILS("read from write end", splice(p[1], NULL, q[1], NULL, 1, 0), EBADF);
	FAILS("write to read end", splice(p[0], NULL, q[0], NULL, 1, 0), EBADF);
	FAILS("to read-only file", splice(p[0], NULL, g, NULL, 1, 0), EBADF);
	FAILS("negative offset", splice(p[0], NULL, f, &(loff_t){ -1 }, 1, 0), EINVAL);
	FAILS("offset overflow", splice(p[0], NULL, f, &(loff_t){ 0x7ffffffffffffffeLL }, 3, 0), EINVAL);
	FAILS("bad offset pointer", splice(p[0], NULL, f, (loff_t *)8, 1, 0), EFAULT);
	int ap = open(path, O_WRONLY | O_APPEND);
	FAILS("O_APPEND output", splice(p[0], NULL, ap, NULL, 1, 0), EINVAL);
	FAILS("tee from a file", tee(f, q[1], 1, 0), EINVAL);
	FAILS("tee bad fd", tee(-1, q[1], 1, 0), EBADF);
	int o = open("/tmp", O_PATH);
	FAILS("O_PATH fd", splice(o, NULL, q[1], NULL, 1, 0), EBADF);
	close(o);
	int ev = eventfd(0, 0), d = open("/tmp", O_RDONLY | O_DIRECTORY);
	FAILS("pipe to eventfd", splice(p[0], NULL, ev, NULL, 1, 0), EINVAL);
	FAILS("directory to pipe", splice(d, NULL, q[1], NULL, 1, 0), EINVAL);
	FAILS("sendfile from a directory", sendfile(q[1], d, NULL, 1), EINVAL);
	close(ev);
	close(d);
	close(q[0]);
	signal(SIGPIPE, SIG_IGN);
	FAILS("no reader", splice(p[0], NULL, q[1], NULL, 1, 0), EPIPE);
	FAILS("file to pipe, no reader", splice(f, NULL, q[1], NULL, 1, 0), EPIPE);
	signal(SIGPIPE, SIG_DFL);
	SHOW("pipe kept its bytes", "%d", (int)read(p[0], (char[8]){ 0 }, 8));
	close(ap);
	close(f);
	close(g);
	close(p[0]);
	close(p[1]);
	close(q[1]);
	unlink(path);
}

static void sendfiles(void)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/moat-splice-sf-%d", (int)getpid());
	int f = tmpfile_with(path, data, 4096), sv[2], p[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pipe(p);
	off_t off = 100;
	SHOW("sendfile to socket at 100", "%zd", sendfile(sv[0], f, &off, 50));
	SHOW("sendfile offset now", "%lld", (long long)off);
	char buf[64];
	EXPECT("sendfile bytes", read(sv[1], buf, 50) == 50 && memcmp(buf, data + 100, 50) == 0);
	SHOW("sendfile to pipe", "%zd", sendfile(p[1], f, NULL, 30));
	SHOW("file offset now", "%lld", (long long)lseek(f, 0, SEEK_CUR));
	EXPECT("sendfile pipe bytes", read(p[0], buf, 30) == 30 && memcmp(buf, data, 30) == 0);
	write(sv[1], "from a socket", 13);
	SHOW("sendfile socket to pipe", "%zd", sendfile(p[1], sv[0], NULL, 64));
	SHOW("its bytes", "%zd %.13s", read(p[0], buf, sizeof buf), buf);
	FAILS("sendfile socket with offset", sendfile(p[1], sv[0], &off, 64), ESPIPE);
	FAILS("sendfile negative count", sendfile(sv[0], f, NULL, (size_t)-1), EINVAL);
	FAILS("sendfile from a pipe to a socket", sendfile(sv[0], p[0], NULL, 1), EINVAL);
	close(f);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
	unlink(path);
}

int main(void)
{
	for (int i = 0; i < SIZE; i++) data[i] = (char)(i * 7 + i / 251);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	round_trip("unix", sv[0], sv[1]);
	tcp_pair(sv);
	round_trip("tcp", sv[0], sv[1]);
	offsets();
	tee_and_vmsplice();
	signals();
	nonblocking_sockets();
	errors();
	sendfiles();
	return finish();
}
