/*
 * The sentry's network calls (docs/sentry.md, "Networking"): host sockets the sentry opens in the
 * container's network namespace on behalf of the application's AF_INET/AF_INET6/AF_NETLINK
 * sockets. Every socket is non-blocking and close-on-exec: the sentry never blocks in the host
 * kernel; a call that would block returns -EAGAIN and the sentry parks the task. Data moves
 * straight between the host socket and typed arrays (views of application memory).
 * The TypeScript side (src/sentry/net/host.ts) has validated every argument already; the checks
 * here (families, flags, lengths, ioctl numbers) are a second line, so that a bug there cannot turn
 * into a host call the sentry did not mean to make.
 *
 *   netBuffers(aux: Int32Array(4))          aux[0] address length, aux[1] msg_flags (after recv/accept)
 *   sockOpen(domain, type, protocol)        -> fd | -errno   (AF_INET, AF_INET6, AF_NETLINK/ROUTE)
 *   sockBind(fd, addr, len) / sockConnect(fd, addr, len) -> 0 | -errno
 *   sockListen(fd, backlog)                 -> 0 | -errno
 *   sockAccept(fd, addrOut)                 -> fd | -errno   aux[0] = peer address length
 *   sockSend(fd, views[], flags, addr|null, addrLen) -> bytes | -errno   (MSG_DONTWAIT|MSG_NOSIGNAL added)
 *   sockRecv(fd, views[], flags, addrOut|null[, ctlOut]) -> bytes | -errno   aux[0], aux[1] set;
 *                                           with ctlOut, the host's control messages into it, aux[2] their length
 *   sockGetOpt(fd, level, name, buf)        -> length | -errno
 *   sockSetOpt(fd, level, name, buf, len)   -> 0 | -errno
 *   sockShutdown(fd, how)                   -> 0 | -errno
 *   sockName(fd, peer, buf)                 -> length | -errno   getsockname / getpeername
 *   sockIoctlInt(fd, cmd)                   -> value | -errno    FIONREAD, SIOCOUTQ, SIOCATMARK
 *   ifIoctl(fd, cmd, ifreq(40))             -> 0 | -errno        SIOCGIF{FLAGS,ADDR,…} (read only)
 *   ifConf(fd, buf)                         -> bytes | -errno    SIOCGIFCONF into buf
 *   pollNow(fd, events)                     -> revents (no wait)
 *   pollBuffers(fds: Int32Array, out: Int32Array)   the arrays pollMany reads and fills (same length, <= 4096)
 *   pollMany(n)                             -> ready count | -errno   one poll(2), no wait, of fds[0..n) for
 *                                           POLLIN|POLLOUT|POLLPRI|POLLRDHUP: out[i] = revents of fds[i]
 *   netnsEnter(path)                        -> 0 | -errno    setns(CLONE_NEWNET) of the calling thread
 *   loUp()                                  -> 0 | -errno    bring lo up in the current namespace
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/sockios.h>
#include <unistd.h>

#include "napi_util.h"

#define MAX_IOV 1024
#define ADDR_MAX 128
/* The most control data one host recvmsg hands back (the sentry re-encodes an allow-list of it). */
#define CTL_MAX 512

static int32_t *aux;
static napi_ref aux_ref;

static napi_value result(napi_env env, double v)
{
	napi_value r;

	napi_create_double(env, v, &r);
	return r;
}

static bool get_bytes(napi_env env, napi_value v, const char *fn, const char *arg, void **data, size_t *bytes)
{
	bool is;
	napi_typedarray_type type;
	napi_value ab;
	size_t off;

	if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
	    napi_get_typedarray_info(env, v, &type, bytes, data, &ab, &off) != napi_ok || type != napi_uint8_array) {
		throw_type(env, fn, arg, "a Uint8Array");
		return false;
	}
	return true;
}

static bool is_nullish(napi_env env, napi_value v)
{
	napi_valuetype t;

	return napi_typeof(env, v, &t) != napi_ok || t == napi_null || t == napi_undefined;
}

/* An array of Uint8Array views into iov (at most MAX_IOV). */
static bool get_iov(napi_env env, napi_value v, const char *fn, struct iovec *iov, int *n)
{
	bool is;
	uint32_t len;

	if (napi_is_array(env, v, &is) != napi_ok || !is || napi_get_array_length(env, v, &len) != napi_ok || len > MAX_IOV) {
		throw_type(env, fn, "views", "an array of at most 1024 Uint8Arrays");
		return false;
	}
	for (uint32_t i = 0; i < len; i++) {
		napi_value e;

		if (napi_get_element(env, v, i, &e) != napi_ok || !get_bytes(env, e, fn, "views[i]", &iov[i].iov_base, &iov[i].iov_len))
			return false;
	}
	*n = (int)len;
	return true;
}

static napi_value net_buffers_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	void *data;
	size_t bytes;
	bool is;
	napi_typedarray_type type;
	napi_value ab;
	size_t off;

	if (!get_args(env, info, 1, argv))
		return NULL;
	if (napi_is_typedarray(env, argv[0], &is) != napi_ok || !is ||
	    napi_get_typedarray_info(env, argv[0], &type, &bytes, &data, &ab, &off) != napi_ok ||
	    type != napi_int32_array || bytes < 4) {
		throw_type(env, "netBuffers", "aux", "an Int32Array of 4");
		return NULL;
	}
	hold_ref(env, argv[0], &aux_ref);
	aux = data;
	return NULL;
}

static napi_value sock_open_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double domain, type, proto;
	int fd, err;

	if (!get_args(env, info, 3, argv) || !get_int(env, argv[0], "sockOpen", "domain", 0, 64, &domain) ||
	    !get_int(env, argv[1], "sockOpen", "type", 0, 15, &type) ||
	    !get_int(env, argv[2], "sockOpen", "protocol", 0, 255, &proto))
		return NULL;
	if (domain == AF_NETLINK) {
		if (type != SOCK_RAW && type != SOCK_DGRAM)
			return result(env, -ESOCKTNOSUPPORT);
		if (proto != NETLINK_ROUTE)
			return result(env, -EPROTONOSUPPORT);
	} else if (domain == AF_INET || domain == AF_INET6) {
		if (type != SOCK_STREAM && type != SOCK_DGRAM)
			return result(env, -ESOCKTNOSUPPORT);
	} else {
		return result(env, -EAFNOSUPPORT);
	}
	fd = socket((int)domain, (int)type | SOCK_NONBLOCK | SOCK_CLOEXEC, (int)proto);
	if (fd < 0)
		return result(env, -errno);
	/* An inet socket's readiness wakes the tracer's wait by a signal (sentry.c, the wait), set
	 * before any call on it can answer EAGAIN. Netlink's answers are read at once: never waited on. */
	if (domain != AF_NETLINK && (err = moat_readiness_fd(fd)) < 0) {
		close(fd);
		return result(env, err);
	}
	return result(env, fd);
}

/* bind or connect with an address of len bytes from addr. */
static napi_value addr_call(napi_env env, napi_callback_info info, const char *fn, bool connecting)
{
	napi_value argv[MAX_ARGS];
	int fd, r;
	void *addr;
	size_t bytes;
	double len;

	if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], fn, "fd", &fd) ||
	    !get_bytes(env, argv[1], fn, "addr", &addr, &bytes) ||
	    !get_int(env, argv[2], fn, "len", 0, (double)(bytes < ADDR_MAX ? bytes : ADDR_MAX), &len))
		return NULL;
	if (connecting)
		r = connect(fd, (struct sockaddr *)addr, (socklen_t)len);
	else
		r = bind(fd, (struct sockaddr *)addr, (socklen_t)len);
	return result(env, r < 0 ? -errno : 0);
}

static napi_value sock_bind_js(napi_env env, napi_callback_info info)
{
	return addr_call(env, info, "sockBind", false);
}

static napi_value sock_connect_js(napi_env env, napi_callback_info info)
{
	return addr_call(env, info, "sockConnect", true);
}

static napi_value sock_listen_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd;
	double backlog;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "sockListen", "fd", &fd) ||
	    !get_int(env, argv[1], "sockListen", "backlog", 0, 4096, &backlog))
		return NULL;
	return result(env, listen(fd, (int)backlog) < 0 ? -errno : 0);
}

static napi_value sock_accept_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd, nfd, err;
	void *addr;
	size_t bytes;
	socklen_t len;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "sockAccept", "fd", &fd) ||
	    !get_bytes(env, argv[1], "sockAccept", "addr", &addr, &bytes))
		return NULL;
	len = (socklen_t)(bytes < ADDR_MAX ? bytes : ADDR_MAX);
	nfd = accept4(fd, (struct sockaddr *)addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (nfd < 0)
		return result(env, -errno);
	/* O_ASYNC and the owner are not inherited from the listener. */
	err = moat_readiness_fd(nfd);
	if (err < 0) {
		close(nfd);
		return result(env, err);
	}
	if (aux)
		aux[0] = (int32_t)len;
	return result(env, nfd);
}

#define SEND_FLAGS (MSG_OOB | MSG_DONTROUTE | MSG_EOR | MSG_MORE | MSG_CONFIRM)
#define RECV_FLAGS (MSG_OOB | MSG_PEEK | MSG_TRUNC | MSG_ERRQUEUE)

static napi_value sock_send_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	struct iovec iov[MAX_IOV];
	struct msghdr msg = { 0 };
	int fd, n;
	double flags, alen = 0;
	void *addr = NULL;
	size_t abytes = 0;
	ssize_t r;

	if (!get_args(env, info, 5, argv) || !get_fd(env, argv[0], "sockSend", "fd", &fd) ||
	    !get_iov(env, argv[1], "sockSend", iov, &n) || !get_int(env, argv[2], "sockSend", "flags", 0, 0x7fffffff, &flags))
		return NULL;
	if (!is_nullish(env, argv[3])) {
		if (!get_bytes(env, argv[3], "sockSend", "addr", &addr, &abytes) ||
		    !get_int(env, argv[4], "sockSend", "addrLen", 0, (double)(abytes < ADDR_MAX ? abytes : ADDR_MAX), &alen))
			return NULL;
	}
	if ((int)flags & ~SEND_FLAGS)
		return result(env, -EOPNOTSUPP);
	msg.msg_name = addr;
	msg.msg_namelen = (socklen_t)alen;
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)n;
	do
		r = sendmsg(fd, &msg, (int)flags | MSG_DONTWAIT | MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return result(env, r < 0 ? -errno : (double)r);
}

static napi_value sock_recv_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	struct iovec iov[MAX_IOV];
	struct msghdr msg = { 0 };
	int fd, n;
	double flags;
	void *addr = NULL, *ctl = NULL;
	size_t abytes = 0, cbytes = 0;
	ssize_t r;

	if (!get_args(env, info, 5, argv) || !get_fd(env, argv[0], "sockRecv", "fd", &fd) ||
	    !get_iov(env, argv[1], "sockRecv", iov, &n) || !get_int(env, argv[2], "sockRecv", "flags", 0, 0x7fffffff, &flags))
		return NULL;
	if (!is_nullish(env, argv[3]) && !get_bytes(env, argv[3], "sockRecv", "addr", &addr, &abytes))
		return NULL;
	if (!is_nullish(env, argv[4]) && !get_bytes(env, argv[4], "sockRecv", "ctl", &ctl, &cbytes))
		return NULL;
	if ((int)flags & ~RECV_FLAGS)
		return result(env, -EOPNOTSUPP);
	msg.msg_name = addr;
	msg.msg_namelen = (socklen_t)(abytes < ADDR_MAX ? abytes : ADDR_MAX);
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)n;
	msg.msg_control = ctl;
	msg.msg_controllen = ctl ? (cbytes < CTL_MAX ? cbytes : CTL_MAX) : 0;
	do
		r = recvmsg(fd, &msg, (int)flags | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return result(env, -errno);
	if (aux) {
		aux[0] = addr ? (int32_t)msg.msg_namelen : 0;
		aux[1] = msg.msg_flags;
		aux[2] = ctl ? (int32_t)msg.msg_controllen : 0;
	}
	return result(env, (double)r);
}

static napi_value sock_getopt_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd;
	double level, name;
	void *buf;
	size_t bytes;
	socklen_t len;

	if (!get_args(env, info, 4, argv) || !get_fd(env, argv[0], "sockGetOpt", "fd", &fd) ||
	    !get_int(env, argv[1], "sockGetOpt", "level", 0, 0xffff, &level) ||
	    !get_int(env, argv[2], "sockGetOpt", "name", 0, 0xffff, &name) ||
	    !get_bytes(env, argv[3], "sockGetOpt", "buf", &buf, &bytes))
		return NULL;
	len = (socklen_t)(bytes < 256 ? bytes : 256);
	if (getsockopt(fd, (int)level, (int)name, buf, &len) < 0)
		return result(env, -errno);
	return result(env, (double)len);
}

static napi_value sock_setopt_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd;
	double level, name, len;
	void *buf;
	size_t bytes;

	if (!get_args(env, info, 5, argv) || !get_fd(env, argv[0], "sockSetOpt", "fd", &fd) ||
	    !get_int(env, argv[1], "sockSetOpt", "level", 0, 0xffff, &level) ||
	    !get_int(env, argv[2], "sockSetOpt", "name", 0, 0xffff, &name) ||
	    !get_bytes(env, argv[3], "sockSetOpt", "buf", &buf, &bytes) ||
	    !get_int(env, argv[4], "sockSetOpt", "len", 0, (double)(bytes < 256 ? bytes : 256), &len))
		return NULL;
	return result(env, setsockopt(fd, (int)level, (int)name, buf, (socklen_t)len) < 0 ? -errno : 0);
}

static napi_value sock_shutdown_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd;
	double how;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "sockShutdown", "fd", &fd) ||
	    !get_int(env, argv[1], "sockShutdown", "how", 0, 2, &how))
		return NULL;
	return result(env, shutdown(fd, (int)how) < 0 ? -errno : 0);
}

static napi_value sock_name_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd, r;
	bool peer;
	void *buf;
	size_t bytes;
	socklen_t len;

	if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], "sockName", "fd", &fd) ||
	    !get_bool(env, argv[1], "sockName", "peer", &peer) || !get_bytes(env, argv[2], "sockName", "buf", &buf, &bytes))
		return NULL;
	len = (socklen_t)(bytes < ADDR_MAX ? bytes : ADDR_MAX);
	r = peer ? getpeername(fd, (struct sockaddr *)buf, &len) : getsockname(fd, (struct sockaddr *)buf, &len);
	return result(env, r < 0 ? -errno : (double)len);
}

static napi_value sock_ioctl_int_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd, v = 0;
	double cmd;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "sockIoctlInt", "fd", &fd) ||
	    !get_int(env, argv[1], "sockIoctlInt", "cmd", 0, 0xffffffff, &cmd))
		return NULL;
	switch ((unsigned long)cmd) {
	case FIONREAD: case SIOCOUTQ: case SIOCATMARK: case SIOCOUTQNSD: break;
	default: return result(env, -ENOTTY);
	}
	return result(env, ioctl(fd, (unsigned long)cmd, &v) < 0 ? -errno : v);
}

static napi_value if_ioctl_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd;
	double cmd;
	void *buf;
	size_t bytes;

	if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], "ifIoctl", "fd", &fd) ||
	    !get_int(env, argv[1], "ifIoctl", "cmd", 0, 0xffffffff, &cmd) ||
	    !get_bytes(env, argv[2], "ifIoctl", "ifreq", &buf, &bytes))
		return NULL;
	if (bytes != sizeof(struct ifreq))
		return result(env, -EINVAL);
	switch ((unsigned long)cmd) {
	case SIOCGIFNAME: case SIOCGIFINDEX: case SIOCGIFFLAGS: case SIOCGIFADDR: case SIOCGIFDSTADDR:
	case SIOCGIFBRDADDR: case SIOCGIFNETMASK: case SIOCGIFMTU: case SIOCGIFHWADDR: case SIOCGIFMETRIC:
	case SIOCGIFTXQLEN:
		break;
	default:
		return result(env, -EINVAL);
	}
	((char *)buf)[IFNAMSIZ - 1] = 0;
	return result(env, ioctl(fd, (unsigned long)cmd, buf) < 0 ? -errno : 0);
}

static napi_value if_conf_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd;
	void *buf;
	size_t bytes;
	struct ifconf ifc;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "ifConf", "fd", &fd) ||
	    !get_bytes(env, argv[1], "ifConf", "buf", &buf, &bytes))
		return NULL;
	ifc.ifc_len = (int)(bytes > 65536 ? 65536 : bytes);
	ifc.ifc_buf = buf;
	return result(env, ioctl(fd, SIOCGIFCONF, &ifc) < 0 ? -errno : ifc.ifc_len);
}

static napi_value poll_now_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int fd;
	double events;
	struct pollfd p;

	if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], "pollNow", "fd", &fd) ||
	    !get_int(env, argv[1], "pollNow", "events", 0, 0xffff, &events))
		return NULL;
	p.fd = fd;
	p.events = (short)events;
	p.revents = 0;
	if (poll(&p, 1, 0) < 0)
		return result(env, 0);
	return result(env, p.revents);
}

/* pollMany: one host call for the readiness of many sockets (an epoll_wait over many connections). */
#define POLL_MANY_MAX 4096
#ifndef POLLRDHUP
#define POLLRDHUP 0x2000
#endif
static int32_t *poll_fds, *poll_out;
static size_t poll_cap;
static napi_ref poll_fds_ref, poll_out_ref;
static struct pollfd poll_set[POLL_MANY_MAX];

static bool int32_array(napi_env env, napi_value v, const char *arg, int32_t **data, size_t *count)
{
	bool is;
	napi_typedarray_type type;
	napi_value ab;
	size_t off;
	void *p;

	if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
	    napi_get_typedarray_info(env, v, &type, count, &p, &ab, &off) != napi_ok || type != napi_int32_array) {
		throw_type(env, "pollBuffers", arg, "an Int32Array");
		return false;
	}
	*data = p;
	return true;
}

static napi_value poll_buffers_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int32_t *fds, *out;
	size_t nf, no;

	if (!get_args(env, info, 2, argv) || !int32_array(env, argv[0], "fds", &fds, &nf) ||
	    !int32_array(env, argv[1], "out", &out, &no))
		return NULL;
	hold_ref(env, argv[0], &poll_fds_ref);
	hold_ref(env, argv[1], &poll_out_ref);
	poll_fds = fds;
	poll_out = out;
	poll_cap = nf < no ? nf : no;
	if (poll_cap > POLL_MANY_MAX)
		poll_cap = POLL_MANY_MAX;
	return NULL;
}

static napi_value poll_many_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	double dn;
	size_t i, n;
	int r;

	if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "pollMany", "n", 0, POLL_MANY_MAX, &dn))
		return NULL;
	n = (size_t)dn;
	if (n > poll_cap)
		return result(env, -EINVAL);
	for (i = 0; i < n; i++) {
		poll_set[i].fd = poll_fds[i];
		poll_set[i].events = POLLIN | POLLOUT | POLLPRI | POLLRDHUP;
		poll_set[i].revents = 0;
	}
	r = poll(poll_set, n, 0);
	if (r < 0)
		return result(env, -errno);
	for (i = 0; i < n; i++)
		poll_out[i] = poll_set[i].revents;
	return result(env, r);
}

static napi_value netns_enter_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	char path[4096];
	int fd, r, err;

	if (!get_args(env, info, 1, argv) || !get_str(env, argv[0], "netnsEnter", "path", path, sizeof(path)))
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return result(env, -errno);
	r = setns(fd, CLONE_NEWNET);
	err = errno;
	close(fd);
	return result(env, r < 0 ? -err : 0);
}

static napi_value lo_up_js(napi_env env, napi_callback_info info)
{
	struct ifreq ifr;
	int fd, r = 0;

	(void)info;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return result(env, -errno);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		r = -errno;
	else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			r = -errno;
	}
	close(fd);
	return result(env, r);
}

bool moat_register_net(napi_env env, napi_value exports)
{
	static const struct napi_export fns[] = {
		{ "netBuffers", net_buffers_js },
		{ "sockOpen", sock_open_js },
		{ "sockBind", sock_bind_js },
		{ "sockConnect", sock_connect_js },
		{ "sockListen", sock_listen_js },
		{ "sockAccept", sock_accept_js },
		{ "sockSend", sock_send_js },
		{ "sockRecv", sock_recv_js },
		{ "sockGetOpt", sock_getopt_js },
		{ "sockSetOpt", sock_setopt_js },
		{ "sockShutdown", sock_shutdown_js },
		{ "sockName", sock_name_js },
		{ "sockIoctlInt", sock_ioctl_int_js },
		{ "ifIoctl", if_ioctl_js },
		{ "ifConf", if_conf_js },
		{ "pollNow", poll_now_js },
		{ "pollBuffers", poll_buffers_js },
		{ "pollMany", poll_many_js },
		{ "netnsEnter", netns_enter_js },
		{ "loUp", lo_up_js },
	};

	return export_functions(env, exports, fns, sizeof(fns) / sizeof(fns[0]));
}
