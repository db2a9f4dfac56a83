/*
 * The sentry's ptrace platform (docs/sentry.md): the few calls the TypeScript kernel makes per
 * application syscall, each a single native crossing.
 *
 *   stubSpawn(path, memfd[, uid, gid, caps]) -> tid   posix_spawn moat-stub with memfd as fd 3 and
 *                                          a pidfd of the sentry as fd 4 (with uid: the stub becomes
 *                                          that uid/gid holding only the caps mask, native/sentry/
 *                                          stub.c, before it is traced); wait for its SIGSTOP; set
 *                                          PTRACE_O_EXITKILL|TRACESYSGOOD|TRACECLONE|TRACEFORK. Once,
 *                                          at start-up: the template every later stub is forked from
 *                                          (inject clone(CLONE_PARENT|SIGCHLD); event[2] = its pid)
 *   sentryBuffers(regs, event)    -> void  the shared buffers: regs (27 u64, struct
 *                                          user_regs_struct) and event (Int32Array, 8: tid,
 *                                          status, new tid, -, fault si_code, si_addr lo/hi)
 *   resumeWait(tid, how, sig, regsMode, rax, timeoutMs[, preferTid]) -> kind
 *       resume tid (how 0 = PTRACE_SYSEMU, 1 = PTRACE_CONT, tid 0 = resume nothing) after setting
 *       its registers (regsMode 0: rax only, 1: all from the regs buffer, 2: none), then wait for
 *       the next event of any tracee. kind: 1 event (event[0] tid, event[1] wait status; the regs
 *       buffer holds that tid's registers when it is stopped), 0 timeout, 2 a host signal arrived
 *       (takeHostSignals), 3 the control socket is ready (asyncFd), 4 a watched fd may be ready
 *       (pollWatched), -1 no tracee left. timeoutMs < 0: no timeout.
 *   inject(tid, nr, a0..a5)        -> result  run one syscall in the stopped tid through the
 *                                          stub's gadget, its registers saved and restored.
 *                                          event[2] = the new thread's tid after a clone.
 *                                          Returns -ESRCH (-3) if the thread died meanwhile.
 *   pokeData(tid, addr, bytes)    -> ok      write into a stopped tracee (PEEK/POKEDATA)
 *   getRegs(tid) / setRegs(tid)  -> ok      tid's registers to / from the regs buffer
 *   getFpRegs(tid, buf) / setFpRegs(tid, buf)  512-byte fxsave area (signal frames)
 *   waitTid(tid, nohang)           -> status | -1   reap one thread (after a SIGKILL)
 *   tgkill(tgid, tid, sig)
 *   memfdCreate(name, size) -> fd;  mapShared(fd, size) -> ArrayBuffer (unmapped when collected)
 *   punchHole(fd, offset, length);  copyData(src, dst, srcOff, dstOff, len) (data extents only)
 *   hostSignals(signals[])         install handlers (no SA_RESTART) that record these signals
 *   takeHostSignals()              -> bitmask of those that arrived since the last call
 *   unixListen(path) -> fd;  unixAccept(fd) -> fd | -1 (no wait)   moat exec's control socket
 *   recvMsg(fd, timeoutMs) -> { data, fds };  sendMsg(sock, Buffer, fds[])   one message with SCM_RIGHTS
 *   pinCpu() -> cpu | -errno       the tracer and its stubs on one CPU (see pin_cpu_js)
 *   pinPid(pid, cpu) -> 0 | -errno the gofer on that CPU too
 *   asyncFd(fd)                    fd's readiness ends a wait (kind 3) by a signal, not by polling
 *   unshare(flags) -> 0 | -errno   the sentry leaves the host's network, IPC and UTS namespaces
 *   utsJoin(path) -> hostname | -errno  setns(CLONE_NEWUTS) into the spec's uts path; its host name
 *   setHostname(name) -> 0 | -errno     sethostname(2) in the sentry's own UTS namespace
 *   dup2(oldfd, newfd)             the exec relay lets go of its caller's stdio
 *   pollIn(fd)                     -> bool  a read of fd would not block (poll, no wait)
 *   setWatchFds(Int32Array)        fds whose readability ends a wait (kind 4); fd|0x40000000: or writability, |0x20000000: writability only,
 *                                  |0x10000000: signal-driven (moat_readiness_fd; without it the wait polls)
 *   pollWatched(Int32Array)        -> n  revents of each watched fd now (one ppoll, no wait)
 *   ttyIoctl(fd, cmd, buf)         -> 0 | -errno  a terminal ioctl on a stdio fd (see below)
 *   stubBase                       STUB_BASE (native/sentry/layout.h), a number
 *
 * The thread that calls stubSpawn is the stubs' tracer; every ptrace call must come from it
 * (the JavaScript main thread). Numbers are doubles: addresses and results fit in 53 bits.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/un.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "../sentry/layout.h"
#include "napi_util.h"

/* Host fds a wait watches at once (every socket of a server's epoll set: thousands); past it, the
 * rest are not watched (their waiters see changes when something else wakes the sentry). */
#define MAX_WATCH 4096
/* A watched fd with this bit set also ends a wait when it becomes writable (a socket connecting or
 * with a full send buffer). */
#define WATCH_OUT 0x40000000
/* With WATCH_OUT: only writability (a task waiting to send must not be woken by unread input). */
#define WATCH_ONLY_OUT 0x20000000
/* A watched fd whose readiness is signalled (a host socket of the sandbox, moat_readiness_fd);
 * without it (the host's stdin) the wait polls. */
#define WATCH_SIGNALLED 0x10000000

static struct user_regs_struct *shared_regs;
static int32_t *shared_event;
static napi_ref regs_ref, event_ref;
static struct pollfd watch[MAX_WATCH];
static int nwatch;
/* Watched fds without WATCH_SIGNALLED: while any is, the wait polls. */
static int npolled;
static atomic_uint host_signal_mask;
/* A signal-driven fd (asyncFd) became ready: ends a wait with kind 3 without polling. */
static atomic_int async_ready;
static timer_t tick_timer;
static bool tick_ready;

extern char **environ;

static bool get_double(napi_env env, napi_value v, const char *fn, const char *arg, double *out)
{
	napi_valuetype t;

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, out) != napi_ok) {
		throw_type(env, fn, arg, "a number");
		return false;
	}
	return true;
}

static napi_value num(napi_env env, double d)
{
	napi_value v;

	napi_create_double(env, d, &v);
	return v;
}

static bool get_typed(napi_env env, napi_value v, const char *fn, const char *arg, size_t min_bytes, void **data, size_t *bytes)
{
	bool is;
	napi_typedarray_type type;
	size_t len, off;
	napi_value ab;

	if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
	    napi_get_typedarray_info(env, v, &type, &len, data, &ab, &off) != napi_ok) {
		throw_type(env, fn, arg, "a typed array");
		return false;
	}
	switch (type) {
	case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: *bytes = len; break;
	case napi_int16_array: case napi_uint16_array: *bytes = len * 2; break;
	case napi_int32_array: case napi_uint32_array: case napi_float32_array: *bytes = len * 4; break;
	default: *bytes = len * 8; break;
	}
	if (*bytes < min_bytes) {
		throw_type(env, fn, arg, "a large enough typed array");
		return false;
	}
	return true;
}

/* ---- host signals and the wait ---- */

/*
 * The tracer's wait (docs/sentry.md, Scheduling). Every event that must end it — a tracee stop, a
 * host signal, the control socket (asyncFd), a host socket of the sandbox becoming ready (O_ASYNC:
 * the kernel sends SIGIO to this thread), the deadline (a timer signal) — reaches it as a stop or a
 * signal, so the wait is one blocking waitid with no thread and no polling. A signal landing
 * between the check of its flag and the wait's entry into the kernel would be lost (the wait would
 * then sleep until the next stop): the handler of every such signal therefore leaves the wait with
 * siglongjmp while it is armed. The wait is waitid(WNOWAIT), so a handler that runs just after it
 * returned (the signal pending at the syscall's exit) leaves the stop queued rather than consumed
 * and lost; wait4 on that one tid then takes it.
 */
static sigjmp_buf wait_jmp;
static volatile sig_atomic_t wait_armed;
static pid_t tracer_tid;
/* A host socket of the sandbox may be ready (SIGIO, or SIGURG sent by the kernel): kind 4. */
static atomic_int fd_ready;

/* Leave an armed wait. A handler that runs on another thread of the process (a process-directed
 * host signal) hands the wake-up to the tracer thread with the tick's signal. */
static void wake_wait(void)
{
	if (!wait_armed)
		return;
	if ((pid_t)syscall(SYS_gettid) != tracer_tid) {
		syscall(SYS_tgkill, getpid(), tracer_tid, SIGRTMIN + 4);
		return;
	}
	wait_armed = 0;
	siglongjmp(wait_jmp, 1);
}

static void on_host_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	/* SIGURG from the kernel (urgent data on a host socket the sentry owns) is readiness, not a
	 * signal sent to the sandbox. */
	if (sig == SIGURG && si && si->si_code == SI_KERNEL)
		atomic_store(&fd_ready, 1);
	else if (sig > 0 && sig < 32)
		atomic_fetch_or(&host_signal_mask, 1u << sig);
	wake_wait();
}

static void on_tick(int sig)
{
	(void)sig;
	wake_wait();
}

static void on_async(int sig)
{
	(void)sig;
	atomic_store(&async_ready, 1);
	wake_wait();
}

static void on_fd_ready(int sig)
{
	(void)sig;
	atomic_store(&fd_ready, 1);
	wake_wait();
}

/* Handlers that may siglongjmp: SA_NODEFER and an empty sa_mask, so that leaving one without
 * sigreturn leaves the signal mask as it was (no sigprocmask call per wait). Host signals and the
 * control socket's have no SA_RESTART (a blocking call of the sentry's elsewhere ends with EINTR);
 * socket readiness and the deadline timer, frequent and meaningful only to the wait, restart them. */
static int set_handler(int sig, void (*fn)(int), void (*act)(int, siginfo_t *, void *))
{
	struct sigaction sa = { 0 };

	if (sig == SIGIO || sig == SIGRTMIN + 4)
		sa.sa_flags = SA_RESTART;

	if (act) {
		sa.sa_sigaction = act;
		sa.sa_flags |= SA_SIGINFO;
	} else {
		sa.sa_handler = fn;
	}
	sa.sa_flags |= SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

/* The deadline timer (SIGRTMIN+4 to the tracer thread): armed at a wait's absolute deadline; a
 * stale expiry during a later wait only makes it look again. Each wait recomputes its deadline from
 * a relative timeout, so the same sleeper's deadline moves by microseconds from wait to wait: a timer
 * still to fire at most 200 µs before it is kept (an early expiry looks again and re-arms), saving a
 * timer_settime on nearly every wait while something sleeps. */
static bool deadline_timer(long long deadline_us, long long now_us)
{
	static long long armed_at = -1;
	struct itimerspec its = { 0 };

	if (!tick_ready) {
		struct sigevent sev = { 0 };

		if (set_handler(SIGRTMIN + 4, on_tick, NULL) != 0)
			return false;
		sev.sigev_notify = SIGEV_THREAD_ID;
		sev.sigev_signo = SIGRTMIN + 4;
		sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
		if (timer_create(CLOCK_MONOTONIC, &sev, &tick_timer) != 0)
			return false;
		tick_ready = true;
	}
	if (deadline_us < 0 || (armed_at > now_us && armed_at <= deadline_us && deadline_us - armed_at <= 200))
		return true;
	its.it_value.tv_sec = deadline_us / 1000000;
	its.it_value.tv_nsec = (deadline_us % 1000000) * 1000;
	if (timer_settime(tick_timer, TIMER_ABSTIME, &its, NULL) != 0)
		return false;
	armed_at = deadline_us;
	return true;
}

/* The tracer thread, its handlers, and SIGIO/SIGURG for the sandbox's host sockets: once, from the
 * tracer thread (sentryBuffers), before any socket exists. */
static void wait_init(void)
{
	tracer_tid = (pid_t)syscall(SYS_gettid);
	set_handler(SIGIO, on_fd_ready, NULL);
	set_handler(SIGURG, NULL, on_host_signal);
	deadline_timer(-1, 0);
}

/* net.c: a host socket of the sandbox signals its readiness to the tracer thread (plain SIGIO:
 * pending ones coalesce; the wait then polls the watched fds once). Set before any call on the
 * socket can answer EAGAIN, so no readiness after that EAGAIN goes unsignalled. */
int moat_readiness_fd(int fd)
{
	struct f_owner_ex owner = { .type = F_OWNER_TID, .pid = tracer_tid };
	int flags;

	if (tracer_tid == 0)
		return -EINVAL;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETOWN_EX, &owner) != 0 || fcntl(fd, F_SETSIG, 0) != 0 ||
	    fcntl(fd, F_SETFL, flags | O_ASYNC) != 0)
		return -errno;
	return 0;
}

static long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void fill_event(pid_t tid, int status)
{
	shared_event[0] = tid;
	shared_event[1] = status;
	if (WIFSTOPPED(status) && shared_regs && ptrace(PTRACE_GETREGS, tid, NULL, shared_regs) != 0)
		shared_event[1] = -1; /* vanished between the stop and the read (SIGKILL) */
	else if (WIFSTOPPED(status) && (status >> 8) != (SIGTRAP | 0x80) && WSTOPSIG(status) != SIGSTOP) {
		/* A fault: its siginfo (code, address) for the application's handler. */
		siginfo_t si;

		if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) == 0) {
			shared_event[4] = si.si_code;
			shared_event[5] = (int32_t)(uint32_t)((uintptr_t)si.si_addr & 0xffffffffu);
			shared_event[6] = (int32_t)(uint32_t)((uintptr_t)si.si_addr >> 32);
		}
	}
}

/* A flag that ends the wait: its kind, or 0. */
static int wait_flags(void)
{
	if (atomic_load(&host_signal_mask))
		return 2;
	if (atomic_exchange(&async_ready, 0))
		return 3;
	if (atomic_exchange(&fd_ready, 0))
		return 4;
	return 0;
}

/* The next stop or exit without waiting: 1 (event filled), 0 none, -1 no tracee left. */
static int take_event(pid_t which)
{
	int status = 0;
	pid_t pid = waitpid(which, &status, __WALL | WNOHANG);

	if (pid > 0) {
		fill_event(pid, status);
		return 1;
	}
	return pid < 0 && errno == ECHILD ? -1 : 0;
}

/* wait_event when every watched fd is signal-driven: one blocking waitid (see above). */
static int wait_event_blocking(long long deadline)
{
	for (;;) {
		siginfo_t si;
		int kind, r;
		long long now;

		if (sigsetjmp(wait_jmp, 0) != 0) {
			/* A handler left the wait: look at the flags and the clock again. */
		}
		wait_armed = 1;
		kind = wait_flags();
		if (kind) {
			wait_armed = 0;
			return kind;
		}
		now = deadline >= 0 ? mono_us() : 0;
		if (deadline >= 0 && now >= deadline) {
			wait_armed = 0;
			return take_event(-1);
		}
		if (deadline >= 0 && !deadline_timer(deadline, now)) {
			wait_armed = 0;
			return take_event(-1);
		}
		si.si_pid = 0;
		r = waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | __WALL | WNOWAIT);
		wait_armed = 0;
		if (r == 0 && si.si_pid > 0) {
			r = take_event(si.si_pid);
			if (r != 0)
				return r;
			continue;
		}
		if (r < 0 && errno == ECHILD)
			return -1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Some watched fd is not signal-driven (the host's stdin: a pipe or terminal shared with others,
 * whose open file description the sentry must not change): waitpid(WNOHANG) alternating with ppoll
 * slices of 50 µs doubling to 10 ms. */
static int wait_event_polling(long long deadline)
{
	long long slice = 50; /* microseconds */

	for (;;) {
		int kind = wait_flags(), r;
		long long now, wait_us = slice;
		struct timespec ts;

		if (kind)
			return kind;
		r = take_event(-1);
		if (r != 0)
			return r;
		now = mono_us();
		if (deadline >= 0 && now >= deadline)
			return 0;
		if (deadline >= 0 && deadline - now < wait_us)
			wait_us = deadline - now;
		ts.tv_sec = wait_us / 1000000;
		ts.tv_nsec = (wait_us % 1000000) * 1000;
		if (ppoll(watch, (nfds_t)nwatch, &ts, NULL) > 0)
			return 4;
		if (slice < 10000)
			slice *= 2;
	}
}

static int wait_event(double timeout_ms)
{
	long long deadline = timeout_ms >= 0 ? mono_us() + (long long)(timeout_ms * 1000) : -1;

	return npolled > 0 ? wait_event_polling(deadline) : wait_event_blocking(deadline);
}

/* ---- calls ---- */

static napi_value sentry_buffers_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	void *regs, *event;
	size_t rb, eb;

	if (!get_args(env, info, 2, argv) ||
	    !get_typed(env, argv[0], "sentryBuffers", "regs", sizeof(struct user_regs_struct), &regs, &rb) ||
	    !get_typed(env, argv[1], "sentryBuffers", "event", 32, &event, &eb))
		return NULL;
	hold_ref(env, argv[0], &regs_ref);
	hold_ref(env, argv[1], &event_ref);
	shared_regs = regs;
	shared_event = event;
	if (tracer_tid == 0)
		wait_init();
	return NULL;
}

static napi_value stub_spawn_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char path[PATH_MAX];
	int memfd, err, status;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	pid_t pid;
	char ids[3][16];
	char *args[] = { "moat-stub", NULL, NULL, NULL, NULL };
	char *envp[] = { NULL };
	int self_pidfd;
	napi_valuetype t;

	if (!get_args(env, info, 5, argv) || !get_str(env, argv[0], "stubSpawn", "path", path, sizeof(path)) ||
	    !get_fd(env, argv[1], "stubSpawn", "memfd", &memfd))
		return NULL;
	if (napi_typeof(env, argv[2], &t) == napi_ok && t != napi_undefined) {
		static const char *const names[3] = { "uid", "gid", "caps" };

		for (int i = 0; i < 3; i++) {
			double v;

			if (!get_int(env, argv[2 + i], "stubSpawn", names[i], i < 2 ? 1 : 0, i < 2 ? 0xfffffffe : 0xffffffff, &v))
				return NULL;
			snprintf(ids[i], sizeof(ids[i]), "%lu", (unsigned long)v);
			args[1 + i] = ids[i];
		}
	}
	/* fd 4: a pidfd of the sentry, from which stubs forked off this one fetch their memory file
	 * (pidfd_getfd): no stub is ever exec'd after the sentry confines itself. */
	err = (int)syscall(SYS_pidfd_open, getpid(), 0);
	/* Above 4, so that neither dup2 below overwrites it first. */
	self_pidfd = err < 0 ? -1 : fcntl(err, F_DUPFD_CLOEXEC, 10);
	if (err >= 0)
		close(err);
	if (self_pidfd < 0) {
		throw_errno(env, errno, "pidfd_open", "the sentry");
		return NULL;
	}
	posix_spawn_file_actions_init(&fa);
	/* 0-2 taken (by /dev/null), so that fd 3, once closed in a forked stub, is the lowest free. */
	for (int i = 0; i < 3; i++)
		posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
	posix_spawn_file_actions_adddup2(&fa, memfd, 3);
	posix_spawn_file_actions_adddup2(&fa, self_pidfd, 4);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	err = posix_spawn(&pid, path, &fa, &attr, args, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(self_pidfd);
	(void)environ;
	if (err) {
		throw_errno(env, err, "posix_spawn", path);
		return NULL;
	}
	for (;;) {
		if (waitpid(pid, &status, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			goto fail;
		}
		break;
	}
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP) {
		char what[64];

		snprintf(what, sizeof(what), "stub start-up (wait status 0x%x)", status);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR)
			;
		throw_errno(env, ECHILD, what, path);
		return NULL;
	}
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
		   (void *)(long)(PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE |
			   PTRACE_O_TRACEFORK)) != 0) {
		err = errno;
		goto fail;
	}
	return num(env, pid);
fail:
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR)
		;
	throw_errno(env, err, "stub start-up", path);
	return NULL;
}

static napi_value resume_wait_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double tid, how, sig, mode, rax, timeout, prefer = 0;
	napi_valuetype pt;

	if (!get_args(env, info, 7, argv) || !get_double(env, argv[0], "resumeWait", "tid", &tid) ||
	    !get_double(env, argv[1], "resumeWait", "how", &how) || !get_double(env, argv[2], "resumeWait", "sig", &sig) ||
	    !get_double(env, argv[3], "resumeWait", "regsMode", &mode) || !get_double(env, argv[4], "resumeWait", "rax", &rax) ||
	    !get_double(env, argv[5], "resumeWait", "timeoutMs", &timeout))
		return NULL;
	if (!shared_regs) {
		throw_type(env, "resumeWait", "sentryBuffers", "called first");
		return NULL;
	}
	if (tid > 0) {
		pid_t t = (pid_t)tid;
		int r = 0;

		if (mode == 0)
			r = (int)ptrace(PTRACE_POKEUSER, t, (void *)offsetof(struct user_regs_struct, rax), (void *)(long long)rax);
		else if (mode == 1)
			r = (int)ptrace(PTRACE_SETREGS, t, NULL, shared_regs);
		if (r == 0)
			ptrace(how == 0 ? PTRACE_SYSEMU : PTRACE_CONT, t, NULL, (void *)(long)sig);
		/* ESRCH: killed meanwhile; its exit is the next event. */
	}
	if (timeout == -2)
		return num(env, 0);
	/* preferTid: a thread resumed earlier; its stop, if it has one, comes first (kernel.ts
	 * longestOnHost: Linux's wait would report the stub's main thread first every time). */
	if (napi_typeof(env, argv[6], &pt) == napi_ok && pt == napi_number &&
	    !get_int(env, argv[6], "resumeWait", "preferTid", 0, 4194304, &prefer))
		return NULL;
	if (prefer > 0 && prefer != tid && take_event((pid_t)prefer) == 1)
		return num(env, 1);
	return num(env, wait_event(timeout));
}

static napi_value inject_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double d[8];
	struct user_regs_struct saved, regs;
	pid_t tid;
	int status;
	long long result;

	if (!get_args(env, info, 8, argv))
		return NULL;
	for (int i = 0; i < 8; i++) {
		napi_valuetype t;

		if (napi_typeof(env, argv[i], &t) == napi_ok && t == napi_undefined) {
			d[i] = 0;
			continue;
		}
		if (!get_double(env, argv[i], "inject", "argument", &d[i]))
			return NULL;
	}
	tid = (pid_t)d[0];
	if (shared_event)
		shared_event[2] = 0;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &saved) != 0)
		return num(env, -errno);
	regs = saved;
	regs.rip = GADGET_ADDR;
	regs.rax = (unsigned long long)(long long)d[1];
	regs.orig_rax = (unsigned long long)-1LL;
	regs.rdi = (unsigned long long)(long long)d[2];
	regs.rsi = (unsigned long long)(long long)d[3];
	regs.rdx = (unsigned long long)(long long)d[4];
	regs.r10 = (unsigned long long)(long long)d[5];
	regs.r8 = (unsigned long long)(long long)d[6];
	regs.r9 = (unsigned long long)(long long)d[7];
	if (ptrace(PTRACE_SETREGS, tid, NULL, &regs) != 0 || ptrace(PTRACE_CONT, tid, NULL, NULL) != 0)
		return num(env, -errno);
	for (;;) {
		if (waitpid(tid, &status, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return num(env, -ESRCH);
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (shared_event) {
				shared_event[3] = status;
			}
			return num(env, -ESRCH);
		}
		if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_CLONE << 8)) || status >> 8 == (SIGTRAP | (PTRACE_EVENT_FORK << 8))) {
			unsigned long msg = 0;
			int cst;

			ptrace(PTRACE_GETEVENTMSG, tid, NULL, &msg);
			/* The new thread (or, forked from the template, stub) starts with a SIGSTOP of its
			 * own, traced with the same options: take it now. */
			while (waitpid((pid_t)msg, &cst, __WALL) < 0 && errno == EINTR)
				;
			if (shared_event)
				shared_event[2] = (int32_t)msg;
			ptrace(PTRACE_CONT, tid, NULL, NULL);
			continue;
		}
		if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP)
			break;
		/* Any other stop (a stray SIGSTOP, …): let the gadget go on without it. */
		ptrace(PTRACE_CONT, tid, NULL, NULL);
	}
	if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) != 0)
		return num(env, -errno);
	result = (long long)regs.rax;
	saved.orig_rax = (unsigned long long)-1LL;
	if (ptrace(PTRACE_SETREGS, tid, NULL, &saved) != 0)
		return num(env, -errno);
	return num(env, (double)result);
}

static napi_value fpregs_js(napi_env env, napi_callback_info info, bool set)
{
	napi_value argv[MAX_ARGS];
	double tid;
	void *buf;
	size_t bytes;

	if (!get_args(env, info, 2, argv) || !get_double(env, argv[0], "fpRegs", "tid", &tid) ||
	    !get_typed(env, argv[1], "fpRegs", "buf", sizeof(struct user_fpregs_struct), &buf, &bytes))
		return NULL;
	if (ptrace(set ? PTRACE_SETFPREGS : PTRACE_GETFPREGS, (pid_t)tid, NULL, buf) != 0)
		return num(env, -errno);
	return num(env, 0);
}

static napi_value get_fpregs_js(napi_env env, napi_callback_info info) { return fpregs_js(env, info, false); }
static napi_value set_fpregs_js(napi_env env, napi_callback_info info) { return fpregs_js(env, info, true); }

static napi_value regs_js(napi_env env, napi_callback_info info, bool set)
{
	napi_value argv[MAX_ARGS];
	double tid;

	if (!get_args(env, info, 1, argv) || !get_double(env, argv[0], "regs", "tid", &tid))
		return NULL;
	if (!shared_regs) {
		throw_type(env, "regs", "sentryBuffers", "called first");
		return NULL;
	}
	return js_bool(env, ptrace(set ? PTRACE_SETREGS : PTRACE_GETREGS, (pid_t)tid, NULL, shared_regs) == 0);
}

/* Write bytes into a stopped tracee (PTRACE_PEEKDATA/POKEDATA by words): the stub's scratch page. */
static napi_value poke_data_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double tid, addr;
	void *data;
	size_t len;

	if (!get_args(env, info, 3, argv) || !get_double(env, argv[0], "pokeData", "tid", &tid) ||
	    !get_double(env, argv[1], "pokeData", "addr", &addr) || !get_typed(env, argv[2], "pokeData", "data", 0, &data, &len))
		return NULL;
	for (size_t i = 0; i < len; i += 8) {
		unsigned long a = (unsigned long)addr + i, word = 0;

		if (len - i < 8) {
			errno = 0;
			word = (unsigned long)ptrace(PTRACE_PEEKDATA, (pid_t)tid, (void *)a, NULL);
			if (errno)
				return js_bool(env, false);
		}
		memcpy(&word, (char *)data + i, len - i < 8 ? len - i : 8);
		if (ptrace(PTRACE_POKEDATA, (pid_t)tid, (void *)a, (void *)word) != 0)
			return js_bool(env, false);
	}
	return js_bool(env, true);
}

static napi_value get_regs_js(napi_env env, napi_callback_info info) { return regs_js(env, info, false); }
static napi_value set_regs_js(napi_env env, napi_callback_info info) { return regs_js(env, info, true); }

static napi_value wait_tid_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double tid;
	bool nohang;
	int status;
	pid_t r;

	if (!get_args(env, info, 2, argv) || !get_double(env, argv[0], "waitTid", "tid", &tid) ||
	    !get_bool(env, argv[1], "waitTid", "nohang", &nohang))
		return NULL;
	do
		r = waitpid((pid_t)tid, &status, __WALL | (nohang ? WNOHANG : 0));
	while (r < 0 && errno == EINTR);
	return num(env, r > 0 ? status : -1);
}

static napi_value tgkill_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double tgid, tid, sig;

	if (!get_args(env, info, 3, argv) || !get_double(env, argv[0], "tgkill", "tgid", &tgid) ||
	    !get_double(env, argv[1], "tgkill", "tid", &tid) || !get_double(env, argv[2], "tgkill", "sig", &sig))
		return NULL;
	return num(env, syscall(SYS_tgkill, (pid_t)tgid, (pid_t)tid, (int)sig) == 0 ? 0 : -errno);
}

static napi_value memfd_create_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char name[64];
	double size;
	int fd;

	if (!get_args(env, info, 2, argv) || !get_str(env, argv[0], "memfdCreate", "name", name, sizeof(name)) ||
	    !get_int(env, argv[1], "memfdCreate", "size", 0, 1ULL << 46, &size))
		return NULL;
	fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		throw_errno(env, err, "memfd_create", name);
		return NULL;
	}
	return num(env, fd);
}

static void unmap_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	munmap(data, (size_t)(uintptr_t)hint);
}

static napi_value map_shared_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], ab;
	int fd;
	double size;
	void *p;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "mapShared", "fd", &fd) ||
	    !get_int(env, argv[1], "mapShared", "size", 1, 1ULL << 32, &size))
		return NULL;
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) {
		throw_errno(env, errno, "mmap", NULL);
		return NULL;
	}
	/* The mapping is sparse (pages exist once touched): V8 must not count gigabytes of it as
	 * external memory, which would start a full collection at every new address space
	 * (unaccounted_buffer.cc, under the Node the addon was built for). */
	ab = moat_unaccounted_arraybuffer(env, p, (size_t)size);
	if (ab != NULL)
		return ab;
	if (napi_create_external_arraybuffer(env, p, (size_t)size, unmap_finalize, (void *)(uintptr_t)(size_t)size, &ab) != napi_ok) {
		munmap(p, (size_t)size);
		return NULL;
	}
	/* Under another Node: let V8 count as little of it as N-API allows (it still collects at
	 * every new mapping, and unmaps dead ones only when the event loop runs). */
	{
		int64_t adjusted;

		napi_adjust_external_memory(env, -(int64_t)size, &adjusted);
	}
	return ab;
}

static napi_value punch_hole_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd;
	double off, len;

	if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], "punchHole", "fd", &fd) ||
	    !get_int(env, argv[1], "punchHole", "offset", 0, 1ULL << 46, &off) ||
	    !get_int(env, argv[2], "punchHole", "length", 0, 1ULL << 46, &len))
		return NULL;
	if (len > 0 && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) != 0) {
		throw_errno(env, errno, "fallocate", NULL);
		return NULL;
	}
	return NULL;
}

/* Copy [srcOff, srcOff+len) of src to dstOff of dst, reading only data extents (holes stay holes). */
static napi_value copy_data_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int src, dst;
	double so, dof, len;
	off_t pos, end;

	if (!get_args(env, info, 5, argv) || !get_fd(env, argv[0], "copyData", "src", &src) ||
	    !get_fd(env, argv[1], "copyData", "dst", &dst) || !get_int(env, argv[2], "copyData", "srcOff", 0, 1ULL << 46, &so) ||
	    !get_int(env, argv[3], "copyData", "dstOff", 0, 1ULL << 46, &dof) ||
	    !get_int(env, argv[4], "copyData", "length", 0, 1ULL << 46, &len))
		return NULL;
	pos = (off_t)so;
	end = (off_t)(so + len);
	while (pos < end) {
		off_t data = lseek(src, pos, SEEK_DATA), hole;

		if (data < 0 || data >= end)
			break;
		hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		while (data < hole) {
			loff_t in = data, out = (loff_t)(dof + (double)(data - (off_t)so));
			ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)(hole - data), 0);

			if (n <= 0) {
				throw_errno(env, n < 0 ? errno : EIO, "copy_file_range", NULL);
				return NULL;
			}
			data += n;
		}
		pos = hole;
	}
	return NULL;
}

static napi_value host_signals_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	uint32_t n;
	bool is;

	if (!get_args(env, info, 1, argv) || napi_is_array(env, argv[0], &is) != napi_ok || !is) {
		throw_type(env, "hostSignals", "signals", "an array");
		return NULL;
	}
	napi_get_array_length(env, argv[0], &n);
	for (uint32_t i = 0; i < n; i++) {
		napi_value v;
		double sig;

		napi_get_element(env, argv[0], i, &v);
		if (!get_int(env, v, "hostSignals", "signal", 1, 31, &sig))
			return NULL;
		if (set_handler((int)sig, NULL, on_host_signal) != 0) {
			throw_errno(env, errno, "sigaction", NULL);
			return NULL;
		}
	}
	return NULL;
}

static napi_value take_host_signals_js(napi_env env, napi_callback_info info)
{
	(void)info;
	return num(env, (double)atomic_exchange(&host_signal_mask, 0));
}

static napi_value set_watch_fds_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	void *data;
	size_t bytes;

	if (!get_args(env, info, 1, argv) || !get_typed(env, argv[0], "setWatchFds", "fds", 0, &data, &bytes))
		return NULL;
	nwatch = 0;
	npolled = 0;
	for (size_t i = 0; i < bytes / 4 && nwatch < MAX_WATCH; i++) {
		int32_t v = ((int32_t *)data)[i];

		watch[nwatch].fd = v & ~(WATCH_OUT | WATCH_ONLY_OUT | WATCH_SIGNALLED);
		watch[nwatch].events = v & WATCH_ONLY_OUT ? POLLOUT : POLLIN | (v & WATCH_OUT ? POLLOUT : 0);
		watch[nwatch].revents = 0;
		if (!(v & WATCH_SIGNALLED))
			npolled++;
		nwatch++;
	}
	return NULL;
}

/* pollWatched(out: Int32Array) -> n: one ppoll of the watched fds without waiting; out[i] = the
 * revents of the i-th fd given to setWatchFds (0 past MAX_WATCH). Returns how many are ready. */
static napi_value poll_watched_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	void *data;
	size_t bytes, n;
	struct timespec zero = { 0, 0 };
	int r;

	if (!get_args(env, info, 1, argv) || !get_typed(env, argv[0], "pollWatched", "out", 0, &data, &bytes))
		return NULL;
	n = bytes / 4;
	r = nwatch > 0 ? ppoll(watch, (nfds_t)nwatch, &zero, NULL) : 0;
	for (size_t i = 0; i < n; i++)
		((int32_t *)data)[i] = r > 0 && i < (size_t)nwatch ? watch[i].revents : 0;
	return num(env, r < 0 ? -errno : r);
}

static napi_value poll_in_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd;
	struct pollfd p;

	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "pollIn", "fd", &fd))
		return NULL;
	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	return js_bool(env, poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)));
}

/*
 * ttyIoctl(fd, cmd, buf) -> 0 | -errno: one terminal ioctl on the sentry's own stdio fd (the
 * container's console), for the application's TCGETS, TCSETS[WF], TIOCGWINSZ, TIOCSWINSZ and
 * FIONREAD. buf holds the kernel's struct (termios: 36 bytes, winsize: 8, int: 4); only these commands, at exactly
 * these sizes.
 */
static napi_value tty_ioctl_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd;
	double cmd;
	void *data;
	size_t bytes, want;

	if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], "ttyIoctl", "fd", &fd) ||
	    !get_int(env, argv[1], "ttyIoctl", "cmd", 0, 0xffffffff, &cmd) ||
	    !get_typed(env, argv[2], "ttyIoctl", "buf", 0, &data, &bytes))
		return NULL;
	switch ((unsigned long)cmd) {
	case 0x5401: case 0x5402: case 0x5403: case 0x5404: want = 36; break; /* TCGETS, TCSETS, TCSETSW, TCSETSF */
	case 0x5413: case 0x5414: want = 8; break; /* TIOCGWINSZ, TIOCSWINSZ */
	case 0x541b: want = 4; break; /* FIONREAD (any stream, not only a tty) */
	default: return num(env, -EINVAL);
	}
	if (bytes != want)
		return num(env, -EINVAL);
	return num(env, ioctl(fd, (unsigned long)cmd, data) < 0 ? -errno : 0);
}

/* ---- the control socket (moat exec into a sentry container) ---- */

static napi_value unix_listen_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char path[108];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!get_args(env, info, 1, argv) || !get_str(env, argv[0], "unixListen", "path", path, sizeof(path)))
		return NULL;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		throw_errno(env, err, "listen", path);
		return NULL;
	}
	return num(env, fd);
}

/* accept4 without waiting: -1 when nobody is connecting. The connection is blocking. */
static napi_value unix_accept_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd, c;

	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "unixAccept", "fd", &fd))
		return NULL;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	return num(env, c < 0 ? -1 : c);
}

/* One recvmsg (waiting at most timeoutMs): { data, fds } with up to 8 fds (close-on-exec). */
static napi_value recv_msg_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], res, data, arr;
	int fd, fds[8];
	size_t nfds;
	double timeout;
	char buf[16384];
	struct pollfd p;
	ssize_t n;
	void *out;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "recvMsg", "fd", &fd) ||
	    !get_int(env, argv[1], "recvMsg", "timeoutMs", 0, 60000, &timeout))
		return NULL;
	p.fd = fd;
	p.events = POLLIN;
	if (poll(&p, 1, (int)timeout) <= 0) {
		throw_errno(env, ETIMEDOUT, "recvmsg", NULL);
		return NULL;
	}
	n = fdpass_recv(fd, buf, sizeof(buf), fds, 8, &nfds, MSG_DONTWAIT);
	if (n < 0) {
		throw_errno(env, errno, "recvmsg", NULL);
		return NULL;
	}
	napi_create_object(env, &res);
	napi_create_buffer_copy(env, (size_t)n, buf, &out, &data);
	napi_create_array_with_length(env, nfds, &arr);
	for (size_t i = 0; i < nfds; i++)
		napi_set_element(env, arr, (uint32_t)i, num(env, fds[i]));
	napi_set_named_property(env, res, "data", data);
	napi_set_named_property(env, res, "fds", arr);
	return res;
}

/* One sendmsg with data and fds (SCM_RIGHTS). */
static napi_value send_msg_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int sock, fds[8];
	uint32_t nfds = 0;
	bool is;
	void *data;
	size_t len;
	ssize_t n;

	if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], "sendMsg", "sock", &sock))
		return NULL;
	if (napi_is_buffer(env, argv[1], &is) != napi_ok || !is || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
		throw_type(env, "sendMsg", "data", "a Buffer");
		return NULL;
	}
	if (napi_is_array(env, argv[2], &is) != napi_ok || !is || napi_get_array_length(env, argv[2], &nfds) != napi_ok || nfds > 8) {
		throw_type(env, "sendMsg", "fds", "an array of at most 8 fds");
		return NULL;
	}
	for (uint32_t i = 0; i < nfds; i++) {
		napi_value v;

		napi_get_element(env, argv[2], i, &v);
		if (!get_fd(env, v, "sendMsg", "fd", &fds[i]))
			return NULL;
	}
	n = fdpass_send(sock, data, len, fds, nfds, 0);
	if (n < 0) {
		throw_errno(env, errno, "sendmsg", NULL);
		return NULL;
	}
	return num(env, (double)n);
}

/* TIOCSCTTY: fd (a terminal) becomes the caller's controlling terminal (it leads a new session). */
static napi_value set_ctty_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd;

	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "setCtty", "fd", &fd))
		return NULL;
	return js_bool(env, ioctl(fd, TIOCSCTTY, 0) == 0);
}

/*
 * Pin the calling thread (the tracer) to one of its allowed CPUs, chosen by pid so that sandboxes
 * spread over the machine; the stubs it spawns inherit the CPU. A ptrace stop and resume between
 * two CPUs costs two cross-CPU wake-ups; on one CPU it is a plain context switch (on this kind of
 * VM: ~65 µs against ~10 µs per syscall). Returns the CPU, or -errno.
 */
static napi_value pin_cpu_js(napi_env env, napi_callback_info info)
{
	cpu_set_t allowed, one;
	int count, pick, cpu = -1;

	(void)info;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return num(env, -errno);
	count = CPU_COUNT(&allowed);
	if (count <= 0)
		return num(env, -EINVAL);
	pick = (int)(getpid() % count);
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &allowed))
			continue;
		if (pick-- == 0) {
			cpu = i;
			break;
		}
	}
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) != 0)
		return num(env, -errno);
	return num(env, cpu);
}

/*
 * Make fd (one only the sentry holds: its control socket) signal-driven: readiness sends a signal
 * to this thread, which ends a blocking wait (see the wait) — no polling on the per-syscall path.
 */
static napi_value async_fd_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd, flags;
	struct f_owner_ex owner = { .type = F_OWNER_TID };

	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "asyncFd", "fd", &fd))
		return NULL;
	owner.pid = (pid_t)syscall(SYS_gettid);
	flags = fcntl(fd, F_GETFL);
	if (set_handler(SIGRTMIN + 5, on_async, NULL) != 0 || flags < 0 || fcntl(fd, F_SETOWN_EX, &owner) != 0 ||
	    fcntl(fd, F_SETSIG, SIGRTMIN + 5) != 0 || fcntl(fd, F_SETFL, flags | O_ASYNC | O_NONBLOCK) != 0) {
		throw_errno(env, errno, "fcntl", NULL);
		return NULL;
	}
	return NULL;
}

/* Pin another process (all of its threads that exist now: the gofer is single-threaded) to a CPU. */
static napi_value pin_pid_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double pid, cpu;
	cpu_set_t one;

	if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "pinPid", "pid", 1, 4194304, &pid) ||
	    !get_int(env, argv[1], "pinPid", "cpu", 0, CPU_SETSIZE - 1, &cpu))
		return NULL;
	CPU_ZERO(&one);
	CPU_SET((int)cpu, &one);
	return num(env, sched_setaffinity((pid_t)pid, sizeof(one), &one) == 0 ? 0 : -errno);
}

/* unshare(2) of the calling thread (the sentry's main thread, whose stubs inherit it). */
static napi_value unshare_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double flags;

	if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "unshare", "flags", 0, 0x7fffffff, &flags))
		return NULL;
	return num(env, unshare((int)flags) == 0 ? 0 : -errno);
}

/*
 * A container that joins another's UTS namespace (a CRI pod's) takes that namespace's host name:
 * setns into it, then uname. The sentry unshares a copy of it right after (unshare_js).
 */
static napi_value uts_join_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out;
	char path[4096];
	struct utsname u;
	int fd, r, err;

	if (!get_args(env, info, 1, argv) || !get_str(env, argv[0], "utsJoin", "path", path, sizeof(path)))
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return num(env, -errno);
	r = setns(fd, CLONE_NEWUTS);
	err = errno;
	close(fd);
	if (r < 0)
		return num(env, -err);
	if (uname(&u) < 0)
		return num(env, -errno);
	if (napi_create_string_latin1(env, u.nodename, strnlen(u.nodename, sizeof(u.nodename)), &out) != napi_ok)
		return NULL;
	return out;
}

/* The sandbox's host name in the sentry's own UTS namespace, for a container that joins it. */
static napi_value set_hostname_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char name[65];

	if (!get_args(env, info, 1, argv) || !get_str(env, argv[0], "setHostname", "name", name, sizeof(name)))
		return NULL;
	return num(env, sethostname(name, strlen(name)) == 0 ? 0 : -errno);
}

static napi_value dup2_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int a, b;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "dup2", "oldfd", &a) || !get_fd(env, argv[1], "dup2", "newfd", &b))
		return NULL;
	if (dup2(a, b) < 0) {
		throw_errno(env, errno, "dup2", NULL);
		return NULL;
	}
	return NULL;
}

bool moat_register_sentry(napi_env env, napi_value exports)
{
	static const struct napi_export fns[] = {
		{ "sentryBuffers", sentry_buffers_js },
		{ "stubSpawn", stub_spawn_js },
		{ "resumeWait", resume_wait_js },
		{ "inject", inject_js },
		{ "getRegs", get_regs_js },
		{ "pokeData", poke_data_js },
		{ "setRegs", set_regs_js },
		{ "getFpRegs", get_fpregs_js },
		{ "setFpRegs", set_fpregs_js },
		{ "waitTid", wait_tid_js },
		{ "tgkill", tgkill_js },
		{ "memfdCreate", memfd_create_js },
		{ "mapShared", map_shared_js },
		{ "punchHole", punch_hole_js },
		{ "copyData", copy_data_js },
		{ "hostSignals", host_signals_js },
		{ "takeHostSignals", take_host_signals_js },
		{ "setWatchFds", set_watch_fds_js },
		{ "pollWatched", poll_watched_js },
		{ "pollIn", poll_in_js },
		{ "setCtty", set_ctty_js },
		{ "dup2", dup2_js },
		{ "unshare", unshare_js },
		{ "utsJoin", uts_join_js },
		{ "setHostname", set_hostname_js },
		{ "pinCpu", pin_cpu_js },
		{ "pinPid", pin_pid_js },
		{ "asyncFd", async_fd_js },
		{ "unixListen", unix_listen_js },
		{ "unixAccept", unix_accept_js },
		{ "recvMsg", recv_msg_js },
		{ "sendMsg", send_msg_js },
		{ "ttyIoctl", tty_ioctl_js },
	};
	napi_value base;

	/* The layout the stub was linked with, for the TypeScript side to check its own against. */
	if (napi_create_double(env, (double)STUB_BASE, &base) != napi_ok || napi_set_named_property(env, exports, "stubBase", base) != napi_ok)
		return false;
	return export_functions(env, exports, fns, sizeof(fns) / sizeof(fns[0]));
}
