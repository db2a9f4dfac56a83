/*
 * moat-agent: /init of a moat vm guest (docs/vm.md). No policy lives here either: the host sends
 * the same executor plan the native platform computes, and the agent hands it to moat-exec.
 *
 * At boot (as pid 1 of the initramfs):
 *   1. mount devtmpfs, proc, sysfs; load the modules listed in /modules/order (finit_module, with
 *      the `<module>.<param>=` words of the kernel command line as their parameters);
 *   2. find the virtio-serial ports by name (/sys/class/virtio-ports/<port>/name): moat.ctl (the
 *      channel), moat.out / moat.err (the container's stdout / stderr), moat.status (exit status);
 *   3. move to a tmpfs root (pivot_root cannot leave the initramfs, the executor's can leave this),
 *      with /rootfs = the ext4 disk /dev/vda and /start.fifo = the exec fifo of the plan;
 *   4. serve the channel: HELLO, PLAN (run moat-exec in run mode; answer READY pid or ERROR),
 *      START (open the exec fifo: the init execs), SIGNAL; when moat-exec exits, write the status to
 *      moat.status, EXIT on the channel, and power off (reboot; QEMU runs with -no-reboot).
 *
 * Frame (both ways): 'M' 'T' version type, u32 little-endian payload length, payload.
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
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROTO_VERSION 1
enum {
	H_HELLO = 1, H_PLAN = 2, H_START = 3, H_SIGNAL = 4,
	G_HELLO = 0x81, G_READY = 0x82, G_STARTED = 0x83, G_OK = 0x84, G_ERROR = 0x85, G_EXIT = 0x86,
};
#define MAX_HOST_PAYLOAD (8u << 20) /* a plan is at most 8 MiB (docs/executor-plan.md) */
#define MAX_GUEST_TEXT 1024

enum phase { P_IDLE, P_CREATED, P_RUNNING, P_EXITED };

static int ctl = -1, out_fd = -1, err_fd = -1, status_fd = -1;
static enum phase phase = P_IDLE;
static pid_t exec_pid = -1;   /* moat-exec (run mode: it stays as the init's parent) */
static int init_pid = -1;      /* the container init, as moat-exec reported it */
static int report_fd = -1;     /* moat-exec's report pipe, read end */
static char report_buf[4096];
static size_t report_len;
static int exit_status = -1;

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

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* The channel: wait a little for room (or a host); then give up on this message. */
				struct pollfd pf = { fd, POLLOUT, 0 };
				if (poll(&pf, 1, 1000) == 1 && (pf.revents & POLLOUT))
					continue;
			}
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void send_msg(int type, const void *payload, uint32_t len)
{
	unsigned char hdr[8] = { 'M', 'T', PROTO_VERSION, (unsigned char)type,
		(unsigned char)len, (unsigned char)(len >> 8), (unsigned char)(len >> 16), (unsigned char)(len >> 24) };

	/* A host that is not connected loses the message; it asks again when it connects. */
	if (write_all(ctl, hdr, sizeof hdr) == 0 && len > 0)
		(void)write_all(ctl, payload, len);
}

static void send_u32(int type, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24) };
	send_msg(type, b, 4);
}

static void send_error(const char *fmt, ...)
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
	send_msg(G_ERROR, buf, (uint32_t)n);
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
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
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write_all(o, buf, (size_t)n) != 0)
			fatal(to);
	close(in);
	close(o);
}

static void boot(void)
{
	mkdir("/dev", 0755);
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") != 0)
		fatal("mount /dev");
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		fatal("mount /proc");
	if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		fatal("mount /sys");
	read_cmdline();
	load_modules();

	/* Non-blocking: a write to a port no host is connected to would block until one connects. */
	ctl = open_port("moat.ctl", O_RDWR | O_NONBLOCK);
	out_fd = open_port("moat.out", O_WRONLY);
	err_fd = open_port("moat.err", O_WRONLY);
	status_fd = open_port("moat.status", O_WRONLY);

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
	copy_file("/moat-exec", "/newroot/moat-exec", 0555);
	/* The disk is the container's own copy, built on the host; mounted read-write (a read-only
	 * root is the plan's `remount-ro /`, as on the native platform). */
	if (mount("/newroot/dev/vda", "/newroot/rootfs", "ext4", MS_NODEV, NULL) != 0)
		fatal("mount /dev/vda");
	if (chdir("/newroot") != 0 || mount(".", "/", NULL, MS_MOVE, NULL) != 0 || chroot(".") != 0 || chdir("/") != 0)
		fatal("switch root");
	if (mknod("/start.fifo", S_IFIFO | 0622, 0) != 0)
		fatal("mkfifo /start.fifo");
	chmod("/start.fifo", 0622);
}

/* ---- the container ---- */

static void run_plan(const unsigned char *plan, uint32_t len)
{
	int memfd, rep[2], devnull;

	if (phase != P_IDLE) {
		send_error("plan: a container already exists in this vm");
		return;
	}
	memfd = (int)syscall(SYS_memfd_create, "plan", 0);
	if (memfd < 0 || write_all(memfd, plan, len) != 0 || lseek(memfd, 0, SEEK_SET) != 0) {
		send_error("plan: memfd: %s", strerror(errno));
		return;
	}
	if (pipe2(rep, O_CLOEXEC) != 0) {
		send_error("plan: pipe: %s", strerror(errno));
		return;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t pid = fork();
	if (pid < 0) {
		send_error("plan: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* fds: 0 /dev/null, 1 moat.out, 2 moat.err, 3 plan, 4 report */
		if (dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0 || dup2(memfd, 3) < 0 || dup2(rep[1], 4) < 0)
			_exit(125);
		char *argv[] = { "/moat-exec", "--plan-fd", "3", "--report-fd", "4", "--mode", "run", NULL };
		char *envp[] = { NULL };
		execve(argv[0], argv, envp);
		_exit(126);
	}
	close(memfd);
	close(rep[1]);
	close(devnull);
	exec_pid = pid;
	report_fd = rep[0];
	report_len = 0;
	phase = P_CREATED;
}

/* A line from moat-exec: `pid N` or `error …`. */
static void on_report_line(char *line)
{
	if (strncmp(line, "pid ", 4) == 0) {
		init_pid = atoi(line + 4);
		send_u32(G_READY, (uint32_t)init_pid);
	} else if (strncmp(line, "error ", 6) == 0) {
		send_msg(G_ERROR, line + 6, (uint32_t)strnlen(line + 6, MAX_GUEST_TEXT - 1));
	}
}

static void read_report(void)
{
	ssize_t n = read(report_fd, report_buf + report_len, sizeof report_buf - 1 - report_len);

	if (n <= 0) {
		if (report_len > 0) {
			report_buf[report_len] = 0;
			on_report_line(report_buf);
		}
		close(report_fd);
		report_fd = -1;
		return;
	}
	report_len += (size_t)n;
	report_buf[report_len] = 0;
	char *nl;
	while ((nl = memchr(report_buf, '\n', report_len))) {
		*nl = 0;
		on_report_line(report_buf);
		size_t used = (size_t)(nl - report_buf) + 1;
		memmove(report_buf, nl + 1, report_len - used);
		report_len -= used;
	}
	if (report_len == sizeof report_buf - 1)
		report_len = 0; /* an over-long line: drop it */
}

static void start_container(void)
{
	if (phase != P_CREATED || init_pid <= 0) {
		send_error("start: the container is %s", phase == P_RUNNING ? "already running" : phase == P_EXITED ? "stopped" : "not created");
		return;
	}
	int fd = open("/start.fifo", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		send_error("start: /start.fifo: %s", strerror(errno));
		return;
	}
	char b;
	for (int i = 0; i < 20000; i++) {
		ssize_t n = read(fd, &b, 1);
		if (n == 1) {
			close(fd);
			unlink("/start.fifo");
			phase = P_RUNNING;
			send_msg(G_STARTED, NULL, 0);
			return;
		}
		if (kill(init_pid, 0) != 0) {
			close(fd);
			send_error("start: the container's init has exited");
			return;
		}
		usleep(1000);
	}
	close(fd);
	send_error("start: the container's init did not answer");
}

static void signal_container(const unsigned char *p)
{
	uint32_t sig = get_u32(p), all = get_u32(p + 4);

	if (sig == 0 || sig > 64 || all > 1) {
		send_error("signal: bad signal %u", sig);
		return;
	}
	if (init_pid <= 0 || phase == P_EXITED || phase == P_IDLE) {
		send_error("signal: the container is not running");
		return;
	}
	if (!all) {
		if (kill(init_pid, (int)sig) != 0) {
			send_error("signal: %s", strerror(errno));
			return;
		}
		send_msg(G_OK, NULL, 0);
		return;
	}
	/* Every process of the guest except the agent and moat-exec (which reports the status). */
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int pid = atoi(e->d_name);
		if (pid > 1 && pid != exec_pid)
			kill(pid, (int)sig);
	}
	if (d)
		closedir(d);
	send_msg(G_OK, NULL, 0);
}

static void on_exec_exit(int wstatus)
{
	exit_status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : 255;
	exec_pid = -1;
	phase = P_EXITED;
	char line[32];
	int n = snprintf(line, sizeof line, "%d\n", exit_status);
	(void)write_all(status_fd, line, (size_t)n);
	send_u32(G_EXIT, (uint32_t)exit_status);
	poweroff();
}

/* ---- the channel ---- */

static unsigned char *inbuf;
static size_t inlen;
static size_t incap = MAX_HOST_PAYLOAD + 8;

static void on_frame(int type, const unsigned char *p, uint32_t len)
{
	switch (type) {
	case H_HELLO: {
		unsigned char b[12];
		uint32_t v[3] = { PROTO_VERSION, (uint32_t)phase, (uint32_t)(exit_status < 0 ? 0 : exit_status) };
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 4; j++)
				b[i * 4 + j] = (unsigned char)(v[i] >> (8 * j));
		send_msg(G_HELLO, b, sizeof b);
		break;
	}
	case H_PLAN:
		run_plan(p, len);
		break;
	case H_START:
		start_container();
		break;
	case H_SIGNAL:
		if (len != 8)
			send_error("signal: bad length %u", len);
		else
			signal_container(p);
		break;
	default:
		send_error("unknown message type %d", type);
	}
}

/* Returns 0, or -1 when the stream is out of step (the parser resets and drops what it has). */
static int parse_frames(void)
{
	size_t off = 0;

	while (inlen - off >= 8) {
		unsigned char *h = inbuf + off;
		uint32_t len = get_u32(h + 4);
		if (h[0] != 'M' || h[1] != 'T' || h[2] != PROTO_VERSION || len > MAX_HOST_PAYLOAD) {
			send_error("bad frame header");
			inlen = 0;
			return -1;
		}
		if (inlen - off - 8 < len)
			break;
		on_frame(h[3], h + 8, len);
		off += 8 + len;
	}
	memmove(inbuf, inbuf + off, inlen - off);
	inlen -= off;
	return 0;
}

static void reap(void)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (pid == exec_pid) {
			/* Flush the report first: `pid`/`error` precede the exit. */
			while (report_fd >= 0)
				read_report();
			on_exec_exit(st);
		}
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
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	inbuf = mmap(NULL, incap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sfd < 0 || inbuf == MAP_FAILED)
		fatal("set-up");
	logmsg("moat-agent: ready\n");
	int host_gone = 0;
	for (;;) {
		struct pollfd pf[3] = { { sfd, POLLIN, 0 }, { report_fd, POLLIN, 0 }, { host_gone ? -1 : ctl, POLLIN, 0 } };
		int r = poll(pf, 3, host_gone ? 20 : -1);
		if (r < 0 && errno != EINTR)
			fatal("poll");
		host_gone = 0;
		if (pf[0].revents) {
			struct signalfd_siginfo si;
			(void)!read(sfd, &si, sizeof si);
			reap();
		}
		if (pf[1].revents)
			read_report();
		if (pf[2].revents & POLLIN) {
			ssize_t n = read(ctl, inbuf + inlen, incap - inlen);
			if (n > 0) {
				inlen += (size_t)n;
				parse_frames();
			} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				/* nothing after all */
			} else {
				inlen = 0;
				host_gone = 1;
			}
		} else if (pf[2].revents & (POLLHUP | POLLERR)) {
			/* No host connected: a new one starts a fresh stream. Poll again shortly. */
			inlen = 0;
			host_gone = 1;
		}
	}
}
