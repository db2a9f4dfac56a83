/* A new user namespace is the door to most kernel attack surface (CVE-2022-0492, 0185, …):
 * unshare(CLONE_NEWUSER), and clone(CLONE_NEWUSER) the other way in. */
#include "common.h"
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int main(void)
{
	long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);

	if (pid == 0)
		_exit(0);
	if (step("clone-newuser", pid) == 0)
		waitpid((pid_t)pid, NULL, 0);
	step("unshare-newuser", unshare(CLONE_NEWUSER));
	return 0;
}
