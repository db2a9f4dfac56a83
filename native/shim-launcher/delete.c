// `delete` after a normal end (src/shim/delete.ts): containerd runs it after every container, once
// the server has deleted everything. When the container's state record is gone and nothing is
// mounted on <bundle>/rootfs, what is left is a look at the server's socket, the namespace's state
// directory, and the three-field DeleteResponse — done here. Anything else (a record to clean up
// with moat's runtime, a rootfs still mounted, an odd id) is the Node shim's `delete`.
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/** path.resolve(p) of Node: absolute against the working directory, `.`, `..` and `//` folded. */
static int resolve(const char *p, char out[PATH_MAX]) {
  char joined[2 * PATH_MAX];
  if (p[0] == '/') {
    if (strlen(p) >= sizeof joined) return -1;
    strcpy(joined, p);
  } else {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd) || snprintf(joined, sizeof joined, "%s/%s", cwd, p) >= (int)sizeof joined) return -1;
  }
  size_t n = 0;
  for (char *save, *part = strtok_r(joined, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
    if (strcmp(part, ".") == 0) continue;
    if (strcmp(part, "..") == 0) {
      while (n > 0 && out[n - 1] != '/') n--;
      if (n > 0) n--;
      continue;
    }
    size_t l = strlen(part);
    if (n + 1 + l >= PATH_MAX) return -1;
    out[n++] = '/';
    memcpy(out + n, part, l);
    n += l;
  }
  if (n == 0) out[n++] = '/';
  out[n] = '\0';
  return 0;
}

/** A mountinfo field with the kernel's octal escapes (\040 and the like) undone, in place. */
static void unescape(char *s) {
  char *w = s;
  for (char *r = s; *r;) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
      r += 4;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/** 1 if something is mounted on target in this mount namespace, 0 if not, -1 if mountinfo is unreadable. */
static int mounted(const char *target) {
  FILE *m = fopen("/proc/self/mountinfo", "re");
  if (!m) return -1;
  char *line = NULL;
  size_t cap = 0;
  int found = 0;
  while (!found && getline(&line, &cap, m) > 0) {
    // id parent maj:min root mountpoint ...
    char *save, *field = strtok_r(line, " ", &save);
    for (int i = 0; field && i < 4; i++) field = strtok_r(NULL, " ", &save);
    if (!field) continue;
    unescape(field);
    found = strcmp(field, target) == 0;
  }
  free(line);
  fclose(m);
  return found;
}

/** The server's socket named by <bundle>/address (address.ts readAddressFile), or 0 if none. */
static int address_socket(const char *bundle, char out[PATH_MAX]) {
  char file[PATH_MAX + 16], text[PATH_MAX + 16];
  if (snprintf(file, sizeof file, "%s/address", bundle) >= (int)sizeof file) return 0;
  int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return 0;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  char *s = text, *e = text + n;
  while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r')) *--e = '\0';
  if (strncmp(s, "unix://", 7) == 0) s += 7;
  if (strncmp(s, SOCKET_DIR "/", sizeof SOCKET_DIR) != 0 || strstr(s, "..") || strlen(s) >= PATH_MAX) return 0;
  strcpy(out, s);
  return 1;
}

static size_t varint(unsigned char *out, uint64_t v) {
  size_t n = 0;
  for (; v >= 0x80; v >>= 7) out[n++] = (unsigned char)(v & 0x7f) | 0x80;
  out[n++] = (unsigned char)v;
  return n;
}

/**
 * containerd.task.v2.DeleteResponse{pid, exit_status, exited_at{seconds, nanos}} byte for byte as
 * delete.ts deleteResponse writes it (every field present, the time in milliseconds).
 */
static size_t delete_response(unsigned char out[64], uint32_t pid, uint32_t status, int64_t ms) {
  unsigned char ts[32];
  size_t t = 0, n = 0;
  ts[t++] = 0x08;
  t += varint(ts + t, (uint64_t)(ms / 1000));
  ts[t++] = 0x10;
  t += varint(ts + t, (uint64_t)(ms % 1000) * 1000000u);
  out[n++] = 0x08;
  n += varint(out + n, pid);
  out[n++] = 0x10;
  n += varint(out + n, status);
  out[n++] = 0x1a;
  out[n++] = (unsigned char)t;
  memcpy(out + n, ts, t);
  return n + t;
}

int shim_delete_fast(const struct shim_flags *f) {
  const char *id = f->id;
  // An id that is no plain name goes to the Node shim (the store refuses it by name).
  if (!*id || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0) return -1;
  char root[PATH_MAX], record[PATH_MAX];
  snprintf(root, sizeof root, "%s/%s", STATE_DIR, f->namespace_);
  if (snprintf(record, sizeof record, "%s/%s", root, id) >= (int)sizeof record) return -1;
  struct stat st;
  if (stat(record, &st) == 0 || errno != ENOENT) return -1; // a record to clean up (or a question)
  char bundle[PATH_MAX], rootfs[PATH_MAX + 8];
  if (resolve(f->bundle ? f->bundle : ".", bundle) < 0) return -1;
  snprintf(rootfs, sizeof rootfs, "%s%srootfs", bundle, strcmp(bundle, "/") == 0 ? "" : "/");
  if (mounted(rootfs) != 0) return -1; // the Node shim unmounts it
  profile_mark("state looked at");
  char socket[PATH_MAX];
  if (address_socket(bundle, socket) && !socket_alive(socket)) unlink(socket);
  // The namespace's state root and /run/moat-shim, when no container is left in them.
  if (rmdir(root) == 0) rmdir(STATE_DIR);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  unsigned char out[64];
  size_t n = delete_response(out, 0, 137, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
  if (write_all(1, out, n) < 0) {
    say("writing the DeleteResponse: %s", strerror(errno));
    exit(1);
  }
  profile_mark("answered");
  return 0;
}
