/* ptrace between processes of the sandbox: PTRACE_TRACEME and a stop reported to the tracer by
 * wait without WUNTRACED, registers and memory of the stopped tracee (GETREGS, GETREGSET,
 * PEEKDATA, POKEDATA), signal-delivery-stops (a signal suppressed, another passed on),
 * PTRACE_SYSCALL's entry and exit stops (a result changed by the tracer), the SIGTRAP after an
 * exec, PTRACE_ATTACH/DETACH, the errors (EPERM, ESRCH) and SIGKILL of a stopped tracee, and a
 * blocked syscall interrupted by a signal under PTRACE_SYSCALL (its exit stop, then the signal's,
 * then the next call's stops). */
#include "common.h"
#include <elf.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

static volatile long word = 0x1122334455667788L;
static volatile int usr1, usr2;

static void on_usr(int sig) { if (sig == SIGUSR1) usr1++; else usr2++; }

/* The child's side: traced by its parent, stops, then reports what it saw in its exit code. */
static void tracee(void)
{
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) _exit(90);
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != EPERM) _exit(91);
	signal(SIGUSR1, on_usr);
	signal(SIGUSR2, on_usr);
	raise(SIGSTOP);
	/* The tracer poked word while we were stopped. */
	if (word != 0x0102030405060708L) _exit(92);
	raise(SIGUSR1); /* suppressed by the tracer */
	raise(SIGUSR2); /* passed on */
	if (usr1 != 0 || usr2 != 1) _exit(93);
	long r = syscall(SYS_getppid); /* the tracer changes the result */
	_exit(r == 4242 ? 0 : 94);
}

/* wait for pid; "stop N" or "exit N" or "signal N". */
static const char *waited(pid_t pid, int *sig)
{
	int st = 0;
	*sig = -1;
	if (waitpid(pid, &st, 0) != pid) return "wait failed";
	if (WIFSTOPPED(st)) { *sig = st >> 8; return "stop"; }
	if (WIFEXITED(st)) { *sig = WEXITSTATUS(st); return "exit"; }
	if (WIFSIGNALED(st)) { *sig = WTERMSIG(st); return "signal"; }
	return "?";
}

static void traceme_checks(void)
{
	pid_t pid = fork();
	if (pid == 0) tracee();
	int sig;
	const char *w = waited(pid, &sig);
	SHOW("TRACEME child: wait without WUNTRACED", "%s %d", w, sig);
	struct user_regs_struct regs;
	OK("GETREGS", ptrace(PTRACE_GETREGS, pid, NULL, &regs));
	struct user_regs_struct rs;
	struct iovec iov = { &rs, sizeof rs };
	OK("GETREGSET NT_PRSTATUS", ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov));
	EXPECT("GETREGSET fills the whole set", iov.iov_len == sizeof rs);
	EXPECT("GETREGS and GETREGSET agree", rs.rip == regs.rip && rs.rsp == regs.rsp && rs.fs_base == regs.fs_base);
	EXPECT("stopped in a syscall (kill/tgkill)", regs.orig_rax == SYS_tgkill || regs.orig_rax == SYS_kill);
	errno = 0;
	long v = ptrace(PTRACE_PEEKDATA, pid, (void *)&word, NULL);
	EXPECT("PEEKDATA reads the tracee's memory", errno == 0 && v == 0x1122334455667788L);
	OK("POKEDATA", ptrace(PTRACE_POKEDATA, pid, (void *)&word, (void *)0x0102030405060708L));
	FAILS("PEEKDATA at an unmapped address", ptrace(PTRACE_PEEKDATA, pid, (void *)8, NULL), EIO);
	FAILS("GETREGSET unknown type", ptrace(PTRACE_GETREGSET, pid, (void *)0x7777, &iov), EINVAL);
	OK("CONT", ptrace(PTRACE_CONT, pid, NULL, NULL));
	w = waited(pid, &sig);
	SHOW("signal-delivery-stop", "%s %s", w, sig == SIGUSR1 ? "SIGUSR1" : "other");
	siginfo_t si;
	OK("GETSIGINFO", ptrace(PTRACE_GETSIGINFO, pid, NULL, &si));
	EXPECT("GETSIGINFO names the signal", si.si_signo == SIGUSR1);
	OK("CONT suppressing SIGUSR1", ptrace(PTRACE_CONT, pid, NULL, NULL));
	w = waited(pid, &sig);
	SHOW("next signal-delivery-stop", "%s %s", w, sig == SIGUSR2 ? "SIGUSR2" : "other");
	OK("SYSCALL passing SIGUSR2 on", ptrace(PTRACE_SYSCALL, pid, NULL, (void *)SIGUSR2));
	/* Syscall stops until getppid's exit: the handler's rt_sigreturn and raise's calls come first. */
	int entries = 0, found = 0;
	for (int i = 0; i < 40 && !found; i++) {
		w = waited(pid, &sig);
		if (strcmp(w, "stop") != 0 || sig != SIGTRAP) break;
		ptrace(PTRACE_GETREGS, pid, NULL, &regs);
		if (regs.orig_rax == SYS_getppid) {
			if (entries++ == 0) {
				EXPECT("syscall-enter-stop: rax is -ENOSYS", (long)regs.rax == -ENOSYS);
			} else {
				EXPECT("syscall-exit-stop: rax is the result", (long)regs.rax == getpid());
				regs.rax = 4242;
				OK("SETREGS at syscall exit", ptrace(PTRACE_SETREGS, pid, NULL, &regs));
				found = 1;
			}
		}
		if (!found) ptrace(PTRACE_SYSCALL, pid, NULL, NULL);
	}
	EXPECT("getppid's entry and exit stops seen", found);
	OK("CONT to the end", ptrace(PTRACE_CONT, pid, NULL, NULL));
	w = waited(pid, &sig);
	SHOW("tracee ends", "%s %d", w, sig);
	FAILS("request for a process not traced", ptrace(PTRACE_CONT, getppid(), NULL, NULL), ESRCH);
	FAILS("ATTACH to itself", ptrace(PTRACE_ATTACH, getpid(), NULL, NULL), EPERM);
}

static void attach_checks(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;) pause();
	}
	OK("ATTACH", ptrace(PTRACE_ATTACH, pid, NULL, NULL));
	int sig;
	const char *w = waited(pid, &sig);
	SHOW("attached: stop", "%s %s", w, sig == SIGSTOP ? "SIGSTOP" : "other");
	FAILS("ATTACH twice", ptrace(PTRACE_ATTACH, pid, NULL, NULL), EPERM);
	OK("DETACH", ptrace(PTRACE_DETACH, pid, NULL, NULL));
	FAILS("request after DETACH", ptrace(PTRACE_CONT, pid, NULL, NULL), ESRCH);
	/* Attach again, and kill it while it is stopped for us. */
	OK("ATTACH again", ptrace(PTRACE_ATTACH, pid, NULL, NULL));
	w = waited(pid, &sig);
	SHOW("attached again", "%s %s", w, sig == SIGSTOP ? "SIGSTOP" : "other");
	kill(pid, SIGKILL);
	w = waited(pid, &sig);
	SHOW("SIGKILL of a stopped tracee", "%s %d", w, sig);
}

static void exec_checks(const char *self)
{
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execl(self, self, "exec-child", (char *)NULL);
		_exit(95);
	}
	int sig;
	const char *w = waited(pid, &sig);
	SHOW("after exec: stop", "%s %s", w, sig == SIGTRAP ? "SIGTRAP" : "other");
	struct user_regs_struct regs;
	OK("GETREGS after exec", ptrace(PTRACE_GETREGS, pid, NULL, &regs));
	EXPECT("after exec: rax 0", regs.rax == 0);
	OK("CONT after exec", ptrace(PTRACE_CONT, pid, NULL, NULL));
	w = waited(pid, &sig);
	SHOW("exec child ends", "%s %d", w, sig);
}

/* Child: blocks in read until SIGUSR1 (no SA_RESTART) interrupts it, then calls getppid. */
static void interrupted_tracee(int fd)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr;
	sigaction(SIGUSR1, &sa, NULL);
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	raise(SIGSTOP);
	char c;
	long r = read(fd, &c, 1);
	int e = errno;
	syscall(SYS_getppid);
	_exit(r == -1 && e == EINTR && usr1 == 1 ? 0 : 96);
}

static void interrupted_checks(void)
{
	int p[2];
	pipe(p);
	pid_t pid = fork();
	if (pid == 0) interrupted_tracee(p[0]);
	int sig;
	waited(pid, &sig);
	ptrace(PTRACE_SYSCALL, pid, NULL, NULL);
	struct user_regs_struct regs;
	int read_entered = 0, read_exit = 0, sigstop = 0, getppid_stops = 0;
	long read_rax = 0;
	const char *w = "?";
	for (int i = 0; i < 60; i++) {
		w = waited(pid, &sig);
		if (strcmp(w, "stop") != 0) break;
		int inject = 0;
		if (sig == SIGTRAP) {
			ptrace(PTRACE_GETREGS, pid, NULL, &regs);
			if (regs.orig_rax == SYS_read && !read_entered) {
				read_entered = 1;
				ptrace(PTRACE_SYSCALL, pid, NULL, NULL);
				/* Let it block, then interrupt it. */
				usleep(100000);
				kill(pid, SIGUSR1);
				continue;
			}
			if (regs.orig_rax == SYS_read && read_entered && !read_exit) {
				read_exit = 1;
				read_rax = (long)regs.rax;
			}
			if (regs.orig_rax == SYS_getppid) getppid_stops++;
		} else if (sig == SIGUSR1) {
			sigstop = read_exit;
			inject = SIGUSR1;
		}
		ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)inject);
	}
	EXPECT("interrupted read: its exit stop (rax -ERESTARTSYS)", read_exit && read_rax == -512);
	EXPECT("then the signal-delivery-stop", sigstop);
	EXPECT("then the next call's entry and exit stops", getppid_stops == 2);
	SHOW("interrupted tracee ends", "%s %d", w, sig);
	close(p[0]);
	close(p[1]);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exec-child") == 0) return 7;
	traceme_checks();
	attach_checks();
	exec_checks("/proc/self/exe");
	interrupted_checks();
	/* A traced fork child is waitable with __WCLONE too: the tracer waits for it as a tracee. */
	int tp[2];
	pipe(tp);
	pid_t tc = fork();
	if (tc == 0) {
		close(tp[0]);
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		_exit(6);
	}
	close(tp[1]);
	char tb;
	read(tp[0], &tb, 1);
	close(tp[0]);
	int tst = 0;
	EXPECT("__WCLONE wait of an exited tracee reaps it", waitpid(tc, &tst, __WCLONE) == tc && WIFEXITED(tst) && WEXITSTATUS(tst) == 6);
	return finish();
}
