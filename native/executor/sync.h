/*
 * P <-> C handshake over a SOCK_SEQPACKET socketpair (one message per send, no framing needed):
 *   P -> C  "go"              after P's after-clone ops (id maps written, ...), with the
 *                             `idmap-tree` fd, if any, as SCM_RIGHTS
 *   C -> P  "ready"           set-up done; P reports `pid`
 *   C -> P  "error <text>"    set-up failed; P kills and reaps C and reports the text
 * EOF on either side means the peer died.
 */
#ifndef MOAT_SYNC_H
#define MOAT_SYNC_H

#include "report.h"

int sync_pair(int sv[2]);
/* tree_fd: an fd to pass along, or -1. */
int sync_send_go(int fd, int tree_fd);
/* C: 0 once "go" arrives, -1 if P went away. *tree_fd: the fd P passed, or -1. */
int sync_wait_go(int fd, int *tree_fd);
int sync_send_ready(int fd);
int sync_send_error(int fd, const char *text);
/* P: 0 on "ready"; SYNC_EOF if C died without a word; -1 with e set to C's error text or why
 * no message came. */
#define SYNC_EOF (-2)
int sync_wait_ready(int fd, struct err *e);

#endif
