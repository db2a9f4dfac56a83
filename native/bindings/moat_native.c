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
 *   umount2(path, flags)                -> undefined
 *   mkfifo(path, mode)                  -> undefined   mkfifo + chmod (exact mode)
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
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define MAX_ARGS 3

/* ---- errors ---- */

static void set_str(napi_env env, napi_value obj, const char *key, const char *val)
{
	napi_value v;

	if (napi_create_string_utf8(env, val, NAPI_AUTO_LENGTH, &v) == napi_ok)
		napi_set_named_property(env, obj, key, v);
}

/* Throws; callers return NULL right after. */
static void throw_errno(napi_env env, int err, const char *syscall_name, const char *path)
{
	const char *code = strerrorname_np(err);
	char msg[PATH_MAX + 128];
	napi_value text, error, num;

	if (!code)
		code = "EUNKNOWN";
	if (path)
		snprintf(msg, sizeof(msg), "%s: %s, %s '%s'", code, strerror(err), syscall_name, path);
	else
		snprintf(msg, sizeof(msg), "%s: %s, %s", code, strerror(err), syscall_name);
	if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text) != napi_ok ||
	    napi_create_error(env, NULL, text, &error) != napi_ok) {
		napi_throw_error(env, code, msg);
		return;
	}
	set_str(env, error, "code", code);
	if (napi_create_int32(env, -err, &num) == napi_ok)
		napi_set_named_property(env, error, "errno", num);
	set_str(env, error, "syscall", syscall_name);
	if (path)
		set_str(env, error, "path", path);
	napi_throw(env, error);
}

static void throw_type(napi_env env, const char *fn, const char *arg, const char *want)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "%s: argument \"%s\" must be %s", fn, arg, want);
	napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

/* ---- arguments ---- */

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = MAX_ARGS;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return false;
	for (size_t i = argc; i < want; i++)
		napi_get_undefined(env, &argv[i]);
	return true;
}

/* An integral JS number in [min, max]. */
static bool get_int(napi_env env, napi_value v, const char *fn, const char *arg, double min,
		    double max, double *out)
{
	napi_valuetype t;

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_number ||
	    napi_get_value_double(env, v, out) != napi_ok || *out != floor(*out) || *out < min ||
	    *out > max) {
		throw_type(env, fn, arg, "an integer in range");
		return false;
	}
	return true;
}

static bool get_fd(napi_env env, napi_value v, const char *fn, const char *arg, int *fd)
{
	double d;

	if (!get_int(env, v, fn, arg, 0, INT_MAX, &d))
		return false;
	*fd = (int)d;
	return true;
}

static bool get_bool(napi_env env, napi_value v, const char *fn, const char *arg, bool *out)
{
	napi_valuetype t;

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean ||
	    napi_get_value_bool(env, v, out) != napi_ok) {
		throw_type(env, fn, arg, "a boolean");
		return false;
	}
	return true;
}

/* A string that fits buf (NUL included) and has no NUL inside. */
static bool get_str(napi_env env, napi_value v, const char *fn, const char *arg, char *buf,
		    size_t cap)
{
	napi_valuetype t;
	size_t len;

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_string ||
	    napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len >= cap ||
	    napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok || strlen(buf) != len) {
		throw_type(env, fn, arg, "a string without NUL, shorter than PATH_MAX");
		return false;
	}
	return true;
}

static napi_value js_bool(napi_env env, bool b)
{
	napi_value v;

	napi_get_boolean(env, b, &v);
	return v;
}

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

static napi_value umount2_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char path[PATH_MAX];
	double flags;

	if (!get_args(env, info, 2, argv) || !get_str(env, argv[0], "umount2", "path", path, sizeof(path)) ||
	    !get_int(env, argv[1], "umount2", "flags", 0, UINT32_MAX, &flags))
		return NULL;
	if (umount2(path, (int)(unsigned)flags) < 0)
		throw_errno(env, errno, "umount2", path);
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

NAPI_MODULE_INIT()
{
	static const struct {
		const char *name;
		napi_callback fn;
	} fns[] = {
		{ "pidfdOpen", pidfd_open_js },
		{ "pidfdSendSignal", pidfd_send_signal_js },
		{ "pidfdWaitExit", pidfd_wait_exit_js },
		{ "pidfdReap", pidfd_reap_js },
		{ "flock", flock_js },
		{ "setChildSubreaper", set_child_subreaper_js },
		{ "umount2", umount2_js },
		{ "mkfifo", mkfifo_js },
	};

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		napi_value f;

		if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok ||
		    napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
			return NULL;
	}
	return exports;
}
