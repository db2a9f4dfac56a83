// SHA-256 (FIPS 180-4), for the name of a pod's server socket: the launcher must name it exactly as
// src/shim/address.ts does (a hash of containerd's address, the namespace and the group).
#ifndef MOAT_SHIM_SHA256_H
#define MOAT_SHIM_SHA256_H
#include <stddef.h>
#include <stdint.h>

/** The digest of data[0..len) as 64 lowercase hex digits and a NUL in hex[65]. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
