/*
 * writewait [MS]: a wait for writability alone on a TCP socket whose send buffer is full and which
 * has unread input (docs/sentry.md, Networking). The peer starts reading after MS ms (default 1000);
 * then, not before, the poll for POLLOUT ends. Under the sentry the wait must be one park, not a
 * wake-up at every look at the host socket (its unread input is no reason to look again): the test
 * (net.test.ts) counts the parks in --strace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int ms = argc > 1 ? atoi(argv[1]) : 1000;
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  int l = socket(AF_INET, SOCK_STREAM, 0), small = 4096;
  if (bind(l, (void *)&a, sizeof a) || listen(l, 1) || getsockname(l, (void *)&a, &len)) { perror("listen"); return 1; }
  int c = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  if (connect(c, (void *)&a, sizeof a)) { perror("connect"); return 1; }
  int s = accept(l, NULL, NULL);
  setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  if (write(s, "x", 1) != 1) { perror("write"); return 1; }
  fcntl(c, F_SETFL, O_NONBLOCK);
  char buf[4096];
  memset(buf, 'y', sizeof buf);
  long total = 0;
  for (;;) {
    ssize_t n = write(c, buf, sizeof buf);
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) { perror("fill"); return 1; }
    total += n;
  }
  struct pollfd p = { .fd = c, .events = POLLIN };
  printf("unread input: %d\n", poll(&p, 1, 0) == 1 && (p.revents & POLLIN) ? 1 : 0);
  if (fork() == 0) {
    /* The peer reads after a while: then (not before) the writer's wait ends. */
    char sink[65536];
    usleep(ms * 1000);
    while (total > 0) {
      ssize_t n = read(s, sink, sizeof sink);
      if (n <= 0) break;
      total -= n;
    }
    _exit(0);
  }
  p.events = POLLOUT;
  p.revents = 0;
  int r = poll(&p, 1, 30000);
  printf("poll POLLOUT on a full socket: %d revents %d\n", r, p.revents);
  return 0;
}
