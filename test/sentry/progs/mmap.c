/* Memory: anonymous and file-backed (private and shared) mmap, MAP_FIXED, munmap, mprotect (faults
 * reported as SIGSEGV with the right si_code and address), mremap, madvise, brk, memory shared
 * or copied across fork, the pages of a file mapping past the file's end (SIGBUS, also after a
 * truncate), mmap's argument and permission checks, and /proc/pid/mem (a process's memory at the
 * file offset: read, written, sought, EIO where nothing is mapped, 0 once the process is gone). */
#include "common.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static sigjmp_buf jb;
static volatile int fault_sig;
static volatile int fault_code;
static void *volatile fault_addr;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	fault_sig = sig;
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
	if (fault_addr != (void *)p) return "fault at a wrong address";
	if (fault_sig == SIGBUS) return fault_code == BUS_ADRERR ? "SIGBUS BUS_ADRERR" : "SIGBUS other";
	return fault_code == SEGV_MAPERR ? "SIGSEGV SEGV_MAPERR" : fault_code == SEGV_ACCERR ? "SIGSEGV SEGV_ACCERR" : "SIGSEGV other";
}

/* The pages of a file mapping past the file's end are no memory (SIGBUS), private or shared, and
 * follow the file as it is truncated and grows again. */
static void file_end(long pg)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/moat-sentry-mmap-end-%d", (int)getpid());
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	unlink(path);
	char half[2048];
	memset(half, 'a', sizeof half);
	write(fd, half, sizeof half); /* half a page */
	char *p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	SHOW("private: the file's page", "%s", probe(p + 100, 0));
	EXPECT("private: past EOF in its page is zero", p[2048] == 0 && p[pg - 1] == 0);
	SHOW("private: read of the page past EOF", "%s", probe(p + pg, 0));
	SHOW("private: write to the page past EOF", "%s", probe(p + pg + 8, 1));
	int pfd[2];
	pipe(pfd);
	FAILS("write(2) from the page past EOF", write(pfd[1], p + pg, 16), EFAULT);
	OK("ftruncate up to two pages", ftruncate(fd, 2 * pg));
	SHOW("private: the page the file grew over", "%s", probe(p + pg, 0));
	EXPECT("private: it reads the file (zero)", p[pg] == 0);
	munmap(p, 2 * pg);

	char *s = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT("shared: mmap", s != MAP_FAILED);
	memset(s, 's', 2 * pg);
	SHOW("shared: page past EOF", "%s", probe(s + 2 * pg, 0));
	FAILS("read(2) into the shared page past EOF", read(open("/dev/zero", O_RDONLY), s + 2 * pg, 16), EFAULT);
	OK("ftruncate to a page and a half", ftruncate(fd, pg + pg / 2));
	EXPECT("shared: the cut page's tail is zero", s[pg + pg / 2] == 0 && s[2 * pg - 1] == 0 && s[pg + pg / 2 - 1] == 's');
	OK("ftruncate to 0", ftruncate(fd, 0));
	SHOW("shared: read after truncate to 0", "%s", probe(s, 0));
	SHOW("shared: write after truncate to 0", "%s", probe(s + pg, 1));
	OK("ftruncate up to a page", ftruncate(fd, pg));
	SHOW("shared: read after growing again", "%s", probe(s + 5, 0));
	EXPECT("shared: the page came back zero", s[0] == 0 && s[pg - 1] == 0);
	pwrite(fd, "grown", 5, 2 * pg);
	SHOW("shared: the page a write(2) past EOF grew", "%.5s", s + 2 * pg);
	s[2 * pg] = 'G';
	char g = 0;
	pread(fd, &g, 1, 2 * pg);
	SHOW("shared: its store reaches the file", "%c", g);
	munmap(s, 3 * pg);

	/* a fork's child sees the parent's truncation of a shared mapping too */
	s = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(100 * 1000);
		_exit(strcmp(probe(s, 0), "SIGBUS BUS_ADRERR") == 0 ? 0 : 1);
	}
	ftruncate(fd, 0);
	int st = 0;
	waitpid(pid, &st, 0);
	EXPECT("child of a fork: SIGBUS after the parent's truncate", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	munmap(s, pg);
	close(pfd[0]);
	close(pfd[1]);
	close(fd);
}

/* mmap's checks, in Linux's order. */
static void bad_maps(long pg)
{
	int pfd[2];
	pipe(pfd);
	FAILS("mmap a pipe's read end", (long)mmap(NULL, pg, PROT_READ, MAP_PRIVATE, pfd[0], 0), ENODEV);
	FAILS("mmap a pipe's write end", (long)mmap(NULL, pg, PROT_READ, MAP_PRIVATE, pfd[1], 0), EACCES);
	close(pfd[0]);
	close(pfd[1]);
	int op = open("/", O_PATH);
	FAILS("mmap an O_PATH descriptor", (long)mmap(NULL, pg, PROT_READ, MAP_PRIVATE, op, 0), EBADF);
	close(op);
	char path[64];
	snprintf(path, sizeof path, "/tmp/moat-sentry-mmap-ro-%d", (int)getpid());
	int w = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	ftruncate(w, pg);
	int ro = open(path, O_RDONLY);
	unlink(path);
	FAILS("a length past the address space is checked first", (long)mmap(NULL, 1L << 48, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0), ENOMEM);
	FAILS("shared writable mapping of a read-only fd", (long)mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0), EACCES);
	char *r = mmap(NULL, pg, PROT_READ, MAP_SHARED, ro, 0);
	EXPECT("shared read-only mapping of it", r != MAP_FAILED);
	FAILS("mprotect it writable", mprotect(r, pg, PROT_READ | PROT_WRITE), EACCES);
	munmap(r, pg);
	char *pw = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
	SHOW("private writable mapping of it", "%s", pw == MAP_FAILED ? en(errno) : "mapped");
	munmap(pw, pg);
	FAILS("offset 2^63 - 1 page", (long)mmap(NULL, pg, PROT_READ, MAP_SHARED, ro, 0x7ffffffffffff000L), EOVERFLOW);
	FAILS("negative offset", (long)mmap(NULL, pg, PROT_READ, MAP_SHARED, ro, -pg), EOVERFLOW);
	char *far = mmap(NULL, pg, PROT_READ, MAP_SHARED, ro, 0x7fffffffffffe000L);
	SHOW("offset 2^63 - 2 pages", "%s", far == MAP_FAILED ? en(errno) : "mapped");
	if (far != MAP_FAILED) SHOW("its page (past EOF)", "%s", probe(far, 0));
	munmap(far, pg);
	FAILS("MAP_SHARED_VALIDATE anonymous", (long)mmap(NULL, pg, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0), EINVAL);
	FAILS("MAP_SHARED_VALIDATE with MAP_SYNC", (long)mmap(NULL, pg, PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, ro, 0), EOPNOTSUPP);
	close(w);
	close(ro);
	char *u = mmap((void *)0x30000001, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT("unaligned hint without MAP_FIXED", u != MAP_FAILED && ((long)u & (pg - 1)) == 0);
	munmap(u, pg);

	/* /dev/zero shared: new memory each time */
	int z = open("/dev/zero", O_RDWR);
	char *z1 = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, z, 0);
	memset(z1, 0xff, pg);
	munmap(z1, pg);
	char *z2 = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, z, 0);
	EXPECT("/dev/zero shared: a new mapping is zero", z2[0] == 0 && z2[pg - 1] == 0);
	munmap(z2, pg);
	close(z);

	/* RLIMIT_AS (in a child: the limit stays there) */
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit rl = { 64L << 20, RLIM_INFINITY };
		long big = 256L << 20;
		/* the limit is the address space's size: glibc's own mappings count, so only a lot more fails */
		setrlimit(RLIMIT_AS, &rl);
		void *m = mmap(NULL, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		_exit(m == MAP_FAILED && errno == ENOMEM ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	EXPECT("RLIMIT_AS: a mapping past it is ENOMEM", WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static volatile char secret[16] = "before";

static void proc_mem(long pg)
{
	char text[] = "hello-world";
	char got[sizeof text] = "";
	int m = open("/proc/self/mem", O_RDWR);
	EXPECT("open /proc/self/mem", m >= 0);
	EXPECT("pread at an address", pread(m, got, sizeof got, (off_t)(uintptr_t)text) == sizeof got && memcmp(got, text, sizeof text) == 0);
	char dst[16] = "";
	EXPECT("pwrite at an address", pwrite(m, "written", 8, (off_t)(uintptr_t)dst) == 8 && strcmp(dst, "written") == 0);
	char *ro = mmap(NULL, 2 * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(ro + pg, pg);
	EXPECT("pwrite to a read-only private page (a debugger's breakpoint)", pwrite(m, "x", 1, (off_t)(uintptr_t)ro) == 1 && ro[0] == 'x');
	char buf[32];
	SHOW("pread across the end of a mapping", "%ld", (long)pread(m, buf, 16, (off_t)(uintptr_t)(ro + pg - 8)));
	FAILS("pread of an unmapped page", pread(m, buf, 1, (off_t)(uintptr_t)(ro + pg)), EIO);
	FAILS("pwrite to an unmapped page", pwrite(m, buf, 1, (off_t)(uintptr_t)(ro + pg)), EIO);
	munmap(ro, pg);
	EXPECT("lseek to an address", lseek(m, (off_t)(uintptr_t)text, SEEK_SET) == (off_t)(uintptr_t)text);
	memset(buf, 0, sizeof buf);
	EXPECT("read advances", read(m, buf, 5) == 5 && lseek(m, 1, SEEK_CUR) == (off_t)(uintptr_t)text + 6 && read(m, buf + 5, 5) == 5);
	SHOW("what it read", "%s", buf);
	FAILS("lseek SEEK_END", lseek(m, 0, SEEK_END), EINVAL);
	close(m);

	/* a child's memory, and once it has exited */
	int up[2], down[2];
	pipe(up);
	pipe(down);
	pid_t pid = fork();
	if (pid == 0) {
		strcpy((char *)secret, "child's");
		write(up[1], "r", 1);
		char c;
		read(down[0], &c, 1);
		_exit(0);
	}
	char c;
	read(up[0], &c, 1);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
	int cm = open(path, O_RDONLY);
	EXPECT("open a child's /proc/pid/mem", cm >= 0);
	memset(buf, 0, sizeof buf);
	pread(cm, buf, sizeof secret, (off_t)(uintptr_t)secret);
	SHOW("the child's copy of a variable", "%s", buf);
	SHOW("the parent's", "%s", (char *)secret);
	write(down[1], "x", 1);
	waitpid(pid, NULL, 0);
	SHOW("pread once the child is gone", "%ld", (long)pread(cm, buf, sizeof secret, (off_t)(uintptr_t)secret));
	close(cm);
	close(up[0]); close(up[1]); close(down[0]); close(down[1]);
}

int main(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	SHOW("page size", "%ld", pg);
	struct sigaction sa = { 0 };
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

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
	file_end(pg);
	bad_maps(pg);
	proc_mem(pg);
	return finish();
}
