/* Memory: anonymous and file-backed (private and shared) mmap, MAP_FIXED, munmap, mprotect (faults
 * reported as SIGSEGV with the right si_code and address), mremap, madvise, brk, and memory shared
 * or copied across fork. */
#include "common.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static sigjmp_buf jb;
static volatile int fault_code;
static void *volatile fault_addr;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)uc;
	fault_code = si->si_code;
	fault_addr = si->si_addr;
	siglongjmp(jb, 1);
}

/* Touch `p` (read or write); returns "ok", or the fault's si_code name with the address checked. */
static const char *probe(volatile char *p, int write)
{
	fault_code = 0;
	fault_addr = NULL;
	if (sigsetjmp(jb, 1) == 0) {
		if (write) *p = 1; else (void)*p;
		return "ok";
	}
	if (fault_addr != (void *)p) return "SIGSEGV at a wrong address";
	return fault_code == SEGV_MAPERR ? "SIGSEGV SEGV_MAPERR" : fault_code == SEGV_ACCERR ? "SIGSEGV SEGV_ACCERR" : "SIGSEGV other";
}

int main(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	SHOW("page size", "%ld", pg);
	struct sigaction sa = { 0 };
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);

	/* anonymous private: zero-filled, writable */
	char *a = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT("mmap anonymous", a != MAP_FAILED);
	EXPECT("page aligned", ((uintptr_t)a & (pg - 1)) == 0);
	int zero = 1;
	for (long i = 0; i < 4 * pg; i++) if (a[i]) zero = 0;
	EXPECT("anonymous memory is zero", zero);
	for (long i = 0; i < 4 * pg; i++) a[i] = (char)(i * 7);
	int same = 1;
	for (long i = 0; i < 4 * pg; i++) if (a[i] != (char)(i * 7)) same = 0;
	EXPECT("pattern reads back", same);

	/* mprotect: read-only faults on write with SEGV_ACCERR, PROT_NONE on read, back to RW */
	OK("mprotect PROT_READ", mprotect(a + pg, pg, PROT_READ));
	SHOW("read of read-only page", "%s", probe(a + pg + 5, 0));
	SHOW("write to read-only page", "%s", probe(a + pg + 5, 1));
	SHOW("write next to it", "%s", probe(a + 2 * pg, 1));
	OK("mprotect PROT_NONE", mprotect(a + pg, pg, PROT_NONE));
	SHOW("read of PROT_NONE page", "%s", probe(a + pg, 0));
	OK("mprotect RW", mprotect(a + pg, pg, PROT_READ | PROT_WRITE));
	SHOW("write after mprotect RW", "%s", probe(a + pg, 1));
	EXPECT("mprotect kept the contents", a[pg + 5] == (char)((pg + 5) * 7));
	FAILS("mprotect unaligned", mprotect(a + 1, pg, PROT_READ), EINVAL);

	/* madvise(MADV_DONTNEED) on private anonymous memory: zero on next touch */
	OK("madvise MADV_DONTNEED", madvise(a + 2 * pg, pg, MADV_DONTNEED));
	EXPECT("DONTNEED page reads zero", a[2 * pg] == 0 && a[3 * pg - 1] == 0);
	EXPECT("other pages untouched", a[3 * pg] == (char)(3 * pg * 7));
	OK("madvise MADV_WILLNEED", madvise(a, pg, MADV_WILLNEED));

	/* mremap: grow in place or move, contents kept, new tail zero; shrink */
	char *b = mremap(a, 4 * pg, 16 * pg, MREMAP_MAYMOVE);
	EXPECT("mremap grow", b != MAP_FAILED);
	EXPECT("mremap kept the contents", b[7] == (char)(7 * 7) && b[3 * pg] == (char)(3 * pg * 7));
	EXPECT("mremap new tail zero", b[15 * pg] == 0);
	b[16 * pg - 1] = 'e';
	char *c = mremap(b, 16 * pg, 2 * pg, 0);
	EXPECT("mremap shrink in place", c == b);
	SHOW("access beyond shrunk mapping", "%s", probe(b + 3 * pg, 0));
	FAILS("mremap grow 1 TiB without MAYMOVE", mremap(b, 2 * pg, 1L << 40, 0) == MAP_FAILED ? -1L : 0L, ENOMEM);
	OK("munmap", munmap(b, 2 * pg));
	SHOW("access after munmap", "%s", probe(b, 0));
	OK("munmap of nothing", munmap(b, 2 * pg));
	FAILS("munmap unaligned", munmap(b + 1, pg), EINVAL);

	/* bad arguments */
	FAILS("mmap length 0", (long)mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), EINVAL);
	FAILS("mmap bad fd", (long)mmap(NULL, pg, PROT_READ, MAP_PRIVATE, -1, 0), EBADF);
	FAILS("mmap no MAP_PRIVATE/SHARED", (long)mmap(NULL, pg, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL);

	/* MAP_FIXED inside a PROT_NONE reservation */
	char *res = mmap(NULL, 8 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *fx = mmap(res + 2 * pg, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	EXPECT("MAP_FIXED at the address asked", fx == res + 2 * pg);
	SHOW("write in the fixed page", "%s", probe(fx, 1));
	SHOW("write in the reservation", "%s", probe(res + pg, 1));
	char *nr = mmap(res + 4 * pg, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	SHOW("MAP_FIXED_NOREPLACE over a mapping", "%s", nr == MAP_FAILED ? en(errno) : "mapped");
	munmap(res, 8 * pg);

	/* file-backed, private and shared */
	char path[64];
	snprintf(path, sizeof path, "/tmp/moat-sentry-mmap-%d", (int)getpid());
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	unlink(path);
	for (long i = 0; i < 2 * pg; i += 16) write(fd, "0123456789abcdef", 16);
	write(fd, "tail", 4); /* the file ends 4 bytes into its third page */
	char *f = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	EXPECT("mmap file private", f != MAP_FAILED);
	SHOW("file contents through the mapping", "%.16s %.4s", f + pg, f + 2 * pg);
	EXPECT("past EOF in the last page is zero", f[2 * pg + 4] == 0 && f[3 * pg - 1] == 0);
	f[0] = 'X';
	char c0 = 0;
	pread(fd, &c0, 1, 0);
	SHOW("private write does not reach the file", "%c", c0);
	OK("madvise DONTNEED private file page", madvise(f, pg, MADV_DONTNEED));
	SHOW("file page re-read after DONTNEED", "%c", f[0]);
	char *f2 = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, pg);
	SHOW("mmap at a file offset", "%.4s", f2 == MAP_FAILED ? "fail" : f2);
	FAILS("mmap unaligned offset", (long)mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, 100), EINVAL);
	munmap(f2, pg);
	munmap(f, 3 * pg);
	char *s = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT("mmap file shared", s != MAP_FAILED);
	memcpy(s + 10, "SHARED", 6);
	char rb[8] = "";
	pread(fd, rb, 6, 10);
	SHOW("shared write reaches the file", "%s", rb);
	pwrite(fd, "written", 7, pg);
	SHOW("file write shows in the shared mapping", "%.7s", s + pg);
	OK("msync", msync(s, 2 * pg, MS_SYNC));
	munmap(s, 2 * pg);
	close(fd);

	/* fork: private memory is copied, MAP_SHARED|MAP_ANONYMOUS is shared */
	volatile int *priv = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile int *shr = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	*priv = 1;
	*shr = 1;
	pid_t pid = fork();
	if (pid == 0) {
		*priv = 2;
		*shr = 2;
		_exit(*priv == 2 ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	SHOW("child exit", "%d", WEXITSTATUS(st));
	SHOW("after fork: private, shared", "%d %d", *priv, *shr);

	/* brk: the syscall itself */
	long cur = syscall(SYS_brk, 0);
	EXPECT("brk(0) returns the break", cur > 0);
	long grown = syscall(SYS_brk, cur + 64 * 1024);
	EXPECT("brk grows by 64 KiB", grown == cur + 64 * 1024);
	char *heap = (char *)cur;
	memset(heap, 'h', 64 * 1024);
	EXPECT("new heap is usable", heap[64 * 1024 - 1] == 'h');
	long shrunk = syscall(SYS_brk, cur + 4096);
	EXPECT("brk shrinks", shrunk == cur + 4096);
	SHOW("access beyond the shrunk break", "%s", probe(heap + 32 * 1024, 0));
	long again = syscall(SYS_brk, cur + 64 * 1024);
	EXPECT("brk regrows", again == cur + 64 * 1024);
	EXPECT("regrown heap is zero", heap[32 * 1024] == 0);
	syscall(SYS_brk, cur);
	void *m = malloc(1 << 20);
	EXPECT("malloc 1 MiB", m != NULL);
	memset(m, 1, 1 << 20);
	free(m);
	return finish();
}
