/* Shared helpers of moat_native.node (napi_util.c). Each throws a JS error and returns false/NULL on bad input. */
#ifndef MOAT_NAPI_UTIL_H
#define MOAT_NAPI_UTIL_H
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>

#define MAX_ARGS 8

/* Throws an Error like Node's system errors ("ECODE: text, syscall 'path'"); callers return NULL. */
void throw_errno(napi_env env, int err, const char *syscall_name, const char *path);
void throw_type(napi_env env, const char *fn, const char *arg, const char *want);
/* argv must hold MAX_ARGS values; missing ones are undefined. */
bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
/* An integral JS number in [min, max]. */
bool get_int(napi_env env, napi_value v, const char *fn, const char *arg, double min, double max, double *out);
bool get_fd(napi_env env, napi_value v, const char *fn, const char *arg, int *fd);
bool get_bool(napi_env env, napi_value v, const char *fn, const char *arg, bool *out);
/* A string that fits buf (NUL included) and has no NUL inside. */
bool get_str(napi_env env, napi_value v, const char *fn, const char *arg, char *buf, size_t cap);
napi_value js_bool(napi_env env, bool b);
void hold_ref(napi_env env, napi_value v, napi_ref *ref);

/* A module's exported functions. */
struct napi_export {
	const char *name;
	napi_callback fn;
};

/* Add n functions to exports; false if N-API failed. */
bool export_functions(napi_env env, napi_value exports, const struct napi_export *fns, size_t n);

/* Sub-modules: each adds its functions to exports; false after throwing. */
bool moat_register_sentry(napi_env env, napi_value exports);
bool moat_register_gofer(napi_env env, napi_value exports);
bool moat_register_vm(napi_env env, napi_value exports); /* vm_tty.c */
bool moat_register_vm_mem(napi_env env, napi_value exports); /* vm_mem.c: template memory */
bool moat_register_net(napi_env env, napi_value exports); /* net.c: the sentry's host sockets */
bool moat_register_confine(napi_env env, napi_value exports); /* confine.c: the sentry's own filter and root */
bool moat_register_runner_watch(napi_env env, napi_value exports); /* runner_watch.c: a vm do dies with its runner */
bool moat_register_host_clock(napi_env env, napi_value exports); /* host_clock.c: the clocks the sentry and its vDSO share */
bool moat_register_host_random(napi_env env, napi_value exports); /* host_random.c: the sandbox's random bytes */
int moat_readiness_fd(int fd); /* sentry.c: a host socket's readiness signals the tracer's wait (0 | -errno) */
/* unaccounted_buffer.cc: an ArrayBuffer over a mapping V8 does not count as external memory (unmapped once collected) */
napi_value moat_unaccounted_arraybuffer(napi_env env, void *data, size_t length);

#endif
