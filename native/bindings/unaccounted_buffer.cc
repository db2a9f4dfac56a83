/*
 * An ArrayBuffer over memory the caller mapped, which V8 does not count as external memory, and
 * which is unmapped as soon as a garbage collection finds it dead.
 *
 * N-API's external ArrayBuffer has a deleter, so V8 adds its whole length to the isolate's
 * external memory as it makes it; a total past the limit (64 MiB over the last collection) starts
 * a full mark-compact right there ("external memory pressure"). The sentry maps a 3 GiB sparse
 * memory file per address space, so every exec and fork cost one (14-47 ms each, measured with
 * --trace-gc: 12 of them, 0.57 s, in a shell loop of ten /bin/true). A backing store with V8's
 * empty deleter is not accounted (the memory is the caller's to free). Each buffer is instead
 * counted ACCOUNTED bytes, so that a collection comes after some 64 address spaces.
 *
 * N-API's finalizers run from the event loop, which the sentry's kernel loop never yields to, so
 * a dead address space's 3 GiB mapping stayed until the sentry exited (300 execs: 303 mappings,
 * 0.9 TiB of address space). Here a weak handle's first-pass callback unmaps it during the
 * collection itself: the ArrayBuffer is unreachable then, and munmap is no V8 call.
 *
 * This is the addon's one use of V8's C++ API (the rest is N-API, whose ABI holds across Node
 * versions; V8's does not): it is used only under the very Node version whose headers it was
 * built with (the Makefile takes the running Node's), where napi_value is a v8::Local<v8::Value>.
 * Under any other, NULL, and the caller makes an N-API buffer as before. Nothing of V8 is bound
 * at load time (lazy binding, V8's empty deleter looked up with dlsym), so the addon loads under
 * any Node.
 */
#include <cstdint>
#include <cstring>
#include <dlfcn.h>
#include <memory>
#include <new>
#include <sys/mman.h>

#include <node_version.h> /* first: it defines NAPI_VERSION, which node_api.h only defaults */
#include <node_api.h>
#include <v8.h>

extern "C" napi_value moat_unaccounted_arraybuffer(napi_env env, void *data, size_t length);

/* What V8 is told each buffer costs: 64 of them reach its external memory limit. */
static const int64_t ACCOUNTED = 1 << 20;

namespace {

struct Mapping {
	void *data;
	size_t length;
	v8::Global<v8::ArrayBuffer> handle;
};

void unmap_dead(const v8::WeakCallbackInfo<Mapping> &info)
{
	Mapping *m = info.GetParameter();
	m->handle.Reset();
	munmap(m->data, m->length);
	delete m;
}

typedef void (*Deleter)(void *data, size_t length, void *deleter_data);

/* V8's empty deleter under the Node this was built for, or NULL. */
Deleter empty_deleter(napi_env env)
{
	static int state; /* 0 unknown, 1 usable, -1 not */
	static Deleter found;
	if (state == 0) {
		const napi_node_version *v = nullptr;
		state = -1;
		if (napi_get_node_version(env, &v) == napi_ok && v && v->major == NODE_MAJOR_VERSION &&
		    v->minor == NODE_MINOR_VERSION && v->patch == NODE_PATCH_VERSION) {
			found = reinterpret_cast<Deleter>(dlsym(RTLD_DEFAULT, "_ZN2v812BackingStore12EmptyDeleterEPvmS1_"));
			if (found)
				state = 1;
		}
	}
	return state == 1 ? found : nullptr;
}

} // namespace

/* The ArrayBuffer over [data, data+length), which unmaps it once collected; NULL on failure (the
 * caller still owns the mapping then). */
extern "C" napi_value moat_unaccounted_arraybuffer(napi_env env, void *data, size_t length)
{
	Deleter empty = empty_deleter(env);
	if (empty == nullptr)
		return nullptr;
	v8::Isolate *isolate = v8::Isolate::GetCurrent();
	if (isolate == nullptr)
		return nullptr;
	std::shared_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(data, length, empty, nullptr);
	v8::Local<v8::ArrayBuffer> ab = v8::ArrayBuffer::New(isolate, std::move(store));
	Mapping *m = new (std::nothrow) Mapping{ data, length, v8::Global<v8::ArrayBuffer>(isolate, ab) };
	if (m == nullptr)
		return nullptr; /* unreachable garbage now, never read: the caller unmaps */
	m->handle.SetWeak(m, unmap_dead, v8::WeakCallbackType::kParameter);
	isolate->AdjustAmountOfExternalAllocatedMemory(ACCOUNTED);
	napi_value out;
	static_assert(sizeof(out) == sizeof(ab), "a napi_value is a v8::Local");
	std::memcpy(static_cast<void *>(&out), &ab, sizeof(out));
	return out;
}
