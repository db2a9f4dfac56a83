/*
 * CGROUP: the cgroup v2 group of one container of a pod's VM (a "member", docs/vm.md#pods), beside
 * the VM's own container's group `container`. The host asks for it by the member's name:
 *
 *   'm' name            mkdir /sys/fs/cgroup/member-<name> (before the member's plan, which enables
 *                       the controllers, writes its limits and joins it, as for `container`)
 *   'w' name file value write one interface file of it (Pause/Resume: cgroup.freeze; Update: limits)
 *   'r' name            rmdir it (after the member's processes are gone)
 *
 * Payload: the verb byte, then NUL-terminated strings. Answer: G_OK or G_ERROR naming the path.
 * The host is trusted, but nothing it names leaves /sys/fs/cgroup/member-*: names are plain words,
 * files one of a short list.
 */
#include "agent.h"

#define MEMBER_PREFIX "/sys/fs/cgroup/member-"
#define NAME_MAX_LEN 128
#define VALUE_MAX_LEN 256

/* What the host may write: freezing, and the limits Update changes (src/policy/cgroups/v2.ts). */
static const char *const WRITABLE[] = {
	"cgroup.freeze", "cpu.idle", "cpu.max", "cpu.max.burst", "cpu.weight", "io.max", "io.weight",
	"memory.high", "memory.low", "memory.max", "memory.min", "memory.swap.max", "pids.max",
};

static int alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A member's name: a container id as CRI and moat make them (a plain word, never `.` or `..`). */
int member_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > NAME_MAX_LEN || !alnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!alnum(c) && c != '_' && c != '.' && c != '-')
			return 0;
	}
	return 1;
}

static int writable(const char *file)
{
	for (size_t i = 0; i < sizeof WRITABLE / sizeof WRITABLE[0]; i++)
		if (strcmp(file, WRITABLE[i]) == 0)
			return 1;
	return 0;
}

/* The next NUL-terminated string of p[*at..len), or NULL. */
static const char *next_string(const unsigned char *p, uint32_t len, uint32_t *at, size_t *slen)
{
	const unsigned char *nul;
	const char *s;

	if (*at >= len)
		return NULL;
	nul = memchr(p + *at, 0, len - *at);
	if (!nul)
		return NULL;
	s = (const char *)p + *at;
	*slen = (size_t)(nul - (p + *at));
	*at = (uint32_t)(nul - p) + 1;
	return s;
}

void cgroup_request(const unsigned char *p, uint32_t len)
{
	char path[sizeof MEMBER_PREFIX + NAME_MAX_LEN + 32];
	const char *name, *file = NULL, *value = NULL;
	size_t name_len, file_len = 0, value_len = 0;
	uint32_t at = 1;
	int verb;

	if (len < 2) {
		send_error(&ctl, "cgroup: bad length %u", len);
		return;
	}
	verb = p[0];
	name = next_string(p, len, &at, &name_len);
	if (!name || !member_name_ok(name, name_len)) {
		send_error(&ctl, "cgroup: bad member name");
		return;
	}
	if (verb == 'w') {
		file = next_string(p, len, &at, &file_len);
		value = next_string(p, len, &at, &value_len);
		if (!file || !writable(file)) {
			send_error(&ctl, "cgroup: %s is not a file the host may write", file ? file : "(none)");
			return;
		}
		if (!value || value_len > VALUE_MAX_LEN) {
			send_error(&ctl, "cgroup: bad value for %s", file);
			return;
		}
	}
	if (at != len) {
		send_error(&ctl, "cgroup: trailing bytes");
		return;
	}
	snprintf(path, sizeof path, MEMBER_PREFIX "%s", name);
	switch (verb) {
	case 'm':
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			send_error(&ctl, "mkdir %s: %s", path, strerror(errno));
			return;
		}
		break;
	case 'r':
		if (rmdir(path) != 0 && errno != ENOENT) {
			send_error(&ctl, "rmdir %s: %s", path, strerror(errno));
			return;
		}
		break;
	case 'w': {
		int fd;
		ssize_t n;

		snprintf(path, sizeof path, MEMBER_PREFIX "%s/%s", name, file);
		fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			send_error(&ctl, "open %s: %s", path, strerror(errno));
			return;
		}
		n = write(fd, value, value_len);
		if (n != (ssize_t)value_len) {
			int e = n < 0 ? errno : EIO;

			close(fd);
			send_error(&ctl, "write %s: %s", path, strerror(e));
			return;
		}
		close(fd);
		break;
	}
	default:
		send_error(&ctl, "cgroup: unknown verb %d", verb);
		return;
	}
	send_frame(&ctl, G_OK, NULL, 0);
}
