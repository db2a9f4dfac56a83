/* moat-agent: small helpers: the kernel log, power-off, little-endian words, byte queues. */
#include "agent.h"

void logmsg(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
	close(fd);
}

void __attribute__((noreturn)) poweroff(void)
{
	sync();
	reboot(RB_AUTOBOOT); /* QEMU's -no-reboot turns this into an exit */
	for (;;)
		pause();
}

void __attribute__((noreturn)) fatal(const char *what)
{
	logmsg("moat-agent: %s: %s\n", what, strerror(errno));
	poweroff();
}

uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int q_put(struct queue *q, const void *p, size_t n)
{
	if (q->len + n > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
		while (cap < q->len + n)
			cap *= 2;
		if (cap > QUEUE_MAX)
			return -1;
		unsigned char *b = realloc(q->buf, cap);
		if (!b)
			return -1;
		q->buf = b;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, p, n);
	q->len += n;
	return 0;
}

/* Write what fd takes now. 0: all or part written (or EAGAIN); -1: fd is broken (queue dropped). */
int q_flush(struct queue *q, int fd)
{
	while (q->len > 0) {
		ssize_t n = write(fd, q->buf, q->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			q->len = 0;
			return -1;
		}
		memmove(q->buf, q->buf + n, q->len - (size_t)n);
		q->len -= (size_t)n;
	}
	return 0;
}

/* Flush with a deadline (used once, before power-off). */
void q_drain(struct queue *q, int fd, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	while (q->len > 0 && fd >= 0) {
		if (q_flush(q, fd) != 0)
			return;
		if (q->len == 0)
			return;
		long long left = end - now_ms();
		if (left <= 0)
			return;
		struct pollfd pf = { fd, POLLOUT, 0 };
		if (poll(&pf, 1, (int)left) <= 0 || (pf.revents & (POLLERR | POLLNVAL)))
			return;
	}
}

void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), o;
	char buf[65536];
	ssize_t n;

	if (in < 0)
		fatal(from);
	o = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (o < 0)
		fatal(to);
	while ((n = read(in, buf, sizeof buf)) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(o, buf + off, (size_t)(n - off));
			if (w <= 0)
				fatal(to);
			off += w;
		}
	}
	close(in);
	close(o);
}
