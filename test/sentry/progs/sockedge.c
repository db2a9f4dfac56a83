/* Socket edge cases that gVisor's socket tests (test/syscalls/linux/socket_*.cc) found the sentry
 * getting wrong, each checked against Linux: credentials on stream segments (attached only when an
 * end had SO_PASSCRED, never coalesced across writers), zero-length reads, sendmmsg/recvmmsg of
 * several messages (each may wait), SCM_CREDENTIALS checks (EINVAL, EPERM, ESRCH), a listener's SO_PEERCRED, control
 * messages into a NULL msg_control, /proc/sys/net's port range (and a read-only sysctl refusing
 * even root), /proc/net/unix. */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

static int passcred(int fd)
{
	int on = 1;
	return setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
}

/* One read with room for credentials: the bytes read, *uc the credentials (pid -1 if none came). */
static ssize_t read_creds(int fd, char *buf, size_t len, struct ucred *uc)
{
	char cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { buf, len };
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof cbuf;
	uc->pid = -1;
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);
	struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&m) : NULL;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) memcpy(uc, CMSG_DATA(c), sizeof *uc);
	return n;
}

static void credentials(void)
{
	int sv[2];
	struct ucred uc;
	char buf[64];

	/* Written before the reader turned SO_PASSCRED on: no credentials, seen as nobody. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	send(sv[0], "abc", 3, 0);
	send(sv[0], "def", 3, 0);
	passcred(sv[1]);
	ssize_t n = read_creds(sv[1], buf, sizeof buf, &uc);
	SHOW("creds: segments written without SO_PASSCRED read together", "%zd", n);
	EXPECT("creds: ... as from nobody (pid 0, uid/gid 65534)", uc.pid == 0 && uc.uid == 65534 && uc.gid == 65534);
	/* One without, one with: read apart. */
	close(sv[0]);
	close(sv[1]);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	send(sv[0], "abc", 3, 0);
	passcred(sv[1]);
	send(sv[0], "defg", 4, 0);
	n = read_creds(sv[1], buf, sizeof buf, &uc);
	SHOW("creds: a segment without credentials, then one with: first read", "%zd", n);
	EXPECT("creds: ... from nobody", uc.pid == 0 && uc.uid == 65534);
	n = read_creds(sv[1], buf, sizeof buf, &uc);
	SHOW("creds: ... second read", "%zd", n);
	EXPECT("creds: ... from the writer", uc.pid == getpid() && uc.uid == getuid() && uc.gid == getgid());
	close(sv[0]);
	close(sv[1]);
	/* The writer's own SO_PASSCRED attaches them too. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	passcred(sv[0]);
	send(sv[0], "abc", 3, 0);
	passcred(sv[1]);
	n = read_creds(sv[1], buf, sizeof buf, &uc);
	EXPECT("creds: attached by the writer's SO_PASSCRED", n == 3 && uc.pid == getpid());
	close(sv[0]);
	close(sv[1]);
	/* A datagram sent before SO_PASSCRED is from nobody as well. */
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	send(sv[0], "abc", 3, 0);
	passcred(sv[1]);
	n = read_creds(sv[1], buf, sizeof buf, &uc);
	EXPECT("creds: a datagram sent before SO_PASSCRED is from nobody", n == 3 && uc.pid == 0 && uc.uid == 65534);
	close(sv[0]);
	close(sv[1]);
}

static void zero_length(void)
{
	int sv[2];
	char c;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	FAILS("zero-length recv on an empty stream: EAGAIN", recv(sv[0], &c, 0, MSG_DONTWAIT), EAGAIN);
	FAILS("... with MSG_PEEK|MSG_TRUNC", recv(sv[0], &c, 0, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC), EAGAIN);
	SHOW("zero-length read(2) on an empty stream", "%zd", read(sv[0], &c, 0));
	send(sv[1], "x", 1, 0);
	SHOW("zero-length recv with data queued", "%zd", recv(sv[0], &c, 0, MSG_DONTWAIT));
	SHOW("... consumed nothing", "%zd", recv(sv[0], &c, 1, MSG_DONTWAIT));
	shutdown(sv[1], SHUT_WR);
	SHOW("zero-length recv after the peer's shutdown", "%zd", recv(sv[0], &c, 0, MSG_DONTWAIT));
	close(sv[0]);
	close(sv[1]);
}

static int have_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0) return 0;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

static ssize_t send_creds(int fd, pid_t pid, uid_t uid, gid_t gid)
{
	struct ucred uc = { pid, uid, gid };
	char cbuf[CMSG_SPACE(sizeof uc)];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = { "x", 1 };
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof cbuf;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof uc);
	memcpy(CMSG_DATA(c), &uc, sizeof uc);
	return sendmsg(fd, &m, MSG_DONTWAIT);
}

static void credential_checks(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	OK("SCM_CREDENTIALS of our own", send_creds(sv[0], getpid(), getuid(), getgid()));
	FAILS("SCM_CREDENTIALS with uid -1", send_creds(sv[0], getpid(), (uid_t)-1, getgid()), EINVAL);
	FAILS("SCM_CREDENTIALS with gid -1", send_creds(sv[0], getpid(), getuid(), (gid_t)-1), EINVAL);
	/* No such process: ESRCH with CAP_SYS_ADMIN (which may name any), else EPERM. */
	errno = 0;
	ssize_t r = send_creds(sv[0], 0x3ffffff0, getuid(), getgid());
	EXPECT("SCM_CREDENTIALS naming no process: ESRCH, or EPERM without CAP_SYS_ADMIN",
	       r == -1 && errno == (have_cap(CAP_SYS_ADMIN) ? ESRCH : EPERM));
	errno = 0;
	r = send_creds(sv[0], 0, getuid(), getgid());
	EXPECT("SCM_CREDENTIALS naming pid 0: likewise", r == -1 && errno == (have_cap(CAP_SYS_ADMIN) ? ESRCH : EPERM));
	close(sv[0]);
	close(sv[1]);
}

static void listener_peercred(void)
{
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct ucred uc;
	socklen_t len = sizeof uc;
	getsockopt(l, SOL_SOCKET, SO_PEERCRED, &uc, &len);
	EXPECT("SO_PEERCRED before listen: nobody (pid 0, ids -1)", uc.pid == 0 && uc.uid == (uid_t)-1 && uc.gid == (gid_t)-1);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "moat-sockedge-%d", getpid());
	bind(l, (struct sockaddr *)&a, sizeof a);
	OK("listen", listen(l, 1));
	len = sizeof uc;
	getsockopt(l, SOL_SOCKET, SO_PEERCRED, &uc, &len);
	EXPECT("SO_PEERCRED of a listener: its own", uc.pid == getpid() && uc.uid == geteuid() && uc.gid == getegid());
	close(l);
}

static void control_edges(void)
{
	int sv[2], p[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pipe(p);
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = { "abc", 3 };
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof cbuf;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &p[0], sizeof(int));
	OK("send a pipe with 3 bytes", sendmsg(sv[0], &m, 0));
	OK("send it again", sendmsg(sv[0], &m, 0));
	/* A zero-length read takes the first segment's file, and none of its bytes. */
	char rbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr r = { 0 };
	r.msg_control = rbuf;
	r.msg_controllen = sizeof rbuf;
	SHOW("zero-length recvmsg of a segment with a file", "%zd", recvmsg(sv[1], &r, MSG_DONTWAIT));
	c = CMSG_FIRSTHDR(&r);
	EXPECT("... got the file", c && c->cmsg_type == SCM_RIGHTS);
	if (c) {
		int fd;
		memcpy(&fd, CMSG_DATA(c), sizeof fd);
		close(fd);
	}
	/* Room for control messages but a NULL pointer: the file is dropped, MSG_CTRUNC, no error. */
	char data[16];
	struct iovec riov = { data, sizeof data };
	struct msghdr n = { 0 };
	n.msg_iov = &riov;
	n.msg_iovlen = 1;
	n.msg_controllen = CMSG_SPACE(sizeof(int));
	SHOW("recvmsg into a NULL msg_control", "%zd", recvmsg(sv[1], &n, MSG_DONTWAIT));
	SHOW("... msg_controllen", "%zu", (size_t)n.msg_controllen);
	SHOW("... msg_flags", "%#x", n.msg_flags);
	SHOW("... then the second segment", "%zd", recv(sv[1], data, sizeof data, MSG_DONTWAIT));
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void sysctls(void)
{
	char buf[64] = { 0 };
	int fd = open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	int lo = 0, hi = 0;
	EXPECT("ip_local_port_range: two ports, low to high",
	       n > 0 && sscanf(buf, "%d %d", &lo, &hi) == 2 && lo > 0 && lo <= hi && hi < 65536 && buf[n - 1] == '\n');
	if (fd >= 0) close(fd);
	fd = open("/proc/sys/net/core/somaxconn", O_RDONLY);
	memset(buf, 0, sizeof buf);
	n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	EXPECT("somaxconn: a number", n > 0 && atoi(buf) > 0);
	if (fd >= 0) close(fd);
	/* sysctl modes bind root too: a 0444 one is not writable, whatever the capabilities. */
	FAILS("access(W_OK) of /proc/sys/kernel/cap_last_cap", access("/proc/sys/kernel/cap_last_cap", W_OK), EACCES);
	FAILS("open it for writing", open("/proc/sys/kernel/cap_last_cap", O_WRONLY), EACCES);
}

/* The /proc/net/unix line naming `name` (NULL if none): at most `room` bytes of it into line. */
static int proc_unix_line(const char *name, char *line, size_t room)
{
	static char buf[65536];
	int fd = open("/proc/net/unix", O_RDONLY);
	if (fd < 0) return 0;
	size_t n = 0;
	ssize_t r;
	while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += r;
	close(fd);
	buf[n] = 0;
	for (char *p = buf; *p;) {
		char *e = strchr(p, '\n');
		if (!e) break;
		*e = 0;
		size_t ln = strlen(p), nl = strlen(name);
		if (ln > nl && strcmp(p + ln - nl, name) == 0 && p[ln - nl - 1] == ' ') {
			snprintf(line, room, "%s", p);
			return 1;
		}
		p = e + 1;
	}
	return 0;
}

/* /proc/net/unix lists the sandbox's sockets: a listener by path, an abstract name with '@'. */
static void proc_net_unix(void)
{
	char path[108], line[256], f1[32], f2[32], f3[32], flags[32], type[32], st[32];
	snprintf(path, sizeof path, "/tmp/moat-sockedge-%d", getpid());
	unlink(path);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, path);
	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 1);
	int found = proc_unix_line(path, line, sizeof line);
	EXPECT("/proc/net/unix lists a listener by its path", found);
	if (found && sscanf(line, "%31s %31s %31s %31s %31s %31s", f1, f2, f3, flags, type, st) == 6) {
		SHOW("... its flags (__SO_ACCEPTCON)", "%s", flags);
		SHOW("... its type", "%s", type);
		SHOW("... its state", "%s", st);
	}
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un b = { .sun_family = AF_UNIX };
	char name[64];
	int len = snprintf(b.sun_path + 1, sizeof b.sun_path - 1, "moat-sockedge-%d", getpid());
	bind(d, (struct sockaddr *)&b, offsetof(struct sockaddr_un, sun_path) + 1 + len);
	snprintf(name, sizeof name, "@moat-sockedge-%d", getpid());
	EXPECT("/proc/net/unix lists an abstract name with '@'", proc_unix_line(name, line, sizeof line));
	close(d);
	close(l);
	unlink(path);
	EXPECT("... and not once closed", !proc_unix_line(path, line, sizeof line));
}

/* sendmmsg/recvmmsg wait between messages as Linux does: a blocking recvmmsg of 3 datagrams sent
 * apart returns 3, and a sendmmsg of 3 x 100 KiB into a small stream buffer sends all 3 in order. */
static void mmsg(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 3; i++) {
			usleep(50000);
			char c = 'a' + i;
			send(sv[1], &c, 1, 0);
		}
		_exit(0);
	}
	char b[3];
	struct iovec iov[3];
	struct mmsghdr mm[3];
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 3; i++) {
		iov[i].iov_base = &b[i];
		iov[i].iov_len = 1;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	SHOW("blocking recvmmsg of 3 datagrams sent apart", "%d", recvmmsg(sv[0], mm, 3, 0, NULL));
	EXPECT("... in order", b[0] == 'a' && b[1] == 'b' && b[2] == 'c' && mm[2].msg_len == 1);
	waitpid(pid, NULL, 0);
	send(sv[1], "x", 1, 0);
	SHOW("recvmmsg with MSG_WAITFORONE and one queued", "%d", recvmmsg(sv[0], mm, 3, MSG_WAITFORONE, NULL));
	close(sv[0]);
	close(sv[1]);

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int small = 16384;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	enum { PART = 100000 };
	static unsigned char src[3 * PART], in[3 * PART];
	for (size_t i = 0; i < sizeof src; i++) src[i] = (unsigned char)(i * 7 + i / 251);
	pid = fork();
	if (pid == 0) {
		size_t got = 0;
		while (got < sizeof in) {
			ssize_t n = read(sv[1], in + got, sizeof in - got);
			if (n <= 0) break;
			got += n;
		}
		_exit(got == sizeof in && memcmp(in, src, sizeof in) == 0 ? 0 : 1);
	}
	struct iovec siov[3];
	for (int i = 0; i < 3; i++) {
		siov[i].iov_base = src + i * PART;
		siov[i].iov_len = PART;
		mm[i].msg_hdr.msg_iov = &siov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_len = 0;
	}
	SHOW("blocking sendmmsg of 3 x 100 KiB into a small buffer", "%d", sendmmsg(sv[0], mm, 3, 0));
	EXPECT("... each whole", mm[0].msg_len == PART && mm[1].msg_len == PART && mm[2].msg_len == PART);
	int st = -1;
	waitpid(pid, &st, 0);
	EXPECT("... the reader got every byte in order", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	mmsg();
	proc_net_unix();
	sysctls();
	credential_checks();
	listener_peercred();
	control_edges();
	credentials();
	zero_length();
	return finish();
}
