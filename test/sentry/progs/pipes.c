/* Pipes and readiness: pipe/pipe2, blocking and non-blocking reads and writes, EOF, EPIPE, FIONREAD,
 * poll/ppoll/select/pselect and epoll (level and edge triggered, blocking waits woken by another
 * process). */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
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
	return finish();
}
