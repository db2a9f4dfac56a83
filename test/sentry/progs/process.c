/* Processes: fork, vfork, raw clone, execve of itself (argv, envp, close-on-exec, signal
 * dispositions and mask across exec, #! scripts, /proc/self/exe), posix_spawn, wait4, waitid,
 * exit codes, getpid/getppid relations, process groups and sessions, orphan reparenting, and who
 * may wait for whom: __WCLONE/__WALL for a child without SIGCHLD, __WNOTHREAD, and the CPU time of
 * children reaped because SIGCHLD is ignored (not counted in RUSAGE_CHILDREN). */
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

/* This process's name in /proc/self/comm. */
static const char *comm(void)
{
	static char buf[64];
	buf[0] = 0;
	int fd = open("/proc/self/comm", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0) close(fd);
	buf[n > 0 ? n : 0] = 0;
	char *nl = strchr(buf, '\n');
	if (nl) *nl = 0;
	return buf;
}

/* The image execve'd by the parent: report what it received, exit 42. */
static int exec_child(int argc, char **argv)
{
	out("exec argc %d\n", argc);
	out("exec comm is the program's file name %s\n", strcmp(comm(), "process") == 0 ? "true" : "false");
	out("exec argv[2] %s\n", argv[2]);
	const char *e = getenv("MOAT_SENTRY_EXEC");
	out("exec env %s\n", e ? e : "(unset)");
	out("exec env has no other variables %s\n", environ[0] && !environ[1] ? "true" : "false");
	out("exec keeps the pid %s\n", atoi(argv[3]) == getpid() ? "true" : "false");
	out("exec closes O_CLOEXEC fds %s\n", fcntl(atoi(argv[4]), F_GETFD) == -1 && errno == EBADF ? "true" : "false");
	out("exec keeps other fds %s\n", fcntl(atoi(argv[5]), F_GETFD) == 0 ? "true" : "false");
	struct sigaction sa;
	sigaction(SIGUSR1, NULL, &sa);
	out("exec resets a handled signal to SIG_DFL %s\n", sa.sa_handler == SIG_DFL ? "true" : "false");
	sigaction(SIGUSR2, NULL, &sa);
	out("exec keeps SIG_IGN %s\n", sa.sa_handler == SIG_IGN ? "true" : "false");
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	out("exec keeps the signal mask %s\n", sigismember(&cur, SIGWINCH) ? "true" : "false");
	return 42;
}

static int status_of(pid_t pid)
{
	int st = -1;
	if (waitpid(pid, &st, 0) != pid) return -1;
	return st;
}

static const char *describe(int st)
{
	static char buf[64];
	if (st == -1) snprintf(buf, sizeof buf, "wait failed %s", en(errno));
	else if (WIFEXITED(st)) snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st)) snprintf(buf, sizeof buf, "killed by %s", sigabbrev_np(WTERMSIG(st)));
	else snprintf(buf, sizeof buf, "status %#x", st);
	return buf;
}

static void on_usr1(int sig) { (void)sig; }

static pid_t thread_child;
static int thread_pipes[2][2];
/* Forks a child, then stays alive (so the child stays its) until told to go. */
static void *fork_in_thread(void *arg)
{
	(void)arg;
	char c = 0;
	thread_child = fork();
	if (thread_child == 0) _exit(5);
	write(thread_pipes[0][1], &c, 1);
	read(thread_pipes[1][0], &c, 1);
	return NULL;
}

/* PR_SET_PDEATHSIG: the signal comes when the parent *thread* (the one that forked) exits, even
 * though its process lives on (gVisor's PrctlTest.PDeathSig without the ptrace part). */
static pid_t pdeath_child;
static int pdeath_pipe[2];

static void *pdeath_forker(void *arg)
{
	(void)arg;
	pdeath_child = fork();
	if (pdeath_child == 0) {
		char c = 1;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int sig = 0;
		prctl(PR_GET_PDEATHSIG, &sig);
		c = sig == SIGKILL;
		write(pdeath_pipe[1], &c, 1);
		alarm(10); /* no SIGKILL: SIGALRM ends it, and the check below fails instead of hanging */
		for (;;)
			pause();
	}
	char c;
	read(pdeath_pipe[0], &c, 1); /* the child has asked for it: now this thread ends */
	return (void *)(long)c;
}

static void pdeath_checks(void)
{
	pthread_t th;
	void *got = NULL;
	int st = 0;
	if (pipe(pdeath_pipe) != 0) return;
	pthread_create(&th, NULL, pdeath_forker, NULL);
	pthread_join(th, &got);
	EXPECT("PR_GET_PDEATHSIG reads what PR_SET_PDEATHSIG set", got == (void *)1);
	EXPECT("the child is killed when the thread that forked it exits", waitpid(pdeath_child, &st, 0) == pdeath_child && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	close(pdeath_pipe[0]);
	close(pdeath_pipe[1]);
}

static void wait_selection_checks(void)
{
	/* A raw clone with exit signal 0: a "clone" child. */
	pid_t c = (pid_t)syscall(SYS_clone, 0UL, NULL, NULL, NULL, 0UL);
	if (c == 0) syscall(SYS_exit, 3);
	FAILS("waitpid of a clone child without __WCLONE", waitpid(c, NULL, 0), ECHILD);
	int st = 0;
	EXPECT("waitpid __WCLONE of a clone child", waitpid(c, &st, __WCLONE) == c && WIFEXITED(st) && WEXITSTATUS(st) == 3);
	pid_t f = fork();
	if (f == 0) _exit(4);
	FAILS("waitpid __WCLONE of a fork child", waitpid(f, NULL, __WCLONE), ECHILD);
	EXPECT("waitpid __WALL of a fork child", waitpid(f, &st, __WALL) == f && WEXITSTATUS(st) == 4);

	/* __WNOTHREAD: a child another thread made is not this thread's. */
	pthread_t th;
	char x = 0;
	pipe(thread_pipes[0]);
	pipe(thread_pipes[1]);
	pthread_create(&th, NULL, fork_in_thread, NULL);
	read(thread_pipes[0][0], &x, 1);
	FAILS("waitpid __WNOTHREAD of a sibling thread's child", waitpid(thread_child, NULL, __WNOTHREAD), ECHILD);
	EXPECT("waitpid of it without __WNOTHREAD", waitpid(thread_child, &st, 0) == thread_child && WEXITSTATUS(st) == 5);
	write(thread_pipes[1][1], &x, 1);
	pthread_join(th, NULL);
	for (int i = 0; i < 2; i++) { close(thread_pipes[i][0]); close(thread_pipes[i][1]); }

	/* SIGCHLD ignored: the child is reaped by nobody's wait, its CPU time is nobody's. */
	struct rusage before, after;
	getrusage(RUSAGE_CHILDREN, &before);
	signal(SIGCHLD, SIG_IGN);
	pid_t s = fork();
	if (s == 0) {
		struct timespec a, b;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
		volatile unsigned long spin = 0;
		do {
			for (int i = 0; i < 100000; i++) spin += i;
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
		} while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 50000000L);
		_exit(0);
	}
	FAILS("wait with SIGCHLD ignored: ECHILD once the child is gone", wait(NULL), ECHILD);
	signal(SIGCHLD, SIG_DFL);
	getrusage(RUSAGE_CHILDREN, &after);
	EXPECT("RUSAGE_CHILDREN without the ignored child's time",
	       before.ru_utime.tv_sec == after.ru_utime.tv_sec && before.ru_utime.tv_usec == after.ru_utime.tv_usec);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exec-child") == 0) return exec_child(argc, argv);
	if (argc > 1 && strcmp(argv[1], "spawn-child") == 0) return 45;
	if (argc > 1 && strcmp(argv[1], "procexe-child") == 0) {
		/* comm is the last component of the path given to execve, not of the file it resolved to */
		out("comm after execve /proc/self/exe: %s\n", comm());
		return 43;
	}
	if (argc > 1 && strcmp(argv[1], "script-child") == 0) {
		/* run as the interpreter of a #! script: argv = self, "script-child", script, "x" */
		out("script argc %d\n", argc);
		out("script argv[2] is the script %s\n", argc > 2 && strstr(argv[2], "moat-sentry-script-") ? "true" : "false");
		out("script argv[3] %s\n", argc > 3 ? argv[3] : "(none)");
		return 44;
	}
	char self[4096];
	if (argv[0][0] == '/') snprintf(self, sizeof self, "%s", argv[0]);
	else {
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		self[n > 0 ? n : 0] = 0;
	}
	pid_t me = getpid();
	EXPECT("gettid is getpid in the main thread", syscall(SYS_gettid) == me);
	FAILS("wait4 without children", wait4(-1, NULL, 0, NULL), ECHILD);
	FAILS("waitpid WNOHANG without children", waitpid(-1, NULL, WNOHANG), ECHILD);

	/* fork: relations reported by the child over a pipe */
	int p[2];
	pipe(p);
	pid_t pid = fork();
	if (pid == 0) {
		char rel[3] = { getppid() == me ? 'T' : 'F', getpid() != me ? 'T' : 'F', syscall(SYS_gettid) == getpid() ? 'T' : 'F' };
		write(p[1], rel, 3);
		_exit(7);
	}
	EXPECT("fork returns a new pid", pid > 0 && pid != me);
	char rel[3] = "";
	read(p[0], rel, 3);
	EXPECT("child's getppid is the parent's getpid", rel[0] == 'T');
	EXPECT("child's getpid differs from the parent's", rel[1] == 'T');
	EXPECT("child's gettid is its getpid", rel[2] == 'T');
	int st = 0;
	struct rusage ru;
	EXPECT("wait4 returns the child's pid", wait4(pid, &st, 0, &ru) == pid);
	SHOW("fork child", "%s", describe(st));
	close(p[0]);
	close(p[1]);

	/* exit codes, including truncation to 8 bits and exit vs exit_group */
	int codes[] = { 0, 1, 255, 256, -1, 300 };
	for (unsigned i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		pid = fork();
		if (pid == 0) _exit(codes[i]);
		out("_exit(%d) %s\n", codes[i], describe(status_of(pid)));
	}
	pid = fork();
	if (pid == 0) syscall(SYS_exit, 5);
	SHOW("SYS_exit(5) in a single-threaded child", "%s", describe(status_of(pid)));
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
	if (pid == 0) syscall(SYS_exit_group, 11);
	SHOW("raw clone(SIGCHLD) child", "%s", describe(status_of(pid)));
	pid = fork();
	if (pid == 0) { kill(getpid(), SIGKILL); _exit(1); }
	SHOW("child killing itself with SIGKILL", "%s", describe(status_of(pid)));

	/* vfork: the child borrows the parent's memory, the parent waits for its _exit */
	volatile int shared = 0;
	pid = vfork();
	if (pid == 0) {
		shared = 1234;
		_exit(9);
	}
	SHOW("vfork child wrote the parent's memory", "%d", shared);
	SHOW("vfork child", "%s", describe(status_of(pid)));

	/* execve of itself with arguments and a fresh environment */
	int keep[2], drop[2];
	pipe(keep);
	pipe2(drop, O_CLOEXEC);
	signal(SIGUSR1, on_usr1);
	signal(SIGUSR2, SIG_IGN);
	sigset_t blk;
	sigemptyset(&blk);
	sigaddset(&blk, SIGWINCH);
	sigprocmask(SIG_BLOCK, &blk, NULL);
	pid = fork();
	if (pid == 0) {
		char spid[16], sdrop[16], skeep[16];
		snprintf(spid, sizeof spid, "%d", (int)getpid());
		snprintf(sdrop, sizeof sdrop, "%d", drop[0]);
		snprintf(skeep, sizeof skeep, "%d", keep[0]);
		char *args[] = { self, "exec-child", spid, spid, sdrop, skeep, NULL };
		args[2] = "hello world";
		char *env[] = { "MOAT_SENTRY_EXEC=yes", NULL };
		execve(self, args, env);
		_exit(99);
	}
	SHOW("execve child", "%s", describe(status_of(pid)));
	sigprocmask(SIG_UNBLOCK, &blk, NULL);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
	close(keep[0]); close(keep[1]); close(drop[0]); close(drop[1]);

	/* execve failures leave the caller running */
	char *noargs[] = { "x", NULL };
	FAILS("execve missing file", execve("/nonexistent/moat-sentry", noargs, environ), ENOENT);
	FAILS("execve a directory", execve("/", noargs, environ), EACCES);
	char script[96], junk[96];
	snprintf(junk, sizeof junk, "/tmp/moat-sentry-junk-%d", (int)me);
	snprintf(script, sizeof script, "/tmp/moat-sentry-script-%d", (int)me);
	int fd = open(junk, O_CREAT | O_WRONLY | O_TRUNC, 0755);
	write(fd, "\x01\x02\x03 not an executable\n", 23);
	close(fd);
	FAILS("execve a file of no known format", execve(junk, noargs, environ), ENOEXEC);
	unlink(junk);
	fd = open(junk, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	close(fd);
	FAILS("execve a file without x permission", execve(junk, noargs, environ), EACCES);
	unlink(junk);

	/* a #! script whose interpreter is this program, with an optional argument */
	fd = open(script, O_CREAT | O_WRONLY | O_TRUNC, 0755);
	char line[4200];
	int len = snprintf(line, sizeof line, "#!%s script-child\nignored\n", self);
	write(fd, line, len);
	close(fd);
	pid = fork();
	if (pid == 0) {
		char *sargs[] = { script, "x", NULL };
		execve(script, sargs, environ);
		_exit(98);
	}
	SHOW("#! script child", "%s", describe(status_of(pid)));
	unlink(script);

	/* /proc/self/exe is this program */
	pid = fork();
	if (pid == 0) {
		char *pargs[] = { "renamed", "procexe-child", NULL };
		execve("/proc/self/exe", pargs, environ);
		_exit(97);
	}
	SHOW("execve /proc/self/exe", "%s", describe(status_of(pid)));

	/* posix_spawn (clone with CLONE_VM|CLONE_VFORK in glibc) */
	char *spargs[] = { self, "spawn-child", NULL };
	pid_t sp = 0;
	SHOW("posix_spawn", "%d", posix_spawn(&sp, self, NULL, NULL, spargs, environ));
	SHOW("posix_spawn child", "%s", describe(status_of(sp)));

	/* waitid: WNOHANG on a running child, WNOWAIT, then reaping; a killed child */
	pipe(p);
	pid = fork();
	if (pid == 0) {
		char c;
		close(p[1]);
		_exit(read(p[0], &c, 1) == 0 ? 3 : 4);
	}
	close(p[0]);
	siginfo_t si;
	memset(&si, 0xff, sizeof si);
	SHOW("waitid WNOHANG running", "%d", waitid(P_PID, pid, &si, WEXITED | WNOHANG));
	EXPECT("waitid WNOHANG leaves si_pid 0", si.si_pid == 0);
	SHOW("wait4 WNOHANG running", "%d", wait4(pid, &st, WNOHANG, NULL));
	close(p[1]);
	memset(&si, 0, sizeof si);
	OK("waitid WNOWAIT", waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
	SHOW("waitid si_code si_status", "%s %d", si.si_code == CLD_EXITED ? "CLD_EXITED" : "other", si.si_status);
	EXPECT("waitid si_pid is the child", si.si_pid == pid);
	EXPECT("waitid si_signo is SIGCHLD", si.si_signo == SIGCHLD);
	memset(&si, 0, sizeof si);
	OK("waitid reaps", waitid(P_ALL, 0, &si, WEXITED));
	EXPECT("waitid P_ALL found the same child", si.si_pid == pid && si.si_status == 3);
	FAILS("waitid after reaping", waitid(P_PID, pid, &si, WEXITED), ECHILD);
	pid = fork();
	if (pid == 0) { for (;;) pause(); }
	kill(pid, SIGKILL);
	memset(&si, 0, sizeof si);
	waitid(P_PID, pid, &si, WEXITED);
	SHOW("waitid of a killed child", "%s %s", si.si_code == CLD_KILLED ? "CLD_KILLED" : "other", sigabbrev_np(si.si_status));

	/* process groups and sessions */
	EXPECT("getpgid(0) is getpgrp()", getpgid(0) == getpgrp());
	EXPECT("getsid(0) is getsid(getpid())", getsid(0) == getsid(me));
	int down[2];
	pipe(p);
	pipe(down);
	pid = fork();
	if (pid == 0) {
		char r[6];
		pid_t c = getpid();
		r[0] = setpgid(0, 0) == 0 ? 'T' : 'F';
		r[1] = getpgid(0) == c ? 'T' : 'F';
		r[2] = setsid() == -1 && errno == EPERM ? 'T' : 'F'; /* a group leader cannot setsid */
		write(p[1], r, 3);
		char c1;
		read(down[0], &c1, 1); /* the parent has looked */
		_exit(0);
	}
	char r[8] = "";
	read(p[0], r, 3);
	EXPECT("child setpgid(0, 0)", r[0] == 'T');
	EXPECT("child is its group's leader", r[1] == 'T');
	EXPECT("setsid of a group leader fails EPERM", r[2] == 'T');
	EXPECT("parent sees the child's new group", getpgid(pid) == pid);
	OK("kill(-pgid, 0)", kill(-pid, 0));
	EXPECT("parent's own group unchanged", getpgrp() != pid);
	write(down[1], "x", 1);
	status_of(pid);
	close(p[0]);
	close(p[1]);
	close(down[0]);
	close(down[1]);
	pipe(p);
	pipe(down);
	pid_t mypg = getpgrp();
	pid = fork();
	if (pid == 0) {
		char x[5];
		pid_t c = getpid();
		x[0] = setsid() == c ? 'T' : 'F';
		x[1] = getsid(0) == c ? 'T' : 'F';
		x[2] = getpgid(0) == c ? 'T' : 'F';
		x[3] = setpgid(0, mypg) == -1 && errno == EPERM ? 'T' : 'F'; /* no group of another session */
		write(p[1], x, 4);
		char c1;
		read(down[0], &c1, 1);
		_exit(0);
	}
	read(p[0], r, 4);
	EXPECT("child setsid returns its pid", r[0] == 'T');
	EXPECT("child getsid(0) is its pid", r[1] == 'T');
	EXPECT("setsid made a new group", r[2] == 'T');
	EXPECT("setpgid into another session fails EPERM", r[3] == 'T');
	EXPECT("parent sees the child's session", getsid(pid) == pid);
	FAILS("setpgid of a child in another session", setpgid(pid, pid), EPERM);
	write(down[1], "x", 1);
	status_of(pid);
	close(p[0]);
	close(p[1]);
	close(down[0]);
	close(down[1]);
	FAILS("setpgid of no such process", setpgid(99999999, 0), ESRCH);
	FAILS("getpgid of no such process", getpgid(99999999), ESRCH);

	/* resource usage of reaped children */
	OK("getrusage RUSAGE_CHILDREN", getrusage(RUSAGE_CHILDREN, &ru));
	struct tms tm;
	EXPECT("times", times(&tm) != (clock_t)-1);

	/* orphans: a grandchild outlives its parent and is reparented */
	pipe(p);
	pid = fork();
	if (pid == 0) {
		pid_t mid = getpid();
		if (fork() == 0) {
			struct timespec ms = { 0, 1000000 };
			int changed = 0;
			for (int i = 0; i < 3000 && !changed; i++) {
				changed = getppid() != mid;
				if (!changed) nanosleep(&ms, NULL);
			}
			write(p[1], changed ? "T" : "F", 1);
			_exit(0);
		}
		_exit(0);
	}
	close(p[1]);
	SHOW("middle child", "%s", describe(status_of(pid)));
	char g = 0;
	read(p[0], &g, 1);
	EXPECT("orphaned grandchild reparented", g == 'T');
	close(p[0]);
	/* reap the grandchild if it was reparented to us (when we are the namespace's init) */
	struct timespec ms = { 0, 20000000 };
	nanosleep(&ms, NULL);
	while (waitpid(-1, NULL, WNOHANG) > 0) {}
	wait_selection_checks();
	pdeath_checks();
	return finish();
}
