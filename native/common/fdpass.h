/*
 * Passing file descriptors over a unix socket (SCM_RIGHTS), written once for every native part:
 * the executor (pty masters, seccomp listeners), the vm agent, the gofer and the addon.
 */
#ifndef MOAT_FDPASS_H
#define MOAT_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* The most fds one message carries here (moat never sends more). */
#define FDPASS_MAX 16

/*
 * One sendmsg of data[0..len) with nfds (<= FDPASS_MAX) fds attached, MSG_NOSIGNAL, retried on
 * EINTR. flags are added (MSG_DONTWAIT). Returns the bytes sent, or -1 with errno.
 */
ssize_t fdpass_send(int sock, const void *data, size_t len, const int *fds, size_t nfds, int flags);

/*
 * One recvmsg into buf[0..len), retried on EINTR. Every fd that came with it is received
 * close-on-exec; the first max go to fds (*nfds of them), the rest are closed, so a peer cannot
 * make us hold more than we asked for. flags are added (MSG_DONTWAIT). Returns the bytes
 * received (0 at end of stream), or -1 with errno.
 */
ssize_t fdpass_recv(int sock, void *buf, size_t len, int *fds, size_t max, size_t *nfds, int flags);

/* fdpass_recv that also reports the message's msg_flags (MSG_TRUNC, MSG_CTRUNC) in *msg_flags. */
ssize_t fdpass_recv_flags(int sock, void *buf, size_t len, int *fds, size_t max, size_t *nfds, int flags, int *msg_flags);

#endif
