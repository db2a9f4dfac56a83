/*
 * Terminal calls of the vm platform (docs/vm.md#terminals): a host pty pair whose slave the VMM or
 * the exec relay holds, the master handed to the caller's console socket.
 *
 *   openPty(rows, cols)          -> { master, slave, name }  posix_openpt + unlockpt, the peer
 *                                   opened with TIOCGPTPEER (no path lookup); the slave is put in
 *                                   raw mode (the guest's own pty does the line discipline), the
 *                                   window size set when rows/cols > 0. Both close-on-exec, O_NOCTTY
 *   sendFd(sock, fd, data)       -> undefined   one SCM_RIGHTS fd with data (a string) on a connected
 *                                   unix socket, as runc's console socket protocol sends the master
 *   getWinsize(fd)               -> { rows, cols }  ioctl(TIOCGWINSZ)
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "fdpass.h"
#include "napi_util.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

static napi_value open_pty_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out, v;
	double rows, cols;
	int master, slave, n = 0, err;
	struct termios t;
	char name[64];

	if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "openPty", "rows", 0, 65535, &rows) ||
	    !get_int(env, argv[1], "openPty", "cols", 0, 65535, &cols))
		return NULL;
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0) {
		throw_errno(env, errno, "posix_openpt", "/dev/ptmx");
		return NULL;
	}
	if (ioctl(master, TIOCSPTLCK, &n) != 0 || ioctl(master, TIOCGPTN, &n) != 0) {
		err = errno;
		close(master);
		throw_errno(env, err, "ioctl", "/dev/ptmx");
		return NULL;
	}
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		err = errno;
		close(master);
		throw_errno(env, err, "ioctl(TIOCGPTPEER)", "/dev/ptmx");
		return NULL;
	}
	if (tcgetattr(slave, &t) == 0) {
		cfmakeraw(&t);
		/* No output translation even when a reader (QEMU's stdio chardev) turns OPOST back on. */
		t.c_oflag &= ~(tcflag_t)(ONLCR | OCRNL | ONOCR | ONLRET);
		(void)tcsetattr(slave, TCSANOW, &t);
	}
	if (rows > 0 && cols > 0) {
		struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
		(void)ioctl(master, TIOCSWINSZ, &ws);
	}
	snprintf(name, sizeof name, "/dev/pts/%d", n);
	napi_create_object(env, &out);
	napi_create_int32(env, master, &v);
	napi_set_named_property(env, out, "master", v);
	napi_create_int32(env, slave, &v);
	napi_set_named_property(env, out, "slave", v);
	napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, out, "name", v);
	return out;
}

static napi_value send_fd_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS];
	int sock, fd;
	char data[256];

	if (!get_args(env, info, 3, argv) || !get_fd(env, argv[0], "sendFd", "sock", &sock) || !get_fd(env, argv[1], "sendFd", "fd", &fd) ||
	    !get_str(env, argv[2], "sendFd", "data", data, sizeof data))
		return NULL;
	for (;;) {
		ssize_t n = fdpass_send(sock, data[0] ? data : "-", data[0] ? strlen(data) : 1, &fd, 1, 0);
		fd_set w;

		if (n >= 0)
			return NULL;
		if (errno != EAGAIN)
			break;
		/* A non-blocking socket (Node's): wait for room. */
		FD_ZERO(&w);
		FD_SET(sock, &w);
		(void)select(sock + 1, NULL, &w, NULL, NULL);
	}
	throw_errno(env, errno, "sendmsg", NULL);
	return NULL;
}

static napi_value get_winsize_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out, v;
	struct winsize ws;
	int fd;

	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "getWinsize", "fd", &fd))
		return NULL;
	if (ioctl(fd, TIOCGWINSZ, &ws) != 0) {
		throw_errno(env, errno, "ioctl(TIOCGWINSZ)", NULL);
		return NULL;
	}
	napi_create_object(env, &out);
	napi_create_int32(env, ws.ws_row, &v);
	napi_set_named_property(env, out, "rows", v);
	napi_create_int32(env, ws.ws_col, &v);
	napi_set_named_property(env, out, "cols", v);
	return out;
}

bool moat_register_vm(napi_env env, napi_value exports)
{
	static const struct napi_export fns[] = {
		{ "openPty", open_pty_js },
		{ "sendFd", send_fd_js },
		{ "getWinsize", get_winsize_js },
	};

	return export_functions(env, exports, fns, sizeof(fns) / sizeof(fns[0]));
}
