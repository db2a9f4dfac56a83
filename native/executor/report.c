#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

void err_set(struct err *e, int errnum, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (errnum != 0 && (size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, ": %s", strerror(errnum));
}

/* Paths come from the plan and may hold any byte but NUL; keep the report one line per message. */
static size_t one_line(char *dst, size_t cap, const char *prefix, const char *text)
{
	int n = snprintf(dst, cap, "%s%s", prefix, text);
	size_t len = (n < 0) ? 0 : ((size_t)n >= cap - 1 ? cap - 2 : (size_t)n);

	for (size_t i = 0; i < len; i++)
		if (dst[i] == '\n' || dst[i] == '\r')
			dst[i] = ' ';
	dst[len++] = '\n';
	return len;
}

int report_pid(int fd, pid_t pid)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "pid %d\n", (int)pid);

	return write_all(fd, line, (size_t)n);
}

int report_error(int fd, const char *text)
{
	char line[ERR_MAX + 16];
	size_t len = one_line(line, sizeof(line), "error ", text);

	return write_all(fd, line, len);
}

void report_stderr(const char *text)
{
	char line[ERR_MAX + 16];
	size_t len = one_line(line, sizeof(line), "moat-exec: ", text);

	(void)write_all(STDERR_FILENO, line, len);
}
