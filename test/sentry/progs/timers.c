/* POSIX per-process timers: timer_create/settime/gettime/getoverrun/delete. Ids in sequence per
 * process (a failed create uses one up), kept counting across exec, fresh after fork; SIGEV_NONE
 * timers counted only when read; SIGEV_SIGNAL with its siginfo (SI_TIMER, si_timerid, si_value),
 * the NULL sigevent (SIGALRM, the id as value), SIGEV_THREAD_ID to this and another thread,
 * glibc's SIGEV_THREAD; a queued signal is not queued twice, its si_overrun counts what was missed
 * and timer_getoverrun reads it; a queued signal of a timer set again or deleted is not delivered;
 * TIMER_ABSTIME on MONOTONIC and REALTIME (also in the past); CPU-clock timers (process, thread,
 * another process's clock); RLIMIT_SIGPENDING; RLIMIT_CPU's SIGXCPU; exec and fork; every argument's error. */
#include "common.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define NS 1000000000L

static int tcreate(clockid_t clock, struct sigevent *sev, int *id)
{
	return (int)syscall(SYS_timer_create, clock, sev, id);
}

static int tset(int id, int flags, long value_ns, long interval_ns, struct itimerspec *old)
{
	struct itimerspec its = {
		.it_interval = { interval_ns / NS, interval_ns % NS },
		.it_value = { value_ns / NS, value_ns % NS },
	};
	return (int)syscall(SYS_timer_settime, id, flags, &its, old);
}

static int tget(int id, struct itimerspec *cur)
{
	return (int)syscall(SYS_timer_gettime, id, cur);
}

static int tover(int id)
{
	return (int)syscall(SYS_timer_getoverrun, id);
}

static int tdel(int id)
{
	return (int)syscall(SYS_timer_delete, id);
}

static long ts_ns(struct timespec ts)
{
	return ts.tv_sec * NS + ts.tv_nsec;
}

static long now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts_ns(ts);
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static sigset_t only(int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	return s;
}

/* Take a pending `sig` waiting up to ms; the signal number or -1. */
static int take(int sig, siginfo_t *si, int ms)
{
	sigset_t s = only(sig);
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	int r;
	do r = sigtimedwait(&s, si, &ts); while (r < 0 && errno == EINTR);
	return r;
}

static sigevent_t sev_signal(int sig, int value)
{
	sigevent_t sev = { 0 };
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = sig;
	sev.sigev_value.sival_int = value;
	return sev;
}

static sigevent_t sev_thread(int sig, int value, pid_t tid)
{
	sigevent_t sev = sev_signal(sig, value);
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev._sigev_un._tid = tid;
	return sev;
}

static void errors(void)
{
	int id;
	sigevent_t sev = { .sigev_notify = SIGEV_NONE };
	FAILS("create clock 12", tcreate(12, &sev, &id), EINVAL);
	FAILS("create clock 10", tcreate(10, &sev, &id), EINVAL);
	FAILS("create clock 1000", tcreate(1000, &sev, &id), EINVAL);
	FAILS("create MONOTONIC_RAW", tcreate(CLOCK_MONOTONIC_RAW, &sev, &id), EOPNOTSUPP);
	FAILS("create REALTIME_COARSE", tcreate(CLOCK_REALTIME_COARSE, &sev, &id), EOPNOTSUPP);
	FAILS("create MONOTONIC_COARSE", tcreate(CLOCK_MONOTONIC_COARSE, &sev, &id), EOPNOTSUPP);
	FAILS("create sevp bad pointer", tcreate(CLOCK_MONOTONIC, (void *)8, &id), EFAULT);
	FAILS("create id bad pointer", tcreate(CLOCK_MONOTONIC, &sev, (void *)8), EFAULT);
	sigevent_t bad = sev;
	bad.sigev_notify = 3;
	FAILS("create notify 3", tcreate(CLOCK_MONOTONIC, &bad, &id), EINVAL);
	bad = sev_signal(0, 0);
	FAILS("create signo 0", tcreate(CLOCK_MONOTONIC, &bad, &id), EINVAL);
	bad = sev_signal(65, 0);
	FAILS("create signo 65", tcreate(CLOCK_MONOTONIC, &bad, &id), EINVAL);
	bad = sev_thread(SIGUSR1, 0, 0x3fffffff);
	FAILS("create THREAD_ID no such thread", tcreate(CLOCK_MONOTONIC, &bad, &id), EINVAL);
	/* Another process's thread may not be the target; its CPU clock may be the clock. */
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	bad = sev_thread(SIGUSR1, 0, child);
	FAILS("create THREAD_ID other process", tcreate(CLOCK_MONOTONIC, &bad, &id), EINVAL);
	clockid_t cc;
	clock_getcpuclockid(child, &cc);
	if (OK("create other process's CPU clock", tcreate(cc, &sev, &id)) == 0) OK("delete it", tdel(id));
	clockid_t thread_of_child = (~(clockid_t)child << 3) | 4 | 2;
	FAILS("create other process's thread CPU clock", tcreate(thread_of_child, &sev, &id), EINVAL);
	FAILS("create CPU clock of no process", tcreate((~(clockid_t)0x3ffffe << 3) | 2, &sev, &id), EINVAL);
	FAILS("create CPU clock which 3", tcreate((~(clockid_t)0 << 3) | 4 | 3, &sev, &id), EINVAL);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* CLOCK_*_ALARM: EOPNOTSUPP on a host without an RTC, else EPERM without CAP_WAKE_ALARM, else a timer. */
	int r = tcreate(CLOCK_REALTIME_ALARM, &sev, &id);
	SHOW("create REALTIME_ALARM", "%s", r == 0 ? "ok" : en(errno));
	if (r == 0) tdel(id);

	OK("create", tcreate(CLOCK_MONOTONIC, &sev, &id));
	struct itimerspec its = { .it_value = { 1, 0 } };
	FAILS("settime no such id", syscall(SYS_timer_settime, id + 100, 0, &its, NULL), EINVAL);
	FAILS("settime negative id", syscall(SYS_timer_settime, -1, 0, &its, NULL), EINVAL);
	FAILS("settime NULL value", syscall(SYS_timer_settime, id, 0, NULL, NULL), EINVAL);
	FAILS("settime bad value pointer", syscall(SYS_timer_settime, id, 0, (void *)8, NULL), EFAULT);
	its.it_value.tv_nsec = NS;
	FAILS("settime tv_nsec 1e9", syscall(SYS_timer_settime, id, 0, &its, NULL), EINVAL);
	its.it_value.tv_nsec = 0;
	its.it_interval.tv_nsec = -2;
	FAILS("settime interval tv_nsec -2", syscall(SYS_timer_settime, id, 0, &its, NULL), EINVAL);
	its.it_interval.tv_nsec = 0;
	its.it_value.tv_sec = -1;
	FAILS("settime tv_sec -1", syscall(SYS_timer_settime, id, 0, &its, NULL), EINVAL);
	its.it_value.tv_sec = 5;
	/* A bad old-value pointer: EFAULT, yet the timer is set. */
	FAILS("settime bad old pointer", syscall(SYS_timer_settime, id, 0, &its, (void *)8), EFAULT);
	struct itimerspec cur;
	tget(id, &cur);
	EXPECT("set despite the bad old pointer", cur.it_value.tv_sec >= 4 && cur.it_value.tv_sec <= 5);
	FAILS("gettime no such id", tget(id + 100, &cur), EINVAL);
	FAILS("gettime bad pointer", tget(id, (void *)8), EFAULT);
	FAILS("getoverrun no such id", tover(id + 100), EINVAL);
	OK("delete", tdel(id));
	FAILS("delete again", tdel(id), EINVAL);
	FAILS("gettime deleted", tget(id, &cur), EINVAL);
	FAILS("delete -1", tdel(-1), EINVAL);
}

static void ids(void)
{
	sigevent_t sev = { .sigev_notify = SIGEV_NONE };
	int a, b, c, d;
	OK("create a", tcreate(CLOCK_MONOTONIC, &sev, &a));
	OK("create b", tcreate(CLOCK_REALTIME, &sev, &b));
	EXPECT("b is a + 1", b == a + 1);
	sigevent_t bad = sev_signal(0, 0);
	FAILS("create with a bad sigevent", tcreate(CLOCK_MONOTONIC, &bad, &c), EINVAL);
	OK("create c", tcreate(CLOCK_BOOTTIME, &sev, &c));
	EXPECT("the failed create used up an id (c is b + 2)", c == b + 2);
	OK("delete b", tdel(b));
	OK("create d", tcreate(CLOCK_TAI, &sev, &d));
	EXPECT("ids are not reused at once (d is c + 1)", d == c + 1);
	tdel(a);
	tdel(c);
	tdel(d);
}

static void silent(void)
{
	sigevent_t sev = { .sigev_notify = SIGEV_NONE };
	int id;
	struct itimerspec cur, old;
	OK("SIGEV_NONE create", tcreate(CLOCK_MONOTONIC, &sev, &id));
	tget(id, &cur);
	EXPECT("initially disarmed", ts_ns(cur.it_value) == 0 && ts_ns(cur.it_interval) == 0);
	OK("set 1 s", tset(id, 0, NS, 0, NULL));
	tget(id, &cur);
	EXPECT("value in (0.5 s, 1 s]", ts_ns(cur.it_value) > NS / 2 && ts_ns(cur.it_value) <= NS);
	OK("set 30 ms, old value back", tset(id, 0, 30000000, 0, &old));
	EXPECT("old value in (0.5 s, 1 s]", ts_ns(old.it_value) > NS / 2 && ts_ns(old.it_value) <= NS);
	msleep(80);
	tget(id, &cur);
	EXPECT("one-shot expired: 0", ts_ns(cur.it_value) == 0);
	SHOW("overrun", "%d", tover(id));
	OK("set periodic 10 ms", tset(id, 0, 10000000, 10000000, NULL));
	msleep(55);
	tget(id, &cur);
	EXPECT("periodic still running", ts_ns(cur.it_value) > 0 && ts_ns(cur.it_value) <= 10000000);
	EXPECT("interval 10 ms", ts_ns(cur.it_interval) == 10000000);
	SHOW("overrun (not counted for SIGEV_NONE)", "%d", tover(id));
	OK("disarm, old value back", tset(id, 0, 0, 0, &old));
	EXPECT("old interval 10 ms", ts_ns(old.it_interval) == 10000000);
	/* (Linux 6.18 still reports the old expiry of a disarmed SIGEV_NONE timer as its value.) */
	tget(id, &cur);
	EXPECT("disarmed: interval 0", ts_ns(cur.it_interval) == 0);
	tdel(id);
}

static void signals(void)
{
	sigset_t all;
	sigemptyset(&all);
	sigaddset(&all, SIGALRM);
	sigaddset(&all, SIGUSR1);
	sigaddset(&all, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &all, NULL);
	siginfo_t si;

	/* NULL sigevent: SIGALRM with the timer's id as its value. */
	int id;
	OK("NULL sigevent create", tcreate(CLOCK_MONOTONIC, NULL, &id));
	tset(id, 0, 10000000, 0, NULL);
	EXPECT("SIGALRM arrives", take(SIGALRM, &si, 2000) == SIGALRM);
	EXPECT("si_code SI_TIMER", si.si_code == SI_TIMER);
	EXPECT("si_timerid is the id", si.si_timerid == id);
	EXPECT("si_value is the id", si.si_value.sival_int == id);
	SHOW("si_overrun", "%d", si.si_overrun);
	tdel(id);

	/* SIGEV_SIGNAL to the process, a value. */
	sigevent_t sev = sev_signal(SIGUSR1, 42);
	OK("SIGEV_SIGNAL create", tcreate(CLOCK_REALTIME, &sev, &id));
	tset(id, 0, 5000000, 0, NULL);
	EXPECT("SIGUSR1 arrives", take(SIGUSR1, &si, 2000) == SIGUSR1);
	EXPECT("si_code SI_TIMER", si.si_code == SI_TIMER);
	EXPECT("si_value 42", si.si_value.sival_int == 42);
	EXPECT("si_timerid", si.si_timerid == id);
	tdel(id);

	/* A legacy signal already pending does not stop the timer's: both are taken, in order. */
	sev = sev_thread(SIGUSR1, 7, gettid());
	OK("THREAD_ID create", tcreate(CLOCK_MONOTONIC, &sev, &id));
	syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1);
	tset(id, 0, 5000000, 0, NULL);
	msleep(50);
	/* (glibc's sigtimedwait reports SI_TKILL as SI_USER.) */
	EXPECT("the tgkill first", take(SIGUSR1, &si, 0) == SIGUSR1 && (si.si_code == SI_TKILL || si.si_code == SI_USER));
	EXPECT("then the timer's", take(SIGUSR1, &si, 0) == SIGUSR1 && si.si_code == SI_TIMER && si.si_value.sival_int == 7);
	EXPECT("then none", take(SIGUSR1, &si, 0) == -1 && errno == EAGAIN);
	tdel(id);

	/* Overruns: blocked, a periodic timer queues one signal and counts the rest. */
	int rt = SIGRTMIN + 1;
	sev = sev_thread(rt, 9, gettid());
	OK("periodic create", tcreate(CLOCK_MONOTONIC, &sev, &id));
	EXPECT("getoverrun before any signal", tover(id) == 0);
	tset(id, 0, 10000000, 10000000, NULL);
	msleep(105);
	EXPECT("one RT signal", take(rt, &si, 0) == rt && si.si_code == SI_TIMER);
	EXPECT("si_overrun counts the missed expirations (>= 7)", si.si_overrun >= 7 && si.si_overrun <= 11);
	EXPECT("timer_getoverrun is the delivered si_overrun", tover(id) == si.si_overrun);
	tset(id, 0, 0, 0, NULL);
	EXPECT("not queued twice; a queued one of the old setting is dropped", take(rt, &si, 0) == -1 && errno == EAGAIN);
	EXPECT("getoverrun 0 after settime", tover(id) == 0);

	/* A queued signal of a deleted timer is not delivered. */
	tset(id, 0, 2000000, 0, NULL);
	msleep(40);
	OK("delete with its signal queued", tdel(id));
	EXPECT("its signal is gone", take(rt, &si, 0) == -1 && errno == EAGAIN);

	/* TIMER_ABSTIME: MONOTONIC 30 ms ahead; REALTIME in the past fires at once. */
	sev = sev_signal(SIGUSR1, 1);
	tcreate(CLOCK_MONOTONIC, &sev, &id);
	long start = now_ns(CLOCK_MONOTONIC);
	OK("absolute MONOTONIC", tset(id, TIMER_ABSTIME, start + 30000000, 0, NULL));
	EXPECT("arrives", take(SIGUSR1, &si, 2000) == SIGUSR1);
	EXPECT("not before the time", now_ns(CLOCK_MONOTONIC) >= start + 30000000);
	tdel(id);
	tcreate(CLOCK_REALTIME, &sev, &id);
	OK("absolute REALTIME in the past", tset(id, TIMER_ABSTIME, now_ns(CLOCK_REALTIME) - NS, 0, NULL));
	EXPECT("arrives at once", take(SIGUSR1, &si, 500) == SIGUSR1);
	struct itimerspec cur;
	tget(id, &cur);
	EXPECT("then disarmed", ts_ns(cur.it_value) == 0);
	OK("absolute REALTIME 1 s ahead", tset(id, TIMER_ABSTIME, now_ns(CLOCK_REALTIME) + NS, 0, NULL));
	tget(id, &cur);
	EXPECT("value in (0.5 s, 1 s]", ts_ns(cur.it_value) > NS / 2 && ts_ns(cur.it_value) <= NS);
	tdel(id);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
}

static pid_t worker_tid;
static atomic_int worker_ready;
static siginfo_t worker_si;

static void *worker(void *arg)
{
	(void)arg;
	worker_tid = gettid();
	atomic_store(&worker_ready, 1);
	take(SIGUSR2, &worker_si, 5000);
	return NULL;
}

static atomic_int thread_calls;
static int notify_pipe[2];

static void on_expiry(union sigval v)
{
	atomic_fetch_add(&thread_calls, 1);
	char c = (char)v.sival_int;
	if (write(notify_pipe[1], &c, 1) != 1) {}
}

static void threads(void)
{
	/* SIGEV_THREAD_ID to another thread of the process: that thread takes it. */
	sigset_t s = only(SIGUSR2);
	sigprocmask(SIG_BLOCK, &s, NULL);
	pthread_t th;
	pthread_create(&th, NULL, worker, NULL);
	while (!atomic_load(&worker_ready)) usleep(1000);
	sigevent_t sev = sev_thread(SIGUSR2, 5, worker_tid);
	int id;
	OK("THREAD_ID other thread create", tcreate(CLOCK_MONOTONIC, &sev, &id));
	tset(id, 0, 10000000, 0, NULL);
	pthread_join(th, NULL);
	EXPECT("the other thread took it", worker_si.si_signo == SIGUSR2 && worker_si.si_code == SI_TIMER && worker_si.si_value.sival_int == 5);
	/* Its target gone, the timer still stands (and sends nothing). */
	tset(id, 0, 5000000, 0, NULL);
	msleep(30);
	siginfo_t si;
	EXPECT("nothing for the others", take(SIGUSR2, &si, 0) == -1);
	OK("delete", tdel(id));
	sigprocmask(SIG_UNBLOCK, &s, NULL);

	/* glibc's SIGEV_THREAD (a helper thread, SIGEV_THREAD_ID underneath). */
	if (pipe(notify_pipe) < 0) return;
	sev = (sigevent_t){ 0 };
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = on_expiry;
	sev.sigev_value.sival_int = 'x';
	timer_t t;
	OK("SIGEV_THREAD create", timer_create(CLOCK_MONOTONIC, &sev, &t));
	struct itimerspec its = { .it_value = { 0, 10000000 } };
	OK("settime", timer_settime(t, 0, &its, NULL));
	struct pollfd p = { notify_pipe[0], POLLIN, 0 };
	EXPECT("the function ran", poll(&p, 1, 3000) == 1);
	char c = 0;
	EXPECT("with its value", read(notify_pipe[0], &c, 1) == 1 && c == 'x');
	OK("delete", timer_delete(t));
	close(notify_pipe[0]);
	close(notify_pipe[1]);
}

static volatile sig_atomic_t cpu_fired;

static void on_cpu(int sig)
{
	(void)sig;
	cpu_fired = 1;
}

/* Spin until the timer's signal, at most 5 s of wall time; whether it came. */
static int spin_until_fired(void)
{
	long end = now_ns(CLOCK_MONOTONIC) + 5 * NS;
	volatile unsigned long x = 0;
	while (!cpu_fired && now_ns(CLOCK_MONOTONIC) < end) for (int i = 0; i < 100000; i++) x += i;
	return cpu_fired;
}

static void cputimers(void)
{
	struct sigaction sa = { .sa_handler = on_cpu };
	sigaction(SIGPROF, &sa, NULL);
	clockid_t clocks[] = { CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, 0 };
	const char *names[] = { "process CPU", "thread CPU", "pthread_getcpuclockid" };
	pthread_getcpuclockid(pthread_self(), &clocks[2]);
	for (int i = 0; i < 3; i++) {
		sigevent_t sev = sev_signal(SIGPROF, 0);
		int id;
		char name[64];
		snprintf(name, sizeof name, "%s create", names[i]);
		if (OK(name, tcreate(clocks[i], &sev, &id)) < 0) continue;
		cpu_fired = 0;
		long start = now_ns(clocks[i]);
		tset(id, 0, 40000000, 0, NULL);
		struct itimerspec cur;
		tget(id, &cur);
		snprintf(name, sizeof name, "%s value <= 40 ms", names[i]);
		EXPECT(name, ts_ns(cur.it_value) > 0 && ts_ns(cur.it_value) <= 40000000);
		snprintf(name, sizeof name, "%s fires while spinning", names[i]);
		EXPECT(name, spin_until_fired());
		snprintf(name, sizeof name, "%s not before 40 ms of CPU", names[i]);
		EXPECT(name, now_ns(clocks[i]) - start >= 40000000);
		/* Absolute: at a CPU time already past, at once. */
		cpu_fired = 0;
		tset(id, TIMER_ABSTIME, 1, 0, NULL);
		snprintf(name, sizeof name, "%s absolute in the past fires", names[i]);
		EXPECT(name, spin_until_fired());
		tdel(id);
	}
	signal(SIGPROF, SIG_DFL);
}

static void limits(void)
{
	/* RLIMIT_SIGPENDING bounds the timers (each holds a signal); 0 allows none. (Linux counts the
	 * user's queued signals too, so only 0 gives the same answer everywhere.) */
	pid_t child = fork();
	if (child == 0) {
		struct rlimit rl = { 0, 0 };
		setrlimit(RLIMIT_SIGPENDING, &rl);
		sigevent_t sev = { .sigev_notify = SIGEV_NONE };
		int id;
		_exit(tcreate(CLOCK_MONOTONIC, &sev, &id) < 0 && errno == EAGAIN ? 0 : 1);
	}
	int st;
	waitpid(child, &st, 0);
	EXPECT("RLIMIT_SIGPENDING 0: EAGAIN", WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static volatile sig_atomic_t xcpu;

static void on_xcpu(int sig)
{
	(void)sig;
	xcpu++;
}

static void spin_cpu(void)
{
	volatile unsigned long x = 0;
	long end = now_ns(CLOCK_MONOTONIC) + 20 * NS;
	while (now_ns(CLOCK_MONOTONIC) < end && xcpu < 2) for (int i = 0; i < 100000; i++) x += i;
}

static void cpu_limit(void)
{
	/* RLIMIT_CPU: SIGXCPU at the soft limit (by default it kills)... */
	struct rlimit rl = { 1, 3 };
	pid_t child = fork();
	if (child == 0) {
		setrlimit(RLIMIT_CPU, &rl);
		spin_cpu();
		_exit(0);
	}
	int st;
	waitpid(child, &st, 0);
	EXPECT("RLIMIT_CPU soft: killed by SIGXCPU", WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU);
	/* ...handled, once more each second of CPU, the soft limit going up by one each time. */
	child = fork();
	if (child == 0) {
		signal(SIGXCPU, on_xcpu);
		setrlimit(RLIMIT_CPU, &rl);
		spin_cpu();
		getrlimit(RLIMIT_CPU, &rl);
		_exit(xcpu == 2 && rl.rlim_cur == 3 ? 0 : 1);
	}
	waitpid(child, &st, 0);
	EXPECT("RLIMIT_CPU handled: twice, soft limit raised to 3", WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void fork_exec(const char *self)
{
	sigevent_t sev = { .sigev_notify = SIGEV_NONE };
	int id;
	tcreate(CLOCK_MONOTONIC, &sev, &id);
	tset(id, 0, 10 * NS, 0, NULL);
	pid_t child = fork();
	if (child == 0) {
		struct itimerspec cur;
		int bad = tget(id, &cur) < 0 && errno == EINVAL;
		int nid;
		tcreate(CLOCK_MONOTONIC, &sev, &nid);
		/* Not inherited; a new process's ids start at 0. */
		_exit(bad && nid == 0 ? 0 : 1);
	}
	int st;
	waitpid(child, &st, 0);
	EXPECT("fork: not inherited, ids from 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* A periodic timer signalling a process that exits: nothing left behind. */
	child = fork();
	if (child == 0) {
		sigevent_t s2 = sev_signal(SIGUSR1, 0);
		int t2;
		signal(SIGUSR1, SIG_IGN);
		tcreate(CLOCK_MONOTONIC, &s2, &t2);
		tset(t2, 0, 1000000, 1000000, NULL);
		msleep(20);
		_exit(3);
	}
	waitpid(child, &st, 0);
	EXPECT("exits with a periodic timer", WIFEXITED(st) && WEXITSTATUS(st) == 3);
	child = fork();
	if (child == 0) {
		int nid;
		tcreate(CLOCK_MONOTONIC, &sev, &nid);
		char arg[32];
		snprintf(arg, sizeof arg, "%d", nid);
		execl(self, self, "exec-child", arg, (char *)NULL);
		_exit(9);
	}
	waitpid(child, &st, 0);
	EXPECT("exec: timers gone", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	tdel(id);
}

/* After exec: the timer is gone, and the id counter of the process goes on. */
static int exec_child(int old)
{
	struct itimerspec cur;
	int gone = tget(old, &cur) < 0 && errno == EINVAL;
	sigevent_t sev = { .sigev_notify = SIGEV_NONE };
	int id;
	tcreate(CLOCK_MONOTONIC, &sev, &id);
	/* Created just before exec (the first of its process): the counter goes on from it. */
	return gone && id == old + 1 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "exec-child") == 0) return exec_child(atoi(argv[2]));
	errors();
	ids();
	silent();
	signals();
	threads();
	cputimers();
	limits();
	cpu_limit();
	fork_exec(argv[0]);
	return finish();
}
