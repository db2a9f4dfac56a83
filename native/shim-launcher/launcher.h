// containerd-shim-moat-v2, the program containerd runs (docs/shim.md "Start-up"): `start` and
// `delete` after a normal end are done here, with no Node start-up; everything else (the server,
// `delete` of a container whose state is still there, -v, anything unexpected) is the Node shim
// (build/shim.js), exec'd with the same arguments.
#ifndef MOAT_SHIM_LAUNCHER_H
#define MOAT_SHIM_LAUNCHER_H
#include <stddef.h>

#define SHIM_NAME "containerd-shim-moat-v2"
#define SOCKET_DIR "/run/containerd/s"
#define STATE_DIR "/run/moat-shim"

/** The command line containerd 1.6 gives (src/shim/flags.ts), as far as start and delete need it. */
struct shim_flags {
  const char *namespace_; // -namespace, else $NAMESPACE
  const char *address;    // -address, else $GRPC_ADDRESS
  const char *publish_binary;
  const char *id;
  const char *bundle; // NULL: the working directory
  int debug;
  const char *action;
};

/** Replace this process by the Node shim with the original arguments (never returns). */
_Noreturn void exec_node_shim(void);

/** The Node shim's loader (build/shim.js beside build/native/). */
const char *shim_js(void);

/** `start`: returns the exit status. */
int shim_start(const struct shim_flags *f);

/** `delete` after a normal end: 0 when done here, -1 when the Node shim must do it. */
int shim_delete_fast(const struct shim_flags *f);

/** Whether a server listens on the unix socket (src/shim/alive.ts). */
int socket_alive(const char *path);

/** Write all of buf to fd (a non-blocking pipe waited for); -1 on error. */
int write_all(int fd, const void *buf, size_t len);

/** "containerd-shim-moat-v2: <message>\n" on stderr. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** MOAT_PROFILE=1 with MOAT_PROFILE_FILE: a mark (wall and CPU since the start), written at exit. */
void profile_mark(const char *name);
void profile_flush(const char *action);

#endif
