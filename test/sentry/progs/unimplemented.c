/* Calls syscalls the sentry does not implement (400 twice, 401 once), then sleeps argv[1] seconds
 * (for `moat events` to look at the running container). Natively they fail too (ENOSYS). */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	syscall(400);
	syscall(400);
	syscall(401);
	if (argc > 1) sleep(atoi(argv[1]));
	return 0;
}
