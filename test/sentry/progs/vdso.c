/* The vDSO: found as a libc finds it (AT_SYSINFO_EHDR, its ELF dynamic symbols), listed in
 * /proc/self/maps, and each of its calls agreeing with the syscall it stands for: a syscall's value
 * lies between two vDSO reads of the same clock (and the coarse clocks are the same coarse clocks),
 * gettimeofday, time, clock_getres and getcpu give what their syscalls give, a clock read 10000
 * times never goes back; in a forked child and after an exec it works as well. Its pages read
 * through the kernel as they do directly (write() of them to a pipe, /proc/self/mem, PEEKTEXT, a
 * path in them), its data page not through /proc/self/mem.
 * `vdso refused` tries what the sentry refuses and Linux allows (a write through /proc/self/mem or
 * POKETEXT, which Linux makes to a copy of the page; write() of [vvar]; munmap, mremap) and prints
 * the results: test/sentry/programs.test.ts checks them under the sentry only.
 * `vdso loop N` makes N calls of each through libc and through the vDSO, and exactly 3 clock_gettime
 * syscalls: test/sentry/programs.test.ts counts the trapped ones under --strace. */
#include "common.h"
#include <elf.h>
#include <sched.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

typedef int (*clock_fn)(clockid_t, struct timespec *);
typedef int (*tod_fn)(struct timeval *, struct timezone *);
typedef time_t (*time_fn)(time_t *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

static struct {
	clock_fn gettime, getres;
	tod_fn gettimeofday;
	time_fn time;
	getcpu_fn getcpu;
} vd;

/* A symbol of the vDSO at base, through PT_DYNAMIC (DT_SYMTAB, DT_STRTAB, DT_HASH), as a libc does. */
static void *vdso_sym(unsigned long base, const char *name)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)base;
	Elf64_Phdr *ph = (Elf64_Phdr *)(base + eh->e_phoff);
	unsigned long bias = 0, dyn = 0;
	int loads = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && loads++ == 0) bias = base + ph[i].p_offset - ph[i].p_vaddr;
		if (ph[i].p_type == PT_DYNAMIC) dyn = ph[i].p_vaddr;
	}
	if (!loads || !dyn) return NULL;
	Elf64_Sym *syms = NULL;
	const char *strs = NULL;
	Elf32_Word *hash = NULL;
	for (Elf64_Dyn *d = (Elf64_Dyn *)(bias + dyn); d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_SYMTAB) syms = (Elf64_Sym *)(bias + d->d_un.d_ptr);
		if (d->d_tag == DT_STRTAB) strs = (const char *)(bias + d->d_un.d_ptr);
		if (d->d_tag == DT_HASH) hash = (Elf32_Word *)(bias + d->d_un.d_ptr);
	}
	if (!syms || !strs || !hash) return NULL;
	for (Elf32_Word i = 0; i < hash[1]; i++)
		if (syms[i].st_shndx != SHN_UNDEF && syms[i].st_value && strcmp(strs + syms[i].st_name, name) == 0)
			return (void *)(bias + syms[i].st_value);
	return NULL;
}

static int find_vdso(void)
{
	unsigned long base = getauxval(AT_SYSINFO_EHDR);
	if (!base) return 0;
	const unsigned char *e = (const unsigned char *)base;
	if (memcmp(e, ELFMAG, SELFMAG) != 0 || e[EI_CLASS] != ELFCLASS64 || ((Elf64_Ehdr *)base)->e_type != ET_DYN) return 0;
	vd.gettime = (clock_fn)vdso_sym(base, "__vdso_clock_gettime");
	vd.getres = (clock_fn)vdso_sym(base, "__vdso_clock_getres");
	vd.gettimeofday = (tod_fn)vdso_sym(base, "__vdso_gettimeofday");
	vd.time = (time_fn)vdso_sym(base, "__vdso_time");
	vd.getcpu = (getcpu_fn)vdso_sym(base, "__vdso_getcpu");
	return vd.gettime && vd.getres && vd.gettimeofday && vd.time && vd.getcpu;
}

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

/* vDSO, syscall, vDSO (and syscall, vDSO, syscall): each middle value between its neighbours. */
static int sandwich(clockid_t c)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		struct timespec a, b, c2, d, e;
		if (vd.gettime(c, &a) || syscall(SYS_clock_gettime, c, &b) || vd.gettime(c, &c2)) return 0;
		if (syscall(SYS_clock_gettime, c, &d) || vd.gettime(c, &e)) return 0;
		struct timespec f;
		if (syscall(SYS_clock_gettime, c, &f)) return 0;
		if (ns(a) <= ns(b) && ns(b) <= ns(c2) && ns(d) <= ns(e) && ns(e) <= ns(f)) return 1;
	}
	return 0;
}

static const struct { clockid_t id; const char *name; } CLOCKS[] = {
	{ CLOCK_REALTIME, "REALTIME" }, { CLOCK_MONOTONIC, "MONOTONIC" }, { CLOCK_BOOTTIME, "BOOTTIME" },
	{ CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW" }, { CLOCK_REALTIME_COARSE, "REALTIME_COARSE" },
	{ CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE" }, { CLOCK_TAI, "TAI" },
};
#define NCLOCKS (int)(sizeof CLOCKS / sizeof CLOCKS[0])

/* The clock checks a forked or exec'd child repeats: 0 when all pass. */
static int child_checks(void)
{
	if (!find_vdso()) return 1;
	for (int i = 0; i < NCLOCKS; i++)
		if (!sandwich(CLOCKS[i].id)) return 2;
	return 0;
}

static void maps_checks(void)
{
	unsigned long base = getauxval(AT_SYSINFO_EHDR), vdso = 0, vvar = 0;
	char line[512], perms[8] = "";
	FILE *f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof line, f)) {
		unsigned long s, e;
		char p[8];
		if (sscanf(line, "%lx-%lx %7s", &s, &e, p) != 3) continue;
		if (strstr(line, " [vdso]")) {
			vdso = s;
			strcpy(perms, p);
		}
		if (strstr(line, " [vvar]")) vvar = s;
	}
	if (f) fclose(f);
	EXPECT("/proc/self/maps: [vdso] at AT_SYSINFO_EHDR", vdso != 0 && vdso == base);
	EXPECT("/proc/self/maps: [vdso] is r-xp", strcmp(perms, "r-xp") == 0);
	EXPECT("/proc/self/maps: [vvar] below [vdso]", vvar != 0 && vvar < vdso);
}

/* The [vdso] and [vvar] mappings' ranges from /proc/self/maps: 0 if one is missing. */
static int vdso_ranges(unsigned long *vdso, unsigned long *vdso_end, unsigned long *vvar)
{
	char line[512];
	*vdso = *vdso_end = *vvar = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof line, f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx", &s, &e) != 2) continue;
		if (strstr(line, " [vdso]")) *vdso = s, *vdso_end = e;
		if (strstr(line, " [vvar]")) *vvar = s;
	}
	if (f) fclose(f);
	return *vdso && *vvar;
}

/* A child stopped under our PTRACE_TRACEME, or -1. */
static pid_t traced_child(void)
{
	pid_t p = fork();
	if (p == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		_exit(0);
	}
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFSTOPPED(st)) return -1;
	return p;
}

static void end_child(pid_t p)
{
	if (p <= 0) return;
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

/* Reading the vDSO's pages through the kernel (debuggers, crash reporters, dumpers do). */
static void read_checks(void)
{
	unsigned long vdso, end, vvar;
	EXPECT("/proc/self/maps: [vdso] and [vvar] ranges", vdso_ranges(&vdso, &end, &vvar) && end > vdso + 4096);
	if (!vdso || !vvar) return;
	const unsigned char *base = (const unsigned char *)vdso;
	size_t size = end - vdso;

	static unsigned char got[1 << 16];
	int p[2];
	ssize_t w = -1, r = -1;
	if (pipe2(p, O_NONBLOCK) == 0) { /* a failed write must not leave the read waiting */
		w = write(p[1], base, 4096);
		r = read(p[0], got, sizeof got);
		close(p[0]);
		close(p[1]);
	}
	EXPECT("write() of the vDSO's first page to a pipe: the whole page", w == 4096 && r == 4096);
	EXPECT("... it reads back as the ELF header and the page's bytes", r == 4096 && memcmp(got, ELFMAG, SELFMAG) == 0 && memcmp(got, base, 4096) == 0);

	int fd = open("/proc/self/mem", O_RDONLY);
	memset(got, 0, sizeof got);
	r = size <= sizeof got ? pread(fd, got, size, (off_t)vdso) : -1;
	EXPECT("pread of /proc/self/mem at the vDSO: all of [vdso], its bytes", r == (ssize_t)size && memcmp(got, base, size) == 0);
	errno = 0;
	r = pread(fd, got, 64, (off_t)(vdso + size / 2 + 3));
	EXPECT("pread of /proc/self/mem inside the vDSO: 64 bytes", r == 64 && memcmp(got, base + size / 2 + 3, 64) == 0);
	errno = 0;
	r = pread(fd, got, 64, (off_t)vvar);
	out("pread of /proc/self/mem at [vvar]: %zd %s\n", r, r < 0 ? en(errno) : "");
	close(fd);

	pid_t c = traced_child();
	errno = 0;
	long word = c > 0 ? ptrace(PTRACE_PEEKTEXT, c, (void *)vdso, NULL) : -1;
	EXPECT("PTRACE_PEEKTEXT of a tracee's vDSO: its first word", c > 0 && errno == 0 && memcmp(&word, base, sizeof word) == 0);
	end_child(c);

	/* A path the kernel reads from the vDSO: a symbol's name, which names no file. */
	const unsigned char *name = memmem(base, size, "__vdso_time", sizeof "__vdso_time");
	errno = 0;
	EXPECT("access() of a path in the vDSO (a symbol's name): ENOENT", name && access((const char *)name, F_OK) == -1 && errno == ENOENT);
}

/* "what: r", or "what: -1 ERRNO" (errno as the call left it). */
static void result(const char *what, long r)
{
	if (r < 0) out("%s: -1 %s\n", what, en(errno));
	else out("%s: %ld\n", what, r);
}

/* What Linux allows and the sentry refuses (see the header): printed, compared by the test. */
static int refused(void)
{
	unsigned long vdso, end, vvar;
	if (!find_vdso() || !vdso_ranges(&vdso, &end, &vvar)) return 1;
	size_t size = end - vdso;
	static unsigned char before[1 << 16];
	if (size > sizeof before) return 2;
	memcpy(before, (void *)vdso, size);

	int fd = open("/proc/self/mem", O_RDWR);
	errno = 0;
	/* The bytes already there: on Linux the write succeeds (into a copy of the page) and changes nothing. */
	result("pwrite of /proc/self/mem at the vDSO", pwrite(fd, (void *)vdso, 4, (off_t)vdso));
	close(fd);

	pid_t c = traced_child();
	long word;
	memcpy(&word, (void *)vdso, sizeof word);
	errno = 0;
	result("PTRACE_POKETEXT of a tracee's vDSO", c > 0 ? ptrace(PTRACE_POKETEXT, c, (void *)vdso, (void *)word) : -1);
	end_child(c);

	int p[2];
	if (pipe(p) != 0) return 3;
	errno = 0;
	result("write() of [vvar] to a pipe", write(p[1], (void *)vvar, 64));
	close(p[0]);
	close(p[1]);

	struct timespec ts;
	EXPECT("the vDSO unchanged, and its clock_gettime works", memcmp(before, (void *)vdso, size) == 0 && vd.gettime(CLOCK_MONOTONIC, &ts) == 0);

	errno = 0;
	result("munmap of the vDSO", munmap((void *)vdso, size));
	errno = 0;
	result("mremap of the vDSO", mremap((void *)vdso, size, size + 4096, MREMAP_MAYMOVE) == MAP_FAILED ? -1 : 0);
	unsigned long after, after_end, after_vvar;
	EXPECT("[vdso] still where it was", vdso_ranges(&after, &after_end, &after_vvar) && after == vdso && after_end == end);
	return finish();
}

static void clock_checks(void)
{
	char name[64];
	for (int i = 0; i < NCLOCKS; i++) {
		snprintf(name, sizeof name, "%s: syscall between vDSO reads", CLOCKS[i].name);
		EXPECT(name, sandwich(CLOCKS[i].id));
		struct timespec r1 = { -1, -1 }, r2 = { -2, -2 };
		snprintf(name, sizeof name, "%s: clock_getres as the syscall's", CLOCKS[i].name);
		EXPECT(name, vd.getres(CLOCKS[i].id, &r1) == 0 && syscall(SYS_clock_getres, CLOCKS[i].id, &r2) == 0 && ns(r1) == ns(r2));
	}
	struct timespec prev, now;
	int back = 0;
	vd.gettime(CLOCK_MONOTONIC, &prev);
	for (int i = 0; i < 10000; i++, prev = now) {
		vd.gettime(CLOCK_MONOTONIC, &now);
		back |= ns(now) < ns(prev);
	}
	EXPECT("MONOTONIC: 10000 vDSO reads never go back", !back);
	struct timespec bad = { 7, 7 };
	EXPECT("a clock the vDSO does not serve (PROCESS_CPUTIME): its syscall's answer", vd.gettime(CLOCK_PROCESS_CPUTIME_ID, &bad) == 0 && ns(bad) > 0);
	EXPECT("an invalid clock: EINVAL through the vDSO too", vd.gettime(12345, &bad) == -EINVAL || (vd.gettime(12345, &bad) == -1 && errno == EINVAL));

	int tod = 0;
	for (int attempt = 0; attempt < 3 && !tod; attempt++) {
		struct timeval a, b, c;
		struct timezone za = { 1, 1 }, zb = { 2, 2 };
		vd.gettimeofday(&a, &za);
		syscall(SYS_gettimeofday, &b, &zb);
		vd.gettimeofday(&c, NULL);
		long long ua = a.tv_sec * 1000000LL + a.tv_usec, ub = b.tv_sec * 1000000LL + b.tv_usec, uc = c.tv_sec * 1000000LL + c.tv_usec;
		tod = ua <= ub && ub <= uc && za.tz_minuteswest == zb.tz_minuteswest && za.tz_dsttime == zb.tz_dsttime;
	}
	EXPECT("gettimeofday: syscall between vDSO reads, the same timezone", tod);

	int tm = 0, coarse = 0;
	for (int attempt = 0; attempt < 3 && !(tm && coarse); attempt++) {
		time_t a = vd.time(NULL), b = syscall(SYS_time, NULL), out = 0, c = vd.time(&out);
		tm = a <= b && b <= c && out == c;
		struct timespec rc;
		time_t t1 = vd.time(NULL);
		vd.gettime(CLOCK_REALTIME_COARSE, &rc);
		coarse = vd.time(NULL) == t1 && rc.tv_sec == t1;
	}
	EXPECT("time: syscall between vDSO reads", tm);
	EXPECT("time: the coarse wall clock's second", coarse);

	int cpu_ok = 0, in_mask = 0;
	for (int attempt = 0; attempt < 100 && !cpu_ok; attempt++) {
		unsigned c1 = 999, n1 = 999, c2 = 998, n2 = 998;
		if (vd.getcpu(&c1, &n1, NULL) != 0 || syscall(SYS_getcpu, &c2, &n2, NULL) != 0) break;
		cpu_ok = c1 == c2 && n1 == n2;
		cpu_set_t set;
		CPU_ZERO(&set);
		in_mask = sched_getaffinity(0, sizeof set, &set) == 0 && c1 < CPU_SETSIZE && CPU_ISSET(c1, &set);
	}
	EXPECT("getcpu: the syscall's CPU and node", cpu_ok);
	EXPECT("getcpu: a CPU of sched_getaffinity's mask", in_mask);
	EXPECT("getcpu with NULL pointers", vd.getcpu(NULL, NULL, NULL) == 0);
}

static void fork_exec_checks(const char *self)
{
	int st = -1;
	pid_t p = fork();
	if (p == 0) _exit(child_checks());
	waitpid(p, &st, 0);
	EXPECT("after fork: the child's vDSO agrees with its syscalls", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	p = fork();
	if (p == 0) {
		execl(self, self, "exec-child", (char *)NULL);
		_exit(9);
	}
	waitpid(p, &st, 0);
	EXPECT("after exec: a vDSO that agrees with the syscalls", WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* N calls of each through libc (which takes the vDSO when there is one) and the vDSO directly. */
static int loop(long n)
{
	struct timespec ts;
	struct timeval tv;
	unsigned cpu;
	long long sum = 0;
	if (!find_vdso()) return 1;
	for (long i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sum += ts.tv_nsec;
		clock_gettime(CLOCK_REALTIME, &ts);
		clock_gettime(CLOCK_BOOTTIME, &ts);
		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		gettimeofday(&tv, NULL);
		sum += time(NULL);
		vd.gettime(CLOCK_MONOTONIC_RAW, &ts);
		vd.getcpu(&cpu, NULL, NULL);
	}
	for (int i = 0; i < 3; i++) syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	out("loop done %d\n", sum != 0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "exec-child") == 0) return child_checks();
	if (argc > 2 && strcmp(argv[1], "loop") == 0) return loop(atol(argv[2]));
	if (argc > 1 && strcmp(argv[1], "refused") == 0) return refused();
	int found = find_vdso();
	EXPECT("AT_SYSINFO_EHDR: a vDSO with clock_gettime, clock_getres, gettimeofday, time, getcpu", found);
	if (!found) return finish();
	maps_checks();
	read_checks();
	clock_checks();
	fork_exec_checks("/proc/self/exe");
	return finish();
}
