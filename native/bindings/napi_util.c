/* Shared helpers of moat_native.node: errors like Node's own, argument checks. */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "napi_util.h"

/* ---- errors ---- */

static void set_str(napi_env env, napi_value obj, const char *key, const char *val)
{
	napi_value v;

	if (napi_create_string_utf8(env, val, NAPI_AUTO_LENGTH, &v) == napi_ok)
		napi_set_named_property(env, obj, key, v);
}

/* Throws; callers return NULL right after. */
void throw_errno(napi_env env, int err, const char *syscall_name, const char *path)
{
	const char *code = strerrorname_np(err);
	char msg[PATH_MAX + 128];
	napi_value text, error, num;

	if (!code)
		code = "EUNKNOWN";
	if (path)
		snprintf(msg, sizeof(msg), "%s: %s, %s '%s'", code, strerror(err), syscall_name, path);
	else
		snprintf(msg, sizeof(msg), "%s: %s, %s", code, strerror(err), syscall_name);
	if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text) != napi_ok ||
	    napi_create_error(env, NULL, text, &error) != napi_ok) {
		napi_throw_error(env, code, msg);
		return;
	}
	set_str(env, error, "code", code);
	if (napi_create_int32(env, -err, &num) == napi_ok)
		napi_set_named_property(env, error, "errno", num);
	set_str(env, error, "syscall", syscall_name);
	if (path)
		set_str(env, error, "path", path);
	napi_throw(env, error);
}

void throw_type(napi_env env, const char *fn, const char *arg, const char *want)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "%s: argument \"%s\" must be %s", fn, arg, want);
	napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

/* ---- arguments ---- */

bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = MAX_ARGS;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return false;
	for (size_t i = argc; i < want; i++)
		napi_get_undefined(env, &argv[i]);
	return true;
}

/* An integral JS number in [min, max]. */
bool get_int(napi_env env, napi_value v, const char *fn, const char *arg, double min,
		    double max, double *out)
{
	napi_valuetype t;

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_number ||
	    napi_get_value_double(env, v, out) != napi_ok || *out != floor(*out) || *out < min ||
	    *out > max) {
		throw_type(env, fn, arg, "an integer in range");
		return false;
	}
	return true;
}

bool get_fd(napi_env env, napi_value v, const char *fn, const char *arg, int *fd)
{
	double d;

	if (!get_int(env, v, fn, arg, 0, INT_MAX, &d))
		return false;
	*fd = (int)d;
	return true;
}

bool get_bool(napi_env env, napi_value v, const char *fn, const char *arg, bool *out)
{
	napi_valuetype t;

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean ||
	    napi_get_value_bool(env, v, out) != napi_ok) {
		throw_type(env, fn, arg, "a boolean");
		return false;
	}
	return true;
}

/* A string that fits buf (NUL included) and has no NUL inside. */
bool get_str(napi_env env, napi_value v, const char *fn, const char *arg, char *buf,
		    size_t cap)
{
	napi_valuetype t;
	size_t len;

	if (napi_typeof(env, v, &t) != napi_ok || t != napi_string ||
	    napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len >= cap ||
	    napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok || strlen(buf) != len) {
		throw_type(env, fn, arg, "a string without NUL, shorter than PATH_MAX");
		return false;
	}
	return true;
}

/* Keep v alive in *ref (a buffer native code holds on to), releasing what *ref held before. */
void hold_ref(napi_env env, napi_value v, napi_ref *ref)
{
	if (*ref)
		napi_delete_reference(env, *ref);
	napi_create_reference(env, v, 1, ref);
}

napi_value js_bool(napi_env env, bool b)
{
	napi_value v;

	napi_get_boolean(env, b, &v);
	return v;
}

bool export_functions(napi_env env, napi_value exports, const struct napi_export *fns, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		napi_value f;

		if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok ||
		    napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
			return false;
	}
	return true;
}
