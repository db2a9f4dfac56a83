/*
 * The request handlers. Every request is hostile: its length must be exactly what the op's layout
 * says, reserved fields zero, handles live, names one plain component. Nothing here follows a
 * symlink or resolves more than one component. Only a tree the launcher made read-write (-w) is
 * ever changed (CREATE, MKDIR, SYMLINK, UNLINK, RENAME, SETATTR, OPEN for writing); in the others
 * those are EROFS.
 */
#include "gofer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

/* One component, never a symlink (RESOLVE_NO_SYMLINKS still hands back an O_PATH fd of a trailing
 * symlink when O_PATH|O_NOFOLLOW), never out of the directory. No RESOLVE_NO_XDEV: a rootfs may have
 * mounts inside it, and descending into one is the view the operator built (docs/sentry-gofer.md). */
#define ONE_STEP (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
/* 020000000 is O_TMPFILE without its O_DIRECTORY bit (glibc's O_TMPFILE and __O_TMPFILE include it). */
#define WRITE_FLAGS (O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | 020000000)

static unsigned trees;
static const char *const *tree_files;
static const bool *tree_rw;
static bool hello_done;
static bool have_openat2 = true;
static uint8_t dents[32768];

void ops_init(unsigned ntrees, const char *const *files, const bool *rw)
{
	trees = ntrees;
	tree_files = files;
	tree_rw = rw;
}

/* ---- little-endian fields (the host is little-endian: gofer.h) ---- */

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put_time(uint8_t *p, const struct timespec *t)
{
	put64(p, (uint64_t)t->tv_sec);
	put32(p + 8, (uint32_t)t->tv_nsec);
	put32(p + 12, 0);
}

static void put_stat(uint8_t *p, const struct stat *st)
{
	put64(p, st->st_dev);
	put64(p + 8, st->st_ino);
	put32(p + 16, st->st_mode);
	put32(p + 20, st->st_nlink > UINT32_MAX ? UINT32_MAX : (uint32_t)st->st_nlink);
	put32(p + 24, st->st_uid);
	put32(p + 28, st->st_gid);
	put64(p + 32, st->st_rdev);
	put64(p + 40, (uint64_t)st->st_size);
	put64(p + 48, (uint64_t)st->st_blocks);
	put32(p + 56, (uint32_t)st->st_blksize);
	put32(p + 60, 0);
	put_time(p + 64, &st->st_atim);
	put_time(p + 80, &st->st_mtim);
	put_time(p + 96, &st->st_ctim);
}

/* ---- host calls (raw fstat: the seccomp filter allows fstat, not newfstatat with a path) ---- */

static int fstat_fd(int fd, struct stat *st)
{
	return syscall(SYS_fstat, fd, st) < 0 ? errno : 0;
}

/* openat2 one step under dirfd; openat with O_NOFOLLOW where the kernel has no openat2 (< 5.6),
 * which is as strict for one validated component. Returns the fd or -errno. */
static int open_step_mode(int dirfd, const char *name, int flags, mode_t mode)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC), .mode = mode, .resolve = ONE_STEP };
	long fd = -1;

	for (int tries = 0; have_openat2 && tries < 16; tries++) {
		fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno == ENOSYS)
			have_openat2 = false;
		else if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	if (have_openat2)
		return -EAGAIN;
	do
		fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : (int)fd;
}

static int open_step(int dirfd, const char *name, int flags)
{
	return open_step_mode(dirfd, name, flags, 0);
}

/* The directory an O_PATH fd pins, opened for reading: "." of a directory is itself, no race. */
static int reopen_dir(int fd, int extra)
{
	int dfd;

	do
		dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | extra);
	while (dfd < 0 && errno == EINTR);
	return dfd < 0 ? -errno : dfd;
}

/* ---- validation ---- */

static int check_name(const uint8_t *name, size_t len)
{
	if (len == 0)
		return ENOENT;
	if (len > MAX_NAME)
		return ENAMETOOLONG;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return EINVAL;
	if (name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')))
		return EINVAL;
	return 0;
}

int ops_check_name(const char *s)
{
	return check_name((const uint8_t *)s, strlen(s));
}

/* Bodies of "u32 handle, u32 zero": the handle, or NULL with *err set. */
static struct handle *handle_arg(const uint8_t *b, size_t len, int *err)
{
	struct handle *h;

	if (len != 8 || get32(b + 4) != 0) {
		*err = EBADMSG;
		return NULL;
	}
	h = handle_get(get32(b));
	*err = h ? 0 : EBADF;
	return h;
}

/* ---- ops: each returns 0 or an errno, and sets *out to the reply body's length ---- */

static int op_hello(const uint8_t *b, size_t len, uint8_t *r, size_t *out)
{
	if (len != 8 || get32(b + 4) != 0)
		return EBADMSG;
	if (hello_done)
		return EPROTO;
	if (get32(b) != GOFER_VERSION)
		return EPROTONOSUPPORT;
	hello_done = true;
	put32(r, GOFER_VERSION);
	put32(r + 4, trees);
	put32(r + 8, handles_max());
	put32(r + 12, MAX_REP);
	*out = 16;
	return 0;
}

/* Reply body of ATTACH and WALK: the new handle for fd (consumed either way) and its stat. */
static int new_entry(int fd, unsigned tree, struct handle *parent, const uint8_t *name, size_t len,
		     uint8_t *r, size_t *out)
{
	struct stat st;
	uint32_t value;
	int err = fstat_fd(fd, &st);

	/* Only a regular file is ever reopened by name: nothing else needs to pin its parent. */
	if (!err && !S_ISREG(st.st_mode))
		parent = NULL;
	if (!err)
		err = handle_new(fd, &st, tree, parent, (const char *)name, len, &value);
	if (err) {
		close(fd);
		return err;
	}
	put32(r, value);
	put32(r + 4, 0);
	put_stat(r + 8, &st);
	*out = 8 + STAT_SIZE;
	return 0;
}

/* A single-file tree: the file named name in the directory dfd (consumed). The directory gets a
 * handle the sentry never sees (closed at once: it lives on only as the file's parent, for OPEN to
 * reopen the file by name), so nothing but the one file is reachable. Only a regular file. */
static int attach_file(int dfd, unsigned tree, const char *name, uint8_t *r, size_t *out)
{
	struct stat st;
	struct handle *dir;
	uint32_t dv;
	int err = fstat_fd(dfd, &st), fd;

	if (!err)
		err = handle_new(dfd, &st, tree, NULL, NULL, 0, &dv);
	if (err) {
		close(dfd);
		return err;
	}
	dir = handle_get(dv);
	fd = open_step(dir->fd, name, O_PATH);
	err = fd < 0 ? -fd : fstat_fd(fd, &st);
	if (!err && !S_ISREG(st.st_mode))
		err = ESTALE; /* replaced on the host since the launcher looked */
	if (err) {
		if (fd >= 0)
			close(fd);
	} else {
		err = new_entry(fd, tree, dir, (const uint8_t *)name, strlen(name), r, out);
	}
	handle_close(dv);
	return err;
}

static int op_attach(const uint8_t *b, size_t len, uint8_t *r, size_t *out)
{
	uint32_t tree;
	int fd;

	if (len != 8 || get32(b + 4) != 0)
		return EBADMSG;
	tree = get32(b);
	if (tree >= trees)
		return EINVAL;
	do
		fd = openat(FIRST_TREE_FD + (int)tree, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return errno;
	if (!tree_files[tree])
		return new_entry(fd, tree, NULL, NULL, 0, r, out);
	return attach_file(fd, tree, tree_files[tree], r, out);
}

static int op_walk(const uint8_t *b, size_t len, uint8_t *r, size_t *out)
{
	char name[MAX_NAME + 1];
	struct handle *dir;
	size_t nlen;
	int err, fd;

	if (len < 8 || get16(b + 6) != 0)
		return EBADMSG;
	nlen = get16(b + 4);
	if (len != 8 + nlen)
		return EBADMSG;
	dir = handle_get(get32(b));
	if (!dir)
		return EBADF;
	err = check_name(b + 8, nlen);
	if (err)
		return err;
	if (!S_ISDIR(dir->fmt))
		return ENOTDIR;
	memcpy(name, b + 8, nlen);
	name[nlen] = '\0';
	fd = open_step(dir->fd, name, O_PATH);
	if (fd < 0)
		return -fd;
	return new_entry(fd, dir->tree, dir, b + 8, nlen, r, out);
}

static int reopen_file(const struct handle *h, int flags);

/* WALKPATH: component after component, each a WALK of its own (one step, no symlink followed, never
 * out of the directory), in one round trip. Stops after a component that is not a directory (the
 * sentry resolves symlinks and says what a file in the middle of a path is) and at the first
 * failure: its errno comes in the reply's errno when nothing was walked, else in the body. */
static int op_walkpath(const uint8_t *b, size_t len, uint8_t *r, size_t *out, int *fd_out)
{
	const uint8_t *names[WALK_MAX];
	size_t lens[WALK_MAX], plen, n = 0, count = 0;
	struct handle *dir;
	uint16_t flags;
	uint32_t value = 0;
	int err = 0;

	if (len < 8)
		return EBADMSG;
	plen = get16(b + 4);
	flags = get16(b + 6);
	if (len != 8 + plen || flags & ~WALK_OPEN)
		return EBADMSG;
	for (size_t i = 0, start = 0; i <= plen; i++) {
		if (i < plen && b[8 + i] != '/')
			continue;
		if (n == WALK_MAX)
			return EINVAL;
		names[n] = b + 8 + start;
		lens[n] = i - start;
		/* An empty component ("a//b", "/a", "a/") is no name at all; "" alone is ENOENT, as WALK's. */
		err = lens[n] == 0 && plen > 0 ? EINVAL : check_name(names[n], lens[n]);
		if (err)
			return err;
		n++;
		start = i + 1;
	}
	dir = handle_get(get32(b));
	if (!dir)
		return EBADF;
	for (; count < n; count++) {
		char name[MAX_NAME + 1];
		uint8_t *e = r + 8 + count * WALK_ENTRY;
		size_t elen;
		int fd;

		if (!S_ISDIR(dir->fmt)) {
			err = count ? 0 : ENOTDIR;
			break;
		}
		memcpy(name, names[count], lens[count]);
		name[lens[count]] = '\0';
		fd = open_step(dir->fd, name, O_PATH);
		err = fd < 0 ? -fd : new_entry(fd, dir->tree, dir, names[count], lens[count], e, &elen);
		if (err)
			break;
		value = get32(e);
		dir = handle_get(value);
	}
	if (count == 0)
		return err;
	/* Asked to, the last one opened for reading; failing that is no failure of the walk. */
	if (count == n && flags & WALK_OPEN && S_ISREG(dir->fmt)) {
		int fd = reopen_file(dir, 0);

		if (fd >= 0)
			*fd_out = fd;
	}
	put32(r, (uint32_t)count);
	put32(r + 4, (uint32_t)err);
	*out = 8 + count * WALK_ENTRY;
	return 0;
}

static int op_stat(const uint8_t *b, size_t len, uint8_t *r, size_t *out)
{
	struct stat st;
	int err;
	struct handle *h = handle_arg(b, len, &err);

	if (!h)
		return err;
	err = fstat_fd(h->fd, &st);
	if (err)
		return err;
	put_stat(r, &st);
	*out = STAT_SIZE;
	return 0;
}

static int op_readlink(const uint8_t *b, size_t len, uint8_t *r, size_t *out)
{
	ssize_t n;
	int err;
	struct handle *h = handle_arg(b, len, &err);

	if (!h)
		return err;
	if (!S_ISLNK(h->fmt))
		return EINVAL;
	/* readlinkat(fd, "") reads the symlink an O_PATH fd pins (Linux >= 2.6.39). */
	n = readlinkat(h->fd, "", (char *)r + 8, PATH_MAX);
	if (n < 0)
		return errno;
	if (n == PATH_MAX)
		return ENAMETOOLONG;
	put32(r, (uint32_t)n);
	put32(r + 4, 0);
	*out = 8 + (size_t)n;
	return 0;
}

/* Append one getdents64 record to the page; false when it does not fit. Dot entries and names the
 * protocol cannot carry are skipped (the sentry makes its own "." and ".."). */
static bool pack_dirent(const struct dirent64 *d, uint8_t *page, size_t *used, uint32_t *count)
{
	size_t nlen = strlen(d->d_name), size = (DIRENT_HDR + nlen + 7) & ~(size_t)7;

	if (check_name((const uint8_t *)d->d_name, nlen))
		return true;
	if (*used + size > MAX_REP - REP_HDR - 16)
		return false;
	memset(page + *used, 0, size);
	put64(page + *used, d->d_ino);
	page[*used + 8] = d->d_type;
	put16(page + *used + 10, (uint16_t)nlen);
	memcpy(page + *used + DIRENT_HDR, d->d_name, nlen);
	*used += size;
	(*count)++;
	return true;
}

/* Fill one page from dfd's position (cookie): until the page is full or the directory ends. */
static int read_page(int dfd, uint64_t cookie, uint8_t *r, size_t *out)
{
	uint8_t *page = r + 16;
	uint64_t next = cookie;
	uint32_t count = 0, flags = 0;
	size_t used = 0;

	for (;;) {
		long n = syscall(SYS_getdents64, dfd, dents, sizeof(dents));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (count == 0)
				return errno;
			break; /* this page stands; the next request meets the error */
		}
		if (n == 0) {
			flags |= READDIR_END;
			break;
		}
		for (long off = 0; off < n;) {
			const struct dirent64 *d = (const struct dirent64 *)(dents + off);

			if (!pack_dirent(d, page, &used, &count))
				goto full;
			next = (uint64_t)d->d_off;
			off += d->d_reclen;
		}
	}
full:
	put64(r, next);
	put32(r + 8, count);
	put32(r + 12, flags);
	*out = 16 + used;
	return 0;
}

static int op_readdir(const uint8_t *b, size_t len, uint8_t *r, size_t *out)
{
	struct handle *h;
	uint64_t cookie;
	int dfd, err;

	if (len != 16 || get32(b + 4) != 0)
		return EBADMSG;
	h = handle_get(get32(b));
	if (!h)
		return EBADF;
	if (!S_ISDIR(h->fmt))
		return ENOTDIR;
	cookie = get64(b + 8);
	if (cookie > INT64_MAX)
		return EINVAL;
	/* A fresh open per page: nothing to keep per handle, and the cookie alone says where. */
	dfd = reopen_dir(h->fd, 0);
	if (dfd < 0)
		return -dfd;
	err = lseek(dfd, (off_t)cookie, SEEK_SET) < 0 ? errno : 0;
	if (!err)
		err = read_page(dfd, cookie, r, out);
	close(dfd);
	return err;
}

/* A regular file, reopened for reading by its name in the directory it was walked from. The name
 * may have been replaced since: never follow (O_NOFOLLOW, RESOLVE_NO_SYMLINKS), never block or take
 * a terminal (a FIFO or tty swapped in), and hand out only the very inode the handle pins. */
static int reopen_file(const struct handle *h, int flags)
{
	int noatime = flags & O_NOATIME;
	const struct handle *dir = handle_parent(h);
	char name[MAX_NAME + 1];
	struct stat st;
	int fd, err;

	if (!dir)
		return -ESTALE;
	memcpy(name, h->name, h->namelen);
	name[h->namelen] = '\0';
	/* O_TRUNC only once the inode is known to be the one the handle pins. */
	fd = open_step(dir->fd, name, (flags & (O_ACCMODE | O_NOATIME)) | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fd;
	err = fstat_fd(fd, &st);
	if (!err && (!S_ISREG(st.st_mode) || st.st_dev != h->dev || st.st_ino != h->ino))
		err = ESTALE;
	/* O_NONBLOCK was only for the open: the donated file's flags are the sentry's to see. */
	if (!err && fcntl(fd, F_SETFL, noatime) < 0)
		err = errno;
	if (!err && flags & O_TRUNC && ftruncate(fd, 0) < 0)
		err = errno;
	if (err) {
		close(fd);
		return -err;
	}
	return fd;
}

static int op_open(const uint8_t *b, size_t len, int *fd_out, size_t *out)
{
	struct handle *h;
	uint32_t flags;
	int fd;

	if (len != 8)
		return EBADMSG;
	h = handle_get(get32(b));
	if (!h)
		return EBADF;
	flags = get32(b + 4);
	if (flags & WRITE_FLAGS) {
		if (!tree_rw[h->tree])
			return EROFS; /* a read-only tree: the sentry's overlay takes writes */
		if (flags & WRITE_FLAGS & ~(uint32_t)OPEN_WRITE_ALLOWED || (flags & O_ACCMODE) == O_ACCMODE)
			return EINVAL; /* creating is CREATE's; appending is the sentry's (it knows the size) */
		if (S_ISDIR(h->fmt))
			return EISDIR;
	}
	if (flags & ~(uint32_t)(OPEN_ALLOWED | OPEN_WRITE_ALLOWED))
		return EINVAL;
	if (S_ISLNK(h->fmt))
		return ELOOP;
	if (S_ISDIR(h->fmt))
		fd = reopen_dir(h->fd, (int)(flags & O_NOATIME));
	else if (flags & O_DIRECTORY)
		return ENOTDIR;
	else if (S_ISREG(h->fmt))
		fd = reopen_file(h, (int)flags);
	else
		return ENXIO; /* devices, FIFOs, sockets: the sentry serves its own */
	if (fd < 0)
		return -fd;
	*fd_out = fd;
	*out = 0;
	return 0;
}

/* ---- writes (read-write trees only) ---- */

/* The directory a changing request names: live, a directory, in a read-write tree. */
static struct handle *rw_dir(uint32_t value, int *err)
{
	struct handle *h = handle_get(value);

	*err = !h ? EBADF : !S_ISDIR(h->fmt) ? ENOTDIR : !tree_rw[h->tree] ? EROFS : 0;
	return *err ? NULL : h;
}

/* A request's name at p (len bytes), validated and NUL-terminated into name. */
static int get_name(const uint8_t *p, size_t len, char *name)
{
	int err = check_name(p, len);

	if (err)
		return err;
	memcpy(name, p, len);
	name[len] = '\0';
	return 0;
}

static int chown_fd(int fd, uint32_t uid, uint32_t gid)
{
	return fchownat(fd, "", (uid_t)uid, (gid_t)gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
}

/* CREATE (a regular file, O_EXCL), MKDIR and SYMLINK: made, given to uid:gid, then walked. A name
 * that exists (a symlink planted there included) is EEXIST: nothing is followed or replaced. */
static int op_make(uint16_t op, const uint8_t *b, size_t len, uint8_t *r, size_t *out)
{
	char name[MAX_NAME + 1], target[MAX_TARGET + 1];
	struct handle *dir;
	struct stat made, st;
	uint32_t mode, uid, gid;
	size_t nlen, tlen;
	int err, fd = -1;

	if (len < 20)
		return EBADMSG;
	mode = get32(b + 4);
	uid = get32(b + 8);
	gid = get32(b + 12);
	nlen = get16(b + 16);
	tlen = get16(b + 18);
	if (len != 20 + nlen + tlen || (op == OP_SYMLINK) != (tlen != 0) || mode & ~07777u ||
	    (op == OP_SYMLINK && mode != 0))
		return EBADMSG;
	dir = rw_dir(get32(b), &err);
	if (!dir)
		return err;
	err = get_name(b + 20, nlen, name);
	if (err)
		return err;
	if (uid == UINT32_MAX || gid == UINT32_MAX)
		return EINVAL;
	if (op == OP_SYMLINK) {
		if (tlen > MAX_TARGET || memchr(b + 20 + nlen, '\0', tlen))
			return tlen > MAX_TARGET ? ENAMETOOLONG : EINVAL;
		memcpy(target, b + 20 + nlen, tlen);
		target[tlen] = '\0';
		if (symlinkat(target, dir->fd, name) < 0)
			return errno;
		fd = open_step(dir->fd, name, O_PATH);
	} else if (op == OP_MKDIR) {
		if (mkdirat(dir->fd, name, (mode_t)mode) < 0)
			return errno;
		fd = open_step(dir->fd, name, O_PATH | O_DIRECTORY);
	} else {
		int wfd = open_step_mode(dir->fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_NOCTTY,
					 (mode_t)mode);

		if (wfd < 0)
			return -wfd;
		err = chown_fd(wfd, uid, gid);
		/* chown cleared set-id bits: they go back on, as asked */
		if (!err && mode & 06000 && fchmod(wfd, (mode_t)mode) < 0)
			err = errno;
		if (!err)
			err = fstat_fd(wfd, &made);
		close(wfd);
		if (!err) {
			fd = open_step(dir->fd, name, O_PATH);
			if (fd >= 0 && !fstat_fd(fd, &st) && (st.st_dev != made.st_dev || st.st_ino != made.st_ino)) {
				close(fd);
				return ESTALE; /* replaced between the two steps: not ours to unlink */
			}
		}
	}
	if (!err && fd < 0)
		err = -fd;
	if (!err && op != OP_CREATE)
		err = chown_fd(fd, uid, gid);
	/* mkdir(2) takes no set-id bits from its mode (setgid comes from the parent only): the
	 * sentry's mode says what they are, as its own rule for a new directory made them. */
	if (!err && op == OP_MKDIR && mode & 07000) {
		int dfd = reopen_dir(fd, 0);

		err = dfd < 0 ? -dfd : fchmod(dfd, (mode_t)mode) < 0 ? errno : 0;
		if (dfd >= 0)
			close(dfd);
	}
	if (err) {
		if (fd >= 0)
			close(fd);
		unlinkat(dir->fd, name, op == OP_MKDIR ? AT_REMOVEDIR : 0);
		return err;
	}
	return new_entry(fd, dir->tree, dir, (const uint8_t *)name, nlen, r, out);
}

static int op_unlink(const uint8_t *b, size_t len, size_t *out)
{
	char name[MAX_NAME + 1];
	struct handle *dir;
	uint32_t flags;
	size_t nlen;
	int err;

	if (len < 12 || get16(b + 10) != 0)
		return EBADMSG;
	nlen = get16(b + 8);
	flags = get32(b + 4);
	if (len != 12 + nlen || (flags & ~(uint32_t)AT_REMOVEDIR))
		return EBADMSG;
	dir = rw_dir(get32(b), &err);
	if (!dir)
		return err;
	err = get_name(b + 12, nlen, name);
	if (err)
		return err;
	*out = 0;
	return unlinkat(dir->fd, name, (int)flags) < 0 ? errno : 0;
}

static int op_rename(const uint8_t *b, size_t len, size_t *out)
{
	char oldname[MAX_NAME + 1], newname[MAX_NAME + 1];
	struct handle *from, *to;
	uint32_t flags;
	size_t olen, nlen;
	int err;

	if (len < 16)
		return EBADMSG;
	flags = get32(b + 8);
	olen = get16(b + 12);
	nlen = get16(b + 14);
	if (len != 16 + olen + nlen || flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    flags == (RENAME_NOREPLACE | RENAME_EXCHANGE))
		return EBADMSG;
	from = rw_dir(get32(b), &err);
	if (!from)
		return err;
	to = rw_dir(get32(b + 4), &err);
	if (!to)
		return err;
	if (from->tree != to->tree)
		return EXDEV;
	err = get_name(b + 16, olen, oldname);
	if (!err)
		err = get_name(b + 16 + olen, nlen, newname);
	if (err)
		return err;
	*out = 0;
	return syscall(SYS_renameat2, from->fd, oldname, to->fd, newname, flags) < 0 ? errno : 0;
}

static int get_time(const uint8_t *p, struct timespec *t)
{
	t->tv_sec = (time_t)get64(p);
	t->tv_nsec = (long)get32(p + 8);
	return t->tv_nsec >= 1000000000L || get32(p + 12) != 0 ? EBADMSG : 0;
}

/* SETATTR: owner, then mode (set-id bits survive), size, times; the new stat. Mode and size need
 * an open file (a directory, or the regular file reopened as OPEN does); a symlink's mode is
 * EOPNOTSUPP, as lchmod's. */
static int op_setattr(const uint8_t *b, size_t len, uint8_t *r, size_t *out)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	struct handle *h;
	struct stat st;
	uint32_t mask, mode;
	uint64_t size;
	int err = 0, fd = -1;

	if (len != SETATTR_SIZE_BODY || get32(b + 20) != 0)
		return EBADMSG;
	mask = get32(b + 4);
	mode = get32(b + 8);
	size = get64(b + 24);
	if (mask & ~SETATTR_ALL || (mask & SETATTR_MODE && mode & ~07777u) || size > INT64_MAX)
		return EBADMSG;
	if ((mask & SETATTR_ATIME && get_time(b + 32, &ts[0])) || (mask & SETATTR_MTIME && get_time(b + 48, &ts[1])))
		return EBADMSG;
	h = handle_get(get32(b));
	if (!h)
		return EBADF;
	if (!tree_rw[h->tree])
		return EROFS;
	if (mask & (SETATTR_MODE | SETATTR_SIZE)) {
		if (S_ISREG(h->fmt))
			fd = reopen_file(h, mask & SETATTR_SIZE ? O_WRONLY : O_RDONLY);
		else if (mask & SETATTR_SIZE)
			return S_ISDIR(h->fmt) ? EISDIR : EINVAL;
		else if (S_ISDIR(h->fmt))
			fd = reopen_dir(h->fd, 0);
		else
			return EOPNOTSUPP;
		if (fd < 0)
			return -fd;
	}
	if (mask & (SETATTR_UID | SETATTR_GID))
		err = chown_fd(h->fd, mask & SETATTR_UID ? get32(b + 12) : UINT32_MAX,
			       mask & SETATTR_GID ? get32(b + 16) : UINT32_MAX);
	if (!err && mask & SETATTR_MODE && fchmod(fd, (mode_t)mode) < 0)
		err = errno;
	if (!err && mask & SETATTR_SIZE && ftruncate(fd, (off_t)size) < 0)
		err = errno;
	if (!err && mask & (SETATTR_ATIME | SETATTR_MTIME) &&
	    syscall(SYS_utimensat, h->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	if (!err)
		err = fstat_fd(h->fd, &st);
	if (err)
		return err;
	put_stat(r, &st);
	*out = STAT_SIZE;
	return 0;
}

static int op_close(const uint8_t *b, size_t len, size_t *out)
{
	if (len != 8 || get32(b + 4) != 0)
		return EBADMSG;
	*out = 0;
	return handle_close(get32(b));
}

static int run(uint16_t op, const uint8_t *b, size_t len, uint8_t *r, size_t *out, int *fd_out)
{
	if (op < OP_HELLO || op > OP_WALKPATH)
		return ENOSYS;
	if (op != OP_HELLO && !hello_done)
		return EPROTO;
	switch (op) {
	case OP_HELLO:
		return op_hello(b, len, r, out);
	case OP_ATTACH:
		return op_attach(b, len, r, out);
	case OP_WALK:
		return op_walk(b, len, r, out);
	case OP_STAT:
		return op_stat(b, len, r, out);
	case OP_READLINK:
		return op_readlink(b, len, r, out);
	case OP_READDIR:
		return op_readdir(b, len, r, out);
	case OP_OPEN:
		return op_open(b, len, fd_out, out);
	case OP_CREATE:
	case OP_MKDIR:
	case OP_SYMLINK:
		return op_make(op, b, len, r, out);
	case OP_UNLINK:
		return op_unlink(b, len, out);
	case OP_RENAME:
		return op_rename(b, len, out);
	case OP_SETATTR:
		return op_setattr(b, len, r, out);
	case OP_WALKPATH:
		return op_walkpath(b, len, r, out, fd_out);
	default:
		return op_close(b, len, out);
	}
}

size_t dispatch(const uint8_t *req, size_t len, int recv_flags, uint8_t *rep, int *fd_out)
{
	uint16_t op = 0;
	uint32_t seq = 0;
	size_t body = 0;
	int err;

	*fd_out = -1;
	if (len >= REQ_HDR) {
		op = get16(req);
		seq = get32(req + 4);
	}
	if (recv_flags & MSG_TRUNC)
		err = EMSGSIZE;
	else if (recv_flags & MSG_CTRUNC || len < REQ_HDR || get16(req + 2) != 0)
		err = EBADMSG; /* fds sent to the gofer (dropped unreceived), or no header */
	else
		err = run(op, req + REQ_HDR, len - REQ_HDR, rep + REP_HDR, &body, fd_out);
	put16(rep, op);
	put16(rep + 2, 0);
	put32(rep + 4, seq);
	put32(rep + 8, (uint32_t)err);
	put32(rep + 12, 0);
	return REP_HDR + (err ? 0 : body);
}
