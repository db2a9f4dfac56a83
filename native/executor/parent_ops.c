#include "parent_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/mount.h>

#include "util.h"

static int op_setns(const struct plan_op *op, struct err *e)
{
	const char *path = op->a[0].s;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		err_set(e, errno, "setns %s: open", path);
		return -1;
	}
	if (setns(fd, (int)op->a[1].u) < 0) {
		err_set(e, errno, "setns %s", path);
		close_fd(&fd);
		return -1;
	}
	close_fd(&fd);
	return 0;
}

static int op_unshare(const struct plan_op *op, struct err *e)
{
	if (unshare((int)op->a[0].u) < 0) {
		err_set(e, errno, "unshare 0x%llx", (unsigned long long)op->a[0].u);
		return -1;
	}
	return 0;
}

static int op_write(const struct plan_op *op, struct err *e)
{
	if (write_file(op->a[0].s, op->a[1].s) < 0) {
		err_set(e, errno, "write %s", op->a[0].s);
		return -1;
	}
	return 0;
}

/* The plan checked that name is one component, so this stays in /proc/<C>/. */
static int op_child_write(const struct plan_op *op, pid_t child, struct err *e)
{
	char path[128];
	int n = snprintf(path, sizeof(path), "/proc/%d/%s", (int)child, op->a[0].s);

	if (n < 0 || (size_t)n >= sizeof(path)) {
		err_set(e, ENAMETOOLONG, "child-write %.64s", op->a[0].s);
		return -1;
	}
	if (write_file(path, op->a[1].s) < 0) {
		err_set(e, errno, "child-write %s", op->a[0].s);
		return -1;
	}
	return 0;
}

static int tree_fd = -1;

int parent_tree_fd(void)
{
	return tree_fd;
}

/*
 * A detached copy of the mount at path (not its submounts), idmapped with C's user namespace: the
 * host's ids 0..n show as C's 0..n through it. Only P can make it (it needs CAP_SYS_ADMIN over the
 * host filesystem); it goes to C with "go" and C attaches it in its own mount namespace.
 */
static int op_idmap_tree(const struct plan_op *op, pid_t child, struct err *e)
{
	struct mount_attr attr = { 0 };
	char path[64];
	int userns, fd;

	if (tree_fd >= 0) {
		err_set(e, 0, "idmap-tree %s: only one tree per plan", op->a[0].s);
		return -1;
	}
	(void)snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)child);
	userns = open(path, O_RDONLY | O_CLOEXEC);
	if (userns < 0) {
		err_set(e, errno, "idmap-tree: open %s", path);
		return -1;
	}
	fd = (int)syscall(SYS_open_tree, AT_FDCWD, op->a[0].s, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd < 0) {
		err_set(e, errno, "idmap-tree %s: open_tree", op->a[0].s);
		close_fd(&userns);
		return -1;
	}
	attr.attr_set = MOUNT_ATTR_IDMAP | (op->a[1].u & IDMAP_TREE_ATTRS);
	attr.userns_fd = (uint64_t)userns;
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
		err_set(e, errno, "idmap-tree %s: mount_setattr (does its filesystem support idmapped mounts?)", op->a[0].s);
		close_fd(&userns);
		close_fd(&fd);
		return -1;
	}
	close_fd(&userns);
	tree_fd = fd;
	return 0;
}

static int run_one(const struct plan_op *op, pid_t child, struct err *e)
{
	switch (op->kind) {
	case OP_SETNS: return op_setns(op, e);
	case OP_UNSHARE: return op_unshare(op, e);
	case OP_WRITE: return op_write(op, e);
	case OP_CHILD_WRITE: return op_child_write(op, child, e);
	case OP_IDMAP_TREE: return op_idmap_tree(op, child, e);
	default:
		err_set(e, 0, "%s: not a parent op", op_name(op->kind));
		return -1;
	}
}

int parent_run(const struct plan *p, size_t from, size_t to, pid_t child, struct err *e)
{
	for (size_t i = from; i < to; i++)
		if (run_one(&p->ops[i], child, e) < 0)
			return -1;
	return 0;
}
