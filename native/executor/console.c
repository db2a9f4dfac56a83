/* A terminal for the container process: a pty from the container's own devpts, master sent out. */
#include "child_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "fdpass.h"
#include "util.h"

/* One fd and the pty's name, as runc sends it (containerd and Docker read only the fd). */
static int send_master(int sock, int master, const char *name)
{
	return fdpass_send(sock, name, strlen(name), &master, 1, 0) < 0 ? -1 : 0;
}

/*
 * console-setup fd rows cols uid gid: open /dev/ptmx of the current root (the container's devpts,
 * after the pivot or the mount-namespace join), open the peer without a path lookup
 * (TIOCGPTPEER), give it to uid:gid, send the master over the connected unix socket `fd`, and
 * make the peer the controlling terminal and stdio of this process.
 */
int op_console_setup(struct child *c, const struct plan_op *op, struct err *e)
{
	int sock = (int)op->a[0].u;
	struct winsize ws = { .ws_row = (unsigned short)op->a[1].u, .ws_col = (unsigned short)op->a[2].u };
	int unlock = 0, master, peer = -1;
	unsigned int ptn = 0;
	char name[32];

	(void)c;
	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0) {
		err_set(e, errno, "console-setup: open /dev/ptmx");
		return -1;
	}
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &ptn) < 0 ||
	    ((ws.ws_row || ws.ws_col) && ioctl(master, TIOCSWINSZ, &ws) < 0)) {
		err_set(e, errno, "console-setup: pty ioctl");
		goto fail;
	}
	peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (peer < 0) {
		err_set(e, errno, "console-setup: open pty peer");
		goto fail;
	}
	if (op->a[3].u != PLAN_NUM_NONE &&
	    fchown(peer, (uid_t)op->a[3].u, op->a[4].u == PLAN_NUM_NONE ? (gid_t)-1 : (gid_t)op->a[4].u) < 0) {
		err_set(e, errno, "console-setup: chown /dev/pts/%u", ptn);
		goto fail;
	}
	snprintf(name, sizeof(name), "/dev/pts/%u", ptn);
	if (send_master(sock, master, name) < 0) {
		err_set(e, errno, "console-setup: send the pty master over the console socket");
		goto fail;
	}
	close(master);
	close(sock);
	if (ioctl(peer, TIOCSCTTY, 0) < 0) {
		err_set(e, errno, "console-setup: make %s the controlling terminal", name);
		close(peer);
		return -1;
	}
	for (int fd = 0; fd < 3; fd++) {
		if (dup2(peer, fd) < 0) {
			err_set(e, errno, "console-setup: dup2 %s to fd %d", name, fd);
			close(peer);
			return -1;
		}
	}
	if (peer > 2)
		close(peer);
	return 0;
fail:
	if (peer >= 0)
		close(peer);
	close(master);
	return -1;
}
