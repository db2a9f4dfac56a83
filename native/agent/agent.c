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
 *      ERROR), START (open the exec fifo: the init execs), SIGNAL, RESIZE, STATS (stats.c), FILES (files.c, before PLAN), CGROUP (cgroup.c: a pod member's group); when moat-exec exits,
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
 *
 * Files: agent.c (state, frame dispatch, the loop), boot.c, net.c, channel.c, process.c,
 * container.c, util.c; agent.h declares what they share.
 */
#include "agent.h"

/* ---- state ---- */

struct port ctl;
struct port execp[EXEC_PORTS];
int n_exec;
struct session init_s, exec_s[EXEC_PORTS];
int in_port = -1, out_port = -1, err_port = -1, status_port = -1, devnull = -1;
int in_up = 1;          /* moat.in has not reached EOF (terminal relay) */
struct queue tty_out;   /* init terminal → moat.out */
enum phase phase = P_IDLE;
int exit_status = -1;

/* ---- frames ---- */

void on_ctl_frame(int type, const unsigned char *p, uint32_t len)
{
	switch (type) {
	case H_HELLO:
		hello(&ctl);
		break;
	case H_PLAN:
		if (plan_allowed())
			run_plan(p, len);
		else
			send_error(&ctl, "plan: a guest from a template needs RESTORE first");
		break;
	case H_RESTORE:
		restore(p, len);
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
	case H_STATS:
		send_stats(&ctl, p, len);
		break;
	case H_CGROUP:
		cgroup_request(p, len);
		break;
	case H_FILES:
		write_files(p, len);
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
void on_exec_frame(struct port *port, int type, const unsigned char *p, uint32_t len)
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
