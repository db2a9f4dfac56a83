/* Shared by the sentry's syscall-family programs (test/sentry/progs, one per family). Each program
 * prints one line per check, only what is the same natively and under a correct user-space kernel (no pids,
 * addresses, times, inode numbers: relations between them are printed as true/false), and exits
 * with the number of failed expectations (0 = every check behaved as Linux does; capped at 100).
 * Output goes through write(2) directly, never stdio buffers, so fork/vfork/threads/signals cannot
 * duplicate or reorder it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

static __attribute__((format(printf, 1, 2), unused)) void out(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if (n > (int)sizeof buf - 1) n = sizeof buf - 1;
	for (int off = 0; off < n;) {
		ssize_t w = write(1, buf + off, n - off);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) return;
		off += w;
	}
}

/* The errno's symbolic name ("ENOENT"), or E<number> for one glibc does not name. */
static __attribute__((unused)) const char *en(int e)
{
	static char buf[16];
	const char *s = strerrorname_np(e);
	if (s) return s;
	snprintf(buf, sizeof buf, "E%d", e);
	return buf;
}

/* A boolean check: prints "name true|false"; false counts as a failure. */
#define EXPECT(name, cond) do { \
	int ok_ = !!(cond); \
	out("%s %s\n", (name), ok_ ? "true" : "false"); \
	if (!ok_) failures++; \
} while (0)

/* A call expected to succeed: prints "name ok", or "name -1 ERRNO" (a failure). Yields its value. */
#define OK(name, expr) ({ \
	errno = 0; \
	long r_ = (long)(expr); \
	if (r_ < 0) { out("%s -1 %s\n", (name), en(errno)); failures++; } \
	else out("%s ok\n", (name)); \
	r_; \
})

/* A call expected to fail with errno `e`: prints "name -1 ERRNO" (or "name <ret>", a failure). */
#define FAILS(name, expr, e) do { \
	errno = 0; \
	long r_ = (long)(expr); \
	int e_ = errno; \
	if (r_ == -1) out("%s -1 %s\n", (name), en(e_)); else out("%s %ld\n", (name), r_); \
	if (r_ != -1 || e_ != (e)) failures++; \
} while (0)

/* A value printed for comparison with the native run (no expectation of its own). */
#define SHOW(name, fmt, ...) out("%s " fmt "\n", (name), __VA_ARGS__)

static __attribute__((unused)) int finish(void)
{
	out("failures %d\n", failures);
	return failures > 100 ? 100 : failures;
}

/* Wait (up to 5 s) until thread `tid` sleeps in a syscall: /proc's state letter 'S'. */
static __attribute__((unused)) int wait_sleeping(pid_t tid)
{
	char path[64], st[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	for (int i = 0; i < 5000; i++) {
		int fd = open(path, O_RDONLY);
		ssize_t n = fd < 0 ? -1 : read(fd, st, sizeof st - 1);
		if (fd >= 0) close(fd);
		if (n > 0) {
			st[n] = 0;
			char *e = strrchr(st, ')');
			if (e && e[1] == ' ' && e[2] == 'S') return 1;
		}
		usleep(1000);
	}
	return 0;
}
