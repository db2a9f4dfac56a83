/* P's ops: before the clone (setns, unshare, write) and after it (child-write). */
#ifndef MOAT_PARENT_OPS_H
#define MOAT_PARENT_OPS_H

#include <sys/types.h>

#include "plan.h"
#include "report.h"

/* Run ops [from, to) of the plan. `child` is C's pid after the clone, 0 before. */
int parent_run(const struct plan *p, size_t from, size_t to, pid_t child, struct err *e);

/* The fd made by `idmap-tree` (sent to C with "go"), or -1. */
int parent_tree_fd(void);

#endif
