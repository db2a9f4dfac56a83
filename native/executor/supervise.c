#include "supervise.h"

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

int supervise_prepare(void)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, RUNNER_DEATH_SIG);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* Blocking wait, for when the signalfd is unusable: no forwarding, but still the right status. */
static int wait_plain(pid_t child)
{
	int status;

	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	return exit_code(status);
}

int supervise(pid_t child, int sfd)
{
	for (;;) {
		struct signalfd_siginfo si;
		int status;
		pid_t r = waitpid(child, &status, WNOHANG);
		ssize_t n;

		/* Checked before every read: a SIGCHLD from before the block was discarded. */
		if (r == child)
			return exit_code(status);
		if (r < 0 && errno != EINTR)
			return 1;
		n = read(sfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return wait_plain(child);
		/* The runner (moat do) died: the sandbox goes with it (the init's death ends its pid
		 * namespace); its state is swept by the next moat. */
		if (si.ssi_signo == RUNNER_DEATH_SIG)
			(void)kill(child, SIGKILL);
		else if (si.ssi_signo != SIGCHLD)
			(void)kill(child, (int)si.ssi_signo);
	}
}
