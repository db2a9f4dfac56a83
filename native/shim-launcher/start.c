// `start`, run by containerd for each new container (src/shim/start.ts did it in Node): group the
// container by its pod (config.json's io.kubernetes.cri.sandbox-id, else its id), name the pod's
// server socket as src/shim/address.ts does, use the server listening there or fork it (the Node
// shim's `serve`, exec'd directly in a session of its own) and wait until it says it listens, write
// the address into the bundle and print it.
#include "config.h"
#include "launcher.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/** The pipe on which the server says `ready` (or `busy`) once it listens (src/shim/actions.ts). */
#define READY_FD 3

/** sha256("moat\0<address>\0<namespace>\0<group>") under SOCKET_DIR, as address.ts socketPath. */
static int socket_path(const struct shim_flags *f, const char *group, char out[PATH_MAX]) {
  size_t a = strlen(f->address), n = strlen(f->namespace_), g = strlen(group);
  size_t len = 5 + a + 1 + n + 1 + g;
  char *in = malloc(len);
  if (!in) return -1;
  memcpy(in, "moat\0", 5);
  memcpy(in + 5, f->address, a);
  in[5 + a] = '\0';
  memcpy(in + 6 + a, f->namespace_, n);
  in[6 + a + n] = '\0';
  memcpy(in + 7 + a + n, group, g);
  char hex[65];
  sha256_hex(in, len, hex);
  free(in);
  snprintf(out, PATH_MAX, "%s/%s", SOCKET_DIR, hex);
  return 0;
}

/**
 * Where the server's log goes: MOAT_SHIM_LOG (a file, appended), else with -debug containerd's log
 * FIFO in the first bundle, else /dev/null. -1 with errno when it cannot be opened.
 */
static int server_log(const struct shim_flags *f) {
  const char *file = getenv("MOAT_SHIM_LOG");
  if (file && file[0] == '/') return open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  struct stat st;
  if (f->debug && stat("log", &st) == 0) return open("log", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  return open("/dev/null", O_RDWR | O_CLOEXEC);
}

/** In the child: the server's stdio and ready pipe, its own session, then Node. Never returns. */
static _Noreturn void exec_server(const struct shim_flags *f, const char *socket, int log, int devnull, int ready) {
  if (setsid() < 0 || chdir("/") < 0 || dup2(devnull, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0 || dup2(ready, READY_FD) < 0) {
    dprintf(ready, "cannot set up its process: %s\n", strerror(errno));
    _exit(127);
  }
  // Nothing else of containerd's or ours reaches the server (Go marks its fds close-on-exec; this
  // makes sure of it).
  if (syscall(SYS_close_range, READY_FD + 1, ~0U, 0) < 0)
    for (int fd = READY_FD + 1; fd < 1024; fd++) close(fd);
  // Signals as a new process has them (Node's spawn does the same): none blocked, none ignored.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  const char *args[32];
  int n = 0;
  args[n++] = "node";
  // MOAT_SHIM_NODE_FLAGS: Node flags for the server (--cpu-prof and the like, which NODE_OPTIONS
  // refuses; the Node start passed its own on). Up to 8, each `--…`, split at spaces.
  char *flags = getenv("MOAT_SHIM_NODE_FLAGS");
  for (char *save, *tok = flags ? strtok_r(flags, " ", &save) : NULL; tok && n < 9; tok = strtok_r(NULL, " ", &save))
    if (strncmp(tok, "--", 2) == 0) args[n++] = tok;
  args[n++] = shim_js();
  args[n++] = "-namespace", args[n++] = f->namespace_;
  args[n++] = "-address", args[n++] = f->address;
  args[n++] = "-publish-binary", args[n++] = f->publish_binary;
  args[n++] = "-id", args[n++] = f->id;
  args[n++] = "-socket", args[n++] = socket;
  if (f->debug) args[n++] = "-debug";
  args[n++] = "serve";
  args[n] = NULL;
  execvp("node", (char *const *)args);
  dprintf(READY_FD, "cannot run node: %s\n", strerror(errno));
  _exit(127);
}

/** Fork the server; 1 when it listens, 0 when it found the socket taken (`busy`), -1 on failure. */
static int fork_server(const struct shim_flags *f, const char *socket) {
  int log = server_log(f);
  if (log < 0) {
    say("the server's log: %s", strerror(errno));
    return -1;
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int p[2];
  if (devnull < 0 || pipe2(p, O_CLOEXEC) < 0) {
    say("cannot fork the server: %s", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    say("cannot fork the server: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) exec_server(f, socket, log, devnull, p[1]);
  close(p[1]);
  close(log);
  close(devnull);
  // Its report, up to the pipe's end (the server closes it once it listens, or exits).
  char said[512];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(p[0], said + n, sizeof said - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
    if (n == sizeof said - 1) break;
  }
  close(p[0]);
  said[n] = '\0';
  char *s = said, *e = said + n;
  while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r')) *--e = '\0';
  // Not waited for: it lives on in its own session (containerd, a subreaper, or init reaps it).
  if (strcmp(s, "ready") == 0) return 1;
  if (strcmp(s, "busy") == 0) return 0;
  say("the server did not start: %s", *s ? s : "it exited");
  return -1;
}

static int alive_within(const char *socket, int ms) {
  for (int waited = 0; waited < ms; waited += 50) {
    if (socket_alive(socket)) return 1;
    struct timespec t = {.tv_nsec = 50 * 1000 * 1000};
    nanosleep(&t, NULL);
  }
  return 0;
}

int shim_start(const struct shim_flags *f) {
  char err[PATH_MAX + 256];
  unsigned char *spec;
  size_t len;
  // The bundle is the working directory (containerd starts `start` there).
  if (config_read("config.json", &spec, &len, err, sizeof err) < 0) {
    say("%s", err);
    return 1;
  }
  char sandbox[SANDBOX_ID_MAX + 1];
  int bad = config_sandbox_id(spec, len, sandbox, err, sizeof err);
  free(spec);
  if (bad) {
    char cwd[PATH_MAX];
    say("%s/config.json: %s", getcwd(cwd, sizeof cwd) ? cwd : ".", err);
    return 1;
  }
  char socket[PATH_MAX];
  if (socket_path(f, sandbox[0] ? sandbox : f->id, socket) < 0) {
    say("out of memory");
    return 1;
  }
  profile_mark("config read");
  int up = socket_alive(socket);
  profile_mark(up ? "server found" : "no server");
  if (!up) {
    unlink(socket); // a dead server's (SIGKILLed): nothing answers there
    // Two containers of a pod started at once: the second server finds the socket taken and says
    // so; this start then uses the first one's.
    int r = fork_server(f, socket);
    if (r < 0) return 1;
    if (r == 0 && !alive_within(socket, 5000)) {
      say("%s is taken but no server answers there", socket);
      return 1;
    }
    profile_mark("server forked, ready");
  }
  char address[PATH_MAX + 8];
  int alen = snprintf(address, sizeof address, "unix://%s", socket);
  int fd = open("address", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0 || write_all(fd, address, (size_t)alen) < 0) {
    say("address: cannot write: %s", strerror(errno));
    if (fd >= 0) close(fd);
    return 1;
  }
  close(fd);
  if (write_all(1, address, (size_t)alen) < 0) return 1;
  profile_mark("answered");
  return 0;
}
