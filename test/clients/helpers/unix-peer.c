/* A unix socket at a path, for tests of containers that share a volume (cri.test.ts):
 *   unix-peer listen PATH    bind and listen at PATH, answer each connection with "unix-ok\n"
 *   unix-peer connect PATH   connect to PATH, copy what comes to stdout; exit 0 on "unix-ok"
 * Built static with gcc by the test, run from the shared volume by both containers. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3 || strlen(argv[2]) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    fprintf(stderr, "usage: unix-peer listen|connect PATH\n");
    return 2;
  }
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strcpy(a.sun_path, argv[2]);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0) return perror("socket"), 1;
  if (strcmp(argv[1], "listen") == 0) {
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0) return perror(argv[2]), 1;
    for (;;) {
      int c = accept(s, 0, 0);
      if (c < 0) return perror("accept"), 1;
      if (write(c, "unix-ok\n", 8) != 8) perror("write");
      close(c);
    }
  }
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) return perror(argv[2]), 1;
  char buf[64];
  ssize_t n = read(s, buf, sizeof buf - 1);
  if (n <= 0) return perror("read"), 1;
  buf[n] = 0;
  fputs(buf, stdout);
  return strcmp(buf, "unix-ok\n") == 0 ? 0 : 1;
}
