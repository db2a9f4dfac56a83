/* Run mode: P stays the init's parent, forwards signals to it and returns its status. */
#ifndef MOAT_SUPERVISE_H
#define MOAT_SUPERVISE_H

#include <signal.h>
#include <sys/types.h>

/* The parent-death signal of a `moat do` supervisor (--die-with-parent): one nobody sends or
 * forwards. Caught (signalfd) once supervising, it kills the init. */
#define RUNNER_DEATH_SIG SIGSTKFLT

/* Block the forwarded signals and SIGCHLD and return a signalfd for them (-1 on error).
 * Call before reporting `pid`, so no signal meant for the container is lost or kills P. */
int supervise_prepare(void);

/* Forward signals from sfd to child until it exits; return the exit code, or 128+signal. */
int supervise(pid_t child, int sfd);

#endif
