/* Signal or trace a host process by its host pid: must fail (it is not even in our pid namespace).
 *   hostproc PID */
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>

int main(int argc, char **argv)
{
	char path[64], buf[64];
	struct iovec local = { buf, sizeof buf }, remote = { (void *)0x400000, sizeof buf };
	pid_t pid;

	if (argc != 2)
		return fprintf(stderr, "usage: hostproc PID\n"), 2;
	pid = atoi(argv[1]);
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	step("proc-visible", open(path, O_RDONLY));
	step("kill-0", kill(pid, 0));
	step("kill-stop", kill(pid, SIGSTOP));
	step("kill-9", kill(pid, SIGKILL));
	step("ptrace-attach", ptrace(PTRACE_ATTACH, pid, 0, 0));
	step("ptrace-seize", ptrace(PTRACE_SEIZE, pid, 0, 0));
	step("pidfd-open", syscall(SYS_pidfd_open, pid, 0));
	step("process-vm-readv", process_vm_readv(pid, &local, 1, &remote, 1, 0));
	step("setpgid", setpgid(pid, pid));
	step("sched-setaffinity", syscall(SYS_sched_setaffinity, pid, 0, NULL) == -1 && errno == EFAULT ? 0 : -1);
	return 0;
}
