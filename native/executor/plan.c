#include "plan.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "util.h"

enum section { SEC_PARENT, SEC_CLONE, SEC_AFTER, SEC_CHILD };

/*
 * Argument signature letters:
 *   s string                u unsigned decimal (u64)     w unsigned 32-bit
 *   m mode (<= 07777)       i id: u32 or -1 (unchanged)  L rlimit value: u64 or -1 (infinity)
 *   r rlimit resource (number or RLIMIT_* name)          c mountat create: dir|file|none
 *   l list of strings       g list of ids (u32)          b list of u32 (seccomp BPF words)
 */
struct op_spec {
	const char *name;
	enum section sec;
	const char *sig;
};

static const struct op_spec specs[OP__COUNT] = {
	[OP_SETNS] = { "setns", SEC_PARENT, "sw" },
	[OP_UNSHARE] = { "unshare", SEC_PARENT, "w" },
	[OP_WRITE] = { "write", SEC_PARENT, "ss" },
	[OP_CLONE] = { "clone", SEC_CLONE, "w" },
	[OP_CHILD_WRITE] = { "child-write", SEC_AFTER, "ss" },
	[OP_IDMAP_TREE] = { "idmap-tree", SEC_AFTER, "sw" },
	[OP_GO] = { "go", SEC_AFTER, "" },
	[OP_SETSID] = { "setsid", SEC_CHILD, "" },
	[OP_SETRESGID] = { "setresgid", SEC_CHILD, "iii" },
	[OP_SETRESUID] = { "setresuid", SEC_CHILD, "iii" },
	[OP_MOUNT] = { "mount", SEC_CHILD, "sssus" },
	[OP_ROOTFS] = { "rootfs", SEC_CHILD, "s" },
	[OP_MOUNTAT] = { "mountat", SEC_CHILD, "sssusc" },
	[OP_MKDIRAT] = { "mkdirat", SEC_CHILD, "sm" },
	[OP_MKNODAT] = { "mknodat", SEC_CHILD, "swwwii" },
	[OP_SYMLINKAT] = { "symlinkat", SEC_CHILD, "ss" },
	[OP_OPEN_START] = { "open-start", SEC_CHILD, "s" },
	[OP_PIVOT_ROOT] = { "pivot-root", SEC_CHILD, "" },
	[OP_MOVE_ROOT] = { "move-root", SEC_CHILD, "" },
	[OP_MASK] = { "mask", SEC_CHILD, "s" },
	[OP_READONLY] = { "readonly", SEC_CHILD, "s" },
	[OP_REMOUNT_RO] = { "remount-ro", SEC_CHILD, "s" },
	[OP_SETHOSTNAME] = { "sethostname", SEC_CHILD, "s" },
	[OP_SETDOMAINNAME] = { "setdomainname", SEC_CHILD, "s" },
	[OP_LOOPBACK_UP] = { "loopback-up", SEC_CHILD, "" },
	[OP_WRITE_BENEATH] = { "write-beneath", SEC_CHILD, "sss" },
	[OP_RLIMIT] = { "rlimit", SEC_CHILD, "rLL" },
	[OP_SETGROUPS] = { "setgroups", SEC_CHILD, "g" },
	[OP_UMASK] = { "umask", SEC_CHILD, "m" },
	[OP_CHDIR] = { "chdir", SEC_CHILD, "s" },
	[OP_NO_NEW_PRIVS] = { "no-new-privs", SEC_CHILD, "" },
	[OP_CAP_BOUNDING] = { "cap-bounding", SEC_CHILD, "u" },
	[OP_KEEP_CAPS] = { "keep-caps", SEC_CHILD, "w" },
	[OP_CAPSET] = { "capset", SEC_CHILD, "uuuu" },
	[OP_SECCOMP] = { "seccomp", SEC_CHILD, "wb" },
	[OP_SECCOMP_CONNECT] = { "seccomp-connect", SEC_CHILD, "s" },
	[OP_SECCOMP_NOTIFY] = { "seccomp-notify", SEC_CHILD, "wbl" },
	[OP_CONSOLE_SETUP] = { "console-setup", SEC_CHILD, "wwwii" },
	[OP_SESSION_KEYRING] = { "session-keyring", SEC_CHILD, "s" },
	[OP_CHECK_EXEC] = { "check-exec", SEC_CHILD, "sl" },
	[OP_READY] = { "ready", SEC_CHILD, "" },
	[OP_WAIT_START] = { "wait-start", SEC_CHILD, "" },
	[OP_EXEC] = { "exec", SEC_CHILD, "wlll" },
	[OP_ATTACH_TREE] = { "attach-tree", SEC_CHILD, "s" },
	[OP_UMOUNT] = { "umount", SEC_CHILD, "s" },
};

#define NS_CLONE_FLAGS                                                                  \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |   \
	 CLONE_NEWPID | CLONE_NEWNET)
#define NS_ALL_FLAGS (NS_CLONE_FLAGS | CLONE_NEWTIME)

const char *op_name(enum op_kind k)
{
	return (k < OP__COUNT) ? specs[k].name : "?";
}

int plan_read(int fd, struct plan *p, struct err *e)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap);

	if (!buf) {
		err_set(e, ENOMEM, "plan: read");
		return -1;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= PLAN_MAX_BYTES) {
				err_set(e, 0, "plan: larger than %u bytes", PLAN_MAX_BYTES);
				goto fail;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err_set(e, ENOMEM, "plan: read");
				goto fail;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, errno, "plan: read fd %d", fd);
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	p->buf = buf;
	p->len = len;
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

/* ---- tokens and numbers ---- */

struct cursor {
	char *p, *end;
	size_t op_index; /* 1-based, for messages */
	const char *op;
};

static const char *next_token(struct cursor *c)
{
	char *t = c->p;

	if (c->p >= c->end)
		return NULL;
	/* plan_parse checked that the buffer ends with NUL, so strlen stays inside it. */
	c->p += strlen(t) + 1;
	return t;
}

/* Strict decimal: digits only, no sign, no leading zero (so an octal "0755" cannot slip through). */
static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool parse_bounded(const char *s, bool minus_one, uint64_t max, uint64_t *out)
{
	if (minus_one && strcmp(s, "-1") == 0) {
		*out = PLAN_NUM_NONE;
		return true;
	}
	return parse_u64(s, out) && *out <= max;
}

static const struct {
	const char *name;
	int res;
} rlimit_names[] = {
	{ "RLIMIT_CPU", RLIMIT_CPU },         { "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_DATA", RLIMIT_DATA },       { "RLIMIT_STACK", RLIMIT_STACK },
	{ "RLIMIT_CORE", RLIMIT_CORE },       { "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_NPROC", RLIMIT_NPROC },     { "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_AS", RLIMIT_AS },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS },     { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO },   { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

static bool parse_resource(const char *s, uint64_t *out)
{
	for (size_t i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++) {
		if (strcmp(s, rlimit_names[i].name) == 0) {
			*out = (uint64_t)rlimit_names[i].res;
			return true;
		}
	}
	return parse_bounded(s, false, RLIM_NLIMITS - 1, out);
}

static bool parse_create(const char *s, uint64_t *out)
{
	if (strcmp(s, "dir") == 0)
		*out = CREATE_DIR;
	else if (strcmp(s, "file") == 0)
		*out = CREATE_FILE;
	else if (strcmp(s, "none") == 0)
		*out = CREATE_NONE;
	else
		return false;
	return true;
}

static bool parse_scalar(char type, const char *tok, uint64_t *out)
{
	switch (type) {
	case 'u': return parse_u64(tok, out);
	case 'w': return parse_bounded(tok, false, UINT32_MAX, out);
	case 'm': return parse_bounded(tok, false, 07777, out);
	case 'i': return parse_bounded(tok, true, UINT32_MAX - 1, out);
	case 'L': return parse_bounded(tok, true, UINT64_MAX - 1, out);
	case 'r': return parse_resource(tok, out);
	case 'c': return parse_create(tok, out);
	default: return false;
	}
}

/* ---- lists ---- */

static int fail_arg(struct cursor *c, struct err *e, int argn, const char *what, const char *tok)
{
	if (tok)
		err_set(e, 0, "plan: op %zu (%s): argument %d: %s \"%.64s\"", c->op_index, c->op, argn,
			what, tok);
	else
		err_set(e, 0, "plan: op %zu (%s): argument %d: %s", c->op_index, c->op, argn, what);
	return -1;
}

static int parse_list(struct cursor *c, char type, struct plan_arg *a, int argn, struct err *e)
{
	const char *tok = next_token(c);
	uint64_t n, v;

	if (!tok)
		return fail_arg(c, e, argn, "missing list count", NULL);
	if (!parse_bounded(tok, false, PLAN_MAX_LIST, &n))
		return fail_arg(c, e, argn, "bad list count", tok);
	a->n = (size_t)n;
	if (type == 'l')
		a->list = calloc(a->n + 1, sizeof(*a->list)); /* NULL-terminated for execve */
	else
		a->nums = calloc(a->n + 1, sizeof(*a->nums));
	if (!a->list && !a->nums)
		return fail_arg(c, e, argn, "out of memory", NULL);
	for (size_t i = 0; i < a->n; i++) {
		tok = next_token(c);
		if (!tok)
			return fail_arg(c, e, argn, "list ends early", NULL);
		if (type == 'l')
			a->list[i] = tok;
		else if (!parse_bounded(tok, false, type == 'g' ? UINT32_MAX - 1 : UINT32_MAX, &v))
			return fail_arg(c, e, argn, "bad number in list", tok);
		else
			a->nums[i] = (uint32_t)v;
	}
	return 0;
}

static int parse_args(struct cursor *c, const char *sig, struct plan_op *op, struct err *e)
{
	for (int i = 0; sig[i]; i++) {
		struct plan_arg *a = &op->a[i];
		const char *tok;

		if (sig[i] == 'l' || sig[i] == 'g' || sig[i] == 'b') {
			if (parse_list(c, sig[i], a, i + 1, e) < 0)
				return -1;
			continue;
		}
		tok = next_token(c);
		if (!tok)
			return fail_arg(c, e, i + 1, "missing", NULL);
		a->s = tok;
		if (sig[i] != 's' && !parse_scalar(sig[i], tok, &a->u))
			return fail_arg(c, e, i + 1, "bad value", tok);
	}
	return 0;
}

/* ---- per-op value checks (shape only: the executor has no policy) ---- */

static bool single_component(const char *s)
{
	return s[0] != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static const char *check_seccomp(const struct plan_op *op)
{
	const struct plan_arg *prog = &op->a[1];

	if (op->kind == OP_SECCOMP && (op->a[0].u & SECCOMP_FILTER_FLAG_NEW_LISTENER))
		return "flag NEW_LISTENER is only for seccomp-notify (the listener fd would have nowhere to go)";
	if (op->kind == OP_SECCOMP_NOTIFY && op->a[2].n == 0)
		return "the state JSON needs at least one part";
	if (prog->n == 0 || prog->n % 4 != 0 || prog->n / 4 > BPF_MAXINSNS)
		return "program must be 1..4096 instructions of 4 numbers (code jt jf k)";
	for (size_t i = 0; i < prog->n; i += 4)
		if (prog->nums[i] > 0xffff || prog->nums[i + 1] > 0xff || prog->nums[i + 2] > 0xff)
			return "instruction field out of range";
	return NULL;
}

static const char *check_values(const struct plan_op *op)
{
	uint64_t v = op->a[0].u;

	switch (op->kind) {
	case OP_CLONE:
		return (v & ~(uint64_t)NS_CLONE_FLAGS) ? "flags other than CLONE_NEW*" : NULL;
	case OP_UNSHARE:
		return (v & ~(uint64_t)NS_ALL_FLAGS) ? "flags other than CLONE_NEW*" : NULL;
	case OP_SETNS:
		v = op->a[1].u;
		return (v & ~(uint64_t)NS_ALL_FLAGS) || (v & (v - 1)) ? "nstype is not 0 or one CLONE_NEW* flag" : NULL;
	case OP_CHILD_WRITE:
		return single_component(op->a[0].s) ? NULL : "name must be one path component";
	case OP_IDMAP_TREE:
		if (op->a[0].s[0] != '/')
			return "path must be absolute";
		return (op->a[1].u & ~(uint64_t)IDMAP_TREE_ATTRS) ? "attributes other than rdonly|nosuid|nodev" : NULL;
	case OP_KEEP_CAPS:
		return v > 1 ? "must be 0 or 1" : NULL;
	case OP_SECCOMP:
	case OP_SECCOMP_NOTIFY:
		return check_seccomp(op);
	case OP_EXEC:
		if (v > PLAN_MAX_KEEP)
			return "keep is too large";
		if (op->a[1].n == 0 || op->a[2].n == 0)
			return "needs at least one candidate and a non-empty argv";
		return NULL;
	default:
		return NULL;
	}
}

/* ---- op order ---- */

struct order {
	bool cloned, gone, rootfs, rooted, open_start, ready, wait_start, exec;
	bool seccomp_connect, seccomp_notify;
};

static const char *check_section(const struct order *o, enum section sec)
{
	if (o->exec)
		return "exec must be the last op";
	switch (sec) {
	case SEC_PARENT: return o->cloned ? "parent op after clone" : NULL;
	case SEC_CLONE: return o->cloned ? "second clone" : NULL;
	case SEC_AFTER: return (!o->cloned || o->gone) ? "must come between clone and go" : NULL;
	case SEC_CHILD: return !o->gone ? "child op before go" : NULL;
	}
	return NULL;
}

/* Order rules that keep C from doing something meaningless or unsafe (see the doc). */
static const char *check_order(struct order *o, enum op_kind k)
{
	switch (k) {
	case OP_CLONE: o->cloned = true; return NULL;
	case OP_GO: o->gone = true; return NULL;
	case OP_ROOTFS:
		/* Several are fine (moat do builds its overlay in one directory, then roots in another). */
		if (o->rooted)
			return "rootfs after pivot-root/move-root";
		o->rootfs = true;
		return NULL;
	case OP_MOUNTAT: case OP_MKDIRAT: case OP_MKNODAT: case OP_SYMLINKAT:
		return o->rootfs ? NULL : "in-root op before rootfs";
	case OP_PIVOT_ROOT: case OP_MOVE_ROOT:
		if (!o->rootfs || o->rooted)
			return "needs one rootfs before it, and only one pivot-root/move-root";
		o->rooted = true;
		return NULL;
	case OP_MASK: case OP_READONLY: case OP_REMOUNT_RO:
		return o->rooted ? NULL : "must come after pivot-root/move-root";
	case OP_OPEN_START:
		if (o->open_start || o->rooted)
			return "only one open-start, before pivot-root/move-root";
		o->open_start = true;
		return NULL;
	case OP_SECCOMP_CONNECT:
		if (o->seccomp_connect || o->rooted)
			return "only one seccomp-connect, before pivot-root/move-root";
		o->seccomp_connect = true;
		return NULL;
	case OP_SECCOMP_NOTIFY:
		if (!o->seccomp_connect || o->seccomp_notify || o->ready)
			return "needs seccomp-connect before it, only once, before ready";
		o->seccomp_notify = true;
		return NULL;
	case OP_READY:
		if (o->ready)
			return "second ready";
		o->ready = true;
		return NULL;
	case OP_WAIT_START:
		if (!o->open_start || !o->ready || o->wait_start)
			return "needs open-start and ready before it, and only once";
		o->wait_start = true;
		return NULL;
	case OP_EXEC:
		if (!o->ready)
			return "exec before ready";
		o->exec = true;
		return NULL;
	default:
		return NULL;
	}
}

static int lookup_op(const char *name, enum op_kind *k)
{
	for (int i = 0; i < OP__COUNT; i++) {
		if (strcmp(name, specs[i].name) == 0) {
			*k = (enum op_kind)i;
			return 0;
		}
	}
	return -1;
}

static int parse_one(struct cursor *c, struct plan *p, struct order *o, struct err *e)
{
	const char *name = next_token(c);
	struct plan_op *op;
	const char *why;

	if (p->nops == PLAN_MAX_OPS) {
		err_set(e, 0, "plan: more than %u ops", PLAN_MAX_OPS);
		return -1;
	}
	op = &p->ops[p->nops];
	c->op_index = p->nops + 1;
	if (lookup_op(name, &op->kind) < 0) {
		err_set(e, 0, "plan: op %zu: unknown op \"%.64s\"", c->op_index, name);
		return -1;
	}
	c->op = specs[op->kind].name;
	if (parse_args(c, specs[op->kind].sig, op, e) < 0)
		return -1;
	why = check_values(op);
	if (!why)
		why = check_section(o, specs[op->kind].sec);
	if (!why)
		why = check_order(o, op->kind);
	if (why) {
		err_set(e, 0, "plan: op %zu (%s): %s", c->op_index, c->op, why);
		return -1;
	}
	if (op->kind == OP_CLONE)
		p->clone_at = p->nops;
	if (op->kind == OP_GO)
		p->go_at = p->nops;
	p->nops++;
	return 0;
}

int plan_parse(struct plan *p, struct err *e)
{
	struct cursor c = { .p = p->buf, .end = p->buf + p->len };
	struct order o = { 0 };
	const char *magic;

	if (p->len == 0 || p->buf[p->len - 1] != '\0') {
		err_set(e, 0, "plan: empty, or the last token is not NUL-terminated");
		return -1;
	}
	magic = next_token(&c);
	if (strcmp(magic, PLAN_MAGIC) != 0) {
		err_set(e, 0, "plan: bad magic \"%.16s\" (want %s)", magic, PLAN_MAGIC);
		return -1;
	}
	p->ops = calloc(PLAN_MAX_OPS, sizeof(*p->ops));
	if (!p->ops) {
		err_set(e, ENOMEM, "plan: parse");
		return -1;
	}
	while (c.p < c.end)
		if (parse_one(&c, p, &o, e) < 0)
			return -1;
	if (!o.gone || !o.ready || !o.exec) {
		err_set(e, 0, "plan: incomplete: needs clone, go, ready and a final exec");
		return -1;
	}
	return 0;
}

unsigned plan_keep(const struct plan *p)
{
	return (unsigned)p->ops[p->nops - 1].a[0].u;
}
