/* moat-agent: sessions, one moat-exec in run mode each (the init, or an exec): spawning it with a
 * plan, its report (`pid N` / `error …`), and its output relayed to the host. */
#include "agent.h"

void session_reset(struct session *s)
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

int sink_full(struct session *s)
{
	return s->port ? s->port->out.len >= OUT_HIGH : tty_out.len >= OUT_HIGH;
}

/* Read what fd has now (one chunk); returns bytes, 0 at EOF/EIO, -1 for EAGAIN. */
ssize_t pump_once(struct session *s, int fd, int type)
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
void drain(struct session *s, int *fd, int type)
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
int spawn_exec(struct port *answer, struct session *s, const unsigned char *plan, uint32_t len, int terminal, int fd0, int fd1, int fd2)
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

void read_report(struct session *s)
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
