// A strict JSON scanner (RFC 8259) that keeps one string: the sandbox-id annotation. Recursive
// descent with a depth bound (CONFIG_MAX_DEPTH), every read checked against the end of the buffer,
// strings decoded (\" \\ \/ \b \f \n \r \t \uXXXX) only as far as the comparison needs: a key or a
// value with any non-ASCII character can equal neither the annotation's name nor a valid id.
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char ANNOTATIONS[] = "annotations";
static const char SANDBOX_KEY[] = "io.kubernetes.cri.sandbox-id";

struct scan {
  const unsigned char *b, *p, *e;
  int depth;
  const char *what; // the first error, and where
  size_t at;
  char *id;
  char text[SANDBOX_ID_MAX]; // a string value being read (not on the recursion's stack)
};

/** What a value is to the scan: skipped, the top level, the annotations object, the id. */
enum role { SKIP, TOP, ANNOTATIONS_OBJ, SANDBOX_VALUE };

static int fail(struct scan *s, const char *what) {
  if (!s->what) {
    s->what = what;
    s->at = (size_t)(s->p - s->b);
  }
  return -1;
}

static void ws(struct scan *s) {
  while (s->p < s->e && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/**
 * The string at s->p (its opening quote). Its ASCII characters go to out[0..cap) while they fit;
 * *exact stays 1 only if every character was ASCII and fit, so out[0..*n) is the whole string.
 */
static int string(struct scan *s, char *out, size_t cap, size_t *n, int *exact) {
  *n = 0;
  *exact = 1;
  s->p++; // "
  for (;;) {
    if (s->p >= s->e) return fail(s, "unterminated string");
    unsigned c = *s->p;
    if (c == '"') {
      s->p++;
      return 0;
    }
    if (c < 0x20) return fail(s, "control character in a string");
    if (c == '\\') {
      if (s->e - s->p < 2) return fail(s, "unterminated escape");
      switch (s->p[1]) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
          if (s->e - s->p < 6) return fail(s, "truncated \\u escape");
          c = 0;
          for (int i = 2; i < 6; i++) {
            int h = hexval(s->p[i]);
            if (h < 0) return fail(s, "bad \\u escape");
            c = c << 4 | (unsigned)h;
          }
          s->p += 4; // and the two below
          break;
        }
        default: return fail(s, "bad escape");
      }
      s->p += 2;
    } else {
      s->p++; // a byte >= 0x80 is part of a non-ASCII character: not copied
    }
    if (c < 0x80 && *n < cap) out[(*n)++] = (char)c;
    else *exact = 0;
  }
}

static int digits(struct scan *s) {
  const unsigned char *from = s->p;
  while (s->p < s->e && *s->p >= '0' && *s->p <= '9') s->p++;
  return s->p > from ? 0 : fail(s, "expected a digit");
}

static int number(struct scan *s) {
  if (*s->p == '-') s->p++;
  if (s->p < s->e && *s->p == '0') s->p++;
  else if (s->p < s->e && *s->p >= '1' && *s->p <= '9') digits(s);
  else return fail(s, "bad number");
  if (s->p < s->e && *s->p == '.') {
    s->p++;
    if (digits(s) < 0) return -1;
  }
  if (s->p < s->e && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->e && (*s->p == '+' || *s->p == '-')) s->p++;
    if (digits(s) < 0) return -1;
  }
  return 0;
}

static int literal(struct scan *s, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(s->e - s->p) < n || memcmp(s->p, word, n) != 0) return fail(s, "unexpected character");
  s->p += n;
  return 0;
}

static int valid_id(const char *id, size_t n) {
  if (n < 1 || n > SANDBOX_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '-' || c == '.')) return 0;
  }
  return 1;
}

static int value(struct scan *s, enum role role);

static int object(struct scan *s, enum role role) {
  s->p++; // {
  ws(s);
  if (s->p < s->e && *s->p == '}') {
    s->p++;
    return 0;
  }
  for (;;) {
    ws(s);
    if (s->p >= s->e || *s->p != '"') return fail(s, "expected a string key");
    char key[sizeof SANDBOX_KEY];
    size_t n;
    int exact;
    if (string(s, key, sizeof key, &n, &exact) < 0) return -1;
    ws(s);
    if (s->p >= s->e || *s->p != ':') return fail(s, "expected ':'");
    s->p++;
    enum role sub = SKIP;
    // A later occurrence of the key replaces an earlier one, as in JSON.parse.
    if (role == TOP && exact && n == strlen(ANNOTATIONS) && memcmp(key, ANNOTATIONS, n) == 0) sub = ANNOTATIONS_OBJ, s->id[0] = '\0';
    if (role == ANNOTATIONS_OBJ && exact && n == strlen(SANDBOX_KEY) && memcmp(key, SANDBOX_KEY, n) == 0) sub = SANDBOX_VALUE, s->id[0] = '\0';
    if (value(s, sub) < 0) return -1;
    ws(s);
    if (s->p < s->e && *s->p == ',') {
      s->p++;
      continue;
    }
    if (s->p < s->e && *s->p == '}') {
      s->p++;
      return 0;
    }
    return fail(s, "expected ',' or '}'");
  }
}

static int array(struct scan *s) {
  s->p++; // [
  ws(s);
  if (s->p < s->e && *s->p == ']') {
    s->p++;
    return 0;
  }
  for (;;) {
    if (value(s, SKIP) < 0) return -1;
    ws(s);
    if (s->p < s->e && *s->p == ',') {
      s->p++;
      continue;
    }
    if (s->p < s->e && *s->p == ']') {
      s->p++;
      return 0;
    }
    return fail(s, "expected ',' or ']'");
  }
}

static int value(struct scan *s, enum role role) {
  ws(s);
  if (s->p >= s->e) return fail(s, "expected a value");
  switch (*s->p) {
    case '{':
    case '[': {
      if (++s->depth > CONFIG_MAX_DEPTH) return fail(s, "nested deeper than 256 levels");
      // Only an object holds keys: an array of annotations has none by the annotation's name.
      int r = *s->p == '{' ? object(s, role == SANDBOX_VALUE ? SKIP : role) : array(s);
      s->depth--;
      return r;
    }
    case '"': {
      size_t n;
      int exact;
      if (string(s, s->text, sizeof s->text, &n, &exact) < 0) return -1;
      if (role == SANDBOX_VALUE && exact && valid_id(s->text, n)) {
        memcpy(s->id, s->text, n);
        s->id[n] = '\0';
      }
      return 0;
    }
    case 't': return literal(s, "true");
    case 'f': return literal(s, "false");
    case 'n': return literal(s, "null");
    default:
      if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) return number(s);
      return fail(s, "unexpected character");
  }
}

int config_sandbox_id(const unsigned char *buf, size_t len, char id[SANDBOX_ID_MAX + 1], char *err, size_t errcap) {
  struct scan s = {.b = buf, .p = buf, .e = buf + len, .id = id};
  id[0] = '\0';
  if (value(&s, TOP) == 0) {
    ws(&s);
    if (s.p == s.e) return 0;
    fail(&s, "unexpected data after the JSON value");
  }
  snprintf(err, errcap, "not JSON: %s at byte %zu", s.what, s.at);
  id[0] = '\0';
  return -1;
}

int config_read(const char *path, unsigned char **buf, size_t *len, char *err, size_t errcap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errcap, "%s: not a regular file", path);
    close(fd);
    return -1;
  }
  if (st.st_size > (off_t)CONFIG_MAX_BYTES) {
    snprintf(err, errcap, "%s: larger than %u MiB", path, CONFIG_MAX_BYTES >> 20);
    close(fd);
    return -1;
  }
  size_t cap = (size_t)st.st_size + 1, n = 0; // one more: a file that grew meanwhile is seen
  unsigned char *b = malloc(cap);
  if (!b) {
    snprintf(err, errcap, "%s: out of memory", path);
    close(fd);
    return -1;
  }
  for (;;) {
    ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
      free(b);
      close(fd);
      return -1;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n == cap) {
      snprintf(err, errcap, "%s: changed while read", path);
      free(b);
      close(fd);
      return -1;
    }
  }
  close(fd);
  *buf = b;
  *len = n;
  return 0;
}
