/*
 * moat_native.node: the few Linux calls Node has no API for. Node-API only (NAPI_VERSION 8), C.
 *
 *   pidfdOpen(pid)                      -> fd          pidfd_open(pid, 0)
 *   pidfdSendSignal(pidfd, sig)         -> undefined   pidfd_send_signal(pidfd, sig, NULL, 0)
 *   pidfdWaitExit(pidfd, timeoutMs)     -> boolean     poll the pidfd: true once the process exited
 *                                                      (timeoutMs < 0: wait forever)
 *   pidfdReap(pidfd)                    -> null | { code, signal }
 *                                                      waitid(P_PIDFD, WEXITED|WNOHANG): reaps a child
 *                                                      (or an orphan adopted as subreaper); null if it
 *                                                      still runs. code/signal as in Node's 'exit' event
 *   flock(fd, 'ex'|'sh'|'un', nonblock) -> boolean     false only for EWOULDBLOCK with nonblock
 *   setChildSubreaper()                 -> undefined   prctl(PR_SET_CHILD_SUBREAPER, 1)
 *   mkfifo(path, mode)                  -> undefined   mkfifo + chmod (exact mode)
 *   socketpair()                        -> [fd, fd]    AF_UNIX stream pair, close-on-exec
 *   recvFd(fd)                          -> null | { fd, data }  one SCM_RIGHTS fd (blocking recvmsg)
 *   peerCred(fd)                        -> { pid, uid, gid }  SO_PEERCRED of a unix socket (moat service)
 *   recvFds(fd, timeoutMs)              -> { data, fds }  read a stream socket to EOF (poll + recvmsg,
 *                                                      also on a non-blocking fd): data is a Buffer of
 *                                                      all bytes, fds every SCM_RIGHTS fd (close-on-
 *                                                      exec); throws ETIMEDOUT if EOF is not reached
 *                                                      within timeoutMs (a seccomp listener's receive)
 *   setWinsize(fd, rows, cols)          -> undefined   ioctl(TIOCSWINSZ)
 *   bpfProgLoadAttach(cgroupPath, insns, license) -> undefined
 *                                       load insns (a Buffer of 8-byte struct bpf_insn) as a
 *                                       BPF_PROG_TYPE_CGROUP_DEVICE program and attach it to the
 *                                       cgroup2 directory with BPF_F_ALLOW_MULTI, then detach the
 *                                       device programs that were attached there before (replace,
 *                                       never a moment unfiltered). A verifier rejection throws
 *                                       with the log's last line as the error's path
 *   bpfProgQuery(cgroupPath)            -> number[]    ids of the device programs attached there
 *   mount(source, target, fstype, flags, data) -> undefined
 *                                       mount(2); "" for fstype or data passes NULL (the shim's
 *                                       rootfs mounts, src/shim/mounts.ts: no mount(8) process)
 *   umount2(target, flags)              -> undefined   umount2(2)
 *
 * Failures throw an Error like Node's own system errors: message "ESRCH: No such process,
 * pidfd_send_signal", and properties code ('ESRCH'), errno (negative, as in Node), syscall and,
 * where there is one, path. Bad arguments throw a TypeError with code ERR_INVALID_ARG_TYPE.
 * All calls are synchronous: pidfdWaitExit and a blocking flock block the event loop.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#include "fdpass.h"
#include "napi_util.h"


/* ---- exports ---- */

static napi_value pidfd_open_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out;
	double pid;
	long fd;

	if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "pidfdOpen", "pid", 1, INT_MAX, &pid))
		return NULL;
	fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (fd < 0) {
		throw_errno(env, errno, "pidfd_open", NULL);
		return NULL;
	}
	napi_create_int32(env, (int32_t)fd, &out);
	return out;
}

static napi_value pidfd_send_signal_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double sig;
	int fd;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "pidfdSendSignal", "pidfd", &fd) ||
	    !get_int(env, argv[1], "pidfdSendSignal", "sig", 0, 64, &sig))
		return NULL;
	if (syscall(SYS_pidfd_send_signal, fd, (int)sig, NULL, 0) < 0)
		throw_errno(env, errno, "pidfd_send_signal", NULL);
	return NULL;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A pidfd polls readable once the process has exited (and HUP once it is reaped). */
static napi_value pidfd_wait_exit_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double timeout;
	long long deadline;
	int fd;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "pidfdWaitExit", "pidfd", &fd) ||
	    !get_int(env, argv[1], "pidfdWaitExit", "timeoutMs", -INFINITY, INFINITY, &timeout))
		return NULL;
	if (timeout > INT_MAX)
		timeout = INT_MAX;
	deadline = now_ms() + (long long)timeout;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = timeout < 0 ? -1 : deadline - now_ms();
		int n = poll(&pfd, 1, timeout < 0 ? -1 : (left < 0 ? 0 : (int)left));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			throw_errno(env, errno, "poll", NULL);
			return NULL;
		}
		if (n > 0 && (pfd.revents & POLLNVAL)) {
			throw_errno(env, EBADF, "poll", NULL);
			return NULL;
		}
		return js_bool(env, n > 0 && (pfd.revents & (POLLIN | POLLHUP)));
	}
}

static napi_value pidfd_reap_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out, code, sig;
	char signame[32];
	siginfo_t si;
	int fd;

	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "pidfdReap", "pidfd", &fd))
		return NULL;
	memset(&si, 0, sizeof(si));
	while (waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) < 0) {
		if (errno != EINTR) {
			throw_errno(env, errno, "waitid", NULL);
			return NULL;
		}
	}
	if (si.si_pid == 0) {
		napi_get_null(env, &out);
		return out;
	}
	napi_create_object(env, &out);
	napi_get_null(env, &code);
	napi_get_null(env, &sig);
	if (si.si_code == CLD_EXITED) {
		napi_create_int32(env, si.si_status, &code);
	} else {
		const char *abbrev = sigabbrev_np(si.si_status);

		snprintf(signame, sizeof(signame), "SIG%s", abbrev ? abbrev : "UNKNOWN");
		napi_create_string_utf8(env, signame, NAPI_AUTO_LENGTH, &sig);
	}
	napi_set_named_property(env, out, "code", code);
	napi_set_named_property(env, out, "signal", sig);
	return out;
}

static bool flock_op(const char *s, int *op)
{
	if (strcmp(s, "ex") == 0)
		*op = LOCK_EX;
	else if (strcmp(s, "sh") == 0)
		*op = LOCK_SH;
	else if (strcmp(s, "un") == 0)
		*op = LOCK_UN;
	else
		return false;
	return true;
}

static napi_value flock_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char opname[8];
	bool nonblock;
	int fd, op, rc;

	if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], "flock", "fd", &fd) ||
	    !get_str(env, argv[1], "flock", "op", opname, sizeof(opname)) ||
	    !get_bool(env, argv[2], "flock", "nonblock", &nonblock))
		return NULL;
	if (!flock_op(opname, &op)) {
		throw_type(env, "flock", "op", "'ex', 'sh' or 'un'");
		return NULL;
	}
	do
		rc = flock(fd, op | (nonblock ? LOCK_NB : 0));
	while (rc < 0 && errno == EINTR);
	if (rc < 0 && nonblock && errno == EWOULDBLOCK)
		return js_bool(env, false);
	if (rc < 0) {
		throw_errno(env, errno, "flock", NULL);
		return NULL;
	}
	return js_bool(env, true);
}

static napi_value set_child_subreaper_js(napi_env env, napi_callback_info info)
{
	(void)info;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		throw_errno(env, errno, "prctl(PR_SET_CHILD_SUBREAPER)", NULL);
	return NULL;
}

static napi_value mkfifo_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char path[PATH_MAX];
	double mode;

	if (!get_args(env, info, 2, argv) || !get_str(env, argv[0], "mkfifo", "path", path, sizeof(path)) ||
	    !get_int(env, argv[1], "mkfifo", "mode", 0, 07777, &mode))
		return NULL;
	/* Exact mode (the umask must not narrow it: the init may write as another uid). */
	if (mkfifo(path, (mode_t)mode) < 0 || chmod(path, (mode_t)mode) < 0)
		throw_errno(env, errno, "mkfifo", path);
	return NULL;
}

/* ---- mounts (the shim's container rootfs) ---- */

/* The kernel copies at most a page of mount data. */
#define MOUNT_DATA_MAX 4096

static napi_value mount_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char source[PATH_MAX], target[PATH_MAX], fstype[64], data[MOUNT_DATA_MAX];
	double flags;

	if (!get_args(env, info, 5, argv) || !get_str(env, argv[0], "mount", "source", source, sizeof(source)) ||
	    !get_str(env, argv[1], "mount", "target", target, sizeof(target)) ||
	    !get_str(env, argv[2], "mount", "fstype", fstype, sizeof(fstype)) ||
	    !get_int(env, argv[3], "mount", "flags", 0, 0xffffffffu, &flags) ||
	    !get_str(env, argv[4], "mount", "data", data, sizeof(data)))
		return NULL;
	if (mount(source[0] ? source : NULL, target, fstype[0] ? fstype : NULL, (unsigned long)flags,
		  data[0] ? data : NULL) < 0)
		throw_errno(env, errno, "mount", target);
	return NULL;
}

static napi_value umount2_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char target[PATH_MAX];
	double flags;

	if (!get_args(env, info, 2, argv) || !get_str(env, argv[0], "umount2", "target", target, sizeof(target)) ||
	    !get_int(env, argv[1], "umount2", "flags", 0, 0xffff, &flags))
		return NULL;
	if (umount2(target, (int)flags) < 0)
		throw_errno(env, errno, "umount2", target);
	return NULL;
}

/* ---- cgroup v2 device programs (eBPF) ---- */

#define MAX_DEVICE_PROGS 64

static long bpf_call(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* Ids of the device programs attached directly to the cgroup fd; count, or -1 with errno. */
static int query_device_progs(int cg, __u32 *ids, __u32 cap)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.query.target_fd = (__u32)cg;
	a.query.attach_type = BPF_CGROUP_DEVICE;
	a.query.prog_ids = (__u64)(uintptr_t)ids;
	a.query.prog_cnt = cap;
	if (bpf_call(BPF_PROG_QUERY, &a) < 0)
		return -1;
	return (int)a.query.prog_cnt;
}

/* The verifier's last complaint: the last non-empty log line that is not its statistics. */
static const char *log_tail(char *log)
{
	size_t n = strlen(log);

	for (;;) {
		while (n > 0 && (log[n - 1] == '\n' || log[n - 1] == ' '))
			log[--n] = '\0';
		while (n > 0 && log[n - 1] != '\n')
			n--;
		if (n == 0 || strncmp(log + n, "processed ", 10) != 0)
			return log + n;
		log[n] = '\0';
	}
}

/*
 * BPF_PROG_LOAD, again while it fails with EAGAIN: the verifier gives up with EAGAIN when a signal
 * is pending (SIGCHLD of another container, a profiler's SIGPROF), as libbpf knows (it retries too).
 */
static long prog_load(union bpf_attr *a)
{
	long fd;
	int tries = 0;

	do
		fd = bpf_call(BPF_PROG_LOAD, a);
	while (fd < 0 && errno == EAGAIN && ++tries < 5);
	return fd;
}

/* BPF_PROG_LOAD a BPF_PROG_TYPE_CGROUP_DEVICE program; on failure, retry with the verifier log. */
static int load_device_prog(napi_env env, const void *insns, size_t count, const char *license)
{
	static char log[65536];
	union bpf_attr a;
	long fd;
	int err;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = (__u64)(uintptr_t)insns;
	a.insn_cnt = (__u32)count;
	a.license = (__u64)(uintptr_t)license;
	fd = prog_load(&a);
	if (fd >= 0)
		return (int)fd;
	err = errno;
	log[0] = '\0';
	a.log_level = 1;
	a.log_buf = (__u64)(uintptr_t)log;
	a.log_size = sizeof(log);
	fd = prog_load(&a);
	if (fd >= 0)
		return (int)fd;
	throw_errno(env, err, "bpf(BPF_PROG_LOAD)", log[0] ? log_tail(log) : NULL);
	return -1;
}

/* Detach the programs in ids (attached before ours) from the cgroup fd. */
static int detach_device_progs(int cg, const __u32 *ids, int n)
{
	for (int i = 0; i < n; i++) {
		union bpf_attr a;
		long fd;
		int rc, err;

		memset(&a, 0, sizeof(a));
		a.prog_id = ids[i];
		fd = bpf_call(BPF_PROG_GET_FD_BY_ID, &a);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return -1;
		}
		memset(&a, 0, sizeof(a));
		a.target_fd = (__u32)cg;
		a.attach_bpf_fd = (__u32)fd;
		a.attach_type = BPF_CGROUP_DEVICE;
		rc = (int)bpf_call(BPF_PROG_DETACH, &a);
		err = errno;
		close((int)fd);
		if (rc < 0 && err != ENOENT) {
			errno = err;
			return -1;
		}
	}
	return 0;
}

static bool get_insns(napi_env env, napi_value v, void **data, size_t *count)
{
	bool is_buf = false;
	size_t len = 0;

	if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf ||
	    napi_get_buffer_info(env, v, data, &len) != napi_ok || len == 0 || len % 8 != 0 ||
	    len / 8 > 4096) {
		throw_type(env, "bpfProgLoadAttach", "insns", "a Buffer of 1..4096 8-byte instructions");
		return false;
	}
	*count = len / 8;
	return true;
}

static int open_cgroup(napi_env env, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		throw_errno(env, errno, "open", path);
	return fd;
}

static napi_value bpf_prog_load_attach_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char path[PATH_MAX], license[64];
	__u32 old[MAX_DEVICE_PROGS];
	void *insns;
	size_t count;
	int cg, prog, n;

	if (!get_args(env, info, 3, argv) ||
	    !get_str(env, argv[0], "bpfProgLoadAttach", "cgroupPath", path, sizeof(path)) ||
	    !get_insns(env, argv[1], &insns, &count) ||
	    !get_str(env, argv[2], "bpfProgLoadAttach", "license", license, sizeof(license)))
		return NULL;
	cg = open_cgroup(env, path);
	if (cg < 0)
		return NULL;
	n = query_device_progs(cg, old, MAX_DEVICE_PROGS);
	if (n < 0) {
		throw_errno(env, errno, "bpf(BPF_PROG_QUERY)", path);
		close(cg);
		return NULL;
	}
	prog = load_device_prog(env, insns, count, license);
	if (prog < 0) {
		close(cg);
		return NULL;
	}
	{
		union bpf_attr a;

		memset(&a, 0, sizeof(a));
		a.target_fd = (__u32)cg;
		a.attach_bpf_fd = (__u32)prog;
		a.attach_type = BPF_CGROUP_DEVICE;
		a.attach_flags = BPF_F_ALLOW_MULTI;
		if (bpf_call(BPF_PROG_ATTACH, &a) < 0) {
			throw_errno(env, errno, "bpf(BPF_PROG_ATTACH)", path);
			close(prog);
			close(cg);
			return NULL;
		}
	}
	close(prog);
	/* The new program is in force before the old ones go: no moment without a filter. */
	if (detach_device_progs(cg, old, n) < 0)
		throw_errno(env, errno, "bpf(BPF_PROG_DETACH)", path);
	close(cg);
	return NULL;
}

static napi_value bpf_prog_query_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out, id;
	char path[PATH_MAX];
	__u32 ids[MAX_DEVICE_PROGS];
	int cg, n;

	if (!get_args(env, info, 1, argv) ||
	    !get_str(env, argv[0], "bpfProgQuery", "cgroupPath", path, sizeof(path)))
		return NULL;
	cg = open_cgroup(env, path);
	if (cg < 0)
		return NULL;
	n = query_device_progs(cg, ids, MAX_DEVICE_PROGS);
	if (n < 0) {
		throw_errno(env, errno, "bpf(BPF_PROG_QUERY)", path);
		close(cg);
		return NULL;
	}
	close(cg);
	napi_create_array_with_length(env, (size_t)n, &out);
	for (int i = 0; i < n; i++) {
		napi_create_uint32(env, ids[i], &id);
		napi_set_element(env, out, (uint32_t)i, id);
	}
	return out;
}

/* ---- terminals: the pty master comes back from the executor over a socketpair ---- */

static napi_value socketpair_js(napi_env env, napi_callback_info info)
{
	int sv[2];
	napi_value out, a, b;

	(void)info;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		throw_errno(env, errno, "socketpair", NULL);
		return NULL;
	}
	napi_create_array_with_length(env, 2, &out);
	napi_create_int32(env, sv[0], &a);
	napi_create_int32(env, sv[1], &b);
	napi_set_element(env, out, 0, a);
	napi_set_element(env, out, 1, b);
	return out;
}

static napi_value recv_fd_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out, v;
	double sock;
	char data[256];
	ssize_t n;
	size_t nfds;
	int fd = -1;

	if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "recvFd", "fd", 0, INT_MAX, &sock))
		return NULL;
	n = fdpass_recv((int)sock, data, sizeof(data) - 1, &fd, 1, &nfds, 0);
	if (n < 0) {
		throw_errno(env, errno, "recvmsg", NULL);
		return NULL;
	}
	if (nfds == 0) {
		napi_get_null(env, &out);
		return out;
	}
	data[n] = '\0';
	napi_create_object(env, &out);
	napi_create_int32(env, fd, &v);
	napi_set_named_property(env, out, "fd", v);
	napi_create_string_utf8(env, data, (size_t)n, &v);
	napi_set_named_property(env, out, "data", v);
	return out;
}

/* SO_PEERCRED of a connected unix socket: who is on the other end (moat service checks the uid). */
static napi_value peer_cred_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out, v;
	struct ucred cred;
	socklen_t len = sizeof cred;
	int sock;

	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "peerCred", "fd", &sock))
		return NULL;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		throw_errno(env, errno, "getsockopt(SO_PEERCRED)", NULL);
		return NULL;
	}
	napi_create_object(env, &out);
	napi_create_int32(env, cred.pid, &v);
	napi_set_named_property(env, out, "pid", v);
	napi_create_uint32(env, cred.uid, &v);
	napi_set_named_property(env, out, "uid", v);
	napi_create_uint32(env, cred.gid, &v);
	napi_set_named_property(env, out, "gid", v);
	return out;
}

static napi_value set_winsize_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double fd, rows, cols;
	struct winsize ws = { 0 };

	if (!get_args(env, info, 3, argv) || !get_int(env, argv[0], "setWinsize", "fd", 0, INT_MAX, &fd) ||
	    !get_int(env, argv[1], "setWinsize", "rows", 0, 65535, &rows) ||
	    !get_int(env, argv[2], "setWinsize", "cols", 0, 65535, &cols))
		return NULL;
	ws.ws_row = (unsigned short)rows;
	ws.ws_col = (unsigned short)cols;
	if (ioctl((int)fd, TIOCSWINSZ, &ws) < 0)
		throw_errno(env, errno, "ioctl(TIOCSWINSZ)", NULL);
	return NULL;
}

/* ---- seccomp listeners: the state JSON and the listener fd, read to EOF ---- */

#define RECV_FDS_MAX_BYTES (1 << 20)
#define RECV_FDS_MAX_FDS FDPASS_MAX

/* Wait until readable or the deadline; 0 readable, -1 with errno (ETIMEDOUT). */
static int wait_readable(int fd, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (;;) {
		long long left = deadline - now_ms();
		int r;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static napi_value recv_fds_result(napi_env env, const char *data, size_t len, const int *fds, size_t nfds)
{
	napi_value out, buf, arr, v;
	void *copy;

	napi_create_object(env, &out);
	napi_create_buffer_copy(env, len, len ? data : "", &copy, &buf);
	napi_set_named_property(env, out, "data", buf);
	napi_create_array_with_length(env, (size_t)nfds, &arr);
	for (size_t i = 0; i < nfds; i++) {
		napi_create_int32(env, fds[i], &v);
		napi_set_element(env, arr, (uint32_t)i, v);
	}
	napi_set_named_property(env, out, "fds", arr);
	return out;
}

static napi_value recv_fds_js(napi_env env, napi_callback_info info)
{
	static char data[RECV_FDS_MAX_BYTES];
	napi_value argv[MAX_ARGS];
	int sock, fds[RECV_FDS_MAX_FDS], err;
	size_t nfds = 0;
	double timeout;
	size_t len = 0;
	long long deadline;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "recvFds", "fd", &sock) ||
	    !get_int(env, argv[1], "recvFds", "timeoutMs", 0, 3600000, &timeout))
		return NULL;
	deadline = now_ms() + (long long)timeout;
	while (len < sizeof(data)) {
		size_t got = 0;
		ssize_t n;

		if (wait_readable(sock, deadline) < 0)
			goto fail;
		n = fdpass_recv(sock, data + len, sizeof(data) - len, fds + nfds, RECV_FDS_MAX_FDS - nfds, &got, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0)
			goto fail;
		nfds += got;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return recv_fds_result(env, data, len, fds, nfds);
fail:
	err = errno; /* close() may change errno */
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	throw_errno(env, err, "recvmsg", NULL);
	return NULL;
}

NAPI_MODULE_INIT()
{
	static const struct napi_export fns[] = {
		{ "pidfdOpen", pidfd_open_js },
		{ "pidfdSendSignal", pidfd_send_signal_js },
		{ "pidfdWaitExit", pidfd_wait_exit_js },
		{ "pidfdReap", pidfd_reap_js },
		{ "flock", flock_js },
		{ "setChildSubreaper", set_child_subreaper_js },
		{ "mkfifo", mkfifo_js },
		{ "socketpair", socketpair_js },
		{ "recvFd", recv_fd_js },
		{ "recvFds", recv_fds_js },
		{ "peerCred", peer_cred_js },
		{ "setWinsize", set_winsize_js },
		{ "bpfProgLoadAttach", bpf_prog_load_attach_js },
		{ "bpfProgQuery", bpf_prog_query_js },
		{ "mount", mount_js },
		{ "umount2", umount2_js },
	};

	if (!export_functions(env, exports, fns, sizeof(fns) / sizeof(fns[0])))
		return NULL;
	/* The sentry's ptrace platform and the gofer client live in their own files. */
	if (!moat_register_sentry(env, exports) || !moat_register_gofer(env, exports) ||
	    !moat_register_vm(env, exports) || !moat_register_vm_mem(env, exports) || !moat_register_net(env, exports) ||
	    !moat_register_confine(env, exports) || !moat_register_runner_watch(env, exports) ||
	    !moat_register_host_clock(env, exports) || !moat_register_host_random(env, exports))
		return NULL;
	return exports;
}
