/*
 * moat-agent: /init of a moat vm guest (docs/vm.md). No policy lives here either: the host sends
 * the same executor plans the native platform computes, and the agent hands them to moat-exec.
 *
 * At boot (as pid 1 of the initramfs):
 *   1. mount devtmpfs, proc, sysfs; load the modules listed in /modules/order (finit_module, with
 *      the `<module>.<param>=` words of the kernel command line as their parameters);
 *   2. find the virtio-serial ports by name (/sys/class/virtio-ports/<port>/name): moat.ctl (the
 *      channel), moat.in / moat.out / moat.err (the container's stdin / stdout / stderr),
 *      moat.status (exit status), moat.exec.N (one channel per concurrent `moat exec`);
 *   3. move to a tmpfs root (pivot_root cannot leave the initramfs, the executor's can leave this),
 *      with /rootfs = the ext4 disk /dev/vda, /start.fifo = the exec fifo of the plan, and a cgroup2
 *      hierarchy at /sys/fs/cgroup with an empty group `container` (the plan fills it);
 *   4. serve the channels. moat.ctl: HELLO, PLAN (run moat-exec in run mode; answer READY pid or
 *      ERROR), START (open the exec fifo: the init execs), SIGNAL, RESIZE; when moat-exec exits,
 *      write the status to moat.status, EXIT on the channel, and power off (reboot; QEMU runs with
 *      -no-reboot). moat.exec.N: HELLO, EXEC (another moat-exec in run mode, its stdio relayed as
 *      STDOUT/STDERR frames and fed from STDIN frames), SIGNAL, RESIZE, EXIT.
 *
 * The init's stdio without a terminal are the ports themselves (no relay). With a terminal the
 * container gets a pty of its own devpts (the plan's console-setup), and the agent relays its
 * master to moat.out and from moat.in.
 *
 * Frame (both ways): 'M' 'T' version type, u32 little-endian payload length, payload.
 * Nothing here blocks: every channel write is queued and flushed when the port takes it, and a
 * process's output is read only while its channel's queue is short (back-pressure).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"

#define PROTO_VERSION 2
enum {
	H_HELLO = 1, H_PLAN = 2, H_START = 3, H_SIGNAL = 4, H_RESIZE = 5, H_EXEC = 6, H_STDIN = 7, H_STDIN_CLOSE = 8,
	H_SIGNAL_EXEC = 9,
	G_HELLO = 0x81, G_READY = 0x82, G_STARTED = 0x83, G_OK = 0x84, G_ERROR = 0x85, G_EXIT = 0x86,
	G_STDOUT = 0x87, G_STDERR = 0x88,
};
#define FLAG_TERMINAL 1u
#define MAX_PLAN (8u << 20)             /* docs/executor-plan.md */
#define MAX_HOST_PAYLOAD (MAX_PLAN + 4) /* PLAN/EXEC: u32 flags + plan */
#define MAX_GUEST_TEXT 1024
#define CHUNK 16384                     /* bytes of process output per frame */
#define OUT_HIGH (64u << 10)            /* stop reading a process while its channel queue is this long */
#define QUEUE_MAX (4u << 20)
#define EXEC_PORTS 8

enum phase { P_IDLE, P_CREATED, P_RUNNING, P_EXITED };

/* ---- small helpers ---- */

static void logmsg(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
	close(fd);
}

static void __attribute__((noreturn)) poweroff(void)
{
	sync();
	reboot(RB_AUTOBOOT); /* QEMU's -no-reboot turns this into an exit */
	for (;;)
		pause();
}

static void __attribute__((noreturn)) fatal(const char *what)
{
	logmsg("moat-agent: %s: %s\n", what, strerror(errno));
	poweroff();
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- byte queues (what a non-blocking fd has not taken yet) ---- */

struct queue {
	unsigned char *buf;
	size_t len, cap;
};

static int q_put(struct queue *q, const void *p, size_t n)
{
	if (q->len + n > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
		while (cap < q->len + n)
			cap *= 2;
		if (cap > QUEUE_MAX)
			return -1;
		unsigned char *b = realloc(q->buf, cap);
		if (!b)
			return -1;
		q->buf = b;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, p, n);
	q->len += n;
	return 0;
}

/* Write what fd takes now. 0: all or part written (or EAGAIN); -1: fd is broken (queue dropped). */
static int q_flush(struct queue *q, int fd)
{
	while (q->len > 0) {
		ssize_t n = write(fd, q->buf, q->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			q->len = 0;
			return -1;
		}
		memmove(q->buf, q->buf + n, q->len - (size_t)n);
		q->len -= (size_t)n;
	}
	return 0;
}

/* Flush with a deadline (used once, before power-off). */
static void q_drain(struct queue *q, int fd, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	while (q->len > 0 && fd >= 0) {
		if (q_flush(q, fd) != 0)
			return;
		if (q->len == 0)
			return;
		long long left = end - now_ms();
		if (left <= 0)
			return;
		struct pollfd pf = { fd, POLLOUT, 0 };
		if (poll(&pf, 1, (int)left) <= 0 || (pf.revents & (POLLERR | POLLNVAL)))
			return;
	}
}

/* ---- channels (moat.ctl and moat.exec.N) ---- */

struct session;

struct port {
	char name[32];
	int fd;
	int up;             /* a host is connected */
	unsigned char *in;  /* parser buffer */
	size_t inlen;
	struct queue out;   /* frames for the host */
	struct session *s;  /* exec ports: their session */
};

static void send_frame(struct port *p, int type, const void *payload, uint32_t len)
{
	unsigned char hdr[8] = { 'M', 'T', PROTO_VERSION, (unsigned char)type };

	/* A host that is not connected loses the message; it asks again when it connects. */
	if (!p->up)
		return;
	put_u32(hdr + 4, len);
	if (q_put(&p->out, hdr, sizeof hdr) != 0 || (len > 0 && q_put(&p->out, payload, len) != 0)) {
		p->out.len = 0; /* a host that reads nothing for megabytes: start over */
		return;
	}
	(void)q_flush(&p->out, p->fd);
}

static void send_u32(struct port *p, int type, uint32_t v)
{
	unsigned char b[4];
	put_u32(b, v);
	send_frame(p, type, b, 4);
}

static void send_error(struct port *p, const char *fmt, ...)
{
	char buf[MAX_GUEST_TEXT];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	send_frame(p, G_ERROR, buf, (uint32_t)n);
}

/* ---- processes: one moat-exec in run mode each (the init, or an exec) ---- */

struct session {
	int active;            /* moat-exec runs */
	int ready;             /* it reported the process's pid */
	int orphaned;          /* exec: its host went away; nothing more is sent */
	pid_t exec_pid;        /* moat-exec */
	int pid;               /* the process, as moat-exec reported it */
	int report_fd;
	char report[4096];
	size_t report_len;
	int terminal;
	int console_sock;      /* our end of the console socketpair, until the master arrives */
	int master;            /* the pty master (terminal) */
	int in_fd;             /* the process's stdin (pipe write end; no terminal) */
	int out_fd, err_fd;    /* its stdout / stderr (pipe read ends; err also with a terminal: moat-exec's own) */
	struct queue stdin_q;  /* bytes for in_fd or the master */
	int stdin_close;       /* close in_fd once stdin_q is empty */
	struct port *port;     /* exec: its channel; init: NULL */
};

static struct port ctl;
static struct port execp[EXEC_PORTS];
static int n_exec;
static struct session init_s, exec_s[EXEC_PORTS];
static int in_port = -1, out_port = -1, err_port = -1, status_port = -1, devnull = -1;
static int in_up = 1;          /* moat.in has not reached EOF (terminal relay) */
static struct queue tty_out;   /* init terminal → moat.out */
static enum phase phase = P_IDLE;
static int exit_status = -1;

static void session_reset(struct session *s)
{
	struct queue keep = s->stdin_q;
	struct port *p = s->port;

	memset(s, 0, sizeof *s);
	s->stdin_q = keep;
	s->stdin_q.len = 0;
	s->port = p;
	s->exec_pid = -1;
	s->report_fd = s->console_sock = s->master = s->in_fd = s->out_fd = s->err_fd = -1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Output of the process: framed on its channel (exec), or raw to moat.out (the init's terminal). */
static void emit(struct session *s, int type, const unsigned char *buf, size_t n)
{
	if (s->port) {
		if (!s->orphaned)
			send_frame(s->port, type, buf, (uint32_t)n);
	} else if (q_put(&tty_out, buf, n) == 0) {
		(void)q_flush(&tty_out, out_port);
	}
}

static int sink_full(struct session *s)
{
	return s->port ? s->port->out.len >= OUT_HIGH : tty_out.len >= OUT_HIGH;
}

/* Read what fd has now (one chunk); returns bytes, 0 at EOF/EIO, -1 for EAGAIN. */
static ssize_t pump_once(struct session *s, int fd, int type)
{
	unsigned char buf[CHUNK];
	ssize_t n = read(fd, buf, sizeof buf);

	if (n > 0) {
		emit(s, type, buf, (size_t)n);
		return n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	return 0; /* EOF, or EIO: a pty whose other side is gone */
}

/* Everything already written (the process has exited): until EAGAIN or EOF. */
static void drain(struct session *s, int *fd, int type)
{
	while (*fd >= 0) {
		ssize_t n = pump_once(s, *fd, type);
		if (n == 0) {
			close_fd(fd);
			return;
		}
		if (n < 0)
			return;
	}
}

/* fds for the child: dup everything high first so that no target clobbers a source. */
static int child_fds(const int *src, int n)
{
	int tmp[8];

	for (int i = 0; i < n; i++) {
		tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 100);
		if (tmp[i] < 0)
			return -1;
	}
	for (int i = 0; i < n; i++)
		if (dup2(tmp[i], i) < 0)
			return -1;
	return 0;
}

/* Fork moat-exec in run mode with the plan; stdio as given (fd0..2), console socket at fd 5. */
static int spawn_exec(struct port *answer, struct session *s, const unsigned char *plan, uint32_t len, int terminal, int fd0, int fd1, int fd2)
{
	int memfd, rep[2] = { -1, -1 }, sv[2] = { -1, -1 };

	memfd = (int)syscall(SYS_memfd_create, "plan", MFD_CLOEXEC);
	if (memfd < 0) {
		send_error(answer, "plan: memfd: %s", strerror(errno));
		return -1;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(memfd, plan + off, len - off);
		if (n <= 0) {
			send_error(answer, "plan: memfd: %s", strerror(errno));
			close(memfd);
			return -1;
		}
		off += (size_t)n;
	}
	lseek(memfd, 0, SEEK_SET);
	if (pipe2(rep, O_CLOEXEC) != 0 || (terminal && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)) {
		send_error(answer, "plan: pipe: %s", strerror(errno));
		close(memfd);
		close_fd(&rep[0]);
		close_fd(&rep[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		send_error(answer, "plan: fork: %s", strerror(errno));
		close(memfd);
		close(rep[0]);
		close(rep[1]);
		close_fd(&sv[0]);
		close_fd(&sv[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* fds: 0 1 2 stdio, 3 plan, 4 report, 5 console socket (terminal) */
		int src[6] = { fd0, fd1, fd2, memfd, rep[1], sv[1] };
		if (child_fds(src, terminal ? 6 : 5) != 0)
			_exit(125);
		char *argv[] = { "/moat-exec", "--plan-fd", "3", "--report-fd", "4", "--mode", "run", NULL };
		char *envp[] = { NULL };
		execve(argv[0], argv, envp);
		_exit(126);
	}
	close(memfd);
	close(rep[1]);
	close_fd(&sv[1]);
	s->active = 1;
	s->exec_pid = pid;
	s->report_fd = rep[0];
	s->report_len = 0;
	s->terminal = terminal;
	s->console_sock = sv[0];
	return 0;
}

/* The pty master console-setup sent before `ready` (so before moat-exec reported the pid). */
static int receive_master(struct session *s)
{
	char data[64];
	size_t nfds;

	if (fdpass_recv(s->console_sock, data, sizeof data, &s->master, 1, &nfds, MSG_DONTWAIT) <= 0)
		nfds = 0;
	close_fd(&s->console_sock);
	if (nfds == 0)
		return -1;
	set_nonblock(s->master);
	return 0;
}

static struct port *answer_port(struct session *s)
{
	return s->port ? s->port : &ctl;
}

/* A line from moat-exec: `pid N` or `error …`. */
static void on_report_line(struct session *s, char *line)
{
	struct port *p = answer_port(s);

	if (strncmp(line, "pid ", 4) == 0) {
		int pid = atoi(line + 4);
		if (pid <= 0)
			return;
		s->pid = pid;
		if (s->terminal && receive_master(s) != 0) {
			send_error(p, "terminal: the pty master did not arrive");
			kill(pid, SIGKILL);
			return;
		}
		s->ready = 1;
		if (!s->orphaned)
			send_u32(p, G_READY, (uint32_t)pid);
	} else if (strncmp(line, "error ", 6) == 0) {
		if (!s->orphaned)
			send_frame(p, G_ERROR, line + 6, (uint32_t)strnlen(line + 6, MAX_GUEST_TEXT - 1));
	}
}

static void read_report(struct session *s)
{
	ssize_t n = read(s->report_fd, s->report + s->report_len, sizeof s->report - 1 - s->report_len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (s->report_len > 0) {
			s->report[s->report_len] = 0;
			on_report_line(s, s->report);
		}
		close_fd(&s->report_fd);
		return;
	}
	s->report_len += (size_t)n;
	s->report[s->report_len] = 0;
	char *nl;
	while ((nl = memchr(s->report, '\n', s->report_len))) {
		*nl = 0;
		on_report_line(s, s->report);
		size_t used = (size_t)(nl - s->report) + 1;
		memmove(s->report, nl + 1, s->report_len - used);
		s->report_len -= used;
	}
	if (s->report_len == sizeof s->report - 1)
		s->report_len = 0; /* an over-long line: drop it */
}

/* ---- the init ---- */

static void run_plan(const unsigned char *p, uint32_t len)
{
	if (len < 4) {
		send_error(&ctl, "plan: no flags");
		return;
	}
	uint32_t flags = get_u32(p);
	if (phase != P_IDLE) {
		send_error(&ctl, "plan: a container already exists in this vm");
		return;
	}
	int terminal = (flags & FLAG_TERMINAL) != 0;
	/* No terminal: the container's stdio are the ports. With one: the pty; moat-exec's own
	 * messages still go to moat.err. */
	if (spawn_exec(&ctl, &init_s, p + 4, len - 4, terminal, terminal ? devnull : in_port, terminal ? devnull : out_port, err_port) != 0)
		return;
	if (terminal) {
		set_nonblock(in_port);
		set_nonblock(out_port);
	}
	phase = P_CREATED;
}

static void start_container(void)
{
	if (phase != P_CREATED || init_s.pid <= 0) {
		send_error(&ctl, "start: the container is %s", phase == P_RUNNING ? "already running" : phase == P_EXITED ? "stopped" : "not created");
		return;
	}
	int fd = open("/start.fifo", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		send_error(&ctl, "start: /start.fifo: %s", strerror(errno));
		return;
	}
	char b;
	for (int i = 0; i < 20000; i++) {
		ssize_t n = read(fd, &b, 1);
		if (n == 1) {
			close(fd);
			unlink("/start.fifo");
			phase = P_RUNNING;
			send_frame(&ctl, G_STARTED, NULL, 0);
			return;
		}
		if (kill(init_s.pid, 0) != 0) {
			close(fd);
			send_error(&ctl, "start: the container's init has exited");
			return;
		}
		usleep(1000);
	}
	close(fd);
	send_error(&ctl, "start: the container's init did not answer");
}

static int is_exec_pid(int pid)
{
	for (int i = 0; i < n_exec; i++)
		if (exec_s[i].active && exec_s[i].exec_pid == pid)
			return 1;
	return 0;
}

static void signal_container(const unsigned char *p)
{
	uint32_t sig = get_u32(p), all = get_u32(p + 4);

	if (sig == 0 || sig > 64 || all > 1) {
		send_error(&ctl, "signal: bad signal %u", sig);
		return;
	}
	if (init_s.pid <= 0 || phase == P_EXITED || phase == P_IDLE) {
		send_error(&ctl, "signal: the container is not running");
		return;
	}
	if (!all) {
		if (kill(init_s.pid, (int)sig) != 0) {
			send_error(&ctl, "signal: %s", strerror(errno));
			return;
		}
		send_frame(&ctl, G_OK, NULL, 0);
		return;
	}
	/* Every process of the guest except the agent and the moat-exec parents (which report statuses). */
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int pid = atoi(e->d_name);
		if (pid > 1 && pid != init_s.exec_pid && !is_exec_pid(pid))
			kill(pid, (int)sig);
	}
	if (d)
		closedir(d);
	send_frame(&ctl, G_OK, NULL, 0);
}

/* An exec'd process, by the pid READY gave its relay (on the control channel: never behind stdin). */
static void signal_exec(const unsigned char *p)
{
	uint32_t sig = get_u32(p), pid = get_u32(p + 4);

	for (int i = 0; i < n_exec; i++) {
		struct session *s = &exec_s[i];
		if (s->active && s->ready && !s->orphaned && s->pid > 0 && (uint32_t)s->pid == pid) {
			if (sig == 0 || sig > 64 || kill(s->pid, (int)sig) != 0) {
				send_error(&ctl, "signal: %s", sig == 0 || sig > 64 ? "bad signal" : strerror(errno));
				return;
			}
			send_frame(&ctl, G_OK, NULL, 0);
			return;
		}
	}
	send_error(&ctl, "signal: no exec'd process %u", pid);
}

static int resize(struct session *s, const unsigned char *p)
{
	struct winsize ws = { .ws_row = (unsigned short)get_u32(p), .ws_col = (unsigned short)get_u32(p + 4) };

	if (!s->active || s->master < 0)
		return -1;
	return ioctl(s->master, TIOCSWINSZ, &ws);
}

static void __attribute__((noreturn)) on_init_exit(int wstatus)
{
	exit_status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : 255;
	phase = P_EXITED;
	if (init_s.terminal) {
		drain(&init_s, &init_s.master, G_STDOUT);
		q_drain(&tty_out, out_port, 5000);
	}
	char line[32];
	int n = snprintf(line, sizeof line, "%d\n", exit_status);
	(void)!write(status_port, line, (size_t)n);
	send_u32(&ctl, G_EXIT, (uint32_t)exit_status);
	q_drain(&ctl.out, ctl.fd, 1000);
	poweroff();
}

/* ---- exec sessions ---- */

static void run_exec(struct port *p, const unsigned char *payload, uint32_t len)
{
	struct session *s = p->s;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };

	if (len < 4) {
		send_error(p, "exec: no flags");
		return;
	}
	if (s->active) {
		send_error(p, "exec: this channel already runs a process");
		return;
	}
	if (phase == P_EXITED || phase == P_IDLE) {
		send_error(p, "exec: the container is not running");
		return;
	}
	int terminal = (get_u32(payload) & FLAG_TERMINAL) != 0;
	if ((!terminal && (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)) || pipe2(err, O_CLOEXEC) != 0) {
		send_error(p, "exec: pipe: %s", strerror(errno));
		goto fail;
	}
	session_reset(s);
	if (spawn_exec(p, s, payload + 4, len - 4, terminal, terminal ? devnull : in[0], terminal ? devnull : out[1], err[1]) != 0)
		goto fail;
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	s->in_fd = in[1];
	s->out_fd = out[0];
	s->err_fd = err[0];
	if (s->in_fd >= 0)
		set_nonblock(s->in_fd);
	if (s->out_fd >= 0)
		set_nonblock(s->out_fd);
	set_nonblock(s->err_fd);
	return;
fail:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&out[i]);
		close_fd(&err[i]);
	}
}

static void on_exec_exit(struct session *s, int wstatus)
{
	int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : 255;

	if (s->terminal)
		drain(s, &s->master, G_STDOUT);
	drain(s, &s->out_fd, G_STDOUT);
	drain(s, &s->err_fd, G_STDERR);
	if (s->ready && !s->orphaned)
		send_u32(s->port, G_EXIT, (uint32_t)status);
	close_fd(&s->report_fd);
	close_fd(&s->console_sock);
	close_fd(&s->master);
	close_fd(&s->in_fd);
	close_fd(&s->out_fd);
	close_fd(&s->err_fd);
	session_reset(s);
}

static void feed_stdin(struct session *s)
{
	int fd = s->terminal ? s->master : s->in_fd;

	if (fd < 0) {
		s->stdin_q.len = 0;
		return;
	}
	if (q_flush(&s->stdin_q, fd) != 0)
		s->stdin_q.len = 0; /* the process closed its stdin */
	if (s->stdin_q.len == 0 && s->stdin_close && !s->terminal)
		close_fd(&s->in_fd);
}

/* ---- frames ---- */

static void hello(struct port *p)
{
	unsigned char b[12];
	uint32_t ph = phase, st = exit_status < 0 ? 0 : (uint32_t)exit_status;

	if (p->s) {
		ph = p->s->active ? P_RUNNING : P_IDLE;
		st = 0;
	}
	put_u32(b, PROTO_VERSION);
	put_u32(b + 4, ph);
	put_u32(b + 8, st);
	send_frame(p, G_HELLO, b, sizeof b);
}

static void on_ctl_frame(int type, const unsigned char *p, uint32_t len)
{
	switch (type) {
	case H_HELLO:
		hello(&ctl);
		break;
	case H_PLAN:
		run_plan(p, len);
		break;
	case H_START:
		start_container();
		break;
	case H_SIGNAL:
		if (len != 8)
			send_error(&ctl, "signal: bad length %u", len);
		else
			signal_container(p);
		break;
	case H_SIGNAL_EXEC:
		if (len != 8)
			send_error(&ctl, "signal: bad length %u", len);
		else
			signal_exec(p);
		break;
	case H_RESIZE:
		if (len != 8)
			send_error(&ctl, "resize: bad length %u", len);
		else if (resize(&init_s, p) != 0)
			send_error(&ctl, "resize: the container has no terminal");
		else
			send_frame(&ctl, G_OK, NULL, 0);
		break;
	default:
		send_error(&ctl, "unknown message type %d", type);
	}
}

/* Exec channels stream: signals, resizes and stdin get no answer (errors only where it matters). */
static void on_exec_frame(struct port *port, int type, const unsigned char *p, uint32_t len)
{
	struct session *s = port->s;

	switch (type) {
	case H_HELLO:
		hello(port);
		break;
	case H_EXEC:
		run_exec(port, p, len);
		break;
	case H_SIGNAL:
		if (len == 8 && s->active && s->pid > 0 && get_u32(p) >= 1 && get_u32(p) <= 64)
			kill(s->pid, (int)get_u32(p));
		break;
	case H_RESIZE:
		if (len == 8)
			(void)resize(s, p);
		break;
	case H_STDIN:
		if (s->active && !s->stdin_close && q_put(&s->stdin_q, p, len) == 0)
			feed_stdin(s);
		break;
	case H_STDIN_CLOSE:
		if (s->active) {
			s->stdin_close = 1;
			feed_stdin(s);
		}
		break;
	default:
		send_error(port, "unknown message type %d", type);
	}
}

/* Returns 0, or -1 when the stream is out of step (the parser resets and drops what it has). */
static int parse_frames(struct port *port)
{
	size_t off = 0;

	while (port->inlen - off >= 8) {
		unsigned char *h = port->in + off;
		uint32_t len = get_u32(h + 4);
		if (h[0] != 'M' || h[1] != 'T' || h[2] != PROTO_VERSION || len > MAX_HOST_PAYLOAD) {
			send_error(port, "bad frame header");
			port->inlen = 0;
			return -1;
		}
		if (port->inlen - off - 8 < len)
			break;
		if (port->s)
			on_exec_frame(port, h[3], h + 8, len);
		else
			on_ctl_frame(h[3], h + 8, len);
		off += 8 + len;
	}
	memmove(port->in, port->in + off, port->inlen - off);
	port->inlen -= off;
	return 0;
}

static void host_gone(struct port *p)
{
	p->up = 0;
	p->inlen = 0;
	p->out.len = 0;
	struct session *s = p->s;
	/* An exec lives as long as its host relay: kill it (moat-exec then exits and is reaped). */
	if (s && s->active && !s->orphaned) {
		s->orphaned = 1;
		kill(s->pid > 0 ? s->pid : s->exec_pid, SIGKILL);
	}
}

static void read_port(struct port *p)
{
	size_t cap = MAX_HOST_PAYLOAD + 8;
	ssize_t n = read(p->fd, p->in + p->inlen, cap - p->inlen);

	if (n > 0) {
		p->inlen += (size_t)n;
		parse_frames(p);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		host_gone(p);
	}
}

/* ---- boot ---- */

static char cmdline[4096];

static void read_cmdline(void)
{
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, cmdline, sizeof cmdline - 1) : -1;

	if (fd >= 0)
		close(fd);
	cmdline[n > 0 ? n : 0] = 0;
}

/* "virtio_mmio.device=x virtio_mmio.foo=y" → "device=x foo=y" for module virtio_mmio. */
static void module_params(const char *mod, char *out, size_t cap)
{
	size_t ml = strlen(mod), o = 0;
	const char *p = cmdline;

	out[0] = 0;
	while (*p) {
		while (*p == ' ' || *p == '\n')
			p++;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\n')
			p++;
		size_t wl = (size_t)(p - w);
		if (wl > ml + 1 && strncmp(w, mod, ml) == 0 && w[ml] == '.' && o + wl - ml + 1 < cap) {
			if (o)
				out[o++] = ' ';
			memcpy(out + o, w + ml + 1, wl - ml - 1);
			o += wl - ml - 1;
			out[o] = 0;
		}
	}
}

static void load_modules(void)
{
	char list[4096], params[2048], path[256];
	int fd = open("/modules/order", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, list, sizeof list - 1);
	close(fd);
	list[n > 0 ? n : 0] = 0;
	for (char *save = NULL, *name = strtok_r(list, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
		snprintf(path, sizeof path, "/modules/%s.ko", name);
		int mfd = open(path, O_RDONLY | O_CLOEXEC);
		if (mfd < 0)
			fatal(path);
		/* Module names use '_' on the command line whatever the file is called. */
		char mod[128];
		snprintf(mod, sizeof mod, "%s", name);
		for (char *c = mod; *c; c++)
			if (*c == '-')
				*c = '_';
		module_params(mod, params, sizeof params);
		if (syscall(SYS_finit_module, mfd, params, 0) != 0 && errno != EEXIST)
			fatal(path);
		close(mfd);
	}
}

/* The /dev node of the virtio-serial port called `name`, waiting for udev-less devtmpfs. */
static int open_port(const char *name, int flags)
{
	char path[300], buf[64];

	for (int tries = 0; tries < 5000; tries++) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;

		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
			if (fd >= 0)
				close(fd);
			if (n <= 0)
				continue;
			buf[n] = 0;
			if (buf[n - 1] == '\n')
				buf[n - 1] = 0;
			if (strcmp(buf, name) != 0)
				continue;
			snprintf(path, sizeof path, "/dev/%s", e->d_name);
			int pfd = open(path, flags | O_CLOEXEC);
			if (pfd >= 0) {
				closedir(d);
				return pfd;
			}
		}
		if (d)
			closedir(d);
		usleep(2000);
	}
	errno = ENODEV;
	fatal(name);
}

/* SIGIO when a host connects or data arrives: disconnected ports need no polling. */
static void async_port(int fd)
{
	fcntl(fd, F_SETOWN, getpid());
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_ASYNC | O_NONBLOCK);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), o;
	char buf[65536];
	ssize_t n;

	if (in < 0)
		fatal(from);
	o = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (o < 0)
		fatal(to);
	while ((n = read(in, buf, sizeof buf)) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(o, buf + off, (size_t)(n - off));
			if (w <= 0)
				fatal(to);
			off += w;
		}
	}
	close(in);
	close(o);
}

static void init_port(struct port *p, const char *name, int fd)
{
	snprintf(p->name, sizeof p->name, "%s", name);
	p->fd = fd;
	p->in = mmap(NULL, MAX_HOST_PAYLOAD + 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->in == MAP_FAILED)
		fatal("mmap");
	async_port(fd);
}

/* The guest's own loopback up, before any container: one without a network namespace of its own
 * shares the guest's (one with a new namespace gets its `lo` up from the plan's loopback-up). */
static void loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fatal("loopback: socket");
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
		fatal("loopback: SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
		fatal("loopback: SIOCSIFFLAGS lo");
	close(fd);
}

/* The container's network (docs/vm.md#networking): moat.ifN=<mac>,<name>,<mtu>,<a.b.c.d>/<prefix>[,<gateway>]
 * per interface of the namespace the host's VMM joined. The virtio-net device with that MAC gets
 * the host interface's name, MTU and address, is brought up, and the gateway becomes the default
 * route. A malformed word is ignored (the host wrote it); a failing ioctl powers off. */
static int net_ioctl(int fd, unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg) != 0) {
		logmsg("moat-agent: network: %s: %s\n", what, strerror(errno));
		return -1;
	}
	return 0;
}

static int find_iface_by_mac(const char *mac, char *name, size_t len)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *e;
	int found = -1;

	if (!d)
		return -1;
	while (found < 0 && (e = readdir(d)) != NULL) {
		char path[300], addr[32] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/sys/class/net/%s/address", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, addr, sizeof addr - 1);
		close(fd);
		addr[n > 0 ? n : 0] = 0;
		addr[strcspn(addr, "\n")] = 0;
		if (strcasecmp(addr, mac) == 0 && strlen(e->d_name) < len) {
			snprintf(name, len, "%s", e->d_name);
			found = 0;
		}
	}
	closedir(d);
	return found;
}

static void set_sin(struct sockaddr *sa, in_addr_t a)
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;
	memset(in, 0, sizeof *in);
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = a;
}

static void configure_iface(int fd, const char *spec)
{
	char buf[256], cur[IFNAMSIZ];
	char *f[5] = { 0 };
	int n = 0;

	snprintf(buf, sizeof buf, "%s", spec);
	buf[strcspn(buf, " \n")] = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < 5; t = strtok_r(NULL, ",", &save))
		f[n++] = t;
	if (n < 4 || strlen(f[1]) >= IFNAMSIZ || find_iface_by_mac(f[0], cur, sizeof cur) != 0) {
		logmsg("moat-agent: network: no interface for %s\n", spec);
		fatal("network");
	}
	char *slash = strchr(f[3], '/');
	if (!slash)
		return;
	*slash = 0;
	int prefix = atoi(slash + 1);
	struct in_addr addr, gw;
	if (inet_aton(f[3], &addr) == 0 || prefix < 0 || prefix > 32)
		return;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", cur);
	if (strcmp(cur, f[1]) != 0) {
		snprintf(ifr.ifr_newname, IFNAMSIZ, "%s", f[1]);
		if (net_ioctl(fd, SIOCSIFNAME, &ifr, "rename") != 0)
			fatal("network");
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", f[1]);
	}
	ifr.ifr_mtu = atoi(f[2]);
	if (ifr.ifr_mtu >= 68 && net_ioctl(fd, SIOCSIFMTU, &ifr, "mtu") != 0)
		fatal("network");
	set_sin(&ifr.ifr_addr, addr.s_addr);
	if (net_ioctl(fd, SIOCSIFADDR, &ifr, "address") != 0)
		fatal("network");
	set_sin(&ifr.ifr_netmask, prefix ? htonl(~0u << (32 - prefix)) : 0);
	if (net_ioctl(fd, SIOCSIFNETMASK, &ifr, "netmask") != 0)
		fatal("network");
	if (net_ioctl(fd, SIOCGIFFLAGS, &ifr, "flags") != 0)
		fatal("network");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (net_ioctl(fd, SIOCSIFFLAGS, &ifr, "up") != 0)
		fatal("network");
	if (n == 5 && inet_aton(f[4], &gw) != 0) {
		struct rtentry rt;
		memset(&rt, 0, sizeof rt);
		set_sin(&rt.rt_dst, 0);
		set_sin(&rt.rt_genmask, 0);
		set_sin(&rt.rt_gateway, gw.s_addr);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = f[1];
		if (net_ioctl(fd, SIOCADDRT, &rt, "default route") != 0)
			fatal("network");
	}
}

static void network_up(void)
{
	int fd = -1;
	for (const char *p = cmdline; (p = strstr(p, "moat.if")) != NULL; p++) {
		const char *eq = strchr(p, '=');
		if (!eq || eq - p > 9)
			continue;
		if (fd < 0 && (fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
			fatal("network: socket");
		configure_iface(fd, eq + 1);
	}
	if (fd >= 0)
		close(fd);
}

/* The host's bind mounts: virtio-fs devices tagged moat.vN, one per mount of the spec, mounted at
 * /vol/N (read-only where the host says: moat.vols=<r|w per volume> on the command line). The
 * plan then bind-mounts /vol/N (or the one file in it) into the container, as natively. */
static void mount_volumes(void)
{
	const char *p = strstr(cmdline, "moat.vols=");
	if (!p)
		return;
	p += 10;
	mkdir("/newroot/vol", 0700);
	for (int i = 0; p[i] == 'r' || p[i] == 'w'; i++) {
		char tag[32], dir[64];
		snprintf(tag, sizeof tag, "moat.v%d", i);
		snprintf(dir, sizeof dir, "/newroot/vol/%d", i);
		if (mkdir(dir, 0755) != 0)
			fatal("mkdir /vol/N");
		if (mount(tag, dir, "virtiofs", p[i] == 'r' ? MS_RDONLY : 0, NULL) != 0)
			fatal(tag);
	}
}

static void boot(void)
{
	mkdir("/dev", 0755);
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") != 0)
		fatal("mount /dev");
	/* The kernel starts /init without fds 0-2 (no /dev/console in the initramfs): fill them, so
	 * that nothing of ours is ever numbered 0-2. */
	for (int i = 0; i < 3; i++)
		if (open("/dev/null", O_RDWR) < 0)
			fatal("/dev/null");
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		fatal("mount /proc");
	if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		fatal("mount /sys");
	read_cmdline();
	load_modules();
	loopback_up();
	network_up();

	/* Non-blocking channels: a write to a port no host is connected to would block until one
	 * connects. The container's own stdio ports stay blocking (they are its fds 0-2). */
	init_port(&ctl, "moat.ctl", open_port("moat.ctl", O_RDWR));
	in_port = open_port("moat.in", O_RDONLY);
	out_port = open_port("moat.out", O_WRONLY);
	err_port = open_port("moat.err", O_WRONLY);
	status_port = open_port("moat.status", O_WRONLY);
	/* As many exec channels as the host made (moat.exec=N on the command line). */
	const char *ne = strstr(cmdline, "moat.exec=");
	int want = ne ? atoi(ne + 10) : 0;
	for (n_exec = 0; n_exec < want && n_exec < EXEC_PORTS; n_exec++) {
		char name[32];
		snprintf(name, sizeof name, "moat.exec.%d", n_exec);
		int fd = open_port(name, O_RDWR);
		init_port(&execp[n_exec], name, fd);
		execp[n_exec].s = &exec_s[n_exec];
		exec_s[n_exec].port = &execp[n_exec];
		session_reset(&exec_s[n_exec]);
	}
	session_reset(&init_s);

	/* A tmpfs root: pivot_root refuses to leave the initramfs, not a mount over it. */
	mkdir("/newroot", 0755);
	if (mount("tmpfs", "/newroot", "tmpfs", MS_NOSUID, "mode=0755") != 0)
		fatal("mount /newroot");
	mkdir("/newroot/dev", 0755);
	mkdir("/newroot/proc", 0555);
	mkdir("/newroot/sys", 0555);
	mkdir("/newroot/rootfs", 0755);
	if (mount("/dev", "/newroot/dev", NULL, MS_MOVE, NULL) != 0 || mount("/proc", "/newroot/proc", NULL, MS_MOVE, NULL) != 0 ||
	    mount("/sys", "/newroot/sys", NULL, MS_MOVE, NULL) != 0)
		fatal("move /dev /proc /sys");
	/* cgroup v2 for the container's limits: the host's plan enables controllers and writes them. */
	if (mount("cgroup2", "/newroot/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		fatal("mount /sys/fs/cgroup");
	if (mkdir("/newroot/sys/fs/cgroup/container", 0755) != 0)
		fatal("mkdir /sys/fs/cgroup/container");
	copy_file("/moat-exec", "/newroot/moat-exec", 0555);
	/* The disk is the container's own copy, built on the host; mounted read-write (a read-only
	 * root is the plan's `remount-ro /`, as on the native platform). */
	if (mount("/newroot/dev/vda", "/newroot/rootfs", "ext4", MS_NODEV, NULL) != 0)
		fatal("mount /dev/vda");
	mount_volumes();
	if (chdir("/newroot") != 0 || mount(".", "/", NULL, MS_MOVE, NULL) != 0 || chroot(".") != 0 || chdir("/") != 0)
		fatal("switch root");
	if (mknod("/start.fifo", S_IFIFO | 0622, 0) != 0)
		fatal("mkfifo /start.fifo");
	chmod("/start.fifo", 0622);
}

/* ---- the loop ---- */

enum tag { T_SIG, T_CTL, T_EXECP, T_REPORT, T_OUT, T_ERR, T_MASTER_IN, T_MASTER_OUT, T_STDIN, T_MOAT_IN, T_MOAT_OUT };
struct slot {
	enum tag tag;
	struct session *s;
	struct port *p;
};

static void reap(void)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (init_s.active && pid == init_s.exec_pid) {
			/* Flush the report first: `pid`/`error` precede the exit. */
			while (init_s.report_fd >= 0)
				read_report(&init_s);
			on_init_exit(st);
		}
		for (int i = 0; i < n_exec; i++) {
			struct session *s = &exec_s[i];
			if (s->active && pid == s->exec_pid) {
				set_nonblock(s->report_fd);
				while (s->report_fd >= 0) {
					size_t before = s->report_len;
					read_report(s);
					if (s->report_fd >= 0 && s->report_len == before)
						break;
				}
				on_exec_exit(s, st);
			}
		}
	}
}

/*
 * Is a host connected? A port without one polls POLLIN|POLLHUP, and its read returns what a host
 * that has gone left, then 0 (host_gone). Without POLLHUP a host is there.
 */
static void probe(struct port *p)
{
	struct pollfd pf = { p->fd, POLLIN, 0 };
	if (poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP))
		read_port(p);
	else
		p->up = 1;
}

static void session_slots(struct session *s, struct pollfd *pf, struct slot *sl, int *n)
{
#define ADD(fd_, ev_, tag_) do { pf[*n] = (struct pollfd){ (fd_), (ev_), 0 }; sl[*n] = (struct slot){ (tag_), s, s->port }; (*n)++; } while (0)
	if (!s->active)
		return;
	if (s->report_fd >= 0)
		ADD(s->report_fd, POLLIN, T_REPORT);
	if (!s->ready)
		return;
	int full = sink_full(s);
	if (s->terminal && s->master >= 0) {
		if (!full)
			ADD(s->master, POLLIN, T_MASTER_IN);
		if (s->stdin_q.len > 0)
			ADD(s->master, POLLOUT, T_MASTER_OUT);
	}
	if (s->out_fd >= 0 && !full)
		ADD(s->out_fd, POLLIN, T_OUT);
	if (s->err_fd >= 0 && !full)
		ADD(s->err_fd, POLLIN, T_ERR);
	if (s->in_fd >= 0 && s->stdin_q.len > 0)
		ADD(s->in_fd, POLLOUT, T_STDIN);
#undef ADD
}

int main(void)
{
	sigset_t mask;
	int sfd;

	if (getpid() != 1)
		return 2;
	boot();
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGIO);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		fatal("signalfd");
	logmsg("moat-agent: ready (%d exec channels)\n", n_exec);
	enum { MAXFD = 16 + EXEC_PORTS * 8 };
	struct pollfd pf[MAXFD];
	struct slot sl[MAXFD];
	for (;;) {
		int n = 0;
		probe(&ctl);
		for (int i = 0; i < n_exec; i++)
			probe(&execp[i]);

		pf[n] = (struct pollfd){ sfd, POLLIN, 0 };
		sl[n++] = (struct slot){ T_SIG, NULL, NULL };
		struct port *ports[1 + EXEC_PORTS];
		int np = 0;
		ports[np++] = &ctl;
		for (int i = 0; i < n_exec; i++)
			ports[np++] = &execp[i];
		for (int i = 0; i < np; i++) {
			struct port *p = ports[i];
			if (!p->up)
				continue; /* SIGIO says when a host connects */
			/* Not while the process's stdin is backed up: the host then waits (back-pressure). */
			short ev = (p->s && p->s->stdin_q.len > 0) ? 0 : POLLIN;
			if (p->out.len > 0)
				ev |= POLLOUT;
			pf[n] = (struct pollfd){ p->fd, ev, 0 };
			sl[n++] = (struct slot){ p->s ? T_EXECP : T_CTL, p->s, p };
		}
		session_slots(&init_s, pf, sl, &n);
		for (int i = 0; i < n_exec; i++)
			session_slots(&exec_s[i], pf, sl, &n);
		if (init_s.active && init_s.terminal && init_s.ready) {
			if (in_up && init_s.stdin_q.len == 0) {
				pf[n] = (struct pollfd){ in_port, POLLIN, 0 };
				sl[n++] = (struct slot){ T_MOAT_IN, &init_s, NULL };
			}
			if (tty_out.len > 0) {
				pf[n] = (struct pollfd){ out_port, POLLOUT, 0 };
				sl[n++] = (struct slot){ T_MOAT_OUT, &init_s, NULL };
			}
		}

		int r = poll(pf, (nfds_t)n, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		for (int i = 0; i < n; i++) {
			if (!pf[i].revents)
				continue;
			struct session *s = sl[i].s;
			switch (sl[i].tag) {
			case T_SIG: {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
					;
				reap();
				break;
			}
			case T_CTL:
			case T_EXECP:
				if (pf[i].revents & POLLOUT)
					(void)q_flush(&sl[i].p->out, sl[i].p->fd);
				if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
					read_port(sl[i].p);
				break;
			case T_REPORT:
				if (s->report_fd >= 0)
					read_report(s);
				break;
			case T_MASTER_IN:
				if (s->master >= 0 && pump_once(s, s->master, G_STDOUT) == 0)
					close_fd(&s->master); /* every holder of the other side is gone */
				break;
			case T_MASTER_OUT:
			case T_STDIN:
				feed_stdin(s);
				break;
			case T_OUT:
				if (s->out_fd >= 0 && pump_once(s, s->out_fd, G_STDOUT) == 0)
					close_fd(&s->out_fd);
				break;
			case T_ERR:
				if (s->err_fd >= 0 && pump_once(s, s->err_fd, G_STDERR) == 0)
					close_fd(&s->err_fd);
				break;
			case T_MOAT_IN: {
				unsigned char buf[4096];
				ssize_t m = read(in_port, buf, sizeof buf);
				if (m > 0) {
					if (q_put(&s->stdin_q, buf, (size_t)m) == 0)
						feed_stdin(s);
				} else if (m == 0 || (errno != EAGAIN && errno != EINTR)) {
					in_up = 0; /* the caller's stdin has ended (or the console socket's master closed) */
				}
				break;
			}
			case T_MOAT_OUT:
				if (q_flush(&tty_out, out_port) != 0)
					tty_out.len = 0;
				break;
			}
		}
	}
}
