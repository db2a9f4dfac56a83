/*
 * A syscall fuzzer for the sentry: each round a child process opens a few files (a pipe, /etc/passwd,
 * a directory, epoll, eventfd, /proc, /dev/null), fills a buffer with random bytes and makes 300
 * syscalls with random numbers and arguments (small fds, pointers into the buffer, -1, huge values,
 * the stub's page). Calls that would end or stall the child on purpose (exit, fork, execve, kill,
 * waits, sleeps, blocking reads) are skipped; everything else goes. A child dying of a signal is
 * fine; what must hold is that the sentry survives every round and the run ends normally.
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
static const int skip[] = { 15, 56, 57, 58, 59, 60, 61, 62, 200, 231, 234, 322, 435, 34, 130, 35, 230, 247, 202, 7, 23, 270, 271, 232, 281, 0, 17, 19, 295, 128, 101, 169, 62 };
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
			for (int i = 0; i < 300; i++) {
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
