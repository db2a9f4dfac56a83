/* Private file mappings as Linux makes them copy-on-write (the sentry maps a read-only private
 * mapping's file pages by reference and copies a page only once it could be written: see
 * docs/sentry.md, Memory). Without arguments, on the program's own file (a file of the rootfs):
 * the pages show the file; write(2), open() and /proc/self/mem read through them; a page made
 * writable and written is the process's own (not in the file, not in another mapping or process);
 * fork children see the parent's private writes as of the fork and diverge after; mremap, madvise,
 * PROT_NONE then PROT_READ, ptrace PEEK/POKE and /proc/self/mem writes of read-only pages (a copy,
 * the file unchanged). With a directory argument (a writable one), on a file made there: a write
 * to the file shows in a private mapping's pages no one wrote, not in a page the process wrote;
 * after a truncate the pages past the end fault with SIGBUS. */
#include "common.h"
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>

static sigjmp_buf jb;
static volatile int fault_sig;
static volatile int fault_code;
static void *volatile fault_addr;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	fault_sig = sig;
	fault_code = si->si_code;
	fault_addr = si->si_addr;
	siglongjmp(jb, 1);
}

/* Read `p`; "ok" or the fault (its address checked). */
static const char *probe(volatile char *p)
{
	if (sigsetjmp(jb, 1) == 0) {
		(void)*p;
		return "ok";
	}
	if (fault_addr != (void *)p) return "fault at a wrong address";
	if (fault_sig == SIGBUS) return fault_code == BUS_ADRERR ? "SIGBUS BUS_ADRERR" : "SIGBUS other";
	return fault_code == SEGV_ACCERR ? "SIGSEGV SEGV_ACCERR" : "SIGSEGV other";
}

static char *file_bytes(int fd, size_t n)
{
	char *b = malloc(n);
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, got);
		if (r <= 0) break;
		got += r;
	}
	return b;
}

/* The mapping's line of /proc/self/maps: its permissions ("r--p"), or "none". */
static const char *maps_perms(void *addr)
{
	static char perms[8];
	char buf[1 << 16];
	int fd = open("/proc/self/maps", O_RDONLY);
	ssize_t n = 0, r;
	while (fd >= 0 && n < (ssize_t)sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += r;
	if (fd >= 0) close(fd);
	buf[n < 0 ? 0 : n] = 0;
	for (char *l = buf; *l;) {
		unsigned long s, e;
		char p[8];
		if (sscanf(l, "%lx-%lx %7s", &s, &e, p) == 3 && (uintptr_t)addr >= s && (uintptr_t)addr < e) {
			snprintf(perms, sizeof perms, "%s", p);
			return perms;
		}
		char *nl = strchr(l, '\n');
		if (!nl) break;
		l = nl + 1;
	}
	return "none";
}

static void own_file(const char *self, long pg)
{
	int fd = open(self, O_RDONLY);
	struct stat st;
	fstat(fd, &st);
	size_t size = st.st_size & ~(pg - 1); /* whole pages of the file */
	char *want = file_bytes(fd, size);
	char *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	EXPECT("read-only private mapping of the program's file", m != MAP_FAILED);
	EXPECT("its pages are the file's", memcmp(m, want, size) == 0);
	SHOW("maps shows it", "%s", maps_perms(m));

	/* The sentry reads these pages for the application's calls. */
	int p[2];
	pipe(p);
	char got[4] = "";
	EXPECT("write(2) from the mapping", write(p[1], m + size - 3, 3) == 3 && read(p[0], got, 3) == 3 && memcmp(got, want + size - 3, 3) == 0);
	close(p[0]);
	close(p[1]);
	char *devnull = memmem(m, size, "/dev/null", 10);
	int dn = devnull ? open(devnull, O_RDONLY) : -1;
	EXPECT("open() of a path that lies in the mapping", dn >= 0);
	if (dn >= 0) close(dn);
	int mem = open("/proc/self/mem", O_RDWR);
	char word[8];
	EXPECT("/proc/self/mem reads the pages", pread(mem, word, 8, (off_t)(uintptr_t)(m + pg + 8)) == 8 && memcmp(word, want + pg + 8, 8) == 0);

	/* PROT_NONE, then readable again. */
	OK("mprotect PROT_NONE", mprotect(m + 2 * pg, pg, PROT_NONE));
	SHOW("read of the PROT_NONE page", "%s", probe(m + 2 * pg));
	OK("mprotect PROT_READ", mprotect(m + 2 * pg, pg, PROT_READ));
	EXPECT("readable again, the file's", memcmp(m + 2 * pg, want + 2 * pg, pg) == 0);

	/* A page made writable and written is the process's own. */
	OK("mprotect PROT_READ|PROT_WRITE", mprotect(m, pg, PROT_READ | PROT_WRITE));
	SHOW("maps after mprotect", "%s", maps_perms(m));
	EXPECT("the page still shows the file", memcmp(m, want, pg) == 0);
	m[16] = 'X';
	char c = 0;
	pread(fd, &c, 1, 16);
	EXPECT("a private write does not reach the file", c == want[16]);
	char *m2 = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, 0);
	EXPECT("nor another mapping of it", m2 != MAP_FAILED && m2[16] == want[16]);
	EXPECT("the rest of the mapping is still the file's", memcmp(m + pg, want + pg, size - pg) == 0);

	/* fork: the child sees the private writes as of the fork; each side's later writes are its own. */
	int go[2], back[2];
	pipe(go);
	pipe(back);
	pid_t pid = fork();
	if (pid == 0) {
		char r = m[16] == 'X' && m2[16] == want[16] && memcmp(m + pg, want + pg, size - pg) == 0 ? 'y' : 'n';
		char x;
		read(go[0], &x, 1); /* the parent wrote 'Y' */
		if (m[16] != 'X') r = 'n';
		m[17] = 'Z';
		mprotect(m + pg, pg, PROT_READ | PROT_WRITE);
		m[pg] = 'C';
		write(back[1], &r, 1);
		_exit(0);
	}
	m[16] = 'Y';
	write(go[1], "g", 1);
	char r = 0;
	read(back[0], &r, 1);
	int status;
	waitpid(pid, &status, 0);
	EXPECT("the child saw the parent's write as of the fork, not after", r == 'y');
	EXPECT("the parent does not see the child's writes", m[16] == 'Y' && m[17] == want[17] && m[pg] == want[pg]);
	close(go[0]);
	close(go[1]);
	close(back[0]);
	close(back[1]);

	/* madvise(MADV_DONTNEED) of a read-only page: the file's again. */
	OK("madvise DONTNEED", madvise(m + 3 * pg, pg, MADV_DONTNEED));
	EXPECT("the page is the file's", memcmp(m + 3 * pg, want + 3 * pg, pg) == 0);

	/* /proc/self/mem writes a read-only private page (FOLL_FORCE): a copy, the file unchanged. */
	EXPECT("/proc/self/mem writes a read-only page", pwrite(mem, "poked", 5, (off_t)(uintptr_t)(m + 4 * pg)) == 5);
	EXPECT("the mapping shows it", memcmp(m + 4 * pg, "poked", 5) == 0);
	pread(fd, got, 4, 4 * pg);
	EXPECT("the file does not", memcmp(got, want + 4 * pg, 4) == 0 && m2[0] == want[0]);
	EXPECT("nor the next page", memcmp(m + 5 * pg, want + 5 * pg, pg) == 0);
	SHOW("maps after the poke", "%s", maps_perms(m + 4 * pg));
	close(mem);

	/* ptrace: the tracer peeks and pokes the child's read-only file page. */
	pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		_exit(memcmp(m + 6 * pg, "\x08\x07\x06\x05\x04\x03\x02\x01", 8) == 0 && memcmp(m + 7 * pg, want + 7 * pg, pg) == 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	long peek;
	memcpy(&peek, want + 6 * pg, 8);
	errno = 0;
	EXPECT("PEEKDATA of a read-only file page", ptrace(PTRACE_PEEKDATA, pid, m + 6 * pg, NULL) == peek && errno == 0);
	OK("POKEDATA of a read-only file page", ptrace(PTRACE_POKEDATA, pid, m + 6 * pg, (void *)0x0102030405060708L));
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	waitpid(pid, &status, 0);
	EXPECT("the child sees the poke, and the page after it is the file's", WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT("the tracer's own mapping does not", memcmp(m + 6 * pg, want + 6 * pg, pg) == 0);

	/* mremap: moved and grown, the contents go along. */
	char *mv = mremap(m + 8 * pg, 2 * pg, 3 * pg, MREMAP_MAYMOVE);
	EXPECT("mremap of file pages", mv != MAP_FAILED);
	EXPECT("they moved with their contents", mv != MAP_FAILED && memcmp(mv, want + 8 * pg, 2 * pg) == 0);
	munmap(mv, 3 * pg);
	munmap(m, size);
	munmap(m2, pg);
	free(want);
	close(fd);
}

static void writable_file(const char *dir, long pg)
{
	char path[512];
	snprintf(path, sizeof path, "%s/moat-filemap-%d", dir, (int)getpid());
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	EXPECT("made a file in the directory", fd >= 0);
	if (fd < 0) return;
	unlink(path);
	char *page = malloc(pg);
	for (int i = 0; i < 4; i++) {
		memset(page, 'a' + i, pg);
		write(fd, page, pg);
	}
	char *m = mmap(NULL, 4 * pg, PROT_READ, MAP_PRIVATE, fd, 0);
	char *w = mmap(NULL, 4 * pg, PROT_READ, MAP_PRIVATE, fd, 0);
	EXPECT("two private mappings of it", m != MAP_FAILED && w != MAP_FAILED);
	OK("mprotect one page writable", mprotect(w + pg, pg, PROT_READ | PROT_WRITE));
	w[pg] = 'W';
	pwrite(fd, "changed", 7, 0);
	pwrite(fd, "changed", 7, pg);
	SHOW("a page no one wrote shows the file's change", "%.7s", m);
	SHOW("in the other mapping too", "%.7s", w);
	SHOW("the page the process wrote does not", "%.7s", w + pg);
	SHOW("the other mapping's same page does", "%.7s", m + pg);
	pid_t pid = fork();
	if (pid == 0) {
		pwrite(fd, "child", 5, 2 * pg);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	SHOW("another process's write shows", "%.5s", m + 2 * pg);
	OK("ftruncate to one page and a half", ftruncate(fd, pg + pg / 2));
	SHOW("the first page", "%s", probe(m));
	SHOW("past the end in the last page", "%s %d", probe(m + pg + pg / 2 + 8), m[pg + pg / 2 + 8]);
	SHOW("the page past the end", "%s", probe(m + 2 * pg));
	SHOW("in the other mapping", "%s", probe(w + 3 * pg + 100));
	SHOW("the page the process wrote", "%s %c", probe(w + pg), w[pg]);
	munmap(m, 4 * pg);
	munmap(w, 4 * pg);
	free(page);
	close(fd);
}

int main(int argc, char **argv)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct sigaction sa = { 0 };
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	if (argc > 1) writable_file(argv[1], pg);
	else own_file(argv[0], pg);
	return finish();
}
