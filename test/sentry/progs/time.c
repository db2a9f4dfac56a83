/* Time: clock_gettime (vDSO or not, and the syscall itself) on the usual clocks, clock_getres,
 * gettimeofday, time, nanosleep and clock_nanosleep (relative and absolute), their errors,
 * getrusage and times, and the legacy vsyscall page where the host has one (emulated calls, a bad
 * pointer or entry is SIGSEGV). Durations are printed only as comparisons. */
#include "common.h"
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

/* The legacy vsyscall entries, as glibc before 2.15 and Go before 1.3 called them. */
typedef long (*vcall)(void *, void *);
#define VSYSCALL(off) ((vcall)(0xffffffffff600000UL + (off)))

/* How a child calling the vsyscall entry at off with (a, b) ends: its wait status. */
static int vsyscall_child(unsigned long off, void *a, void *b)
{
	pid_t p = fork();
	if (p == 0) {
		VSYSCALL(off)(a, b);
		_exit(0);
	}
	int st = 0;
	waitpid(p, &st, 0);
	return st;
}

static void vsyscall_checks(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int listed = 0;
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, "[vsyscall]")) listed = strncmp(line, "ffffffffff600000-ffffffffff601000 --xp ", 39) == 0 ? 1 : 2;
	if (f) fclose(f);
	/* Where the host has vsyscall=none there is no line, and nothing more to check. */
	SHOW("vsyscall page in /proc/self/maps", "%s", listed == 1 ? "--xp" : listed ? "other" : "none");
	if (listed != 1) return;
	time_t before = time(NULL), vt = 0;
	long r = VSYSCALL(0x400)(&vt, NULL);
	EXPECT("vsyscall time returns the time and stores it", r == vt && labs(vt - before) <= 1);
	EXPECT("vsyscall time(NULL)", labs(VSYSCALL(0x400)(NULL, NULL) - before) <= 1);
	struct timeval tv = { 0, 0 };
	r = VSYSCALL(0x000)(&tv, NULL);
	EXPECT("vsyscall gettimeofday", r == 0 && labs(tv.tv_sec - before) <= 1 && tv.tv_usec >= 0 && tv.tv_usec < 1000000);
	unsigned cpu = 9999;
	r = VSYSCALL(0x800)(&cpu, NULL);
	EXPECT("vsyscall getcpu", r == 0 && cpu < 9999);
	int st = vsyscall_child(0x400, (void *)1, NULL);
	EXPECT("vsyscall time with a bad pointer: SIGSEGV", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	st = vsyscall_child(0x000, (void *)1, NULL);
	EXPECT("vsyscall gettimeofday with a bad pointer: SIGSEGV", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	st = vsyscall_child(0x100, NULL, NULL);
	EXPECT("a call into the middle of the vsyscall page: SIGSEGV", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
}

int main(void)
{
	struct timespec a, b, r;
	OK("clock_gettime CLOCK_MONOTONIC", clock_gettime(CLOCK_MONOTONIC, &a));
	int increasing = 1;
	for (int i = 0; i < 1000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (ns(b) < ns(a)) increasing = 0;
		a = b;
	}
	EXPECT("CLOCK_MONOTONIC never goes back", increasing);
	struct timespec sa, sb;
	OK("SYS_clock_gettime", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &sa));
	clock_gettime(CLOCK_MONOTONIC, &b);
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &sb);
	EXPECT("syscall and library agree on CLOCK_MONOTONIC", ns(sa) <= ns(b) && ns(b) <= ns(sb));
	EXPECT("tv_nsec in range", b.tv_nsec >= 0 && b.tv_nsec < 1000000000);

	struct timespec rt;
	struct timeval tv;
	OK("clock_gettime CLOCK_REALTIME", clock_gettime(CLOCK_REALTIME, &rt));
	OK("gettimeofday", gettimeofday(&tv, NULL));
	EXPECT("gettimeofday within 1 s of CLOCK_REALTIME", tv.tv_sec - rt.tv_sec <= 1 && tv.tv_sec >= rt.tv_sec);
	EXPECT("tv_usec in range", tv.tv_usec >= 0 && tv.tv_usec < 1000000);
	EXPECT("realtime is after 2020", rt.tv_sec > 1577836800);
	struct timeval stv;
	OK("SYS_gettimeofday", syscall(SYS_gettimeofday, &stv, NULL));
	EXPECT("SYS_gettimeofday within 1 s", stv.tv_sec - rt.tv_sec <= 1 && stv.tv_sec >= rt.tv_sec);
	time_t t1 = time(NULL);
	long t2 = syscall(SYS_time, NULL);
	EXPECT("time and SYS_time within 1 s of CLOCK_REALTIME", labs((long)t1 - rt.tv_sec) <= 1 && labs(t2 - rt.tv_sec) <= 1);
	clockid_t others[] = { CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID };
	const char *names[] = { "CLOCK_MONOTONIC_RAW", "CLOCK_BOOTTIME", "CLOCK_REALTIME_COARSE", "CLOCK_MONOTONIC_COARSE", "CLOCK_PROCESS_CPUTIME_ID", "CLOCK_THREAD_CPUTIME_ID" };
	for (unsigned i = 0; i < sizeof others / sizeof others[0]; i++) {
		char label[64];
		snprintf(label, sizeof label, "clock_gettime %s", names[i]);
		OK(label, clock_gettime(others[i], &b));
	}
	EXPECT("CLOCK_BOOTTIME >= CLOCK_MONOTONIC", (clock_gettime(CLOCK_MONOTONIC, &a), clock_gettime(CLOCK_BOOTTIME, &b), ns(b) >= ns(a)));
	FAILS("clock_gettime invalid clock", syscall(SYS_clock_gettime, 12345, &b), EINVAL);
	OK("clock_getres CLOCK_MONOTONIC", clock_getres(CLOCK_MONOTONIC, &r));
	EXPECT("resolution at most 1 ms", r.tv_sec == 0 && r.tv_nsec > 0 && r.tv_nsec <= 1000000);

	/* nanosleep ~20 ms */
	struct timespec req = { 0, 20000000 };
	clock_gettime(CLOCK_MONOTONIC, &a);
	OK("nanosleep 20 ms", nanosleep(&req, NULL));
	clock_gettime(CLOCK_MONOTONIC, &b);
	EXPECT("nanosleep elapsed >= 20 ms", ns(b) - ns(a) >= 20000000LL);
	EXPECT("nanosleep elapsed < 2 s", ns(b) - ns(a) < 2000000000LL);
	struct timespec bad = { 0, 1000000000 };
	FAILS("nanosleep tv_nsec out of range", nanosleep(&bad, NULL), EINVAL);
	struct timespec negative = { -1, 0 };
	FAILS("nanosleep negative", nanosleep(&negative, NULL), EINVAL);
	struct timespec zero = { 0, 0 };
	OK("nanosleep 0", nanosleep(&zero, NULL));

	/* clock_nanosleep: relative, and absolute against CLOCK_MONOTONIC */
	clock_gettime(CLOCK_MONOTONIC, &a);
	SHOW("clock_nanosleep relative", "%d", clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL));
	clock_gettime(CLOCK_MONOTONIC, &b);
	EXPECT("clock_nanosleep relative elapsed >= 20 ms", ns(b) - ns(a) >= 20000000LL);
	struct timespec target;
	clock_gettime(CLOCK_MONOTONIC, &target);
	target.tv_nsec += 20000000;
	if (target.tv_nsec >= 1000000000) { target.tv_sec++; target.tv_nsec -= 1000000000; }
	SHOW("clock_nanosleep TIMER_ABSTIME", "%d", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, NULL));
	clock_gettime(CLOCK_MONOTONIC, &b);
	EXPECT("woke at or after the absolute target", ns(b) >= ns(target));
	struct timespec past = { 0, 1 };
	SHOW("clock_nanosleep TIMER_ABSTIME in the past", "%d", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL));
	SHOW("clock_nanosleep invalid clock", "%s", en(clock_nanosleep(12345, 0, &req, NULL)));
	clock_gettime(CLOCK_REALTIME, &target);
	target.tv_nsec += 10000000;
	if (target.tv_nsec >= 1000000000) { target.tv_sec++; target.tv_nsec -= 1000000000; }
	SHOW("clock_nanosleep CLOCK_REALTIME TIMER_ABSTIME", "%d", clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &target, NULL));

	/* CPU time accounting moves forward when we spin */
	struct timespec c0, c1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	volatile unsigned long spin = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		for (int i = 0; i < 100000; i++) spin += i;
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while (ns(b) - ns(a) < 30000000LL);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	EXPECT("process CPU time advanced while spinning", ns(c1) > ns(c0));
	struct rusage ru;
	OK("getrusage RUSAGE_SELF", getrusage(RUSAGE_SELF, &ru));
	EXPECT("rusage times are sane", ru.ru_utime.tv_sec >= 0 && ru.ru_utime.tv_usec >= 0 && ru.ru_utime.tv_usec < 1000000 && ru.ru_stime.tv_usec < 1000000);
	EXPECT("rusage max RSS positive", ru.ru_maxrss > 0);
	struct tms tm;
	clock_t c = times(&tm);
	EXPECT("times", c != (clock_t)-1 && tm.tms_utime >= 0);
	EXPECT("sysconf CLK_TCK", sysconf(_SC_CLK_TCK) == 100);
	/* getitimer reads back what setitimer armed (SIGALRM ignored: no expiry matters). */
	signal(SIGALRM, SIG_IGN);
	struct itimerval itv = { { 1, 0 }, { 1, 0 } }, got, prev;
	OK("setitimer ITIMER_REAL", setitimer(ITIMER_REAL, &itv, NULL));
	OK("getitimer ITIMER_REAL", getitimer(ITIMER_REAL, &got));
	EXPECT("getitimer: the interval as set, the value running", got.it_interval.tv_sec == 1 && got.it_interval.tv_usec == 0 &&
	       (got.it_value.tv_sec > 0 || got.it_value.tv_usec > 0) && got.it_value.tv_sec <= 1);
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	OK("setitimer disarm", setitimer(ITIMER_REAL, &off, &prev));
	EXPECT("setitimer's old value", prev.it_interval.tv_sec == 1 && (prev.it_value.tv_sec > 0 || prev.it_value.tv_usec > 0));
	getitimer(ITIMER_REAL, &got);
	EXPECT("getitimer after disarm: zero", got.it_value.tv_sec == 0 && got.it_value.tv_usec == 0 && got.it_interval.tv_sec == 0);
	FAILS("getitimer invalid timer", getitimer(7, &got), EINVAL);
	signal(SIGALRM, SIG_DFL);
	vsyscall_checks();
	return finish();
}
