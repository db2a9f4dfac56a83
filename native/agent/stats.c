/*
 * STATS: the container's own figures, from its cgroup in the guest (/sys/fs/cgroup/container, which
 * the plan fills with the container's processes and limits; with a payload, a pod member's name:
 * its group /sys/fs/cgroup/member-<name>, cgroup.c). The agent does no accounting of its
 * own: it sends the cgroup v2 files as they read, and the host parses them as it parses a native
 * container's (src/policy/cgroups/stats.ts), so `moat events --stats`, the shim's Stats and the SDK
 * see what the container used inside its VM, as Kata's agent reports it.
 *
 * Answer: G_STATS with `name NUL content NUL` for each file of the list that could be read; a file
 * longer than FILE_MAX is cut (the host bounds what it accepts anyway).
 */
#include "agent.h"

#define CGROUP_DIR "/sys/fs/cgroup/container/"
#define MEMBER_DIR "/sys/fs/cgroup/member-"
#define FILE_MAX 4096 /* 13 files stay under the host's 64 KiB frame limit */

static const char *const FILES[] = {
	"cpu.stat", "memory.stat", "memory.events", "memory.current", "memory.peak", "memory.max",
	"memory.swap.current", "memory.swap.max", "memory.swap.peak", "memory.swap.events",
	"pids.current", "pids.max", "io.stat",
};

#define N_FILES (sizeof FILES / sizeof FILES[0])

void send_stats(struct port *p, const unsigned char *name, uint32_t name_len)
{
	static unsigned char buf[N_FILES * (FILE_MAX + 32)];
	char dir[sizeof MEMBER_DIR + 128 + 2];
	size_t len = 0;

	if (name_len == 0)
		snprintf(dir, sizeof dir, "%s", CGROUP_DIR);
	else if (member_name_ok((const char *)name, name_len))
		snprintf(dir, sizeof dir, MEMBER_DIR "%.*s/", (int)name_len, (const char *)name);
	else {
		send_error(p, "stats: bad member name");
		return;
	}

	for (size_t i = 0; i < N_FILES; i++) {
		char path[sizeof dir + 32];
		int fd;
		ssize_t n;
		size_t name_len = strlen(FILES[i]);

		snprintf(path, sizeof path, "%s%s", dir, FILES[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* a controller that is not enabled, or a file this kernel lacks */
		memcpy(buf + len, FILES[i], name_len + 1);
		n = read(fd, buf + len + name_len + 1, FILE_MAX);
		close(fd);
		if (n < 0)
			continue;
		len += name_len + 1 + (size_t)n;
		buf[len++] = 0;
	}
	send_frame(p, G_STATS, buf, (uint32_t)len);
}
