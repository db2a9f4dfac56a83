/*
 * The sentry's side of the gofer channel (docs/sentry-gofer.md). The sentry's loop is synchronous,
 * so a gofer round trip is one blocking call; the protocol itself lives in src/sentry/gofer.
 *
 *   seqpacketPair()                      -> [fd, fd]   AF_UNIX SOCK_SEQPACKET pair, close-on-exec
 *   goferCall(fd, request, reply[, requestLength])
 *                                        -> { length, fd }
 *       sendmsg one message (request, or its first requestLength bytes), then recvmsg one message
 *       into reply with MSG_CMSG_CLOEXEC. fd is the one SCM_RIGHTS fd that came with it, or -1.
 *       length 0 means the gofer closed the socket. EINTR is retried. Throws (closing whatever
 *       fds arrived) on a failed call, a reply longer than `reply` (EMSGSIZE), or more than one
 *       fd or truncated control data (EBADMSG).
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdpass.h"
#include "napi_util.h"

/* Room for a few fds, so that a gofer sending more than one is seen (and all of them closed). */
#define MAX_RECV_FDS 8

static napi_value seqpacket_pair_js(napi_env env, napi_callback_info info)
{
	napi_value arr, v;
	int sv[2];

	(void)info;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		throw_errno(env, errno, "socketpair", NULL);
		return NULL;
	}
	napi_create_array_with_length(env, 2, &arr);
	for (uint32_t i = 0; i < 2; i++) {
		napi_create_int32(env, sv[i], &v);
		napi_set_element(env, arr, i, v);
	}
	return arr;
}

static bool get_buffer(napi_env env, napi_value v, const char *arg, void **data, size_t *len)
{
	bool is_buf = false;

	if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf ||
	    napi_get_buffer_info(env, v, data, len) != napi_ok) {
		throw_type(env, "goferCall", arg, "a Buffer");
		return false;
	}
	return true;
}

static bool send_request(napi_env env, int sock, void *data, size_t len)
{
	struct iovec iov = { data, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		throw_errno(env, errno, "sendmsg", NULL);
		return false;
	}
	return true;
}

static napi_value call_result(napi_env env, size_t length, int fd)
{
	napi_value obj, v;

	napi_create_object(env, &obj);
	napi_create_uint32(env, (uint32_t)length, &v);
	napi_set_named_property(env, obj, "length", v);
	napi_create_int32(env, fd, &v);
	napi_set_named_property(env, obj, "fd", v);
	return obj;
}

static napi_value receive_reply(napi_env env, int sock, void *data, size_t cap)
{
	int fds[MAX_RECV_FDS], flags;
	size_t nfds;
	ssize_t n = fdpass_recv_flags(sock, data, cap, fds, MAX_RECV_FDS, &nfds, 0, &flags);

	if (n < 0) {
		throw_errno(env, errno, "recvmsg", NULL);
		return NULL;
	}
	if ((flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds > 1) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		throw_errno(env, flags & MSG_TRUNC ? EMSGSIZE : EBADMSG, "recvmsg", "gofer reply");
		return NULL;
	}
	return call_result(env, (size_t)n, nfds ? fds[0] : -1);
}

static napi_value gofer_call_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	napi_valuetype t;
	void *req, *rep;
	size_t req_cap, rep_cap;
	double req_len;
	int sock;

	if (!get_args(env, info, 4, argv) || !get_fd(env, argv[0], "goferCall", "fd", &sock) ||
	    !get_buffer(env, argv[1], "request", &req, &req_cap) ||
	    !get_buffer(env, argv[2], "reply", &rep, &rep_cap))
		return NULL;
	req_len = (double)req_cap;
	if (napi_typeof(env, argv[3], &t) == napi_ok && t != napi_undefined &&
	    !get_int(env, argv[3], "goferCall", "requestLength", 0, (double)req_cap, &req_len))
		return NULL;
	if (!send_request(env, sock, req, (size_t)req_len))
		return NULL;
	return receive_reply(env, sock, rep, rep_cap);
}

bool moat_register_gofer(napi_env env, napi_value exports)
{
	static const struct napi_export fns[] = {
		{ "seqpacketPair", seqpacket_pair_js },
		{ "goferCall", gofer_call_js },
	};

	return export_functions(env, exports, fns, sizeof(fns) / sizeof(fns[0]));
}
