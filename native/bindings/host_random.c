/*
 * Random bytes for the sandbox (src/sentry/random.ts): AT_RANDOM at each exec, getrandom(2),
 * /dev/urandom and /dev/random, the boot id. getrandom(2) from the host kernel's CSPRNG — the bytes
 * node:crypto's randomFillSync gives, without loading node:crypto and the stream machinery it
 * pulls in (~5 ms of every sentry's start, measured: docs/sentry.md "Start-up").
 *
 *   hostRandom(u8) -> 0 | -errno   fills the Uint8Array (the sentry's filter allows getrandom)
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

#include "napi_util.h"

static napi_value host_random_js(napi_env env, napi_callback_info info)
{
	napi_value argv[MAX_ARGS], out;
	napi_typedarray_type type;
	napi_value ab;
	size_t len, off, done = 0;
	void *data;
	bool is;

	if (!get_args(env, info, 1, argv))
		return NULL;
	if (napi_is_typedarray(env, argv[0], &is) != napi_ok || !is ||
	    napi_get_typedarray_info(env, argv[0], &type, &len, &data, &ab, &off) != napi_ok || type != napi_uint8_array) {
		throw_type(env, "hostRandom", "buf", "a Uint8Array");
		return NULL;
	}
	while (done < len) {
		/* Never blocks once the pool is initialised (it is, long before a sandbox starts); a
		 * read of more than 32 MiB returns a part: go on. */
		ssize_t n = getrandom((uint8_t *)data + done, len - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			napi_create_int32(env, -errno, &out);
			return out;
		}
		done += (size_t)n;
	}
	napi_create_int32(env, 0, &out);
	return out;
}

bool moat_register_host_random(napi_env env, napi_value exports)
{
	static const struct napi_export fns[] = {
		{ "hostRandom", host_random_js },
	};

	return export_functions(env, exports, fns, sizeof(fns) / sizeof(fns[0]));
}
