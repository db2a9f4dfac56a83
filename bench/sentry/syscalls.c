/* Syscall micro-benchmark for the sentry platform (bench/sentry.ts runs it natively, under runsc and
 * under moat's sentry): the cost of one system call round trip as the application sees it.
 *   getpid             syscall(SYS_getpid): no work in the kernel, the pure round trip
 *   read_dev_zero_1B   read(2) of one byte from /dev/zero: an fd lookup and a copy-out
 *   open_close_dev_null openat + close of /dev/null: a path walk and fd table changes (2 syscalls)
 *   clock_gettime      clock_gettime(CLOCK_MONOTONIC) through libc: the vDSO's read where there is
 *                      one, else a syscall
 * Each case runs in doubling batches until it has run for at least the target time (argv[1], ms;
 * default 300), after a warm-up, so the same binary measures 50 ns and 100 µs calls alike. Prints
 * one JSON object: {"getpid": {"ns_per_op": N, "ops": N}, ...}. Exit 1 if a call fails. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int zero_fd;

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int op_getpid(long n)
{
	for (long i = 0; i < n; i++)
		if (syscall(SYS_getpid) <= 0) return -1;
	return 0;
}

static int op_read(long n)
{
	char c;
	for (long i = 0; i < n; i++)
		if (read(zero_fd, &c, 1) != 1) return -1;
	return 0;
}

static int op_open_close(long n)
{
	for (long i = 0; i < n; i++) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0 || close(fd) != 0) return -1;
	}
	return 0;
}

static int op_clock(long n)
{
	struct timespec t;
	for (long i = 0; i < n; i++)
		if (clock_gettime(CLOCK_MONOTONIC, &t) != 0) return -1;
	return 0;
}

struct bench_case {
	const char *name;
	int (*op)(long);
};

int main(int argc, char **argv)
{
	long long target = (argc > 1 ? atoll(argv[1]) : 300) * 1000000LL;
	zero_fd = open("/dev/zero", O_RDONLY);
	if (zero_fd < 0) { perror("open /dev/zero"); return 1; }
	struct bench_case cases[] = { { "getpid", op_getpid }, { "read_dev_zero_1B", op_read }, { "open_close_dev_null", op_open_close },
				       { "clock_gettime", op_clock } };
	printf("{");
	for (unsigned c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		if (cases[c].op(10) != 0) { fprintf(stderr, "%s failed\n", cases[c].name); return 1; }
		long total = 0;
		long long spent = 0;
		for (long batch = 10; spent < target; batch *= 2) {
			long long t0 = now_ns();
			if (cases[c].op(batch) != 0) { fprintf(stderr, "%s failed\n", cases[c].name); return 1; }
			spent += now_ns() - t0;
			total += batch;
		}
		printf("%s\"%s\": {\"ns_per_op\": %.1f, \"ops\": %ld}", c ? ", " : "", cases[c].name, (double)spent / total, total);
	}
	printf("}\n");
	return 0;
}
