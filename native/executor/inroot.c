#include "inroot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "util.h"

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
/* For a name we just created in a known parent: it must be exactly that, not a symlink. */
#define JUST_MADE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

int openat2_fd(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how how = { .flags = flags | O_CLOEXEC, .resolve = resolve };

	/* RESOLVE_IN_ROOT/BENEATH return EAGAIN when a concurrent rename may have moved "..". */
	for (int tries = 0; tries < 32; tries++) {
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN && errno != EINTR)
			break;
	}
	return -1;
}

int inroot_open(int rootfd, const char *path, int extra_flags)
{
	return openat2_fd(rootfd, path, (uint64_t)(O_PATH | extra_flags), IN_ROOT);
}

/* Next non-empty component after *p: returns its length (0 at the end), start in *start. */
static size_t next_component(const char **p, const char **start)
{
	const char *s = *p;

	while (*s == '/')
		s++;
	*start = s;
	while (*s && *s != '/')
		s++;
	*p = s;
	return (size_t)(s - *start);
}

static bool only_slashes(const char *s)
{
	return s[strspn(s, "/")] == '\0';
}

/*
 * One step of mkdir -p: resolve the whole prefix from the root (so symlinks mean what they mean
 * to the container); only if it is missing, create `name` in the already-resolved parent.
 */
static int mkdir_step(int rootfd, int dirfd, const char *prefix, const char *name, mode_t mode)
{
	int fd = openat2_fd(rootfd, prefix, O_PATH | O_DIRECTORY, IN_ROOT);

	if (fd >= 0 || errno != ENOENT)
		return fd;
	/* EEXIST here means a dangling symlink (or a race): JUST_MADE refuses anything but a dir. */
	if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		return -1;
	return openat2_fd(dirfd, name, O_PATH | O_DIRECTORY, JUST_MADE);
}

int inroot_mkdir_all(int rootfd, const char *path, mode_t mode)
{
	char prefix[PATH_MAX], name[NAME_MAX + 1];
	const char *p = path, *c;
	size_t plen = 0, clen;
	int dirfd = openat2_fd(rootfd, ".", O_PATH | O_DIRECTORY, IN_ROOT);

	while (dirfd >= 0 && (clen = next_component(&p, &c)) > 0) {
		int fd;

		if (clen > NAME_MAX || plen + clen + 2 > sizeof(prefix)) {
			close_fd(&dirfd);
			errno = ENAMETOOLONG;
			return -1;
		}
		prefix[plen++] = '/';
		memcpy(prefix + plen, c, clen);
		plen += clen;
		prefix[plen] = '\0';
		memcpy(name, c, clen);
		name[clen] = '\0';
		fd = mkdir_step(rootfd, dirfd, prefix, name, only_slashes(p) ? mode : 0755);
		close_fd(&dirfd);
		dirfd = fd;
	}
	return dirfd;
}

int inroot_parent(int rootfd, const char *path, char base[NAME_MAX + 1])
{
	char parent[PATH_MAX];
	size_t end = strlen(path), start;

	while (end > 0 && path[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (end - start > NAME_MAX || start >= sizeof(parent)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(base, path + start, end - start);
	base[end - start] = '\0';
	if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		errno = EINVAL;
		return -1;
	}
	memcpy(parent, path, start);
	parent[start] = '\0';
	return inroot_mkdir_all(rootfd, parent, 0755);
}

static int create_file(int rootfd, const char *path)
{
	char base[NAME_MAX + 1];
	int parent = inroot_parent(rootfd, path, base), fd;

	if (parent < 0)
		return -1;
	/* O_EXCL never follows a symlink; if one is there, JUST_MADE below rejects it. */
	fd = openat(parent, base, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno != EEXIST) {
		close_fd(&parent);
		return -1;
	}
	close_fd(&fd);
	fd = openat2_fd(parent, base, O_PATH, JUST_MADE);
	close_fd(&parent);
	return fd;
}

int inroot_open_create(int rootfd, const char *path, enum create_kind create)
{
	int fd = inroot_open(rootfd, path, 0);

	if (fd >= 0 || errno != ENOENT || create == CREATE_NONE)
		return fd;
	if (create == CREATE_DIR)
		return inroot_mkdir_all(rootfd, path, 0755);
	return create_file(rootfd, path);
}
