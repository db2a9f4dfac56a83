/*
 * The host's clocks, as the vDSO the sentry hands the application reads them (src/sentry/kernel/
 * host-clock.ts, src/sentry/platform/vdso.ts): the sentry's clock syscalls answer from the same
 * kernel clocks, so a value read through the vDSO and one read through a trapped syscall agree.
 *
 *   hostClock(id)    -> bigint ns | null   clock_gettime(id) (ids the host's vDSO serves: 0 1 4 5 6 7 11)
 *   hostClockRes(id) -> bigint ns | null   clock_getres(id)
 *   hostTimezone()   -> [minuteswest, dsttime]   the kernel's sys_tz, as gettimeofday's tz gives it
 *
 * glibc serves each through the sentry's own vDSO: no syscall (the sentry's filter need not allow one).
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "napi_util.h"

/* The clocks Linux's x86-64 vDSO answers; anything else is refused here (the caller's bug). */
static bool vdso_clock(double id)
{
	return id == 0 || id == 1 || id == 4 || id == 5 || id == 6 || id == 7 || id == 11;
}

static napi_value clock_js(napi_env env, napi_callback_info info, bool res)
{
	napi_value argv[MAX_ARGS], out;
	double id;
	struct timespec ts;
	const char *fn = res ? "hostClockRes" : "hostClock";

	if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], fn, "id", 0, 11, &id))
		return NULL;
	if (!vdso_clock(id)) {
		throw_type(env, fn, "id", "a clock the vDSO serves (0 1 4 5 6 7 11)");
		return NULL;
	}
	if ((res ? clock_getres((clockid_t)id, &ts) : clock_gettime((clockid_t)id, &ts)) != 0) {
		napi_get_null(env, &out);
		return out;
	}
	if (napi_create_bigint_int64(env, (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec, &out) != napi_ok)
		return NULL;
	return out;
}

static napi_value host_clock_js(napi_env env, napi_callback_info info) { return clock_js(env, info, false); }
static napi_value host_clock_res_js(napi_env env, napi_callback_info info) { return clock_js(env, info, true); }

static napi_value host_timezone_js(napi_env env, napi_callback_info info)
{
	struct timeval tv;
	struct timezone tz = { 0, 0 };
	napi_value arr, v;

	(void)info;
	gettimeofday(&tv, &tz);
	if (napi_create_array_with_length(env, 2, &arr) != napi_ok || napi_create_int32(env, tz.tz_minuteswest, &v) != napi_ok ||
	    napi_set_element(env, arr, 0, v) != napi_ok || napi_create_int32(env, tz.tz_dsttime, &v) != napi_ok ||
	    napi_set_element(env, arr, 1, v) != napi_ok)
		return NULL;
	return arr;
}

bool moat_register_host_clock(napi_env env, napi_value exports)
{
	static const struct napi_export fns[] = {
		{ "hostClock", host_clock_js },
		{ "hostClockRes", host_clock_res_js },
		{ "hostTimezone", host_timezone_js },
	};

	return export_functions(env, exports, fns, sizeof(fns) / sizeof(fns[0]));
}
