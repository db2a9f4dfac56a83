/* Run from a sealed memfd copy of ourselves: see cloned.h (runc's cloned_binary.c, simplified). */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloned.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

int cloned_binary_ensure(char **argv)
{
	struct stat st;
	off_t done = 0;
	int self, mfd, seals, saved;

	self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -1;
	seals = fcntl(self, F_GET_SEALS);
	if (seals >= 0 && (seals & SEALS) == SEALS) {
		close(self);
		/* fexecve names the process after the fd; keep the name tools look for. */
		(void)prctl(PR_SET_NAME, "moat-exec", 0, 0, 0);
		return 0;
	}
	if (fstat(self, &st) < 0)
		goto fail_self;
	mfd = memfd_create("moat-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (mfd < 0 && errno == EINVAL) /* kernels before 6.3 know no MFD_EXEC */
		mfd = memfd_create("moat-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		goto fail_self;
	while (done < st.st_size) {
		ssize_t n = sendfile(mfd, self, NULL, (size_t)(st.st_size - done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail_both;
		}
		done += n;
	}
	if (fcntl(mfd, F_ADD_SEALS, SEALS) < 0)
		goto fail_both;
	close(self);
	fexecve(mfd, argv, environ);
	saved = errno;
	close(mfd);
	errno = saved;
	return -1;
fail_both:
	saved = errno;
	close(mfd);
	errno = saved;
fail_self:
	saved = errno;
	close(self);
	errno = saved;
	return -1;
}
