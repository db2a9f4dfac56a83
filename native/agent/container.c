/* moat-agent: the container: its init (plan, start, signals, resize, exit) and exec sessions. */
#include "agent.h"

void run_plan(const unsigned char *p, uint32_t len)
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

void start_container(void)
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

void signal_container(const unsigned char *p)
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
void signal_exec(const unsigned char *p)
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

int resize(struct session *s, const unsigned char *p)
{
	struct winsize ws = { .ws_row = (unsigned short)get_u32(p), .ws_col = (unsigned short)get_u32(p + 4) };

	if (!s->active || s->master < 0)
		return -1;
	return ioctl(s->master, TIOCSWINSZ, &ws);
}

void __attribute__((noreturn)) on_init_exit(int wstatus)
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

void run_exec(struct port *p, const unsigned char *payload, uint32_t len)
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

void on_exec_exit(struct session *s, int wstatus)
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

void feed_stdin(struct session *s)
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
