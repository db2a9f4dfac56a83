/*
 * The gofer's own walls, built before the first request (docs/sentry-gofer.md#confinement):
 *   - only fd 3 (the socket) and the tree fds stay open; RLIMIT_NOFILE fits the handle table
 *   - as root, each tree becomes a detached clone mount (open_tree), recursively read-only (unless
 *     served read-write: -w), nodev, nosuid, nosymfollow, private: even a subverted gofer cannot
 *     write a read-only tree, open a device, follow a symlink or walk ".." above a tree; then new
 *     mount/net/ipc/uts namespaces and a chroot into an empty, read-only, detached tmpfs;
 *     capabilities down to DAC_READ_SEARCH and FOWNER (and CHOWN, DAC_OVERRIDE, FSETID with a
 *     read-write tree)
 *   - as non-root, the same namespaces and chroot inside a user namespace when the host allows
 *     one (the trees stay the caller's own mounts: the kernel lets only root clone them)
 *   - no_new_privs, not dumpable, and last a seccomp allowlist of exactly the calls serving makes.
 */
#include "gofer.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>

/* fds beyond the handles: socket, stdio until closed, a READDIR/OPEN temporary, slack. */
#define SPARE_FDS 16
#define NAMESPACES (CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

void die(const char *what, int err)
{
	fprintf(stderr, "moat-gofer: %s: %s\n", what, strerror(err));
	exit(1);
}

/* ---- fds ---- */

static void close_others(unsigned ntrees)
{
	unsigned first = FIRST_TREE_FD + ntrees;

	if (syscall(SYS_close_range, first, ~0u, 0) < 0) {
		/* Kernels before 5.9: close what RLIMIT_NOFILE lets exist. */
		long max = sysconf(_SC_OPEN_MAX);

		for (long fd = first; fd < max; fd++)
			close((int)fd);
	}
}

/* RLIMIT_NOFILE = what the table needs (raised as root, lowered otherwise); a smaller hard limit
 * shrinks the table instead, so that a full table says ENFILE rather than a random EMFILE. */
static void fit_nofile(unsigned ntrees, uint32_t *max_handles)
{
	rlim_t need = (rlim_t)*max_handles + FIRST_TREE_FD + ntrees + SPARE_FDS;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit", errno);
	if (rl.rlim_max < need) {
		struct rlimit want = { need, need };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	rl.rlim_cur = rl.rlim_max = rl.rlim_max < need ? rl.rlim_max : need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit RLIMIT_NOFILE", errno);
	if (rl.rlim_cur < need) {
		if (rl.rlim_cur <= FIRST_TREE_FD + ntrees + SPARE_FDS)
			die("RLIMIT_NOFILE leaves no room for handles", EMFILE);
		*max_handles = (uint32_t)(rl.rlim_cur - FIRST_TREE_FD - ntrees - SPARE_FDS);
	}
}

/* ---- mounts and root ---- */

/* Replace a tree fd by a private, detached copy of its mount tree (root only): read-only unless the
 * tree is served read-write. */
static void detach_tree(int fd, bool rw)
{
	/* Private: mounts made later on the host do not propagate into it (writable ones least of all). */
	struct mount_attr attr = {
		.attr_set = (rw ? 0 : MOUNT_ATTR_RDONLY) | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			    MOUNT_ATTR_NOSYMFOLLOW,
		.propagation = MS_PRIVATE,
	};
	long t = syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);

	if (t < 0)
		die("open_tree of a tree", errno);
	if (syscall(SYS_mount_setattr, (int)t, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		die("mount_setattr of a tree", errno);
	if (dup3((int)t, fd, O_CLOEXEC) < 0)
		die("dup3", errno);
	close((int)t);
}

/* chroot into an empty read-only tmpfs that is attached nowhere: no path leads out of it. */
static int empty_root(void)
{
	long fs = syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC), mnt = -1;
	int err = 0;

	if (fs < 0)
		return errno;
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", "4k", 0) < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "mode", "0555", 0) < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
	    (mnt = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
			   MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)) < 0 ||
	    fchdir((int)mnt) < 0 || chroot(".") < 0 || chdir("/") < 0)
		err = errno;
	close((int)fs);
	if (mnt >= 0)
		close((int)mnt);
	return err;
}

/* ---- privileges ---- */

/* Bounding and ambient sets emptied, then exactly keep in effective and permitted. */
static void keep_caps(uint64_t keep)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { { 0 } };

	for (unsigned long cap = 0; cap < 64 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (!(keep & (UINT64_C(1) << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			die("PR_CAPBSET_DROP", errno);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		die("PR_CAP_AMBIENT_CLEAR_ALL", errno);
	data[0].effective = data[0].permitted = (uint32_t)keep;
	data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		die("capset", errno);
}

static void confine_root(unsigned ntrees, const bool *rw)
{
	uint64_t caps = UINT64_C(1) << CAP_DAC_READ_SEARCH | UINT64_C(1) << CAP_FOWNER;
	int err;

	for (unsigned i = 0; i < ntrees; i++) {
		detach_tree(FIRST_TREE_FD + (int)i, rw[i]);
		/* Making files for (and as) the application's users in a writable tree: the sentry has
		 * checked the application's permissions already, as runsc's gofer trusts its sentry's. */
		if (rw[i])
			caps |= UINT64_C(1) << CAP_CHOWN | UINT64_C(1) << CAP_DAC_OVERRIDE | UINT64_C(1) << CAP_FSETID;
	}
	/* After the clones: open_tree only copies mounts of the caller's own namespace. */
	if (unshare(NAMESPACES) < 0)
		die("unshare", errno);
	err = empty_root();
	if (err)
		die("empty root", err);
	/* Reading any file of the rootfs (whatever its owner and mode), O_NOATIME on any; and in
	 * writable trees, changing any file for the owner the sentry names: no more. */
	keep_caps(caps);
}

/* Unprivileged: a user namespace buys the same namespaces and root, where the host allows one.
 * Capabilities in it are worthless on the trees (their owners are not mapped), and dropped anyway. */
static void confine_user(void)
{
	if (unshare(CLONE_NEWUSER | NAMESPACES) < 0)
		return; /* user namespaces disabled: the seccomp filter and no_new_privs remain */
	if (empty_root() == 0)
		keep_caps(0);
}

void confine(unsigned ntrees, uint32_t *max_handles, const bool *rw)
{
	close_others(ntrees);
	umask(0); /* modes of new files are the sentry's (it applied the application's umask) */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("PR_SET_NO_NEW_PRIVS", errno);
	/* Not dumpable: no ptrace, no /proc/<pid>/fd or mem for processes of the same uid. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("PR_SET_DUMPABLE", errno);
	fit_nofile(ntrees, max_handles);
	if (geteuid() == 0)
		confine_root(ntrees, rw);
	else
		confine_user();
}

/* ---- seccomp ---- */

#define ARG_LO(n) (offsetof(struct seccomp_data, args) + 8 * (n))
#define ARG_HI(n) (ARG_LO(n) + 4)
#define LD_ABS(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define KILL RET(SECCOMP_RET_KILL_PROCESS)
#define ALLOW_NR(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), RET(SECCOMP_RET_ALLOW)
/* The 6 instructions after a matched syscall: allow iff 64-bit argument n == v. */
#define ARG_EQ(n, v)                                                                            \
	LD_ABS(ARG_LO(n)), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (v), 0, 2), LD_ABS(ARG_HI(n)),    \
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), KILL, RET(SECCOMP_RET_ALLOW)
/* The same shape: allow iff argument n has no bit outside allowed. */
#define ARG_WITHIN(n, allowed)                                                                  \
	LD_ABS(ARG_LO(n)), BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, ~(uint32_t)(allowed), 2, 0),     \
		LD_ABS(ARG_HI(n)), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), KILL,           \
		RET(SECCOMP_RET_ALLOW)

/* Every flag an openat of the gofer's carries: read-only, nothing that creates or truncates. */
#define OPENAT_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOATIME)
/* With a writable tree, what its CREATE and OPEN for writing add. */
#define OPENAT_WRITE_FLAGS (OPENAT_FLAGS | O_WRONLY | O_RDWR | O_CREAT | O_EXCL | O_TRUNC)

#define FILTER_HEAD                                                                             \
	LD_ABS(offsetof(struct seccomp_data, arch)),                                            \
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0), KILL,              \
		LD_ABS(offsetof(struct seccomp_data, nr)),                                      \
		/* x32 calls reach the same numbers with the high bit: not ours. */             \
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, __X32_SYSCALL_BIT, 0, 1), KILL

/*
 * What every gofer may do, after the head (and, for a writable tree, its extra calls): read-only
 * calls on its fds, the socket (fd 3, nothing else is ever talked to), openat with open_flags, and
 * fcntl only to drop O_NONBLOCK after a reopen.
 */
#define FILTER_TAIL(open_flags)                                                                   \
	ALLOW_NR(__NR_openat2), /* flags are behind a pointer; the mounts are read-only as root */ \
		ALLOW_NR(__NR_fstat), ALLOW_NR(__NR_readlinkat), ALLOW_NR(__NR_getdents64),       \
		ALLOW_NR(__NR_lseek), ALLOW_NR(__NR_close), ALLOW_NR(__NR_exit_group),            \
		ALLOW_NR(__NR_exit),                                                              \
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_recvmsg, 1, 0),                          \
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sendmsg, 0, 6), ARG_EQ(0, SOCK_FD),      \
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 6), ARG_WITHIN(2, open_flags), \
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fcntl, 0, 6), ARG_EQ(1, F_SETFL), KILL

void install_seccomp(bool writable)
{
	/* Only with a read-write tree: the calls that change one (each on a tree fd, one component). */
	static struct sock_filter rw_insns[] = {
		FILTER_HEAD,
		ALLOW_NR(__NR_mkdirat),
		ALLOW_NR(__NR_symlinkat),
		ALLOW_NR(__NR_unlinkat),
		ALLOW_NR(__NR_renameat2),
		ALLOW_NR(__NR_fchownat),
		ALLOW_NR(__NR_fchmod),
		ALLOW_NR(__NR_ftruncate),
		ALLOW_NR(__NR_utimensat),
		FILTER_TAIL(OPENAT_WRITE_FLAGS),
	};
	static struct sock_filter insns[] = {
		FILTER_HEAD,
		FILTER_TAIL(OPENAT_FLAGS),
	};
	struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };

	if (writable) {
		prog.len = sizeof(rw_insns) / sizeof(rw_insns[0]);
		prog.filter = rw_insns;
	}

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		die("seccomp", errno);
}
