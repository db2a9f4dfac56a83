/*
 * moat-stub: the host process an application runs in under the sentry (docs/sentry.md).
 *
 * It owns nothing: the sentry maps the application's memory into it (fd 3 is the memfd behind
 * that memory), sets its registers and lets it run under PTRACE_SYSEMU, so every syscall the
 * application makes stops in the sentry and is never executed by the host. The only syscalls
 * the host runs in this process are the ones the sentry injects through the gadget below
 * (`syscall; int3` at STUB_BASE): the seccomp filter installed here kills the process for any
 * syscall whose instruction pointer is not the gadget's, so a mistake in the sentry's
 * bookkeeping (resuming without SYSEMU) cannot become host access. (One exception, which runs
 * nothing either: the host's vsyscall emulation becomes a SIGSYS for the sentry.)
 *
 * Start-up, all before the filter: when the sentry is started as root, become the sandbox's
 * own unprivileged host uid/gid (argv: uid gid caps), keeping only the capabilities the sentry
 * keeps (src/sentry/confine/: the sentry's stubs must be the sentry's uid for it to signal them,
 * and hold at least its capabilities for pidfd_getfd of its fds to be allowed); become traced by
 * the sentry, die with it (after the uid change, which clears the parent-death signal), keep only
 * fds 3 (memory) and 4 (a pidfd of the sentry, whose fds a new stub fetches with pidfd_getfd), no
 * new privileges, the host's vDSO moved out of the application's way (move_vdso). Then stop with
 * SIGSTOP — through the gadget,
 * since the filter is already in force — and wait to be told what to run.
 *
 * No libc: a static, position-dependent binary of a few hundred bytes (see stub.ld).
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#include "layout.h"

#define PTRACE_TRACEME 0
#define PR_SET_PDEATHSIG 1
#define PR_SET_KEEPCAPS 8
#define CAPS_V3 0x20080522
#define PR_SET_NO_NEW_PRIVS 38
#define SIGKILL 9
#define SIGSTOP 19

__asm__(".section .text.gadget,\"ax\",@progbits\n"
	".globl stub_gadget\n"
	"stub_gadget:\n"
	"	syscall\n"
	"	int3\n"
	".previous\n");

static long raw_syscall(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
}

static long raw_syscall4(long nr, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

/* Exit codes 121..125 name the start-up step that failed (the sentry reports the status). */
static long raw_syscall5(long nr, long a, long b, long c, long d, long e)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
	return ret;
}

static __attribute__((noreturn)) void die(int step)
{
	for (;;)
		raw_syscall(SYS_exit_group, 120 + step, 0, 0);
}

/* The clone flags the sentry injects: a thread of the application (VM FS FILES SIGHAND THREAD
 * SYSVSEM), and — in the template stub only — a new stub process (CLONE_PARENT, SIGCHLD). */
#define THREAD_FLAGS 0x50f00
#define FORK_FLAGS (0x8000 | 17)
#define PR_SET_PDEATHSIG_ 1
#define SYS_pidfd_getfd_ 438

#define LD_ABS(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define ARG_LO(n) (offsetof(struct seccomp_data, args) + 8 * (n))
#define ARG_HI(n) (offsetof(struct seccomp_data, args) + 8 * (n) + 4)

/*
 * Only from the gadget, and only what the sentry injects (docs/sentry.md, "The stub and the
 * trap"): mmap, munmap, mprotect of the application's memory; clone of a thread or (template) of a
 * stub; the fd of a memory file fetched from the sentry (close, pidfd_getfd on fd 4); the parent-
 * death signal of a new stub; exit; the start-up SIGSTOP (kill). No exec, no open, no socket: a
 * sentry taken over cannot use a stub to do what its own filter forbids.
 */
static const struct sock_filter filter[] = {
	LD_ABS(offsetof(struct seccomp_data, arch)),
	JEQ(AUDIT_ARCH_X86_64, 1, 0),
	RET(SECCOMP_RET_KILL_PROCESS),
	/*
	 * The host's emulation of a legacy vsyscall (a call into the page at 0xffffffffff600000,
	 * which Linux with vsyscall=xonly serves on the fault): SIGSYS with the call skipped, for
	 * the sentry to serve it (src/sentry/kernel/vsyscall.ts). Nothing runs on the host.
	 */
	LD_ABS(offsetof(struct seccomp_data, instruction_pointer) + 4),
	JEQ(0xffffffffU, 0, 4),
	LD_ABS(offsetof(struct seccomp_data, instruction_pointer)),
	BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xfffff000U),
	JEQ(0xff600000U, 0, 1),
	RET(SECCOMP_RET_TRAP),
	LD_ABS(offsetof(struct seccomp_data, instruction_pointer)),
	JEQ((unsigned int)(GADGET_RET & 0xffffffffUL), 1, 0),
	RET(SECCOMP_RET_KILL_PROCESS),
	LD_ABS(offsetof(struct seccomp_data, instruction_pointer) + 4),
	JEQ((unsigned int)(GADGET_RET >> 32), 1, 0),
	RET(SECCOMP_RET_KILL_PROCESS),
	LD_ABS(offsetof(struct seccomp_data, nr)),
	JEQ(SYS_mmap, 9, 0),
	JEQ(SYS_munmap, 8, 0),
	JEQ(SYS_mprotect, 7, 0),
	JEQ(SYS_exit, 6, 0),
	JEQ(SYS_exit_group, 5, 0),
	JEQ(SYS_close, 4, 0),
	JEQ(SYS_pidfd_getfd_, 3, 0),
	JEQ(SYS_kill, 2, 0),
	JEQ(SYS_clone, 2, 0),
	JEQ(SYS_prctl, 7, 12),
	RET(SECCOMP_RET_ALLOW),
	/* clone: flags (all 64 bits) a thread's or a new stub's. */
	LD_ABS(ARG_HI(0)),
	JEQ(0, 0, 9),
	LD_ABS(ARG_LO(0)),
	JEQ(THREAD_FLAGS, 1, 0),
	JEQ(FORK_FLAGS, 0, 6),
	RET(SECCOMP_RET_ALLOW),
	/* prctl: PR_SET_PDEATHSIG only. (Jump offsets: every KILL path ends at the last line.) */
	LD_ABS(ARG_HI(0)),
	JEQ(0, 0, 3),
	LD_ABS(ARG_LO(0)),
	JEQ(PR_SET_PDEATHSIG_, 0, 1),
	RET(SECCOMP_RET_ALLOW),
	RET(SECCOMP_RET_KILL_PROCESS),
};

/* A decimal argument below 2^32 - 1, or -1. */
static long parse_id(const char *s)
{
	long v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v >= 0xffffffffL)
			return -1;
	}
	return v;
}

/* setgroups([]), setresgid, setresuid (capabilities kept across it), then only `caps` held. */
static int become(long uid, long gid, long caps)
{
	struct {
		unsigned int version;
		int pid;
	} hdr = { CAPS_V3, 0 };
	struct {
		unsigned int effective, permitted, inheritable;
	} data[2] = { { (unsigned int)caps, (unsigned int)caps, 0 }, { 0, 0, 0 } };

	if (uid <= 0 || gid <= 0 || caps < 0)
		return -1;
	if (raw_syscall(SYS_prctl, PR_SET_KEEPCAPS, 1, 0) != 0 || raw_syscall(SYS_setgroups, 0, 0, 0) != 0 ||
	    raw_syscall(SYS_setresgid, gid, gid, gid) != 0 || raw_syscall(SYS_setresuid, uid, uid, uid) != 0 ||
	    raw_syscall(SYS_capset, (long)&hdr, (long)data, 0) != 0 || raw_syscall(SYS_prctl, PR_SET_KEEPCAPS, 0, 0) != 0)
		return -1;
	return 0;
}

/*
 * The host's vDSO and its data pages, moved from wherever the kernel put them (the mmap region,
 * which overlaps the addresses the sentry lays the application out in) to VDSO_BASE, above this
 * page, in their order and at their distances (the vDSO's code finds its data at fixed offsets).
 * The sentry patches and hands out this vDSO (src/sentry/platform/vdso.ts); it reads where the
 * pieces ended up from /proc/<stub>/maps and offers no vDSO unless all of them are at VDSO_BASE,
 * so any failure here is only skipped. Before the filter: mremap is not among its calls.
 */
#define MAX_SPECIAL 8
#define MAPS_BUF 4096

static unsigned long hex_field(const char **p)
{
	unsigned long v = 0;

	for (;; (*p)++) {
		char c = **p;
		if (c >= '0' && c <= '9')
			v = v * 16 + (unsigned long)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (unsigned long)(c - 'a' + 10);
		else
			return v;
	}
}

/* The line's last field starts with "[vvar" or is "[vdso]". */
static int special_name(const char *name, const char *end)
{
	static const char vvar[] = "[vvar", vdso[] = "[vdso]";
	long n = end - name, i;

	if (n >= 5) {
		for (i = 0; i < 5 && name[i] == vvar[i]; i++)
			;
		if (i == 5)
			return 1;
	}
	if (n != 6)
		return 0;
	for (i = 0; i < 6 && name[i] == vdso[i]; i++)
		;
	return i == 6 ? 2 : 0;
}

static void move_vdso(void)
{
	char buf[MAPS_BUF];
	unsigned long start[MAX_SPECIAL], end[MAX_SPECIAL], base = ~0UL, top = 0;
	long len = 0, r, fd;
	int n = 0, have_vdso = 0, i;
	const char *p, *line_end, *name;

	fd = raw_syscall4(SYS_openat, -100, (long)"/proc/self/maps", 0 /* O_RDONLY */, 0);
	if (fd < 0)
		return;
	while (len < MAPS_BUF && (r = raw_syscall(SYS_read, fd, (long)(buf + len), MAPS_BUF - len)) > 0)
		len += r;
	raw_syscall(SYS_close, fd, 0, 0);
	if (len <= 0 || len >= MAPS_BUF)
		return;
	for (p = buf; p < buf + len; p = line_end + 1) {
		for (line_end = p; line_end < buf + len && *line_end != '\n'; line_end++)
			;
		for (name = line_end; name > p && name[-1] != ' '; name--)
			;
		int kind = special_name(name, line_end);
		if (!kind)
			continue;
		if (n == MAX_SPECIAL)
			return;
		start[n] = hex_field(&p);
		p++;
		end[n] = hex_field(&p);
		if (end[n] <= start[n])
			return;
		if (start[n] < base)
			base = start[n];
		if (end[n] > top)
			top = end[n];
		have_vdso |= kind == 2;
		n++;
	}
	if (!have_vdso || top - base > VDSO_SPAN || (top > VDSO_BASE && base < VDSO_BASE + VDSO_SPAN))
		return;
	for (i = 0; i < n; i++)
		raw_syscall5(SYS_mremap, (long)start[i], (long)(end[i] - start[i]), (long)(end[i] - start[i]),
			     3 /* MREMAP_MAYMOVE | MREMAP_FIXED */, (long)(VDSO_BASE + start[i] - base));
}

/* sp: the initial stack (argc, argv[], NULL, envp[]). */
__attribute__((noreturn, used)) void stub_main(long *sp)
{
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = (struct sock_filter *)filter };
	long pid;
	long argc = sp[0];
	char **argv = (char **)(sp + 1);

	if (argc == 4 && become(parse_id(argv[1]), parse_id(argv[2]), parse_id(argv[3])) != 0)
		die(5);
	if (raw_syscall4(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0) != 0)
		die(1);
	if (raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0) != 0)
		die(2);
	raw_syscall(SYS_close_range, 5, ~0U, 0);
	move_vdso();
	if (raw_syscall5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		die(3);
	pid = raw_syscall(SYS_getpid, 0, 0, 0);
	if (raw_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog) != 0)
		die(4);
	/* kill(pid, SIGSTOP) through the gadget: the sentry takes over at this stop. */
	__asm__ volatile("jmp stub_gadget" : : "a"((long)SYS_kill), "D"(pid), "S"((long)SIGSTOP) : "memory");
	__builtin_unreachable();
}

__asm__(".text\n"
	".globl _start\n"
	"_start:\n"
	"	mov %rsp, %rdi\n"
	"	andq $-16, %rsp\n"
	"	call stub_main\n"
	"	hlt\n");
