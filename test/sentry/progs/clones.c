/* clone3/clone/unshare argument checks (issue 18): each must fail as on Linux, and an unknown
 * clone3 flag must never make a child. Not run under `moat do` with native isolation: Docker's
 * seccomp profile answers clone3 with ENOSYS and unshare with EPERM there. */
#include "common.h"
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct clone_args_v2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

static long clone3_(struct clone_args_v2 *a, size_t size) { return syscall(SYS_clone3, a, size); }

static void on_usr1_noop(int sig) { (void)sig; }

/* clone3 checks its arguments before it makes anything (an unknown flag never makes a child);
 * clone's flag combinations; unshare of the fd table. */
static void clones(void)
{
	struct clone_args_v2 a = { .flags = 1ULL << 40, .exit_signal = SIGCHLD };
	FAILS("clone3_unknown_flag", clone3_(&a, 64), EINVAL);
	a = (struct clone_args_v2){ .exit_signal = SIGCHLD };
	FAILS("clone3_size_small", clone3_(&a, 32), EINVAL);
	FAILS("clone3_size_huge", clone3_(&a, 8192), E2BIG);
	{
		char big[128] = { 0 };
		memcpy(big, &a, sizeof a);
		big[100] = 1;
		FAILS("clone3_unknown_tail", clone3_((struct clone_args_v2 *)big, sizeof big), E2BIG);
	}
	a = (struct clone_args_v2){ .exit_signal = SIGCHLD, .stack = 0x1000 };
	FAILS("clone3_stack_without_size", clone3_(&a, 64), EINVAL);
	a = (struct clone_args_v2){ .flags = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, .exit_signal = SIGCHLD };
	FAILS("clone3_thread_exit_signal", clone3_(&a, 64), EINVAL);
	a = (struct clone_args_v2){ .flags = CLONE_SIGHAND | CLONE_VM | 0x100000000ULL };
	FAILS("clone3_sighand_and_clear", clone3_(&a, 64), EINVAL);
	a = (struct clone_args_v2){ .flags = CSIGNAL & 0x3f, .exit_signal = SIGCHLD };
	FAILS("clone3_csignal_in_flags", clone3_(&a, 64), EINVAL);
	a = (struct clone_args_v2){ .exit_signal = 65 };
	FAILS("clone3_bad_exit_signal", clone3_(&a, 64), EINVAL);
	/* A good one, clearing the child's handlers (CLONE_CLEAR_SIGHAND). */
	signal(SIGUSR1, on_usr1_noop);
	a = (struct clone_args_v2){ .flags = 0x100000000ULL, .exit_signal = SIGCHLD };
	long c = clone3_(&a, sizeof a);
	if (c == 0) {
		struct sigaction sa;
		sigaction(SIGUSR1, NULL, &sa);
		_exit(sa.sa_handler == SIG_DFL ? 5 : 6);
	}
	int st = 0;
	EXPECT("clone3_fork_clear_sighand", c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 5);
	signal(SIGUSR1, SIG_DFL);
	FAILS("clone_thread_without_sighand", syscall(SYS_clone, CLONE_THREAD | CLONE_VM, 0, 0, 0, 0), EINVAL);
	FAILS("clone_sighand_without_vm", syscall(SYS_clone, CLONE_SIGHAND, 0, 0, 0, 0), EINVAL);
	FAILS("clone_newns_with_fs", syscall(SYS_clone, CLONE_NEWNS | CLONE_FS | SIGCHLD, 0, 0, 0, 0), EINVAL);
	OK("unshare_nothing", unshare(0));
	OK("unshare_files", unshare(CLONE_FILES));
	FAILS("unshare_bad_flag", unshare(0x1), EINVAL);
}

int main(void)
{
	clones();
	return finish();
}
