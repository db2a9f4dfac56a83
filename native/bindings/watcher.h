/* The sentry's socket watcher (sentry.c): a thread that tells the tracer when a watched host fd
 * is ready, started on the first wait with watched fds. The confined sentry does not use it
 * (confine.c): its filter allows no eventfd2. */
#ifndef MOAT_WATCHER_H
#define MOAT_WATCHER_H
#include <stdbool.h>

bool sentry_start_watcher(void);
/* Never start it (the confined sentry: see confine.c); waits on host sockets poll. */
void sentry_disable_watcher(void);

#endif
