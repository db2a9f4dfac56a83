/* moat-agent: the channels to the host (moat.ctl, moat.exec.N): frames out, frames in, host presence. */
#include "agent.h"

void send_frame(struct port *p, int type, const void *payload, uint32_t len)
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

void send_u32(struct port *p, int type, uint32_t v)
{
	unsigned char b[4];
	put_u32(b, v);
	send_frame(p, type, b, 4);
}

void send_error(struct port *p, const char *fmt, ...)
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

void hello(struct port *p)
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

void read_port(struct port *p)
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

/*
 * Is a host connected? A port without one polls POLLIN|POLLHUP, and its read returns what a host
 * that has gone left, then 0 (host_gone). Without POLLHUP a host is there.
 */
void probe(struct port *p)
{
	struct pollfd pf = { p->fd, POLLIN, 0 };
	if (poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP))
		read_port(p);
	else
		p->up = 1;
}
