/* Signals: rt_sigaction (SA_SIGINFO, SA_RESTART, SA_ONSTACK, SA_RESETHAND, sa_mask), handlers on a
 * sigaltstack, rt_sigprocmask blocking with delivery on unblock, coalescing of standard signals and
 * queueing of real-time ones, kill/raise/tgkill/tkill/sigqueue to self, SIGCHLD, default actions
 * (SIGTERM, SIGKILL, SIGSTOP/SIGCONT, ignored signals) observed via wait status, sigsuspend,
 * interrupted and restarted system calls, registers (FPU) preserved across a handler. */
#include "common.h"
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t usr1_count, usr2_count, rt_count, chld_count, alrm_count;
static volatile int last_code, last_pid_is_me, on_altstack, mask_has_self, mask_has_extra, rt_values;
static volatile int chld_code, chld_status, chld_pid;
static volatile int handler_tid_ok;
static char *alt_base;
static size_t alt_size;
static pid_t me;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	usr1_count++;
	last_code = si->si_code;
	last_pid_is_me = si->si_pid == me && si->si_signo == sig;
	char local;
	on_altstack = (char *)&local >= alt_base && (char *)&local < alt_base + alt_size;
	stack_t cur;
	sigaltstack(NULL, &cur);
	on_altstack = on_altstack && (cur.ss_flags & SS_ONSTACK);
	sigset_t m;
	sigprocmask(SIG_BLOCK, NULL, &m);
	mask_has_self = sigismember(&m, SIGUSR1);
	mask_has_extra = sigismember(&m, SIGWINCH);
	/* clobber FPU state: the interrupted code must not see it */
	volatile double x = 3.0;
	for (int i = 0; i < 10; i++) x = x * 1.5 + 0.25;
}

static void on_usr2(int sig) { (void)sig; usr2_count++; }
static void on_rt(int sig, siginfo_t *si, void *uc) { (void)sig; (void)uc; rt_count++; rt_values = rt_values * 10 + si->si_value.sival_int; }
static void on_alrm(int sig) { (void)sig; alrm_count++; }
static void on_chld(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)uc;
	chld_count++;
	chld_code = si->si_code;
	chld_status = si->si_status;
	chld_pid = si->si_pid;
}

static const char *code_name(int c)
{
	switch (c) {
	case SI_USER: return "SI_USER";
	case SI_TKILL: return "SI_TKILL";
	case SI_QUEUE: return "SI_QUEUE";
	case SI_KERNEL: return "SI_KERNEL";
	default: return "other";
	}
}

static const char *describe(int st)
{
	static char buf[64];
	if (WIFEXITED(st)) snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st)) snprintf(buf, sizeof buf, "killed by %s", sigabbrev_np(WTERMSIG(st)));
	else if (WIFSTOPPED(st)) snprintf(buf, sizeof buf, "stopped by %s", sigabbrev_np(WSTOPSIG(st)));
	else if (WIFCONTINUED(st)) snprintf(buf, sizeof buf, "continued");
	else snprintf(buf, sizeof buf, "status %#x", st);
	return buf;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

/* A child that sends `sig` to its parent every 30 ms until stopped: a blocking call is interrupted
 * however late the parent reaches it. */
static pid_t nagger(int sig)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;) {
			sleep_ms(30);
			kill(getppid(), sig);
		}
	}
	return pid;
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	me = getpid();

	/* sigaltstack */
	alt_size = 64 * 1024;
	alt_base = malloc(alt_size);
	stack_t ss = { .ss_sp = alt_base, .ss_size = alt_size, .ss_flags = 0 };
	OK("sigaltstack", sigaltstack(&ss, NULL));
	stack_t q;
	sigaltstack(NULL, &q);
	EXPECT("sigaltstack reads back", q.ss_sp == alt_base && q.ss_size == alt_size && q.ss_flags == 0);
	stack_t tiny = { .ss_sp = alt_base, .ss_size = 512, .ss_flags = 0 };
	FAILS("sigaltstack too small", sigaltstack(&tiny, NULL), ENOMEM);
	sigaltstack(&ss, NULL); /* should the tiny one have been taken, the handlers below must not overflow it */

	/* rt_sigaction with SA_SIGINFO|SA_ONSTACK|SA_RESTART and an sa_mask */
	struct sigaction sa = { 0 };
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGWINCH);
	OK("rt_sigaction SIGUSR1", sigaction(SIGUSR1, &sa, NULL));
	struct sigaction old;
	sigaction(SIGUSR1, NULL, &old);
	EXPECT("sigaction reads back the handler and flags", old.sa_sigaction == on_usr1 && (old.sa_flags & (SA_SIGINFO | SA_ONSTACK | SA_RESTART)) == (SA_SIGINFO | SA_ONSTACK | SA_RESTART) && sigismember(&old.sa_mask, SIGWINCH));
	FAILS("sigaction SIGKILL", sigaction(SIGKILL, &sa, NULL), EINVAL);
	FAILS("sigaction signal 0", sigaction(0, &sa, NULL), EINVAL);
	FAILS("sigaction signal 65", syscall(SYS_rt_sigaction, 65, NULL, &old, 8), EINVAL);

	/* kill to self: delivered before kill returns, on the alternate stack, with siginfo */
	volatile double f = 1.25;
	OK("kill self", kill(me, SIGUSR1));
	SHOW("handler ran before kill returned", "%d", (int)usr1_count);
	SHOW("si_code of kill", "%s", code_name(last_code));
	EXPECT("si_pid is the sender, si_signo the signal", last_pid_is_me);
	EXPECT("handler ran on the alternate stack", on_altstack);
	EXPECT("the signal is blocked in its handler", mask_has_self);
	EXPECT("sa_mask is blocked in the handler", mask_has_extra);
	EXPECT("FPU state preserved across the handler", f * 2 == 2.5);
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	EXPECT("mask restored after the handler", !sigismember(&now, SIGUSR1) && !sigismember(&now, SIGWINCH));
	sigaltstack(NULL, &q);
	EXPECT("not on the alternate stack after return", !(q.ss_flags & SS_ONSTACK));

	/* raise, tgkill, tkill: SI_TKILL */
	OK("raise", raise(SIGUSR1));
	SHOW("after raise", "%d %s", (int)usr1_count, code_name(last_code));
	OK("tgkill", syscall(SYS_tgkill, me, syscall(SYS_gettid), SIGUSR1));
	SHOW("after tgkill", "%d %s", (int)usr1_count, code_name(last_code));
	OK("tkill", syscall(SYS_tkill, syscall(SYS_gettid), SIGUSR1));
	SHOW("after tkill", "%d %s", (int)usr1_count, code_name(last_code));
	FAILS("tgkill wrong tgid", syscall(SYS_tgkill, 99999999, syscall(SYS_gettid), SIGUSR1), ESRCH);
	FAILS("kill invalid signal", kill(me, 1000), EINVAL);
	OK("kill signal 0 (existence)", kill(me, 0));

	/* rt_sigprocmask: blocked signals stay pending and arrive on unblock; standard ones coalesce */
	signal(SIGUSR2, on_usr2);
	sigset_t blk, pend, oldm;
	sigemptyset(&blk);
	sigaddset(&blk, SIGUSR2);
	sigaddset(&blk, SIGRTMIN + 1);
	OK("rt_sigprocmask SIG_BLOCK", sigprocmask(SIG_BLOCK, &blk, &oldm));
	EXPECT("old mask had neither", !sigismember(&oldm, SIGUSR2));
	raise(SIGUSR2); /* thread-directed, twice: one pending */
	raise(SIGUSR2);
	kill(me, SIGUSR2); /* process-directed: pending in the thread group's own set */
	SHOW("blocked: handler runs", "%d", (int)usr2_count);
	sigpending(&pend);
	SHOW("sigpending has SIGUSR2", "%d", sigismember(&pend, SIGUSR2));
	SHOW("sigpending has SIGUSR1", "%d", sigismember(&pend, SIGUSR1));
	struct sigaction rsa = { 0 };
	rsa.sa_sigaction = on_rt;
	rsa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 1, &rsa, NULL);
	for (int i = 1; i <= 3; i++) {
		union sigval v = { .sival_int = i };
		sigqueue(me, SIGRTMIN + 1, v);
	}
	SHOW("real-time signals while blocked", "%d", (int)rt_count);
	OK("rt_sigprocmask SIG_UNBLOCK", sigprocmask(SIG_UNBLOCK, &blk, NULL));
	SHOW("after unblock: SIGUSR2 handled once per pending set", "%d", (int)usr2_count);
	SHOW("after unblock: real-time signals queued in order", "%d values %d", (int)rt_count, rt_values);
	sigpending(&pend);
	EXPECT("nothing pending any more", !sigismember(&pend, SIGUSR2) && !sigismember(&pend, SIGRTMIN + 1));
	sigemptyset(&blk);
	sigaddset(&blk, SIGKILL);
	sigaddset(&blk, SIGSTOP);
	sigprocmask(SIG_BLOCK, &blk, NULL);
	sigprocmask(SIG_BLOCK, NULL, &now);
	EXPECT("SIGKILL and SIGSTOP cannot be blocked", !sigismember(&now, SIGKILL) && !sigismember(&now, SIGSTOP));
	FAILS("rt_sigprocmask bad how", sigprocmask(99, &blk, NULL), EINVAL);

	/* SIG_IGN and SA_RESETHAND */
	signal(SIGUSR2, SIG_IGN);
	raise(SIGUSR2);
	SHOW("ignored signal did nothing", "%d", (int)usr2_count);
	struct sigaction once = { 0 };
	once.sa_handler = on_usr2;
	once.sa_flags = SA_RESETHAND;
	sigaction(SIGUSR2, &once, NULL);
	raise(SIGUSR2);
	sigaction(SIGUSR2, NULL, &old);
	SHOW("SA_RESETHAND", "%d reset %d", (int)usr2_count, old.sa_handler == SIG_DFL);
	signal(SIGURG, SIG_DFL);
	raise(SIGURG); /* default action: ignore */
	SHOW("SIGURG default is ignore", "%s", "survived");

	/* interrupted system calls: EINTR without SA_RESTART, restarted with it */
	int p[2];
	pipe(p);
	struct sigaction ia = { 0 };
	ia.sa_handler = on_alrm;
	ia.sa_flags = 0;
	sigaction(SIGALRM, &ia, NULL);
	pid_t pid = nagger(SIGALRM);
	char c;
	errno = 0;
	ssize_t n = read(p[0], &c, 1);
	SHOW("read interrupted without SA_RESTART", "%ld %s", (long)n, en(errno));
	EXPECT("the handler ran before EINTR", alrm_count >= 1);
	stop(pid);
	ia.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &ia, NULL);
	pid = fork();
	if (pid == 0) {
		sleep_ms(30);
		kill(getppid(), SIGALRM);
		sleep_ms(30);
		write(p[1], "r", 1);
		_exit(0);
	}
	int seen = alrm_count;
	n = read(p[0], &c, 1);
	SHOW("read restarted with SA_RESTART", "%ld %c", (long)n, n == 1 ? c : '?');
	EXPECT("the handler ran once during the restarted read", alrm_count == seen + 1);
	waitpid(pid, NULL, 0);
	pid = nagger(SIGALRM);
	struct timespec req = { 2, 0 }, rem = { 0, 0 };
	int r = nanosleep(&req, &rem);
	SHOW("nanosleep interrupted", "%d %s", r, en(errno));
	EXPECT("nanosleep remaining time set", rem.tv_sec >= 1 && rem.tv_sec <= 2);
	stop(pid);
	close(p[0]);
	close(p[1]);

	/* SIGCHLD with siginfo on a child's exit, waited for with sigsuspend */
	struct sigaction ca = { 0 };
	ca.sa_sigaction = on_chld;
	ca.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGCHLD, &ca, NULL);
	sigset_t cm, waitmask;
	sigemptyset(&cm);
	sigaddset(&cm, SIGCHLD);
	sigprocmask(SIG_BLOCK, &cm, &waitmask);
	sigdelset(&waitmask, SIGCHLD);
	pid = fork();
	if (pid == 0) _exit(5);
	while (chld_count == 0) sigsuspend(&waitmask);
	SHOW("SIGCHLD", "%d %s status %d", (int)chld_count, chld_code == CLD_EXITED ? "CLD_EXITED" : "other", chld_status);
	EXPECT("SIGCHLD si_pid is the child", chld_pid == pid);
	sigset_t u1;
	sigemptyset(&u1);
	sigaddset(&u1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &u1, NULL);
	kill(me, SIGUSR1);
	int before = usr1_count;
	FAILS("sigsuspend returns EINTR after a handler", sigsuspend(&waitmask), EINTR);
	SHOW("sigsuspend ran the pending handler", "%d", usr1_count - before);
	sigprocmask(SIG_UNBLOCK, &u1, NULL);
	sigprocmask(SIG_UNBLOCK, &cm, NULL);
	int st;
	waitpid(pid, &st, 0);
	SHOW("child after SIGCHLD", "%s", describe(st));

	/* default actions observed via wait status; SIGCHLD reports stops and continues too */
	signal(SIGCHLD, SIG_DFL);
	pid = fork();
	if (pid == 0) { for (;;) pause(); }
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	SHOW("SIGTERM default action", "%s", describe(st));
	pid = fork();
	if (pid == 0) { signal(SIGTERM, SIG_IGN); raise(SIGTERM); _exit(6); }
	waitpid(pid, &st, 0);
	SHOW("ignored SIGTERM", "%s", describe(st));
	pid = fork();
	if (pid == 0) { for (;;) pause(); }
	kill(pid, SIGSTOP);
	waitpid(pid, &st, WUNTRACED);
	SHOW("SIGSTOP", "%s", describe(st));
	kill(pid, SIGCONT);
	waitpid(pid, &st, WCONTINUED);
	SHOW("SIGCONT", "%s", describe(st));
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	SHOW("SIGKILL", "%s", describe(st));
	pid = fork();
	if (pid == 0) {
		/* a handler for SIGTERM, blocked: the parent's kill stays pending until unblocked */
		signal(SIGTERM, SIG_DFL);
		sigset_t t;
		sigemptyset(&t);
		sigaddset(&t, SIGTERM);
		sigprocmask(SIG_BLOCK, &t, NULL);
		raise(SIGTERM);
		sleep_ms(10);
		sigprocmask(SIG_UNBLOCK, &t, NULL);
		_exit(8); /* not reached */
	}
	waitpid(pid, &st, 0);
	SHOW("blocked SIGTERM delivered on unblock", "%s", describe(st));
	pid = fork();
	if (pid == 0) {
		struct rlimit nocore = { 0, 0 };
		setrlimit(RLIMIT_CORE, &nocore); /* no core file in the caller's directory */
		volatile int *np = NULL;
		signal(SIGSEGV, SIG_DFL);
		return *np;
	}
	waitpid(pid, &st, 0);
	SHOW("SIGSEGV default action", "killed by %s", WIFSIGNALED(st) ? sigabbrev_np(WTERMSIG(st)) : "none");
	return finish();
}
