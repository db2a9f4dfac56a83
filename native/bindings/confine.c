/*
 * The sentry's confinement of itself (docs/sentry.md, "The sentry's own confinement"): the calls
 * src/sentry/confine/ makes once, after start-up and before the application's first instruction.
 * The policy (which syscalls, which action) is computed in TypeScript; this file only loads it.
 *
 *   confineRoot(dir)  -> 0 | -errno   a mount namespace of its own whose root is an empty, read-only
 *                                     tmpfs: unshare(CLONE_NEWNS), every mount private, a tmpfs on
 *                                     dir (an existing directory, hidden in the new namespace
 *                                     only), pivot_root into it, the old root detached.
 *   confineCaps(keep[, uid]) -> 0 | -errno   every capability but those of the mask keep (bits
 *                                     < 53) is dropped from the bounding, ambient, inheritable,
 *                                     permitted and effective sets. With uid: first every thread
 *                                     becomes uid/gid uid with no supplementary groups (glibc's
 *                                     set*id reach all threads; only the calling thread keeps
 *                                     capabilities across the switch, the others lose all), then
 *                                     the process is made dumpable again (a new stub fetches its
 *                                     memory file from the sentry with pidfd_getfd, a ptrace-mode
 *                                     check the uid switch would otherwise fail), RLIMIT_CORE 0
 *                                     (dumpable, but no core of the sandbox's memory is written),
 *                                     and its stubs (its descendants) named its ptracer for Yama.
 *   confineFilter(program, flags) -> 0 | -errno   no_new_privs, then the classic BPF program
 *                                     (Int32Array of code,jt,jf,k quadruples) as a seccomp filter
 *                                     on every thread of the process (flags: SECCOMP_FILTER_FLAG_*,
 *                                     TSYNC among them, so Node's worker threads get it too).
 *   processCpuNs(pid) -> ns | -errno  on-CPU time of another process (a stub), from its process
 *                                     CPU clock: no /proc needed once the root is empty.
 *   measureMode(fd) -> [ipLo, ipHi]   for measuring the list (MOAT_SENTRY_SECCOMP=measure): a
 *                                     SIGSYS handler that records each syscall the filter traps
 *                                     (once per number, "nr\n" on fd) and then issues it itself from
 *                                     a gadget whose address the filter lets through — the sentry
 *                                     runs on as if unfiltered. Returns that address (the filter
 *                                     program's prefix compares the instruction pointer with it).
 *   dieWithParent(ppid) -> 0 | -errno  `moat do`: SIGKILL when the parent (moat) dies; -ESRCH if
 *                                     it already has (the parent is no longer ppid).
 *   forbiddenCall(what)               test hook (src/sentry/confine/test-hook.ts): issue a call
 *                                     the filter forbids ("execve", "openat", "socket-packet").
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <ucontext.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "napi_util.h"

#define MAX_FILTER 4096

/* measureMode's gadget: a syscall with the SysV arguments (nr, a0..a5), from one known address. */
long moat_measure_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
extern char moat_measure_ret[];
__asm__(".text\n"
	".globl moat_measure_syscall\n.hidden moat_measure_syscall\n"
	".globl moat_measure_ret\n.hidden moat_measure_ret\n"
	"moat_measure_syscall:\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	mov %rdx, %rsi\n"
	"	mov %rcx, %rdx\n"
	"	mov %r8, %r10\n"
	"	mov %r9, %r8\n"
	"	mov 8(%rsp), %r9\n"
	"	syscall\n"
	"moat_measure_ret:\n"
	"	ret\n");

static int measure_fd = -1;
static unsigned char measure_seen[1024];

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *g = uc->uc_mcontext.gregs;
	int nr = si->si_syscall;
	int saved = errno;

	(void)sig;
	if (nr >= 0 && nr < (int)sizeof(measure_seen) && !__atomic_exchange_n(&measure_seen[nr], 1, __ATOMIC_RELAXED)) {
		char buf[16];
		int n = 0, v = nr;
		char tmp[12];
		int t = 0;

		do
			tmp[t++] = (char)('0' + v % 10);
		while ((v /= 10) > 0);
		while (t > 0)
			buf[n++] = tmp[--t];
		buf[n++] = '\n';
		if (write(measure_fd, buf, (size_t)n) < 0) {
			/* nothing to do */
		}
	}
	g[REG_RAX] = moat_measure_syscall(nr, g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8], g[REG_R9]);
	errno = saved;
}

static napi_value measure_mode_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out, v;
	struct sigaction sa;
	uintptr_t ip = (uintptr_t)moat_measure_ret;

	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "measureMode", "fd", &measure_fd))
		return NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0) {
		throw_errno(env, errno, "sigaction", "SIGSYS");
		return NULL;
	}
	napi_create_array_with_length(env, 2, &out);
	napi_create_uint32(env, (uint32_t)(ip & 0xffffffffu), &v);
	napi_set_element(env, out, 0, v);
	napi_create_uint32(env, (uint32_t)(ip >> 32), &v);
	napi_set_element(env, out, 1, v);
	return out;
}

static napi_value num(napi_env env, double d)
{
	napi_value v;

	napi_create_double(env, d, &v);
	return v;
}

static napi_value confine_root_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char dir[4096];

	if (!get_args(env, info, 1, argv) || !get_str(env, argv[0], "confineRoot", "dir", dir, sizeof(dir)))
		return NULL;
	if (unshare(CLONE_NEWNS) != 0)
		return num(env, -errno);
	/* Nothing done from here on propagates back to the host's mount table. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return num(env, -errno);
	if (mount("moat-sentry-root", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=2,mode=0555") != 0)
		return num(env, -errno);
	if (chdir(dir) != 0)
		return num(env, -errno);
	/* pivot_root(".", "."): the old root ends up stacked on the new one, then is detached. */
	if (syscall(SYS_pivot_root, ".", ".") != 0)
		return num(env, -errno);
	if (umount2(".", MNT_DETACH) != 0)
		return num(env, -errno);
	if (chdir("/") != 0)
		return num(env, -errno);
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		return num(env, -errno);
	return num(env, 0);
}

static napi_value confine_caps_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double keepd, uidd;
	uint64_t keep;
	uid_t uid = 0;
	napi_valuetype t;
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "confineCaps", "keep", 0, 9007199254740991.0, &keepd))
		return NULL;
	keep = (uint64_t)keepd;
	if (napi_typeof(env, argv[1], &t) == napi_ok && t != napi_undefined) {
		if (!get_int(env, argv[1], "confineCaps", "uid", 1, 0xfffffffe, &uidd))
			return NULL;
		uid = (uid_t)uidd;
	}
	/* Keep only what is held: an unprivileged (rootless) sentry has nothing to drop. */
	if (syscall(SYS_capget, &hdr, data) != 0)
		return num(env, -errno);
	keep &= (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);
	for (int cap = 0; cap < 64; cap++) {
		if (keep & (1ULL << cap))
			continue;
		/* EINVAL past the kernel's last capability: done. EPERM: no CAP_SETPCAP (rootless),
		 * and then nothing to bound either — no exec will happen under the filter. */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL && errno != EPERM)
			return num(env, -errno);
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
		return num(env, -errno);
	if (uid != 0) {
		struct rlimit none = { 0, 0 };

		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 || setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 ||
		    setresuid(uid, uid, uid) != 0 || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0)
			return num(env, -errno);
		if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0)
			return num(env, -errno);
		/* Yama's ptrace_scope 1: the stubs are the sentry's children. EINVAL: no Yama. */
		if (prctl(PR_SET_PTRACER, getpid(), 0, 0, 0) != 0 && errno != EINVAL)
			return num(env, -errno);
	}
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)keep;
	data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &hdr, data) != 0)
		return num(env, -errno);
	return num(env, 0);
}

static napi_value confine_filter_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	bool is;
	napi_typedarray_type type;
	size_t len, off;
	napi_value ab;
	void *data;
	double flags;
	struct sock_filter *insns;
	struct sock_fprog prog;
	const int32_t *q;
	long r;

	if (!get_args(env, info, 2, argv) || !get_int(env, argv[1], "confineFilter", "flags", 0, 0xff, &flags))
		return NULL;
	if (napi_is_typedarray(env, argv[0], &is) != napi_ok || !is ||
	    napi_get_typedarray_info(env, argv[0], &type, &len, &data, &ab, &off) != napi_ok || type != napi_int32_array ||
	    len == 0 || len % 4 != 0 || len / 4 > MAX_FILTER) {
		throw_type(env, "confineFilter", "program", "an Int32Array of 1..4096 (code, jt, jf, k) quadruples");
		return NULL;
	}
	insns = calloc(len / 4, sizeof(*insns));
	if (!insns)
		return num(env, -ENOMEM);
	q = data;
	for (size_t i = 0; i < len / 4; i++) {
		insns[i].code = (uint16_t)q[4 * i];
		insns[i].jt = (uint8_t)q[4 * i + 1];
		insns[i].jf = (uint8_t)q[4 * i + 2];
		insns[i].k = (uint32_t)q[4 * i + 3];
	}
	prog.len = (unsigned short)(len / 4);
	prog.filter = insns;
	r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (r == 0)
		r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned int)flags, &prog);
	free(insns);
	/* TSYNC: a positive result is the id of a thread that could not be synchronised. */
	if (r > 0)
		return num(env, -ESRCH);
	return num(env, r == 0 ? 0 : -errno);
}

static napi_value process_cpu_ns_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double pid;
	struct timespec ts;
	/* MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) of the kernel's posix-timers.h. */
	clockid_t clk;

	if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "processCpuNs", "pid", 1, 0x3fffffff, &pid))
		return NULL;
	clk = (clockid_t)((~(unsigned int)(pid_t)pid << 3) | 2);
	if (clock_gettime(clk, &ts) != 0)
		return num(env, -errno);
	return num(env, (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec);
}

static napi_value die_with_parent_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double ppid;

	if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "dieWithParent", "ppid", 1, 0x3fffffff, &ppid))
		return NULL;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
		return num(env, -errno);
	return num(env, getppid() == (pid_t)ppid ? 0 : -ESRCH);
}

static napi_value forbidden_call_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char what[32];
	long r = -1;

	if (!get_args(env, info, 1, argv) || !get_str(env, argv[0], "forbiddenCall", "what", what, sizeof(what)))
		return NULL;
	if (strcmp(what, "execve") == 0) {
		char *args[] = { "true", NULL };

		r = syscall(SYS_execve, "/bin/true", args, (char *[]){ NULL });
	} else if (strcmp(what, "openat") == 0) {
		r = syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC);
		if (r >= 0)
			close((int)r);
	} else if (strcmp(what, "socket-packet") == 0) {
		r = syscall(SYS_socket, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
		if (r >= 0)
			close((int)r);
	} else {
		throw_type(env, "forbiddenCall", "what", "execve, openat or socket-packet");
		return NULL;
	}
	/* Reached only without the filter (or if it let the call through). */
	return num(env, r < 0 ? -errno : 0);
}

bool moat_register_confine(napi_env env, napi_value exports)
{
	static const struct napi_export fns[] = {
		{ "confineRoot", confine_root_js },
		{ "confineCaps", confine_caps_js },
		{ "confineFilter", confine_filter_js },
		{ "processCpuNs", process_cpu_ns_js },
		{ "measureMode", measure_mode_js },
		{ "dieWithParent", die_with_parent_js },
		{ "forbiddenCall", forbidden_call_js },
	};

	return export_functions(env, exports, fns, sizeof(fns) / sizeof(fns[0]));
}
