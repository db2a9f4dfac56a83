/* moat_native.node: the vm platform's template memory (docs/vm.md#templates).
 *
 *   templateMemfd(path, name) -> fd   a sealed memfd holding the file's non-zero pages: its
 *                                      content can never change again (F_SEAL_WRITE, GROW, SHRINK,
 *                                      SEAL), yet a VMM may map it privately, copy-on-write, and
 *                                      open it read-write through /proc (as QEMU 7.2 insists on)
 *   memfdSeals(fd) -> number          F_GET_SEALS
 *   dataExtents(fd) -> number[]       [start, end, start, end, ...] of the file's data (SEEK_DATA /
 *                                      SEEK_HOLE): what a digest of a sparse memory file reads
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "napi_util.h"

#define PAGE 4096
#define CHUNK (1 << 20)

static int all_zero(const unsigned char *p)
{
	static const unsigned char zero[PAGE];
	return memcmp(p, zero, PAGE) == 0;
}

static napi_value template_memfd_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out;
	char path[4096], name[200];
	struct stat st;
	int src = -1, fd = -1, err = 0;
	const char *what = "open";
	unsigned char *buf = NULL;

	if (!get_args(env, info, 2, argv) || !get_str(env, argv[0], "templateMemfd", "path", path, sizeof path) ||
	    !get_str(env, argv[1], "templateMemfd", "name", name, sizeof name))
		return NULL;
	src = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (src < 0 || fstat(src, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size % PAGE != 0) {
		err = src < 0 ? errno : EINVAL;
		goto fail;
	}
	what = "memfd_create";
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, st.st_size) != 0) {
		err = errno;
		goto fail;
	}
	buf = malloc(CHUNK);
	if (!buf) {
		err = ENOMEM;
		goto fail;
	}
	what = "copy";
	for (off_t pos = 0, end = 0; pos < st.st_size;) {
		if (pos >= end) {
			/* Only where the file has data: its holes are the memfd's already. */
			off_t data = lseek(src, pos, SEEK_DATA);
			if (data < 0)
				break; /* ENXIO: nothing after pos */
			end = lseek(src, data, SEEK_HOLE);
			if (end < 0)
				end = st.st_size;
			pos = data & ~(off_t)(PAGE - 1);
		}
		size_t want = (size_t)(end - pos) < CHUNK ? (size_t)(end - pos) : CHUNK;
		ssize_t n = pread(src, buf, want, pos);
		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			goto fail;
		}
		for (ssize_t o = 0; o + PAGE <= n; o += PAGE) {
			if (all_zero(buf + o))
				continue; /* a hole in the memfd reads as zeros and costs nothing */
			if (pwrite(fd, buf + o, PAGE, pos + o) != PAGE) {
				err = errno ? errno : EIO;
				goto fail;
			}
		}
		pos += n;
	}
	what = "F_ADD_SEALS";
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
		err = errno;
		goto fail;
	}
	free(buf);
	close(src);
	napi_create_int32(env, fd, &out);
	return out;
fail:
	free(buf);
	if (src >= 0)
		close(src);
	if (fd >= 0)
		close(fd);
	throw_errno(env, err, what, path);
	return NULL;
}

static napi_value memfd_seals_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out;
	int fd;

	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "memfdSeals", "fd", &fd))
		return NULL;
	int s = fcntl(fd, F_GET_SEALS);
	if (s < 0) {
		throw_errno(env, errno, "F_GET_SEALS", NULL);
		return NULL;
	}
	napi_create_int32(env, s, &out);
	return out;
}

static napi_value data_extents_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out, v;
	struct stat st;
	uint32_t n = 0;
	int fd;

	if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], "dataExtents", "fd", &fd))
		return NULL;
	if (fstat(fd, &st) != 0) {
		throw_errno(env, errno, "fstat", NULL);
		return NULL;
	}
	napi_create_array(env, &out);
	for (off_t pos = 0; pos < st.st_size;) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0)
			break; /* ENXIO: no data after pos */
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = st.st_size;
		napi_create_double(env, (double)data, &v);
		napi_set_element(env, out, n++, v);
		napi_create_double(env, (double)hole, &v);
		napi_set_element(env, out, n++, v);
		pos = hole;
	}
	return out;
}

bool moat_register_vm_mem(napi_env env, napi_value exports)
{
	static const struct napi_export fns[] = {
		{ "templateMemfd", template_memfd_js },
		{ "memfdSeals", memfd_seals_js },
		{ "dataExtents", data_extents_js },
	};

	return export_functions(env, exports, fns, sizeof(fns) / sizeof(fns[0]));
}
