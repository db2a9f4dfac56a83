/* Privileges: no_new_privs, capability sets, seccomp. Masks and filters come ready-made. */
#include "child_ops.h"

#include <errno.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

int op_no_new_privs(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	(void)op;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		err_set(e, errno, "no-new-privs");
		return -1;
	}
	return 0;
}

/* Drop from the bounding set every capability the kernel knows that is not in the mask. */
int op_cap_bounding(struct child *c, const struct plan_op *op, struct err *e)
{
	uint64_t keep = op->a[0].u;

	(void)c;
	/* PR_CAPBSET_READ fails with EINVAL past the kernel's last capability. */
	for (unsigned long cap = 0; cap < 64 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
		if (keep & (UINT64_C(1) << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			err_set(e, errno, "cap-bounding: drop %lu", cap);
			return -1;
		}
	}
	return 0;
}

int op_keep_caps(struct child *c, const struct plan_op *op, struct err *e)
{
	(void)c;
	if (prctl(PR_SET_KEEPCAPS, (unsigned long)op->a[0].u, 0, 0, 0) < 0) {
		err_set(e, errno, "keep-caps %s", op->a[0].s);
		return -1;
	}
	return 0;
}

static int raise_ambient(uint64_t ambient, struct err *e)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		err_set(e, errno, "capset: clear ambient");
		return -1;
	}
	for (unsigned long cap = 0; cap < 64; cap++) {
		if (!(ambient & (UINT64_C(1) << cap)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
			err_set(e, errno, "capset: raise ambient %lu", cap);
			return -1;
		}
	}
	return 0;
}

/* capset(2) v3 takes each 64-bit set as two 32-bit halves. */
int op_capset(struct child *c, const struct plan_op *op, struct err *e)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	uint64_t eff = op->a[0].u, perm = op->a[1].u, inh = op->a[2].u;

	(void)c;
	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(eff >> (32 * i));
		data[i].permitted = (uint32_t)(perm >> (32 * i));
		data[i].inheritable = (uint32_t)(inh >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, data) < 0) {
		err_set(e, errno, "capset");
		return -1;
	}
	return raise_ambient(op->a[3].u, e);
}

int op_seccomp(struct child *c, const struct plan_op *op, struct err *e)
{
	/* Static: 32 KiB is too much for the stack of a process that may be tiny; C is single-threaded. */
	static struct sock_filter insns[BPF_MAXINSNS];
	const struct plan_arg *words = &op->a[1];
	struct sock_fprog prog = { .len = (unsigned short)(words->n / 4), .filter = insns };

	(void)c;
	for (size_t i = 0; i < prog.len; i++) {
		insns[i].code = (uint16_t)words->nums[4 * i];
		insns[i].jt = (uint8_t)words->nums[4 * i + 1];
		insns[i].jf = (uint8_t)words->nums[4 * i + 2];
		insns[i].k = words->nums[4 * i + 3];
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned)op->a[0].u, &prog) < 0) {
		err_set(e, errno, "seccomp (%u instructions)", (unsigned)prog.len);
		return -1;
	}
	return 0;
}
