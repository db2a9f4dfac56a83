#include "sync.h"

#include "fdpass.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define MSG_GO "go"
#define MSG_READY "ready"
#define MSG_ERROR "error "

int sync_pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

/* MSG_NOSIGNAL: a dead peer is an error to handle, not a SIGPIPE. */
static int send_msg(int fd, const char *msg, size_t len)
{
	ssize_t n;

	do
		n = send(fd, msg, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return (n == (ssize_t)len) ? 0 : -1;
}

static ssize_t recv_msg(int fd, char *buf, size_t cap)
{
	ssize_t n;

	do
		n = recv(fd, buf, cap - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

int sync_send_go(int fd, int tree_fd)
{
	return tree_fd < 0 ? send_msg(fd, MSG_GO, strlen(MSG_GO)) : (fdpass_send(fd, MSG_GO, strlen(MSG_GO), &tree_fd, 1, 0) == (ssize_t)strlen(MSG_GO) ? 0 : -1);
}

int sync_wait_go(int fd, int *tree_fd)
{
	char buf[16];
	ssize_t n;

	size_t nfds = 0;

	*tree_fd = -1;
	n = fdpass_recv(fd, buf, sizeof(buf) - 1, tree_fd, 1, &nfds, 0);
	if (n < 0)
		return -1;
	if (nfds == 0)
		*tree_fd = -1;
	buf[n] = '\0';
	return (n > 0 && strcmp(buf, MSG_GO) == 0) ? 0 : -1;
}

int sync_send_ready(int fd)
{
	return send_msg(fd, MSG_READY, strlen(MSG_READY));
}

int sync_send_error(int fd, const char *text)
{
	char buf[ERR_MAX + 16];
	int n = snprintf(buf, sizeof(buf), MSG_ERROR "%s", text);

	if (n < 0 || (size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	return send_msg(fd, buf, (size_t)n);
}

int sync_wait_ready(int fd, struct err *e)
{
	char buf[ERR_MAX + 16];
	ssize_t n = recv_msg(fd, buf, sizeof(buf));

	if (n < 0) {
		err_set(e, errno, "sync: waiting for the init");
		return -1;
	}
	if (n == 0) {
		err_set(e, 0, "the init died during set-up");
		return SYNC_EOF;
	}
	if (strcmp(buf, MSG_READY) == 0)
		return 0;
	if (strncmp(buf, MSG_ERROR, strlen(MSG_ERROR)) == 0)
		err_set(e, 0, "%s", buf + strlen(MSG_ERROR));
	else
		err_set(e, 0, "sync: unexpected message from the init");
	return -1;
}
