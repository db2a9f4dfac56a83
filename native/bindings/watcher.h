/* The sentry's socket watcher (sentry.c): a thread that tells the tracer when a watched host fd
 * is ready. Started before the sentry confines itself (confine.c), since its eventfd and thread
 * are made then and the confined sentry's filter allows neither eventfd2 nor a new thread's setup
 * calls beyond those Node's threads need. */
#ifndef MOAT_WATCHER_H
#define MOAT_WATCHER_H
#include <stdbool.h>

bool sentry_start_watcher(void);

#endif
