/*
 * FILES: small files the host copies into the guest instead of sharing them (src/vm/volumes.ts
 * COPIED_FILES: a client's /etc/hosts, hostname, resolv.conf). Written to /files/N on the agent's
 * tmpfs root before the plan runs; the plan bind-mounts /files/N into the container as it would
 * a shared file. Only while no container exists, once.
 *
 * Payload: u32 count, then per file: u32 mode, u32 uid, u32 gid, u32 length, the bytes.
 */
#include "agent.h"

#define FILES_DIR "/files"
#define FILES_MAX 8
#define FILE_BYTES_MAX (64u << 10)

static int files_written;

static int write_one(int n, uint32_t mode, uint32_t uid, uint32_t gid, const unsigned char *data, uint32_t len)
{
	char path[64];
	int fd;
	size_t done = 0;

	snprintf(path, sizeof path, FILES_DIR "/%d", n);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		done += (size_t)w;
	}
	/* Owner first: fchown clears set-id bits, and the mode carries none anyway. */
	if (fchown(fd, uid, gid) != 0 || fchmod(fd, mode & 0777) != 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

void write_files(const unsigned char *p, uint32_t len)
{
	uint32_t count, at = 4;

	if (phase != P_IDLE || files_written) {
		send_error(&ctl, "files: only once, before the plan");
		return;
	}
	if (len < 4 || (count = get_u32(p)) > FILES_MAX) {
		send_error(&ctl, "files: bad count");
		return;
	}
	if (mkdir(FILES_DIR, 0700) != 0 && errno != EEXIST) {
		send_error(&ctl, "files: mkdir %s: %s", FILES_DIR, strerror(errno));
		return;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint32_t mode, uid, gid, n;

		if (len - at < 16) {
			send_error(&ctl, "files: file %u: truncated header", i);
			return;
		}
		mode = get_u32(p + at);
		uid = get_u32(p + at + 4);
		gid = get_u32(p + at + 8);
		n = get_u32(p + at + 12);
		at += 16;
		if (n > FILE_BYTES_MAX || n > len - at) {
			send_error(&ctl, "files: file %u: bad length %u", i, n);
			return;
		}
		if (write_one((int)i, mode, uid, gid, p + at, n) != 0) {
			send_error(&ctl, "files: file %u: %s", i, strerror(errno));
			return;
		}
		at += n;
	}
	if (at != len) {
		send_error(&ctl, "files: %u bytes after the last file", len - at);
		return;
	}
	files_written = 1;
	send_frame(&ctl, G_OK, NULL, 0);
}
