// What start and delete share: the liveness probe of a server's socket, writing a whole answer,
// messages, profile marks.
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int socket_alive(const char *path) {
  // As src/shim/alive.ts: no file, or a refused connection (a SIGKILLed server's socket), is dead;
  // a server slow to accept on a loaded host is still the pod's (replacing it would orphan it).
  struct stat st;
  if (stat(path, &st) < 0) return 0;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) return 0;
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 1; // cannot tell: do not replace it
  struct timeval tv = {.tv_sec = 10}; // a full backlog: connect waits at most this long
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int r, e;
  do {
    r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    e = errno;
  } while (r < 0 && e == EINTR);
  close(fd);
  return r == 0 || !(e == ECONNREFUSED || e == ENOENT);
}

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd pf = {.fd = fd, .events = POLLOUT};
      poll(&pf, 1, 1000);
      continue;
    }
    if (n < 0) return -1;
    p += n, len -= (size_t)n;
  }
  return 0;
}

void say(const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dprintf(2, "%s: %s\n", SHIM_NAME, msg);
}

// Profile marks: only when MOAT_PROFILE=1 and MOAT_PROFILE_FILE names a file (containerd reads
// start's stderr as its answer, so never there). Wall time counts from the first mark (main's
// start, a few hundred µs after the exec); CPU time is the process's own.
static struct {
  const char *name;
  double wall, cpu;
} marks[16];
static int nmarks = -1;
static struct timespec origin;

static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

void profile_mark(const char *name) {
  if (nmarks < 0) {
    const char *p = getenv("MOAT_PROFILE"), *f = getenv("MOAT_PROFILE_FILE");
    if (!p || strcmp(p, "1") != 0 || !f || !*f) return;
    clock_gettime(CLOCK_MONOTONIC, &origin);
    nmarks = 0;
  }
  if (nmarks >= (int)(sizeof marks / sizeof marks[0])) return;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  marks[nmarks].name = name;
  marks[nmarks].wall = (now.tv_sec - origin.tv_sec) * 1e3 + (now.tv_nsec - origin.tv_nsec) / 1e6;
  marks[nmarks].cpu = cpu_ms();
  nmarks++;
}

void profile_flush(const char *action) {
  if (nmarks <= 0) return;
  int fd = open(getenv("MOAT_PROFILE_FILE"), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  dprintf(fd, "shim %s %d: native launcher; mark  wall-ms (+delta)  cpu-ms (+delta)\n", action, (int)getpid());
  double pw = 0, pc = 0;
  for (int i = 0; i < nmarks; i++) {
    dprintf(fd, "shim %s %d: %-22s %7.1f (+%.1f)  %7.1f (+%.1f)\n", action, (int)getpid(), marks[i].name, marks[i].wall, marks[i].wall - pw, marks[i].cpu, marks[i].cpu - pc);
    pw = marks[i].wall, pc = marks[i].cpu;
  }
  close(fd);
  nmarks = 0;
}
