/*
 * Paths inside the container's root. Every lookup goes through openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS) on the rootfs fd, so a symlink in the image (or one swapped in while we
 * work) resolves inside the rootfs and never on the host. Missing components are created one at a
 * time with mkdirat on the parent's fd, never by path string.
 *
 * All functions return an O_PATH|O_CLOEXEC fd, or -1 with errno set.
 */
#ifndef MOAT_INROOT_H
#define MOAT_INROOT_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "plan.h"

/* Thin openat2 wrapper: flags get O_CLOEXEC added; retries the kernel's EAGAIN for rename races. */
int openat2_fd(int dirfd, const char *path, uint64_t flags, uint64_t resolve);

/* Resolve path (must exist). extra_flags is or-ed to O_PATH (e.g. O_DIRECTORY). */
int inroot_open(int rootfd, const char *path, int extra_flags);

/* mkdir -p. New directories get 0755, the last one gets `mode` (both through the umask). */
int inroot_mkdir_all(int rootfd, const char *path, mode_t mode);

/* Create path's parent directories; return the parent's fd and copy the last component to base.
 * A path with no usable last component ("/", "x/..") fails with EINVAL. */
int inroot_parent(int rootfd, const char *path, char base[NAME_MAX + 1]);

/* Resolve path; if missing, create it as a directory or an empty file (0644), or fail. */
int inroot_open_create(int rootfd, const char *path, enum create_kind create);

#endif
