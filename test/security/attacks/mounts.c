/* Mount anything from inside the container: every way the mount API offers. Each step prints
 * "<step> ok|ERRNO". A scratch directory on the container's writable /dev/shm is the target. */
#include "common.h"
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef FSCONFIG_CMD_CREATE
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/dev/shm/m";
	const char *host_target = argc > 2 ? argv[2] : NULL;
	int fs, mfd, tree;

	mkdir(dir, 0755);
	step("tmpfs", mount("none", dir, "tmpfs", 0, NULL));
	step("proc", mount("proc", dir, "proc", 0, NULL));
	step("sysfs", mount("sysfs", dir, "sysfs", 0, NULL));
	step("bind-root", mount("/", dir, NULL, MS_BIND | MS_REC, NULL));
	step("remount-root-rw", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
	step("remount-root-rw-plain", mount(NULL, "/", NULL, MS_REMOUNT, NULL));
	step("remount-procsys-rw", mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL));
	step("umount-masked-keys", umount2("/proc/keys", MNT_DETACH));
	step("umount-procsys", umount2("/proc/sys", MNT_DETACH));
	step("make-root-shared", mount(NULL, "/", NULL, MS_SHARED | MS_REC, NULL));
	step("ext4-host-disk", mount("/dev/vda", dir, "ext4", MS_RDONLY, NULL));
	fs = (int)syscall(SYS_fsopen, "tmpfs", 0);
	if (step("fsopen", fs) == 0) {
		step("fsconfig-create", syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
		mfd = (int)syscall(SYS_fsmount, fs, 0, 0);
		if (step("fsmount", mfd) == 0)
			step("move-mount", syscall(SYS_move_mount, mfd, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH));
	}
	tree = (int)syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE);
	if (step("open-tree-clone", tree) == 0)
		step("move-mount-tree", syscall(SYS_move_mount, tree, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH));
	step("pivot-root", syscall(SYS_pivot_root, "/", "/"));
	step("chroot", chroot(dir));
	if (host_target)
		step("mount-on-host-path", mount("none", host_target, "tmpfs", 0, NULL));
	return 0;
}
