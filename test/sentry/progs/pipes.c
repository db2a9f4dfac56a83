/* Pipes and readiness: pipe/pipe2, blocking and non-blocking reads and writes, EOF, EPIPE, FIONREAD,
 * poll/ppoll/select/pselect and epoll (level and edge triggered, blocking waits woken by another
 * process); a blocking write larger than the pipe (it waits for room for all of it, returns its
 * count so far when the reader goes or a signal comes), a read whose fd another thread closes,
 * empty transfers, positioned I/O on either end. */
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

/* A child that writes `msg` to `fd` after `ms` milliseconds, then exits 0. */
static pid_t delayed_writer(int fd, int ms, const char *msg)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec ts = { 0, ms * 1000000L };
		nanosleep(&ts, NULL);
		_exit(write(fd, msg, strlen(msg)) == (ssize_t)strlen(msg) ? 0 : 1);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int st = -1;
	waitpid(pid, &st, 0);
	return st;
}

/* Wait (up to 5 s) until the pipe holds `n` bytes. */
static int wait_buffered(int fd, int n)
{
	for (int i = 0; i < 5000; i++) {
		int avail = 0;
		if (ioctl(fd, FIONREAD, &avail) == 0 && avail == n) return 1;
		usleep(1000);
	}
	return 0;
}

static volatile sig_atomic_t sigpipes, sigusr1s;
static void count_sigpipe(int s) { (void)s; sigpipes++; }
static void count_sigusr1(int s) { (void)s; sigusr1s++; }

struct xfer {
	int fd;
	size_t len;
	pid_t tid;
	volatile int started;
	ssize_t r1, r2;
	int e1, e2;
	char *buf;
};

/* Writes len bytes, then the same again (the second write is the one after the reader left). */
static void *writer_thread(void *arg)
{
	struct xfer *x = arg;
	x->tid = gettid();
	x->started = 1;
	errno = 0;
	x->r1 = write(x->fd, x->buf, x->len);
	x->e1 = errno;
	errno = 0;
	x->r2 = write(x->fd, x->buf, x->len);
	x->e2 = errno;
	return NULL;
}

static void *reader_thread(void *arg)
{
	struct xfer *x = arg;
	x->tid = gettid();
	x->started = 1;
	errno = 0;
	x->r1 = read(x->fd, x->buf, x->len);
	x->e1 = errno;
	return NULL;
}

/* Reads until len bytes came (or EOF / an error). */
static void *drain_thread(void *arg)
{
	struct xfer *x = arg;
	size_t got = 0;
	while (got < x->len) {
		ssize_t n = read(x->fd, x->buf + got, x->len - got);
		if (n <= 0) break;
		got += n;
	}
	x->r1 = got;
	return NULL;
}

/* What Linux's pipe_read/pipe_write do at the edges the main checks do not reach. */
static void pipe_edges(void)
{
	int p[2];
	char c;
	struct sigaction sa = { 0 }, old;

	/* a position on either end: ESPIPE first, even on the end that cannot do the transfer */
	pipe(p);
	struct iovec iov = { &c, 1 };
	FAILS("pread on the write end", pread(p[1], &c, 1, 0), ESPIPE);
	FAILS("pwrite on the read end", pwrite(p[0], &c, 1, 0), ESPIPE);
	FAILS("preadv on the write end", preadv(p[1], &iov, 1, 0), ESPIPE);
	FAILS("pwritev on the read end", pwritev(p[0], &iov, 1, 0), ESPIPE);
	FAILS("pread on the read end", pread(p[0], &c, 1, 0), ESPIPE);

	/* nothing asked, nothing waited for: an empty blocking pipe reads 0 at once; a write of 0
	 * bytes with no reader left succeeds without SIGPIPE */
	SHOW("read 0 bytes of an empty pipe", "%ld", (long)read(p[0], NULL, 0));
	close(p[0]);
	sa.sa_handler = count_sigpipe;
	sigaction(SIGPIPE, &sa, &old);
	SHOW("write 0 bytes, no reader", "%ld", (long)write(p[1], NULL, 0));
	SHOW("SIGPIPEs after writing nothing", "%d", (int)sigpipes);
	close(p[1]);

	/* a blocking write of twice the capacity waits for the reader: one call, every byte */
	pipe(p);
	int size = fcntl(p[1], F_GETPIPE_SZ);
	char *src = calloc(2, size), *in = calloc(2, size);
	for (int i = 0; i < 2 * size; i++) src[i] = (char)(i * 7);
	struct xfer d = { .fd = p[0], .len = 2 * size, .buf = in };
	pthread_t th;
	pthread_create(&th, NULL, drain_thread, &d);
	ssize_t w = write(p[1], src, 2 * size);
	pthread_join(th, NULL);
	EXPECT("write of twice the capacity returns it all", w == 2 * size);
	EXPECT("reader got every byte in order", d.r1 == 2 * size && memcmp(in, src, 2 * size) == 0);
	close(p[0]);
	close(p[1]);

	/* the reader goes while a large write waits: it returns what it wrote, the next EPIPE, each
	 * with a SIGPIPE */
	pipe(p);
	sigpipes = 0;
	struct xfer x = { .fd = p[1], .len = 2 * size, .buf = src };
	pthread_create(&th, NULL, writer_thread, &x);
	EXPECT("the pipe fills", wait_buffered(p[0], size));
	wait_sleeping(x.tid);
	close(p[0]);
	pthread_join(th, NULL);
	EXPECT("partial write returns the capacity", x.r1 == size);
	SHOW("the next write", "%ld %s", (long)x.r2, en(x.e2));
	SHOW("SIGPIPEs", "%d", (int)sigpipes);
	close(p[1]);
	sigaction(SIGPIPE, &old, NULL);

	/* a signal ends a large write that wrote some: it returns that count, not EINTR */
	pipe(p);
	sa.sa_handler = count_sigusr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, &old);
	struct xfer y = { .fd = p[1], .len = 2 * size, .buf = src };
	pthread_create(&th, NULL, writer_thread, &y);
	EXPECT("the pipe fills again", wait_buffered(p[0], size));
	EXPECT("the writer sleeps", wait_sleeping(y.tid));
	pthread_kill(th, SIGUSR1);
	/* the second write waits on a full pipe: once the first returned, make room so it can end */
	while (__atomic_load_n(&y.r1, __ATOMIC_SEQ_CST) == 0) usleep(1000);
	char *sink = malloc(size);
	read(p[0], sink, size);
	close(p[0]);
	pthread_join(th, NULL);
	EXPECT("interrupted write returns the capacity", y.r1 == size);
	SHOW("SIGUSR1s", "%d", (int)sigusr1s);
	sigaction(SIGUSR1, &old, NULL);
	close(p[1]);

	/* another thread closes the fd a read waits on: the read keeps its file (and the pipe its
	 * reader), so a write still succeeds and the read gets it */
	pipe(p);
	int v = 0;
	struct xfer r = { .fd = p[0], .len = sizeof v, .buf = (char *)&v };
	pthread_create(&th, NULL, reader_thread, &r);
	while (!r.started) usleep(1000);
	EXPECT("the reader sleeps", wait_sleeping(r.tid));
	OK("close the read end under the reader", close(p[0]));
	int val = 0x5eed;
	SHOW("write after the close", "%ld", (long)write(p[1], &val, sizeof val));
	pthread_join(th, NULL);
	SHOW("the waiting read", "%ld %s", (long)r.r1, r.r1 < 0 ? en(r.e1) : "ok");
	EXPECT("the waiting read got the value", v == 0x5eed);
	/* the read is over: its file is gone, and with it the pipe's last reader */
	FAILS("write once the read ended", write(p[1], &val, sizeof val), EPIPE);
	close(p[1]);
	free(sink);
	free(src);
	free(in);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	int p[2];
	int r;
	char buf[256];

	/* pipe (the legacy syscall) and pipe2 */
	OK("SYS_pipe", syscall(SYS_pipe, p));
	SHOW("write", "%ld", (long)write(p[1], "abc", 3));
	int avail = -1;
	OK("ioctl FIONREAD", ioctl(p[0], FIONREAD, &avail));
	SHOW("FIONREAD", "%d", avail);
	ssize_t n = read(p[0], buf, sizeof buf);
	SHOW("read", "%ld %.*s", (long)n, n > 0 ? (int)n : 0, buf);
	close(p[1]);
	SHOW("read at EOF", "%ld", (long)read(p[0], buf, sizeof buf));
	close(p[0]);

	OK("pipe2 O_CLOEXEC|O_NONBLOCK", pipe2(p, O_CLOEXEC | O_NONBLOCK));
	SHOW("pipe2 fd flags", "%d %d", fcntl(p[0], F_GETFD), fcntl(p[1], F_GETFD));
	EXPECT("pipe2 O_NONBLOCK on both ends", (fcntl(p[0], F_GETFL) & O_NONBLOCK) && (fcntl(p[1], F_GETFL) & O_NONBLOCK));
	SHOW("pipe ends accmode", "%d %d", fcntl(p[0], F_GETFL) & O_ACCMODE, fcntl(p[1], F_GETFL) & O_ACCMODE);
	FAILS("read empty non-blocking", read(p[0], buf, 1), EAGAIN);
	FAILS("write to the read end", write(p[0], "x", 1), EBADF);
	/* fill the pipe: the capacity is at least a page, then EAGAIN */
	long total = 0;
	char chunk[4096];
	memset(chunk, 'p', sizeof chunk);
	for (;;) {
		ssize_t w = write(p[1], chunk, sizeof chunk);
		if (w < 0) break;
		total += w;
	}
	SHOW("fill ends with", "%s", en(errno));
	EXPECT("capacity at least 4096", total >= 4096);
	struct pollfd pf = { p[1], POLLOUT, 0 };
	SHOW("poll full pipe for POLLOUT", "%d", poll(&pf, 1, 0));
	long drained = 0;
	while ((n = read(p[0], chunk, sizeof chunk)) > 0) drained += n;
	EXPECT("drained what was written", drained == total);
	close(p[0]);
	close(p[1]);

	/* EPIPE when no reader is left (SIGPIPE ignored) */
	pipe(p);
	close(p[0]);
	FAILS("write without a reader", write(p[1], "x", 1), EPIPE);
	close(p[1]);

	/* poll */
	pipe(p);
	struct pollfd pfs[2] = { { p[0], POLLIN, 0 }, { p[1], POLLOUT, 0 } };
	r = poll(pfs, 2, 0);
	SHOW("poll empty", "%d revents %#x %#x", r, pfs[0].revents, pfs[1].revents);
	write(p[1], "x", 1);
	r = poll(pfs, 2, 0);
	SHOW("poll readable", "%d revents %#x %#x", r, pfs[0].revents, pfs[1].revents);
	read(p[0], buf, 1);
	struct pollfd bad = { 999, POLLIN, 0 };
	r = poll(&bad, 1, 0);
	SHOW("poll bad fd", "%d revents %#x", r, bad.revents);
	struct pollfd neg = { -1, POLLIN, 0 };
	r = poll(&neg, 1, 0);
	SHOW("poll negative fd ignored", "%d revents %#x", r, neg.revents);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	SHOW("poll timeout 30ms", "%d", poll(pfs, 1, 30));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	EXPECT("poll waited >= 29ms", ms >= 29);
	pid_t w = delayed_writer(p[1], 30, "y");
	pfs[0].revents = 0;
	r = poll(pfs, 1, 5000);
	SHOW("poll blocking, woken by another process", "%d revents %#x", r, pfs[0].revents);
	SHOW("writer exit", "%d", WEXITSTATUS(reap(w)));
	read(p[0], buf, 1);

	/* ppoll with a timeout and a signal mask */
	struct timespec ts = { 0, 10000000 };
	sigset_t mask;
	sigemptyset(&mask);
	SHOW("ppoll timeout", "%d", ppoll(pfs, 1, &ts, &mask));
	write(p[1], "z", 1);
	r = ppoll(pfs, 1, &ts, NULL);
	SHOW("ppoll readable", "%d revents %#x", r, pfs[0].revents);
	read(p[0], buf, 1);

	/* select and pselect */
	fd_set rfds, wfds;
	FD_ZERO(&rfds); FD_ZERO(&wfds);
	FD_SET(p[0], &rfds); FD_SET(p[1], &wfds);
	struct timeval tv = { 0, 10000 };
	r = select((p[0] > p[1] ? p[0] : p[1]) + 1, &rfds, &wfds, NULL, &tv);
	SHOW("select", "%d read %d write %d", r, FD_ISSET(p[0], &rfds), FD_ISSET(p[1], &wfds));
	FD_ZERO(&rfds);
	FD_SET(p[0], &rfds);
	tv.tv_sec = 0; tv.tv_usec = 20000;
	SHOW("select timeout", "%d", select(p[0] + 1, &rfds, NULL, NULL, &tv));
	EXPECT("select timeout updated to 0", tv.tv_sec == 0 && tv.tv_usec == 0);
	FD_ZERO(&rfds);
	FD_SET(p[0], &rfds);
	w = delayed_writer(p[1], 20, "w");
	r = select(p[0] + 1, &rfds, NULL, NULL, NULL);
	SHOW("select blocking, woken", "%d read %d", r, FD_ISSET(p[0], &rfds));
	reap(w);
	read(p[0], buf, 1);
	FD_ZERO(&rfds);
	FD_SET(p[0], &rfds);
	struct timespec pts = { 0, 10000000 };
	SHOW("pselect timeout", "%d", pselect(p[0] + 1, &rfds, NULL, NULL, &pts, &mask));

	/* epoll: level triggered, data cookie, MOD, DEL, blocking wait */
	int ep = OK("epoll_create1", epoll_create1(EPOLL_CLOEXEC));
	SHOW("epoll fd cloexec", "%d", fcntl(ep, F_GETFD));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1122334455667788ULL };
	OK("epoll_ctl ADD", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	FAILS("epoll_ctl ADD twice", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
	struct epoll_event got[4];
	SHOW("epoll_wait empty", "%d", epoll_wait(ep, got, 4, 0));
	write(p[1], "ab", 2);
	memset(got, 0, sizeof got);
	r = epoll_wait(ep, got, 4, 0);
	SHOW("epoll_wait readable", "%d events %#x data %#llx", r, got[0].events, (unsigned long long)got[0].data.u64);
	SHOW("epoll level-triggered again", "%d", epoll_wait(ep, got, 4, 0));
	read(p[0], buf, 2);
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = 7;
	OK("epoll_ctl MOD edge-triggered", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
	write(p[1], "a", 1);
	SHOW("epoll edge first", "%d", epoll_wait(ep, got, 4, 0));
	SHOW("epoll edge no new data", "%d", epoll_wait(ep, got, 4, 0));
	write(p[1], "b", 1);
	r = epoll_wait(ep, got, 4, 0);
	SHOW("epoll edge new data", "%d data %llu", r, (unsigned long long)got[0].data.u64);
	read(p[0], buf, 2);
	struct epoll_event wev = { .events = EPOLLOUT, .data.u64 = 9 };
	OK("epoll_ctl ADD write end", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &wev));
	memset(got, 0, sizeof got);
	r = epoll_wait(ep, got, 4, 0);
	SHOW("epoll write end ready", "%d events %#x data %llu", r, got[0].events, (unsigned long long)got[0].data.u64);
	OK("epoll_ctl DEL write end", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
	FAILS("epoll_ctl DEL again", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL), ENOENT);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	SHOW("epoll_wait timeout 20ms", "%d", epoll_wait(ep, got, 4, 20));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	EXPECT("epoll_wait waited >= 19ms", ms >= 19);
	w = delayed_writer(p[1], 20, "e");
	memset(got, 0, sizeof got);
	r = epoll_wait(ep, got, 4, 5000);
	SHOW("epoll_wait blocking, woken", "%d data %llu", r, (unsigned long long)got[0].data.u64);
	reap(w);
	read(p[0], buf, 1);
	/* the writer goes away: EPOLLHUP on the read end */
	close(p[1]);
	memset(got, 0, sizeof got);
	r = epoll_wait(ep, got, 4, 0);
	SHOW("epoll after writer closed", "%d events %#x", r, got[0].events);
	pfs[0].revents = 0;
	r = poll(pfs, 1, 0);
	SHOW("poll after writer closed", "%d revents %#x", r, pfs[0].revents);
	close(ep);
	close(p[0]);

	pipe_edges();

	/* a write end whose reader is gone still has room: POLLOUT and POLLERR together (pipe_poll) */
	int q[2];
	OK("pipe for a closed reader", pipe(q));
	close(q[0]);
	struct pollfd wq = { q[1], POLLOUT, 0 };
	r = poll(&wq, 1, 0);
	SHOW("poll write end, reader closed", "%d revents %#x", r, wq.revents);
	EXPECT("POLLERR and POLLOUT without a reader", r == 1 && (wq.revents & (POLLERR | POLLOUT)) == (POLLERR | POLLOUT));
	close(q[1]);

	/* epoll inside epoll: itself is EINVAL, a cycle through two others is ELOOP (ep_loop_check) */
	int e0 = epoll_create1(0), e1 = epoll_create1(0), e2 = epoll_create1(0);
	struct epoll_event nest = { .events = EPOLLIN };
	FAILS("epoll watching itself", epoll_ctl(e0, EPOLL_CTL_ADD, e0, &nest), EINVAL);
	OK("epoll 0 watches epoll 1", epoll_ctl(e0, EPOLL_CTL_ADD, e1, &nest));
	OK("epoll 1 watches epoll 2", epoll_ctl(e1, EPOLL_CTL_ADD, e2, &nest));
	FAILS("epoll 2 watching epoll 0 (a cycle)", epoll_ctl(e2, EPOLL_CTL_ADD, e0, &nest), ELOOP);
	r = epoll_wait(e0, got, 4, 0);
	SHOW("nested epolls, nothing ready", "%d", r);
	close(e0);
	close(e1);
	close(e2);
	return finish();
}
