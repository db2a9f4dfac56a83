/* Calls a sandboxed program must never get through to the host: mount, umount2, reboot,
 * kexec_load, init_module, finit_module, delete_module, pivot_root, swapon, swapoff,
 * ptrace(PTRACE_ATTACH, 1), iopl, ioperm, acct, and raw syscall(N) of
 * numbers no kernel implements (and an x32 and an int $0x80 i386 call). One line per call:
 * "name -1 ERRNO" when refused, "name RET ok" when it succeeded, "name killed SIG" when the call
 * killed the (forked) caller.
 *
 * The arguments are chosen so that even if a call did reach the host kernel as root, it would do
 * no harm and be seen: mount puts a small tmpfs on the directory named by argv[1] (the test looks
 * for it in the host's mount table), reboot has a wrong magic number (EINVAL), kexec_load too many
 * segments (EINVAL), init_module a 16-byte non-ELF image (ENOEXEC), delete_module a module that
 * does not exist (ENOENT), pivot_root, swapon/swapoff and acct paths that do not exist; iopl and
 * ioperm would only affect this process; a successful PTRACE_ATTACH
 * is detached at once. Never run this natively outside a user namespace (the test runs it natively
 * only under `unshare -r`, where every privileged call fails EPERM). */
#include "common.h"
#include <fcntl.h>
#include <linux/reboot.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void report(const char *name, long r, int e)
{
	if (r == -1) out("%s -1 %s\n", name, en(e));
	else out("%s %ld ok\n", name, r);
}

#define TRY(name, expr) do { errno = 0; long r_ = (long)(expr); report((name), r_, errno); } while (0)

/* Run `fn` in a child: a call that kills its caller (SIGSYS, SIGSEGV...) is reported, not fatal. */
static void in_child(const char *name, long (*fn)(void))
{
	int p[2];
	pipe(p);
	pid_t pid = fork();
	if (pid == 0) {
		errno = 0;
		long r = fn();
		int e = errno;
		long msg[2] = { r, e };
		write(p[1], msg, sizeof msg);
		_exit(0);
	}
	close(p[1]);
	long msg[2];
	ssize_t n = read(p[0], msg, sizeof msg);
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	if (n == (ssize_t)sizeof msg) report(name, msg[0], (int)msg[1]);
	else if (WIFSIGNALED(st)) out("%s killed SIG%s\n", name, sigabbrev_np(WTERMSIG(st)));
	else out("%s vanished status %#x\n", name, st);
}

/* Raw numbers: 335 is uretprobe on Linux >= 6.11 (SIGILL when not called from its trampoline, so
 * each runs in a child), 400 and 470 are unassigned, 512 starts the x32 range, 1000 and -1 are
 * beyond any table. A user-space kernel implements none of them. */
static const long numbers[] = { 335, 400, 470, 512, 1000, -1 };
static long current;
static long raw_current(void) { return syscall(current, 0, 0, 0, 0, 0, 0); }

static long x32_getpid(void) { return syscall(0x40000000 | 39); }

static long int80_getpid(void)
{
	long ret = 20; /* __NR_getpid in the i386 table */
	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
	if (ret < 0 && ret > -4096) { errno = (int)-ret; return -1; }
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		out("usage: forbidden MOUNT-TARGET-DIR\n");
		return 2;
	}
	const char *target = argv[1];

	TRY("mount", mount("moat-sentry-forbidden", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k"));
	TRY("umount2", umount2(target, 0));
	TRY("reboot", syscall(SYS_reboot, 0xdead, 0xbeef, LINUX_REBOOT_CMD_RESTART, NULL));
	TRY("kexec_load", syscall(SYS_kexec_load, 0UL, 1000UL, NULL, 0UL));
	static const char junk[16] = "not a module";
	TRY("init_module", syscall(SYS_init_module, junk, sizeof junk, ""));
	int nul = open("/dev/null", O_RDONLY);
	TRY("finit_module", syscall(SYS_finit_module, nul, "", 0));
	close(nul);
	TRY("delete_module", syscall(SYS_delete_module, "moat_sentry_no_such_module", O_NONBLOCK));
	TRY("pivot_root", syscall(SYS_pivot_root, "/nonexistent-moat-sentry/new", "/nonexistent-moat-sentry/old"));
	TRY("swapon", syscall(SYS_swapon, "/nonexistent-moat-sentry-swap", 0));
	TRY("swapoff", syscall(SYS_swapoff, "/nonexistent-moat-sentry-swap"));
	errno = 0;
	long pr = ptrace(PTRACE_ATTACH, 1, NULL, NULL);
	int pe = errno;
	if (pr == 0) ptrace(PTRACE_DETACH, 1, NULL, NULL);
	report("ptrace_attach_1", pr, pe);
	TRY("iopl", syscall(SYS_iopl, 3));
	TRY("ioperm", syscall(SYS_ioperm, 0x80UL, 1UL, 1));
	TRY("acct", syscall(SYS_acct, "/nonexistent-moat-sentry-acct"));
	for (unsigned i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
		char name[32];
		snprintf(name, sizeof name, "syscall_%ld", numbers[i]);
		current = numbers[i];
		in_child(name, raw_current);
	}
	in_child("syscall_x32_getpid", x32_getpid);
	in_child("int80_getpid", int80_getpid);
	out("done\n");
	return 0;
}
