/* Small fd helpers shared by P and C. */
#ifndef MOAT_UTIL_H
#define MOAT_UTIL_H

#include <stddef.h>

/* Write all of buf, retrying on EINTR and short writes. 0, or -1 with errno. */
int write_all(int fd, const void *buf, size_t len);

/* Open path (no O_CREAT) O_WRONLY|O_CLOEXEC and write all of data. 0, or -1 with errno. */
int write_file(const char *path, const char *data);

/* "/proc/self/fd/<fd>": how mount(2), which takes no dirfd, reaches an fd we resolved safely. */
struct fdpath {
	char s[32];
};
const char *fdpath(struct fdpath *p, int fd);

/* close() that keeps errno and accepts -1; sets *fd to -1. */
void close_fd(int *fd);

#endif
