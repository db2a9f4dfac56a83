/* Cases from gVisor's syscall tests that once hung the sentry or found it wrong (issue 18): each
 * must end, and behave as on Linux. */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>

static void waits(void)
{
	pid_t c = fork();
	if (c == 0) _exit(0);
	usleep(100000); /* the child is a zombie now */
	/* Waiting only for stops of a child that has exited: ECHILD, not a wait forever. */
	FAILS("waitid_wstopped_zombie", waitid(P_ALL, 0, NULL, WSTOPPED), ECHILD);
	OK("waitid_wexited", waitid(P_ALL, 0, NULL, WEXITED));
	FAILS("waitid_bad_option", waitid(P_ALL, 0, NULL, WEXITED | 0x100000), EINVAL);
	FAILS("waitid_no_children", waitid(P_ALL, 0, NULL, WEXITED | WNOHANG), ECHILD);
	c = fork();
	if (c == 0) _exit(7);
	usleep(50000);
	EXPECT("kill_zombie", kill(c, SIGTERM) == 0 && kill(c, 0) == 0);
	int st = 0;
	EXPECT("wait_zombie", waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 7);
}

static int efd, pfd[2];

static void *add_ready_fd(void *a)
{
	(void)a;
	usleep(100000);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = pfd[0] };
	if (write(pfd[1], "x", 1) != 1) return NULL;
	epoll_ctl(efd, EPOLL_CTL_ADD, pfd[0], &ev);
	return NULL;
}

static void polls(void)
{
	OK("pipe", pipe(pfd));
	struct pollfd p = { .fd = pfd[1], .events = POLLWRNORM };
	EXPECT("poll_wrnorm", poll(&p, 1, 5000) == 1 && p.revents == POLLWRNORM);
	p = (struct pollfd){ .fd = pfd[0], .events = POLLRDNORM };
	EXPECT("poll_rdnorm_empty", poll(&p, 1, 0) == 0);
	EXPECT("write", write(pfd[1], "a", 1) == 1);
	EXPECT("poll_rdnorm", poll(&p, 1, 5000) == 1 && p.revents == POLLRDNORM);
	p.events = POLLIN | POLLRDNORM;
	EXPECT("poll_in_rdnorm", poll(&p, 1, 5000) == 1 && p.revents == (POLLIN | POLLRDNORM));
	char b;
	EXPECT("read", read(pfd[0], &b, 1) == 1);
	/* F_SETPIPE_SZ 0: rounded up to a page. */
	SHOW("setpipe_sz_0", "%d", fcntl(pfd[0], F_SETPIPE_SZ, 0));
	SHOW("getpipe_sz", "%d", fcntl(pfd[0], F_GETPIPE_SZ));
	/* epoll_wait parked on an empty set: an fd added by another thread wakes it. */
	efd = epoll_create1(0);
	pthread_t th;
	pthread_create(&th, NULL, add_ready_fd, NULL);
	struct epoll_event ev;
	EXPECT("epoll_woken_by_ctl_add", epoll_wait(efd, &ev, 1, 10000) == 1 && ev.data.fd == pfd[0]);
	pthread_join(th, NULL);
	close(efd);
	close(pfd[0]);
	close(pfd[1]);
}

static pthread_mutex_t robust;

static void *lock_and_exit(void *a)
{
	(void)a;
	pthread_mutex_lock(&robust);
	return NULL;
}

static void *lock_then_exit_later(void *a)
{
	pthread_mutex_lock(&robust);
	*(volatile int *)a = 1;
	usleep(200000);
	return NULL;
}

static void robust_mutex(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&robust, &a);
	pthread_t th;
	pthread_create(&th, NULL, lock_and_exit, NULL);
	pthread_join(th, NULL);
	int r = pthread_mutex_lock(&robust);
	SHOW("robust_owner_died", "%s", en(r));
	pthread_mutex_consistent(&robust);
	pthread_mutex_unlock(&robust);
	/* A waiter blocked on the mutex is woken when its owner exits. */
	volatile int locked = 0;
	pthread_create(&th, NULL, lock_then_exit_later, (void *)&locked);
	while (!locked) usleep(1000);
	r = pthread_mutex_lock(&robust);
	SHOW("robust_waiter_woken", "%s", en(r));
	pthread_mutex_consistent(&robust);
	pthread_mutex_unlock(&robust);
	pthread_join(th, NULL);
}

static char altmem[2 * 65536];

static void refault(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	*(volatile int *)0 = 1;
}

static void altstack_overflow(void)
{
	pid_t c = fork();
	if (c == 0) {
		stack_t ss = { .ss_sp = altmem + 65536, .ss_size = 65536 };
		sigaltstack(&ss, NULL);
		struct sigaction sa = { .sa_sigaction = refault, .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER };
		sigaction(SIGSEGV, &sa, NULL);
		*(volatile int *)0 = 1;
		_exit(0);
	}
	int st = 0;
	waitpid(c, &st, 0);
	EXPECT("altstack_walked_off_sigsegv", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
}

static void *thread_kills(void *a)
{
	(void)a;
	long ok = kill(gettid(), 0) == 0 && syscall(SYS_tgkill, getpid(), gettid(), 0) == 0 && syscall(SYS_tkill, gettid(), 0) == 0;
	return (void *)ok;
}

static void kills(void)
{
	pthread_t th;
	void *ok = NULL;
	pthread_create(&th, NULL, thread_kills, NULL);
	pthread_join(th, &ok);
	EXPECT("kill_thread_id", ok != NULL);
}

/* timerfd: arming, periodic expirations, gettime, poll/epoll readiness, blocking reads, errors. */
static void timerfds(void)
{
	FAILS("timerfd_bad_clock", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0), EINVAL);
	FAILS("timerfd_bad_flags", timerfd_create(CLOCK_MONOTONIC, 0x4), EINVAL);
	int fd = OK("timerfd_create", timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
	EXPECT("timerfd_cloexec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	uint64_t n = 0;
	FAILS("timerfd_read_unarmed", read(fd, &n, 8), EAGAIN);
	FAILS("timerfd_read_short", read(fd, &n, 4), EINVAL);
	FAILS("timerfd_write", write(fd, &n, 8), EINVAL);
	struct itimerspec its = { .it_value = { 0, 50 * 1000000 }, .it_interval = { 0, 20 * 1000000 } }, cur;
	OK("timerfd_settime", timerfd_settime(fd, 0, &its, NULL));
	OK("timerfd_gettime", timerfd_gettime(fd, &cur));
	EXPECT("timerfd_gettime_value", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 50000000);
	EXPECT("timerfd_gettime_interval", cur.it_interval.tv_sec == 0 && cur.it_interval.tv_nsec == 20000000);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	EXPECT("timerfd_poll_not_yet", poll(&p, 1, 0) == 0);
	EXPECT("timerfd_poll_fires", poll(&p, 1, 5000) == 1 && p.revents == POLLIN);
	usleep(100000);
	EXPECT("timerfd_read_periodic", read(fd, &n, 8) == 8 && n >= 3);
	FAILS("timerfd_read_again", read(fd, &n, 8), EAGAIN);
	struct itimerspec zero = { 0 };
	OK("timerfd_disarm", timerfd_settime(fd, 0, &zero, &cur));
	EXPECT("timerfd_old_value", cur.it_interval.tv_nsec == 20000000);
	OK("timerfd_gettime_disarmed", timerfd_gettime(fd, &cur));
	EXPECT("timerfd_disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	close(fd);
	/* Blocking read, an absolute CLOCK_REALTIME time, and epoll. */
	fd = timerfd_create(CLOCK_REALTIME, 0);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	its = (struct itimerspec){ .it_value = { now.tv_sec, now.tv_nsec } };
	its.it_value.tv_nsec += 30000000;
	if (its.it_value.tv_nsec >= 1000000000) { its.it_value.tv_sec++; its.it_value.tv_nsec -= 1000000000; }
	OK("timerfd_settime_abs", timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL));
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	EXPECT("timerfd_epoll", epoll_wait(ep, &ev, 1, 5000) == 1);
	EXPECT("timerfd_read_blocking", read(fd, &n, 8) == 8 && n == 1);
	its = (struct itimerspec){ .it_value = { 0, 1000000 } };
	timerfd_settime(fd, 0, &its, NULL);
	EXPECT("timerfd_read_blocks_until_expiry", read(fd, &n, 8) == 8 && n == 1);
	its.it_value.tv_nsec = 1000000000;
	FAILS("timerfd_settime_bad_nsec", timerfd_settime(fd, 0, &its, NULL), EINVAL);
	FAILS("timerfd_settime_bad_flags", timerfd_settime(fd, 4, &zero, NULL), EINVAL);
	FAILS("timerfd_settime_not_timerfd", timerfd_settime(ep, 0, &zero, NULL), EINVAL);
	FAILS("timerfd_gettime_ebadf", timerfd_gettime(999, &cur), EBADF);
	{ int b = OK("timerfd_boottime", timerfd_create(CLOCK_BOOTTIME, 0)); close(b); }
	}

static double secs(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0) return -1;
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Burn s seconds of this thread's CPU time (as gVisor's wait tests do). */
static void spin(double s)
{
	double end = secs(CLOCK_THREAD_CPUTIME_ID) + s;
	while (secs(CLOCK_THREAD_CPUTIME_ID) < end)
		for (volatile int i = 0; i < 100000; i++) {}
}

static double tv(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

/* CPU clocks are CPU time: a busy loop is measured as long as it ran on a CPU, never more than
 * the wall time it took; other threads' and processes' clocks, rusage of a reaped child. */
static void cpu_clocks(void)
{
	double w0 = secs(CLOCK_MONOTONIC), p0 = secs(CLOCK_PROCESS_CPUTIME_ID);
	spin(0.3);
	double w1 = secs(CLOCK_MONOTONIC), p1 = secs(CLOCK_PROCESS_CPUTIME_ID);
	EXPECT("cpu_process_clock_advances", p1 - p0 >= 0.29 && p1 - p0 <= (w1 - w0) + 0.05);
	clockid_t cid;
	EXPECT("cpu_pthread_getcpuclockid", pthread_getcpuclockid(pthread_self(), &cid) == 0 && secs(cid) >= 0.29);
	EXPECT("cpu_clock_getcpuclockid", clock_getcpuclockid(getpid(), &cid) == 0 && secs(cid) >= 0.29);
	struct rusage ru;
	EXPECT("cpu_getrusage_self", getrusage(RUSAGE_SELF, &ru) == 0 && tv(ru.ru_utime) + tv(ru.ru_stime) >= 0.29);
	pid_t c = fork();
	if (c == 0) {
		spin(0.3);
		_exit(0);
	}
	int st;
	EXPECT("cpu_wait4_rusage", wait4(c, &st, 0, &ru) == c && tv(ru.ru_utime) + tv(ru.ru_stime) >= 0.29);
	EXPECT("cpu_getrusage_children", getrusage(RUSAGE_CHILDREN, &ru) == 0 && tv(ru.ru_utime) + tv(ru.ru_stime) >= 0.29);
	struct tms tm;
	times(&tm);
	EXPECT("cpu_times", tm.tms_utime + tm.tms_stime >= 29 && tm.tms_cutime + tm.tms_cstime >= 29);
}

static int sfd_for_thread;

static void *raise_later(void *a)
{
	(void)a;
	usleep(100000);
	kill(getpid(), SIGUSR2);
	return NULL;
}

/* signalfd: blocked signals read as records, readiness, mask updates, a blocking read woken by a
 * signal sent from another thread, and sigqueue's value. */
static void signalfds(void)
{
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);
	sigset_t only1;
	sigemptyset(&only1);
	sigaddset(&only1, SIGUSR1);
	FAILS("signalfd_bad_flags", signalfd(-1, &only1, 0x4), EINVAL);
	FAILS("signalfd_bad_size", syscall(SYS_signalfd4, -1, &only1, 4, 0), EINVAL);
	int fd = OK("signalfd_create", signalfd(-1, &only1, SFD_NONBLOCK | SFD_CLOEXEC));
	EXPECT("signalfd_cloexec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	struct signalfd_siginfo si;
	FAILS("signalfd_read_none", read(fd, &si, sizeof si), EAGAIN);
	FAILS("signalfd_read_short", read(fd, &si, 100), EINVAL);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	EXPECT("signalfd_not_ready", poll(&p, 1, 0) == 0);
	kill(getpid(), SIGUSR1);
	EXPECT("signalfd_ready", poll(&p, 1, 0) == 1 && p.revents == POLLIN);
	EXPECT("signalfd_read", read(fd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR1 && si.ssi_code == SI_USER && si.ssi_pid == (uint32_t)getpid());
	FAILS("signalfd_taken", read(fd, &si, sizeof si), EAGAIN);
	/* SIGUSR2 is not in the mask until the mask is changed. */
	kill(getpid(), SIGUSR2);
	FAILS("signalfd_other_signal", read(fd, &si, sizeof si), EAGAIN);
	EXPECT("signalfd_set_mask", signalfd(fd, &m, 0) == fd);
	EXPECT("signalfd_read_after_mask", read(fd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR2);
	union sigval v = { .sival_int = 42 };
	sigqueue(getpid(), SIGUSR1, v);
	EXPECT("signalfd_sigqueue_value", read(fd, &si, sizeof si) == sizeof si && si.ssi_code == SI_QUEUE && si.ssi_int == 42);
	close(fd);
	/* Blocking: a read waits until another thread sends the signal. */
	sfd_for_thread = signalfd(-1, &m, 0);
	pthread_t th;
	pthread_create(&th, NULL, raise_later, NULL);
	EXPECT("signalfd_blocking_read", read(sfd_for_thread, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR2);
	pthread_join(th, NULL);
	FAILS("signalfd_not_signalfd", signalfd(1, &m, 0), EINVAL);
	close(sfd_for_thread);
	sigprocmask(SIG_UNBLOCK, &m, NULL);
}

static int lock_(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	return fcntl(fd, cmd, &fl);
}

/* What F_GETLK (or F_OFD_GETLK) says about a lock of type over [start, start+len). */
static void show_getlk(const char *name, int fd, int cmd, short type, off_t start, off_t len, pid_t holder)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	if (fcntl(fd, cmd, &fl) != 0) { out("%s -1 %s\n", name, en(errno)); failures++; return; }
	out("%s type=%d start=%ld len=%ld pid=%s\n", name, fl.l_type, (long)fl.l_start, (long)fl.l_len,
	    fl.l_type == F_UNLCK ? "-" : fl.l_pid == holder ? "holder" : fl.l_pid == -1 ? "-1" : "other");
}

/* File locks: POSIX byte ranges between processes (conflicts, F_GETLK, split on unlock, release
 * on close, blocking waits, EDEADLK), OFD locks, flock. */
static void locks(void)
{
	char path[] = "/tmp/moat-conform-lockXXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, "0123456789", 10) != 10) { out("lock_setup failed\n"); failures++; return; }
	OK("posix_wrlck", lock_(fd, F_SETLK, F_WRLCK, 0, 10));
	OK("posix_unlock_middle", lock_(fd, F_SETLK, F_UNLCK, 3, 2));
	int go[2], back[2];
	if (pipe(go) || pipe(back)) return;
	pid_t me = getpid();
	pid_t c = fork();
	if (c == 0) {
		/* The child: another process, with its own fd table. */
		int f2 = open(path, O_RDWR);
		char r = 0;
		show_getlk("child_getlk_locked", f2, F_GETLK, F_RDLCK, 0, 1, me);
		show_getlk("child_getlk_hole", f2, F_GETLK, F_WRLCK, 3, 2, me);
		show_getlk("child_getlk_tail", f2, F_GETLK, F_RDLCK, 8, 0, me);
		FAILS("child_setlk_conflict", lock_(f2, F_SETLK, F_WRLCK, 0, 1), EAGAIN);
		OK("child_setlk_hole", lock_(f2, F_SETLK, F_WRLCK, 3, 2));
		/* Deadlock: the parent waits for [3,5) (ours); we now wait for [0,1) (the parent's). */
		if (write(back[1], "w", 1) != 1 || read(go[0], &r, 1) != 1) _exit(99);
		usleep(200000); /* the parent is parked in F_SETLKW by now */
		FAILS("child_setlkw_deadlock", lock_(f2, F_SETLKW, F_WRLCK, 0, 1), EDEADLK);
		close(f2); /* any close drops this process's POSIX locks on the file: the parent goes on */
		if (read(go[0], &r, 1) != 1) _exit(98);
		_exit(failures);
	}
	char r;
	if (read(back[0], &r, 1) != 1) return;
	if (write(go[1], "g", 1) != 1) return;
	OK("parent_setlkw_waits", lock_(fd, F_SETLKW, F_WRLCK, 3, 2));
	if (write(go[1], "g", 1) != 1) return;
	int st = 0;
	EXPECT("lock_child_checks", waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* OFD locks: owned by the open file description, so two opens conflict within one process. */
	int o1 = open(path, O_RDWR), o2 = open(path, O_RDWR);
	OK("ofd_setlk", lock_(o1, F_OFD_SETLK, F_WRLCK, 20, 5));
	FAILS("ofd_conflict_other_description", lock_(o2, F_OFD_SETLK, F_RDLCK, 22, 1), EAGAIN);
	show_getlk("ofd_getlk", o2, F_OFD_GETLK, F_RDLCK, 0, 0, me);
	FAILS("ofd_conflicts_with_posix", lock_(o1, F_OFD_SETLK, F_WRLCK, 0, 1), EAGAIN);
	{
		struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_pid = 1 };
		FAILS("ofd_pid_must_be_0", fcntl(o1, F_OFD_SETLK, &fl), EINVAL);
	}
	close(o1);
	OK("ofd_released_on_close", lock_(o2, F_OFD_SETLK, F_RDLCK, 22, 1));
	close(o2);
	FAILS("posix_getlk_unlck", lock_(fd, F_GETLK, F_UNLCK, 0, 1), EINVAL);
	FAILS("posix_bad_whence", ({ struct flock fl = { .l_type = F_RDLCK, .l_whence = 7 }; fcntl(fd, F_SETLK, &fl); }), EINVAL);
	int ro = open(path, O_RDONLY);
	FAILS("posix_wrlck_needs_write", lock_(ro, F_SETLK, F_WRLCK, 0, 1), EBADF);
	close(ro);
	/* flock: whole-file, per open file description. */
	int a = open(path, O_RDONLY), b = open(path, O_RDONLY);
	OK("flock_sh", flock(a, LOCK_SH));
	OK("flock_sh_shared", flock(b, LOCK_SH | LOCK_NB));
	FAILS("flock_ex_conflict", flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	OK("flock_un", flock(a, LOCK_UN));
	OK("flock_ex_after_unlock", flock(b, LOCK_EX | LOCK_NB));
	FAILS("flock_ex_held", flock(a, LOCK_SH | LOCK_NB), EWOULDBLOCK);
	FAILS("flock_bad_op", flock(a, 0), EINVAL);
	close(b);
	OK("flock_released_on_close", flock(a, LOCK_EX | LOCK_NB));
	close(a);
	close(fd);
	unlink(path);
}

/* A read or write of a file whose buffer faults part way: the count done, not EFAULT (EFAULT only
 * if nothing was done); a pipe's fails with EFAULT (Linux's pipe_read/pipe_write). */
static void partial_faults(void)
{
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) return;
	munmap(p + 4096, 4096);
	char path[] = "/tmp/moat-conform-faultXXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, "abcdefgh", 8) != 8) return;
	lseek(fd, 0, SEEK_SET);
	SHOW("fault_file_partial_read", "%zd", read(fd, p + 4092, 8));
	SHOW("fault_file_offset", "%ld", (long)lseek(fd, 0, SEEK_CUR));
	SHOW("fault_file_pread_partial", "%zd", pread(fd, p + 4094, 8, 0));
	memcpy(p + 4092, "wxyz", 4);
	SHOW("fault_file_partial_write", "%zd", pwrite(fd, p + 4092, 8, 0));
	FAILS("fault_file_read_nothing", read(fd, p + 4096, 8), EFAULT);
	close(fd);
	unlink(path);
	int fds[2];
	if (pipe(fds)) return;
	EXPECT("fault_pipe_setup", write(fds[1], "abcdefgh", 8) == 8);
	FAILS("fault_pipe_partial_read", read(fds[0], p + 4092, 8), EFAULT);
	SHOW("fault_pipe_rest", "%zd", read(fds[0], p, 8));
	FAILS("fault_pipe_partial_write", write(fds[1], p + 4092, 8), EFAULT);
	close(fds[0]);
	close(fds[1]);
	munmap(p, 4096);
	char *low = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	EXPECT("map_32bit_below_2g", low != MAP_FAILED && (uintptr_t)low + 65536 <= 0x80000000u);
	if (low != MAP_FAILED) {
		low[0] = 1;
		munmap(low, 65536);
	}
}

static volatile sig_atomic_t sigio_count, sigusr1_count;
static void on_sigio(int sig) { if (sig == SIGIO) sigio_count++; else sigusr1_count++; }

/* Signal-driven I/O on a pipe: F_SETOWN/F_GETOWN, O_ASYNC, SIGIO when data arrives, F_SETSIG. */
static void async_io(void)
{
	int fds[2];
	if (pipe(fds)) return;
	signal(SIGIO, on_sigio);
	signal(SIGUSR1, on_sigio);
	OK("setown", fcntl(fds[0], F_SETOWN, getpid()));
	EXPECT("getown", fcntl(fds[0], F_GETOWN) == getpid());
	OK("setfl_async", fcntl(fds[0], F_SETFL, O_ASYNC));
	EXPECT("no_sigio_yet", sigio_count == 0);
	EXPECT("write", write(fds[1], "x", 1) == 1);
	EXPECT("sigio_on_data", sigio_count >= 1);
	char c;
	EXPECT("read", read(fds[0], &c, 1) == 1);
	OK("setsig", fcntl(fds[0], F_SETSIG, SIGUSR1));
	EXPECT("getsig", fcntl(fds[0], F_GETSIG) == SIGUSR1);
	EXPECT("write2", write(fds[1], "y", 1) == 1);
	EXPECT("setsig_signal", sigusr1_count >= 1);
	struct f_owner_ex ex = { .type = F_OWNER_TID, .pid = gettid() };
	OK("setown_ex", fcntl(fds[0], F_SETOWN_EX, &ex));
	struct f_owner_ex got = { 0 };
	EXPECT("getown_ex", fcntl(fds[0], F_GETOWN_EX, &got) == 0 && got.type == F_OWNER_TID && got.pid == gettid());
	ex.type = 7;
	FAILS("setown_ex_bad_type", fcntl(fds[0], F_SETOWN_EX, &ex), EINVAL);
	FAILS("setsig_bad", fcntl(fds[0], F_SETSIG, 65), EINVAL);
	close(fds[0]);
	close(fds[1]);
	signal(SIGIO, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
}

static volatile int got_signo, got_code, got_fd;
static volatile long got_band;
static void on_sigpoll(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_signo = sig;
	got_code = si->si_code;
	got_fd = si->si_fd;
	got_band = si->si_band;
}

/* F_SETSIG's siginfo (POLL_IN, the band, the fd O_ASYNC was turned on through, even once that fd
 * is closed and a dup keeps the file), and what F_SETOWN/F_SETOWN_EX refuse. */
static void async_io_info(void)
{
	int fds[2];
	if (pipe(fds)) return;
	struct sigaction sa = { .sa_sigaction = on_sigpoll, .sa_flags = SA_SIGINFO }, old;
	sigaction(SIGUSR2, &sa, &old);
	OK("sigpoll setown", fcntl(fds[0], F_SETOWN, getpid()));
	OK("sigpoll setsig", fcntl(fds[0], F_SETSIG, SIGUSR2));
	OK("sigpoll setfl", fcntl(fds[0], F_SETFL, O_ASYNC | O_NONBLOCK));
	int dupfd = dup(fds[0]);
	OK("sigpoll setfl on the dup (already on)", fcntl(dupfd, F_SETFL, O_ASYNC | O_NONBLOCK));
	int registered = fds[0];
	close(fds[0]);
	EXPECT("sigpoll write", write(fds[1], "z", 1) == 1);
	SHOW("sigpoll siginfo", "signo %d code %d band %#lx", got_signo, got_code, got_band);
	EXPECT("sigpoll si_fd is the fd O_ASYNC was set through", got_fd == registered);
	close(dupfd);
	close(fds[1]);
	sigaction(SIGUSR2, &old, NULL);

	if (pipe(fds)) return;
	FAILS("setown no such pid", fcntl(fds[0], F_SETOWN, 0x3ffffff0), ESRCH);
	FAILS("setown no such pgrp", fcntl(fds[0], F_SETOWN, -0x3ffffff0), ESRCH);
	FAILS("setown INT_MIN", fcntl(fds[0], F_SETOWN, INT32_MIN), EINVAL);
	struct f_owner_ex ex = { .type = F_OWNER_PID, .pid = -1 };
	FAILS("setown_ex negative pid", fcntl(fds[0], F_SETOWN_EX, &ex), ESRCH);
	OK("setown 0", fcntl(fds[0], F_SETOWN, 0));
	close(fds[0]);
	close(fds[1]);
	int p = open("/", O_PATH);
	FAILS("getown on O_PATH", fcntl(p, F_GETOWN), EBADF);
	FAILS("setsig on O_PATH", fcntl(p, F_SETSIG, SIGUSR2), EBADF);
	OK("getfl on O_PATH", fcntl(p, F_GETFL));
	close(p);
}

/* The child's view of a byte of p after fork: its value, or "segv". */
static void fork_reads(const char *name, volatile char *p)
{
	pid_t c = fork();
	if (c == 0) _exit(p[0]);
	int st = 0;
	waitpid(c, &st, 0);
	if (WIFSIGNALED(st)) out("%s %s\n", name, WTERMSIG(st) == SIGSEGV ? "segv" : "killed");
	else out("%s %d\n", name, WEXITSTATUS(st));
}

/* MADV_DONTFORK: the child does not get the range (a fault there); MADV_DOFORK gives it back. */
static void dontfork(void)
{
	char *p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) return;
	p[0] = 5;
	p[4096] = 6;
	p[8192] = 7;
	OK("madv_dontfork", madvise(p + 4096, 4096, MADV_DONTFORK));
	fork_reads("dontfork_before", p);
	fork_reads("dontfork_range", p + 4096);
	fork_reads("dontfork_after", p + 8192);
	OK("madv_dofork", madvise(p + 4096, 4096, MADV_DOFORK));
	fork_reads("dofork_range", p + 4096);
	munmap(p + 4096, 4096);
	FAILS("madv_dontfork_unmapped", madvise(p + 4096, 4096, MADV_DONTFORK), ENOMEM);
	munmap(p, 3 * 4096);
}

/* RLIMIT_DATA bounds brk and private writable mappings (in a child: the limit stays there). */
static void rlimit_data(void)
{
	pid_t c = fork();
	if (c == 0) {
		void *cur = sbrk(0);
		struct rlimit rl = { 64 << 20, 64 << 20 };
		setrlimit(RLIMIT_DATA, &rl);
		int ok = sbrk(128 << 20) == (void *)-1 && errno == ENOMEM;
		ok = ok && sbrk(0) == cur;
		void *m = mmap(NULL, 128 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ok = ok && m == MAP_FAILED && errno == ENOMEM;
		void *ro = mmap(NULL, 128 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ok = ok && ro != MAP_FAILED;
		void *small = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ok = ok && small != MAP_FAILED;
		_exit(ok ? 0 : 1);
	}
	int st = 0;
	EXPECT("rlimit_data_brk_mmap", waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	waits();
	polls();
	robust_mutex();
	altstack_overflow();
	kills();
	timerfds();
	cpu_clocks();
	signalfds();
	locks();
	partial_faults();
	async_io();
	async_io_info();
	dontfork();
	rlimit_data();
	return finish();
}
