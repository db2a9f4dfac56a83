// The launcher's config.json scanner (native/shim-launcher/config.c) under AddressSanitizer and
// UBSan: mutated specs (bytes changed, cut, inserted, removed), each in a heap block of exactly its
// size so that a read past the end is caught, and 1 MiB of `[`. Built and run by
// test/unit/shim-launcher-config.test.ts; argv[1] is the number of cases.
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static unsigned long long s = 88172645463325252ull;
static unsigned r(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (unsigned)s; }
int main(int argc, char **argv) {
  const char *seeds[] = {
    "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"true\"],\"env\":[\"A=\\u00e9\"]},\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandbox\",\"io.kubernetes.cri.sandbox-id\":\"pod1\",\"n\":[1,-2.5e3,true,false,null]}}",
    "[[[[[{\"a\":\"\\\\\\\"\"}]]]]]", "{\"annotations\":{\"io.kubernetes.cri.sandbox\\u002did\":\"x\"}}",
  };
  const char alpha[] = "{}[]\":,\\u0123456789abcdefABCDEFnrtx.-+eE \n\t\x00\x1f\x7f\xff\xc3\xa9";
  long iters = argc > 1 ? atol(argv[1]) : 200000;
  unsigned char buf[4096];
  char id[SANDBOX_ID_MAX + 1], err[256];
  int ok = 0;
  for (long i = 0; i < iters; i++) {
    const char *seed = seeds[r() % 3];
    size_t n = strlen(seed);
    memcpy(buf, seed, n);
    int muts = 1 + r() % 6;
    for (int m = 0; m < muts; m++) {
      unsigned k = r() % 4, at = n ? r() % n : 0;
      if (k == 0 && n) buf[at] = (unsigned char)alpha[r() % (sizeof alpha - 1)];
      else if (k == 1 && n) n = at;                                   // cut
      else if (k == 2 && n + 1 < sizeof buf) { memmove(buf + at + 1, buf + at, n - at); buf[at] = (unsigned char)alpha[r() % (sizeof alpha - 1)]; n++; }
      else if (k == 3 && n) { memmove(buf + at, buf + at + 1, n - at - 1); n--; }
    }
    // Exactly n bytes, in a heap block of that size: ASan sees any read past the end.
    unsigned char *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    if (config_sandbox_id(exact, n, id, err, sizeof err) == 0) ok++;
    if (strlen(id) > SANDBOX_ID_MAX) abort();
    free(exact);
  }
  // Deep nesting and a long string, exactly sized.
  size_t big = 1 << 20;
  unsigned char *deep = malloc(big);
  memset(deep, '[', big);
  if (config_sandbox_id(deep, big, id, err, sizeof err) != -1) abort();
  printf("%ld cases, %d valid JSON; deep: %s\n", iters, ok, err);
  free(deep);
  return 0;
}
