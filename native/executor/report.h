/* Error text and the report fd: the only way moat-exec talks back to moat. */
#ifndef MOAT_REPORT_H
#define MOAT_REPORT_H

#include <sys/types.h>

#define ERR_MAX 1024

/* One line of error text, built by the op that failed ("mountat /proc (proc): ..."). */
struct err {
	char msg[ERR_MAX];
};

/* msg = "<fmt...>: <strerror(errnum)>", or just "<fmt...>" when errnum is 0. */
void err_set(struct err *e, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write "pid <N>\n" / "error <text>\n" on the report fd. Newlines in text become spaces. */
int report_pid(int fd, pid_t pid);
int report_error(int fd, const char *text);

/* After `ready`: C can only tell the user, on its own stderr. */
void report_stderr(const char *text);

#endif
