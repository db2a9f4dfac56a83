/* Mounts and the container's filesystem: before the pivot through the rootfs fd, after it in "/". */
#include "child_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "inroot.h"
#include "util.h"

/* The plan spells NULL as "". */
static const char *nullable(const char *s)
{
	return s[0] ? s : NULL;
}

/* What a mount error names after the path: the fstype, else the source (binds). */
static const char *mount_what(const struct plan_op *op)
{
	return op->a[2].s[0] ? op->a[2].s : (op->a[0].s[0] ? op->a[0].s : "-");
}

#ifndef ST_NOSYMFOLLOW
#define ST_NOSYMFOLLOW 0x2000 /* linux/statfs.h; glibc 2.36 lacks it */
#endif

/* Flags a bind remount must repeat to keep them: some may be locked in a userns (EPERM if not). */
static unsigned long kept_mount_flags(const struct statvfs *sv)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {
		{ ST_NOSUID, MS_NOSUID },       { ST_NODEV, MS_NODEV },
		{ ST_NOEXEC, MS_NOEXEC },       { ST_SYNCHRONOUS, MS_SYNCHRONOUS },
		{ ST_MANDLOCK, MS_MANDLOCK },   { ST_NOATIME, MS_NOATIME },
		{ ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME },
		{ ST_NOSYMFOLLOW, MS_NOSYMFOLLOW },
	};
	unsigned long flags = 0;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (sv->f_flag & map[i].st)
			flags |= map[i].ms;
	return flags;
}

/* Per-mount flags: the kernel ignores them on a new bind and only applies them on a remount. */
#define PER_MOUNT_FLAGS                                                                  \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME |        \
	 MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW)

static bool needs_bind_remount(unsigned long flags)
{
	return (flags & MS_BIND) && !(flags & MS_REMOUNT) && (flags & PER_MOUNT_FLAGS);
}

/*
 * Make the plan's ro/nosuid/... true on a new bind mount (`target` names the bind itself). In a
 * user namespace the flags the source mount had may be locked: like runc, retry with them kept.
 */
static int bind_remount(const char *target, unsigned long flags)
{
	unsigned long rflags = MS_REMOUNT | MS_BIND | (flags & PER_MOUNT_FLAGS);
	struct statvfs sv;

	if (mount(NULL, target, NULL, rflags, NULL) == 0)
		return 0;
	if (errno != EPERM)
		return -1;
	if (statvfs(target, &sv) < 0) {
		errno = EPERM; /* the error worth reporting is the remount's */
		return -1;
	}
	return mount(NULL, target, NULL, rflags | kept_mount_flags(&sv), NULL);
}

int op_mount(struct child *c, const struct plan_op *op, struct err *e)
{
	unsigned long flags = (unsigned long)op->a[3].u;

	(void)c;
	if (mount(nullable(op->a[0].s), op->a[1].s, nullable(op->a[2].s), flags,
		  nullable(op->a[4].s)) < 0) {
		err_set(e, errno, "mount %s (%s)", op->a[1].s, mount_what(op));
		return -1;
	}
	if (needs_bind_remount(flags) && bind_remount(op->a[1].s, flags) < 0) {
		err_set(e, errno, "mount %s (%s): remount", op->a[1].s, mount_what(op));
		return -1;
	}
	return 0;
}

int op_rootfs(struct child *c, const struct plan_op *op, struct err *e)
{
	if (c->rootfd >= 0)
		close(c->rootfd);
	c->rootfd = open(op->a[0].s, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->rootfd < 0) {
		err_set(e, errno, "rootfs %s", op->a[0].s);
		return -1;
	}
	return 0;
}

/* After a bind, the old fd still names the mount underneath: resolve dest again for the bind. */
static int mountat_remount(struct child *c, const char *dest, unsigned long flags)
{
	struct fdpath fp;
	int fd = inroot_open(c->rootfd, dest, 0), rc;

	if (fd < 0)
		return -1;
	rc = bind_remount(fdpath(&fp, fd), flags);
	close_fd(&fd);
	return rc;
}

/* mount(2) takes no dirfd: reach the safely resolved fd through its /proc/self/fd link. */
int op_mountat(struct child *c, const struct plan_op *op, struct err *e)
{
	const char *dest = op->a[1].s;
	unsigned long flags = (unsigned long)op->a[3].u;
	struct fdpath fp;
	int fd = inroot_open_create(c->rootfd, dest, (enum create_kind)op->a[5].u);

	if (fd < 0) {
		err_set(e, errno, "mountat %s (%s): resolve", dest, mount_what(op));
		return -1;
	}
	if (mount(nullable(op->a[0].s), fdpath(&fp, fd), nullable(op->a[2].s), flags,
		  nullable(op->a[4].s)) < 0) {
		err_set(e, errno, "mountat %s (%s)", dest, mount_what(op));
		close_fd(&fd);
		return -1;
	}
	close_fd(&fd);
	if (needs_bind_remount(flags) && mountat_remount(c, dest, flags) < 0) {
		err_set(e, errno, "mountat %s (%s): remount", dest, mount_what(op));
		return -1;
	}
	return 0;
}

int op_mkdirat(struct child *c, const struct plan_op *op, struct err *e)
{
	int fd = inroot_mkdir_all(c->rootfd, op->a[0].s, (mode_t)op->a[1].u);

	if (fd < 0) {
		err_set(e, errno, "mkdirat %s", op->a[0].s);
		return -1;
	}
	close_fd(&fd);
	return 0;
}

/* An existing node is kept as is (like runc): the image or an earlier op put it there. */
int op_mknodat(struct child *c, const struct plan_op *op, struct err *e)
{
	const char *path = op->a[0].s;
	char base[NAME_MAX + 1];
	dev_t dev = makedev((unsigned)op->a[2].u, (unsigned)op->a[3].u);
	int parent = inroot_parent(c->rootfd, path, base), rc = 0;

	if (parent < 0) {
		err_set(e, errno, "mknodat %s: parent", path);
		return -1;
	}
	if (mknodat(parent, base, (mode_t)op->a[1].u, dev) == 0) {
		if (fchownat(parent, base, (uid_t)op->a[4].u, (gid_t)op->a[5].u,
			     AT_SYMLINK_NOFOLLOW) < 0) {
			err_set(e, errno, "mknodat %s: chown", path);
			rc = -1;
		}
	} else if (errno != EEXIST) {
		err_set(e, errno, "mknodat %s", path);
		rc = -1;
	}
	close_fd(&parent);
	return rc;
}

int op_symlinkat(struct child *c, const struct plan_op *op, struct err *e)
{
	const char *path = op->a[1].s;
	char base[NAME_MAX + 1];
	int parent = inroot_parent(c->rootfd, path, base), rc = 0;

	if (parent < 0) {
		err_set(e, errno, "symlinkat %s: parent", path);
		return -1;
	}
	if (symlinkat(op->a[0].s, parent, base) < 0 && errno != EEXIST) {
		err_set(e, errno, "symlinkat %s -> %s", path, op->a[0].s);
		rc = -1;
	}
	close_fd(&parent);
	return rc;
}

/* pivot_root(".", ".") stacks the old root on top of the new one; the umount drops it. */
int op_pivot_root(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)op;
	if (fchdir(c->rootfd) < 0) {
		err_set(e, errno, "pivot-root: fchdir");
		return -1;
	}
	if (syscall(SYS_pivot_root, ".", ".") < 0) {
		err_set(e, errno, "pivot-root");
		return -1;
	}
	if (umount2(".", MNT_DETACH) < 0) {
		err_set(e, errno, "pivot-root: umount old root");
		return -1;
	}
	if (chdir("/") < 0) {
		err_set(e, errno, "pivot-root: chdir /");
		return -1;
	}
	return 0;
}

int op_move_root(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)op;
	if (fchdir(c->rootfd) < 0) {
		err_set(e, errno, "move-root: fchdir");
		return -1;
	}
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0) {
		err_set(e, errno, "move-root: mount --move");
		return -1;
	}
	if (chroot(".") < 0 || chdir("/") < 0) {
		err_set(e, errno, "move-root: chroot");
		return -1;
	}
	return 0;
}

/* ---- after the pivot: paths in the new root ---- */

/* Even in the new root, refuse magic links: /proc/<host pid>/root could lead back out. */
static int newroot_open(const char *path)
{
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), fd;

	if (root < 0)
		return -1;
	fd = inroot_open(root, path, 0);
	close_fd(&root);
	return fd;
}

static bool is_missing(int err)
{
	return err == ENOENT || err == ENOTDIR;
}

static int remount_ro_fd(int fd, const char *opname, const char *path, struct err *e)
{
	struct statvfs sv;
	struct fdpath fp;

	if (fstatvfs(fd, &sv) < 0) {
		err_set(e, errno, "%s %s: statvfs", opname, path);
		return -1;
	}
	if (mount(NULL, fdpath(&fp, fd), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | kept_mount_flags(&sv),
		  NULL) < 0) {
		err_set(e, errno, "%s %s: remount", opname, path);
		return -1;
	}
	return 0;
}

int op_mask(struct child *c, const struct plan_op *op, struct err *e)
{
	const char *path = op->a[0].s;
	struct fdpath fp;
	struct stat st;
	int fd = newroot_open(path), rc;

	(void)c;
	if (fd < 0) {
		if (is_missing(errno))
			return 0;
		err_set(e, errno, "mask %s", path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		err_set(e, errno, "mask %s: stat", path);
		close_fd(&fd);
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		rc = mount("tmpfs", fdpath(&fp, fd), "tmpfs", MS_RDONLY, NULL);
	else
		rc = mount("/dev/null", fdpath(&fp, fd), NULL, MS_BIND, NULL);
	if (rc < 0)
		err_set(e, errno, "mask %s", path);
	close_fd(&fd);
	return rc;
}

int op_readonly(struct child *c, const struct plan_op *op, struct err *e)
{
	const char *path = op->a[0].s;
	struct fdpath fp;
	int fd = newroot_open(path), rc;

	(void)c;
	if (fd < 0) {
		if (is_missing(errno))
			return 0;
		err_set(e, errno, "readonly %s", path);
		return -1;
	}
	if (mount(fdpath(&fp, fd), fp.s, NULL, MS_BIND | MS_REC, NULL) < 0) {
		err_set(e, errno, "readonly %s: bind", path);
		close_fd(&fd);
		return -1;
	}
	/* The fd still names the mount underneath: look the path up again to get the new bind. */
	close_fd(&fd);
	fd = newroot_open(path);
	if (fd < 0) {
		err_set(e, errno, "readonly %s: reopen", path);
		return -1;
	}
	rc = remount_ro_fd(fd, "readonly", path, e);
	close_fd(&fd);
	return rc;
}

int op_remount_ro(struct child *c, const struct plan_op *op, struct err *e)
{
	const char *path = op->a[0].s;
	int fd = newroot_open(path), rc;

	(void)c;
	if (fd < 0) {
		err_set(e, errno, "remount-ro %s", path);
		return -1;
	}
	rc = remount_ro_fd(fd, "remount-ro", path, e);
	close_fd(&fd);
	return rc;
}

/* Put the idmapped tree P sent (`idmap-tree`) at target, in our mount namespace. */
int op_attach_tree(struct child *c, const struct plan_op *op, struct err *e)
{
	const char *target = op->a[0].s;

	if (c->treefd < 0) {
		err_set(e, 0, "attach-tree %s: no tree came with go", target);
		return -1;
	}
	if (syscall(SYS_move_mount, c->treefd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		err_set(e, errno, "attach-tree %s: move_mount", target);
		return -1;
	}
	close_fd(&c->treefd);
	return 0;
}

/*
 * Detach the mount at target (before the pivot). Used once an overlay holds its own private copy
 * of a layer: the layer's mount itself must not stay reachable.
 */
int op_umount(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	if (umount2(op->a[0].s, MNT_DETACH) < 0) {
		err_set(e, errno, "umount %s", op->a[0].s);
		return -1;
	}
	return 0;
}
