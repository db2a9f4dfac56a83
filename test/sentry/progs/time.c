/* Time: clock_gettime (vDSO or not, and the syscall itself) on the usual clocks, clock_getres,
 * gettimeofday, time, nanosleep and clock_nanosleep (relative and absolute), their errors,
 * getrusage and times. Durations are printed only as comparisons. */
#include "common.h"
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

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
	return finish();
}
