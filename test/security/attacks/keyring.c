/* The kernel keyring is not namespaced: a container root without a user namespace shares host
 * root's user keyring (@u), and the session keyring it was started with. Raw syscalls.
 *
 *   keyring SECRET ADDED       (in the container) find and read the "user" key SECRET the host put in
 *                              @u; describe/join session keyrings; add a key ADDED to @u
 *   keyring host-add DESC DATA (on the host) add "user" key DESC to @u
 *   keyring host-find DESC     (on the host) print "present" or "absent"
 *   keyring host-remove DESC   (on the host) unlink and invalidate DESC if present */
#include "common.h"
#include <stdlib.h>
#include <sys/syscall.h>

#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEYCTL_DESCRIBE 6
#define KEYCTL_UNLINK 9
#define KEYCTL_SEARCH 10
#define KEYCTL_READ 11
#define KEYCTL_INVALIDATE 21
#define KEY_SPEC_SESSION_KEYRING -3
#define KEY_SPEC_USER_KEYRING -4

static long find(const char *desc)
{
	return syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user", desc, 0);
}

int main(int argc, char **argv)
{
	char buf[256] = "";
	long id, n;

	if (argc == 4 && strcmp(argv[1], "host-add") == 0)
		return syscall(SYS_add_key, "user", argv[2], argv[3], strlen(argv[3]), KEY_SPEC_USER_KEYRING) < 0 ? (perror("add_key"), 1) : 0;
	if (argc == 3 && strcmp(argv[1], "host-find") == 0)
		return printf("%s\n", find(argv[2]) < 0 ? "absent" : "present"), 0;
	if (argc == 3 && strcmp(argv[1], "host-remove") == 0) {
		while ((id = find(argv[2])) >= 0) {
			syscall(SYS_keyctl, KEYCTL_UNLINK, id, KEY_SPEC_USER_KEYRING);
			syscall(SYS_keyctl, KEYCTL_INVALIDATE, id);
		}
		return 0;
	}
	if (argc != 3)
		return fprintf(stderr, "usage: keyring SECRET ADDED | host-add DESC DATA | host-find DESC | host-remove DESC\n"), 2;

	step("get-user-keyring", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
	id = find(argv[1]);
	if (step("search-host-key", id) == 0) {
		n = syscall(SYS_keyctl, KEYCTL_READ, id, buf, sizeof buf - 1);
		if (step("read-host-key", n) == 0)
			printf("host-key-payload %.*s\n", (int)(n < (long)sizeof buf ? n : (long)sizeof buf - 1), buf);
	}
	n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, KEY_SPEC_SESSION_KEYRING, buf, sizeof buf - 1);
	if (step("describe-session-keyring", n) == 0)
		printf("session-keyring %s\n", buf);
	step("add-key", syscall(SYS_add_key, "user", argv[2], "x", 1, KEY_SPEC_USER_KEYRING));
	step("request-key", syscall(SYS_request_key, "user", "moat-escape-none", NULL, 0));
	/* Last: it replaces our session keyring. */
	step("join-session-keyring", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "moat-escape"));
	return 0;
}
