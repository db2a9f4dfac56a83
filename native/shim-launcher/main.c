// containerd-shim-moat-v2: the flags as src/shim/flags.ts reads them (`-flag value`, `--flag value`,
// `-flag=value`, `--` ending them), then `start` or `delete` here, or the Node shim for the rest.
// Whatever this parser does not accept goes to the Node shim unchanged, whose errors are the
// shim's errors: this program only ever takes the common paths, never changes an answer.
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char **orig_argv;
static int orig_argc;

const char *shim_js(void) {
  static char path[PATH_MAX];
  if (path[0]) return path;
  // /proc/self/exe is this binary with every symlink resolved (bin/containerd-shim-moat-v2 and
  // /usr/local/bin/containerd-shim-moat-v2 link to build/native/containerd-shim-moat-v2).
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    say("cannot find itself: /proc/self/exe: %s", strerror(errno));
    exit(1);
  }
  exe[n] = '\0';
  char *slash = strrchr(exe, '/'); // build/native/<this>
  if (slash) *slash = '\0';
  slash = strrchr(exe, '/');
  if (slash) *slash = '\0';
  if (strlen(exe) + sizeof "/shim.js" > sizeof path) {
    say("%s: path too long", exe);
    exit(1);
  }
  strcpy(path, exe);
  strcat(path, "/shim.js");
  return path;
}

_Noreturn void exec_node_shim(void) {
  char **args = calloc((size_t)orig_argc + 2, sizeof *args);
  if (!args) {
    say("out of memory");
    exit(1);
  }
  args[0] = "node";
  args[1] = (char *)shim_js();
  for (int i = 1; i < orig_argc; i++) args[i + 1] = orig_argv[i];
  execvp("node", args);
  say("cannot run node: %s", strerror(errno));
  exit(127);
}

static int namespace_ok(const char *ns) {
  // ^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$, as flags.ts checks it.
  size_t n = strlen(ns);
  if (n < 1 || n > 76) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = ns[i];
    int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return 0;
  }
  return 1;
}

/** 0 with f filled, -1 when the Node shim must see this command line. */
static int parse(int argc, char **argv, struct shim_flags *f) {
  const char *positional = NULL;
  int positionals = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--") == 0) {
      positionals += argc - i - 1;
      if (i + 1 < argc && !positional) positional = argv[i + 1];
      break;
    }
    if (arg[0] != '-' || strcmp(arg, "-") == 0) {
      if (!positional) positional = arg;
      positionals++;
      continue;
    }
    const char *body = arg + (arg[1] == '-' ? 2 : 1);
    const char *eq = strchr(body, '=');
    size_t len = eq ? (size_t)(eq - body) : strlen(body);
#define IS(name) (len == strlen(name) && strncmp(body, name, len) == 0)
    if (IS("debug")) {
      if (eq && strcmp(eq + 1, "true") != 0 && strcmp(eq + 1, "false") != 0) return -1;
      f->debug = !eq || strcmp(eq + 1, "true") == 0;
      continue;
    }
    const char **slot = IS("namespace") ? &f->namespace_ : IS("address") ? &f->address : IS("publish-binary") ? &f->publish_binary : IS("id") ? &f->id : IS("bundle") ? &f->bundle : NULL;
#undef IS
    if (!slot) return -1; // -v, -socket (the server's), an unknown flag: the Node shim's
    if (eq) {
      *slot = eq + 1;
    } else {
      if (i + 1 >= argc) return -1;
      *slot = argv[++i];
    }
  }
  if (positionals != 1) return -1;
  f->action = positional;
  if (!f->namespace_) f->namespace_ = getenv("NAMESPACE");
  if (!f->namespace_ || !namespace_ok(f->namespace_)) return -1;
  if (!f->address) f->address = getenv("GRPC_ADDRESS");
  if (!f->address) f->address = "";
  if (!f->publish_binary) f->publish_binary = "";
  if (!f->id) f->id = "";
  return 0;
}

int main(int argc, char **argv) {
  orig_argc = argc, orig_argv = argv;
  profile_mark("main");
  // fds 0-2 open whatever the caller left: the server's stdio and ready pipe are set up by number.
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) return 1;
  unsetenv("NODE_EXTRA_CA_CERTS"); // as bin/moat: Node reads it at each start
  const char *how = getenv("MOAT_SHIM_LAUNCHER");
  struct shim_flags f = {0};
  // MOAT_SHIM_LAUNCHER=node: start and delete in Node too, as before this program (to compare).
  if ((how && strcmp(how, "node") == 0) || parse(argc, argv, &f) < 0) exec_node_shim();
  if (strcmp(f.action, "start") == 0) {
    int status = shim_start(&f);
    profile_flush("start");
    return status;
  }
  if (strcmp(f.action, "delete") == 0 && shim_delete_fast(&f) == 0) {
    profile_flush("delete");
    return 0;
  }
  exec_node_shim();
}
