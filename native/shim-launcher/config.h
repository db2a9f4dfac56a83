// The one thing `start` reads from the bundle's config.json: CRI's io.kubernetes.cri.sandbox-id
// annotation, which groups a pod's containers onto one server (src/shim/address.ts groupOf).
// config.json is input from containerd's clients: read bounded, scanned as strict JSON (RFC 8259:
// escapes, nesting, numbers, literals), never trusted to be well-formed.
#ifndef MOAT_SHIM_CONFIG_H
#define MOAT_SHIM_CONFIG_H
#include <stddef.h>

#define CONFIG_MAX_BYTES (16u << 20)
#define CONFIG_MAX_DEPTH 256
#define SANDBOX_ID_MAX 1024

/**
 * Scan buf[0..len) as one JSON value. On success (0), id holds the annotation when it is a string of
 * [A-Za-z0-9_+-.]{1,1024} — the rule of groupOf — and "" otherwise (absent, another type, another
 * text: the container is then its own group). On malformed JSON (-1), err says what and at which
 * byte. As JSON.parse, a repeated key counts by its last occurrence.
 */
int config_sandbox_id(const unsigned char *buf, size_t len, char id[SANDBOX_ID_MAX + 1], char *err, size_t errcap);

/**
 * Read the regular file `path` (at most CONFIG_MAX_BYTES) into a malloc'd buffer; -1 with err set
 * (naming the path) when it cannot be read, is not a regular file or is too large.
 */
int config_read(const char *path, unsigned char **buf, size_t *len, char *err, size_t errcap);

#endif
