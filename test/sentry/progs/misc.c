/* The rest: uname, the getuid family, getrandom, getrlimit/setrlimit/prlimit64, sysinfo,
 * prctl (PR_SET_NAME/PR_GET_NAME, with /proc/self/comm), arch_prctl, set_tid_address,
 * sched_yield, sched_getaffinity, getcpu, umask, ioctl on a non-terminal, and /proc details
 * (sys/kernel values, cpuinfo's fields, io accounting, task/ links and seeks, a reaped process's
 * directory, PR_SET_VMA_ANON_NAME in maps, smaps, O_DIRECTORY through an fd link). */
#include "common.h"
#include <asm/prctl.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <dirent.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>

static void read_comm(char *buf, size_t len)
{
	buf[0] = 0;
	int fd = open("/proc/self/comm", O_RDONLY);
	if (fd < 0) { snprintf(buf, len, "(open: %s)", en(errno)); return; }
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0) n = 0;
	buf[n] = 0;
	char *nl = strchr(buf, '\n');
	if (nl) *nl = 0;
}

/* A small /proc file's contents (NUL-terminated; empty if it cannot be read). */
static const char *slurp(const char *path)
{
	static char buf[16384];
	buf[0] = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0) return buf;
	ssize_t n, total = 0;
	while (total < (ssize_t)sizeof buf - 1 && (n = read(fd, buf + total, sizeof buf - 1 - total)) > 0) total += n;
	buf[total] = 0;
	close(fd);
	return buf;
}

/* syscw of this thread's /proc io file. */
static long syscw(void)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/io", (int)gettid());
	const char *p = strstr(slurp(path), "syscw: ");
	return p ? atol(p + 7) : -1;
}

static void proc_files(void)
{
	SHOW("/proc/sys/kernel/overflowuid", "%d", atoi(slurp("/proc/sys/kernel/overflowuid")));
	SHOW("/proc/sys/kernel/overflowgid", "%d", atoi(slurp("/proc/sys/kernel/overflowgid")));
	EXPECT("/proc/sys/kernel/keys/maxkeys is a number", atoi(slurp("/proc/sys/kernel/keys/maxkeys")) > 0);
	int aslr = atoi(slurp("/proc/sys/kernel/randomize_va_space"));
	EXPECT("randomize_va_space is 0, 1 or 2", slurp("/proc/sys/kernel/randomize_va_space")[0] != 0 && aslr >= 0 && aslr <= 2);
	const char *ci = slurp("/proc/cpuinfo");
	EXPECT("cpuinfo has cpu family, model, stepping, cache size, cpuid level",
		strstr(ci, "cpu family\t: ") && strstr(ci, "\nmodel\t\t: ") && strstr(ci, "stepping\t: ") && strstr(ci, "cache size\t: ") && strstr(ci, "cpuid level\t: "));

	/* io: a thread's write calls, counted exactly */
	int nul = open("/dev/null", O_WRONLY);
	long before = syscw();
	for (int i = 0; i < 5; i++) write(nul, "x", 1);
	long after = syscw();
	close(nul);
	EXPECT("io: syscw counts this thread's 5 writes", before >= 0 && after - before == 5);
	EXPECT("io: the process's file has the fields", strstr(slurp("/proc/self/io"), "rchar: ") && strstr(slurp("/proc/self/io"), "cancelled_write_bytes: 0\n"));

	/* task/: one link per thread more than 2; seekable to its end */
	struct stat st;
	stat("/proc/self/task", &st);
	EXPECT("task/ link count is 2 + threads", st.st_nlink == 3);
	int td = open("/proc/self/task", O_RDONLY | O_DIRECTORY);
	EXPECT("lseek(task/, 0, SEEK_END)", lseek(td, 0, SEEK_END) >= 0);
	close(td);

	/* a reaped process's task/ directory, still open: ENOENT */
	pid_t pid = fork();
	if (pid == 0) { pause(); _exit(0); }
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	int dfd = open(path, O_RDONLY | O_DIRECTORY);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	char dents[1024];
	FAILS("getdents of a reaped process's task/", syscall(SYS_getdents64, dfd, dents, sizeof dents), ENOENT);
	close(dfd);

	/* O_DIRECTORY through /proc/self/fd of an eventfd */
	int efd = eventfd(0, EFD_CLOEXEC);
	snprintf(path, sizeof path, "/proc/self/fd/%d", efd);
	FAILS("open(/proc/self/fd/<eventfd>, O_DIRECTORY)", open(path, O_RDONLY | O_DIRECTORY), ENOTDIR);
	close(efd);

	/* PR_SET_VMA_ANON_NAME: where the kernel has it, maps shows the name; file mappings refuse it */
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int r = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m, pg, "moat-test");
	EXPECT("anon name: in maps as set (or the kernel has none: EINVAL)", r == 0 ? strstr(slurp("/proc/self/maps"), "[anon:moat-test]") != NULL : errno == EINVAL);
	FAILS("anon name with a bracket", prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m, pg, "bad[name]"), EINVAL);
	munmap(m, pg);
	int self = open("/proc/self/exe", O_RDONLY);
	char *f = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, self, 0);
	r = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, f, pg, "x");
	EXPECT("anon name on a file mapping: EBADF (or EINVAL)", r == -1 && (errno == EBADF || errno == EINVAL));
	munmap(f, pg);
	close(self);

	/* task/<tid>/comm: written by the process's own threads (15 bytes kept), EINVAL for another */
	char cpath[64], name[32];
	snprintf(cpath, sizeof cpath, "/proc/%d/task/%d/comm", (int)getpid(), (int)gettid());
	int cfd = open(cpath, O_WRONLY);
	EXPECT("write task comm", cfd >= 0 && write(cfd, "0123456789abcdeXYZ", 18) == 18);
	close(cfd);
	read_comm(name, sizeof name);
	SHOW("comm after writing 18 bytes", "%s", name);
	pid = fork();
	if (pid == 0) {
		int fd = open(cpath, O_WRONLY);
		_exit(fd >= 0 && write(fd, "x", 1) == -1 && errno == EINVAL ? 0 : 1);
	}
	int ws = 0;
	waitpid(pid, &ws, 0);
	EXPECT("another process opens it but may not write: EINVAL", WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	prctl(PR_SET_NAME, "misc");

	/* ns/: magic links, followed to the namespace's inode */
	char target[64] = "";
	readlink("/proc/self/ns/pid", target, sizeof target - 1);
	EXPECT("access(/proc/self/ns/pid)", access("/proc/self/ns/pid", F_OK) == 0);
	struct stat ns;
	EXPECT("stat through it: the inode readlink names", stat("/proc/self/ns/pid", &ns) == 0 && strtoul(strchr(target, '[') ? strchr(target, '[') + 1 : "x", NULL, 10) == ns.st_ino);

	/* files opened while a process runs, read once it is a zombie, then once it is reaped */
	int go[2];
	char one[64];
	pipe(go);
	pid = fork();
	if (pid == 0) { char c; read(go[0], &c, 1); _exit(0); }
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	int cmdfd = open(path, O_RDONLY);
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	int statusfd = open(path, O_RDONLY);
	snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
	int mapfd = open(path, O_RDONLY);
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)getpid(), (int)gettid());
	char want[32];
	snprintf(want, sizeof want, "%d ", (int)pid);
	EXPECT("task children lists the child", strcmp(slurp(path), want) == 0);
	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	int piddir = open(path, O_RDONLY | O_DIRECTORY);
	write(go[1], "x", 1);
	siginfo_t si;
	waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
	FAILS("readlink of a zombie's ns/net", readlinkat(piddir, "ns/net", one, sizeof one), ENOENT);
	SHOW("a zombie's cmdline", "%ld bytes", (long)read(cmdfd, one, sizeof one));
	waitpid(pid, NULL, 0);
	FAILS("a reaped process's status", read(statusfd, one, 1), ESRCH);
	FAILS("readlink of exe in a reaped process's directory", readlinkat(piddir, "exe", one, sizeof one), ESRCH);
	close(piddir);
	EXPECT("its uid_map is still readable (the namespace's)", read(mapfd, one, sizeof one) > 0);
	close(cmdfd); close(statusfd); close(mapfd); close(go[0]); close(go[1]);

	/* smaps: each mapping's line and its sizes */
	const char *sm = slurp("/proc/self/smaps");
	EXPECT("smaps has Size, Rss and VmFlags", strstr(sm, "\nSize: ") && strstr(sm, "\nRss: ") && strstr(sm, "\nVmFlags: "));
}

/* PR_SET_MM needs CAP_SYS_RESOURCE; an affinity mask is inherited by fork and must name a CPU;
 * clone's TLS must be a user address (x86-64 copy_thread: EPERM). */
static void sched_and_tls(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct d[2];
		if (syscall(SYS_capget, &h, d) != 0) _exit(2);
		d[CAP_SYS_RESOURCE / 32].effective &= ~(1u << (CAP_SYS_RESOURCE % 32));
		if (syscall(SYS_capset, &h, d) != 0) _exit(3);
		errno = 0;
		int r = prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0, 0, 0);
		_exit(r == -1 && errno == EPERM ? 0 : 4);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	SHOW("PR_SET_MM without CAP_SYS_RESOURCE (0: EPERM)", "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	FAILS("PR_SET_MM with a stray argument", prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0, 0, 1), EINVAL);

	cpu_set_t all, mine, none;
	CPU_ZERO(&none);
	sched_getaffinity(0, sizeof all, &all);
	mine = all;
	/* with two CPUs or more, one fewer: a mask that differs from the default */
	for (int c = 0; c < CPU_SETSIZE && CPU_COUNT(&all) > 1; c++) {
		if (CPU_ISSET(c, &mine)) {
			CPU_CLR(c, &mine);
			break;
		}
	}
	FAILS("sched_setaffinity with no CPU", sched_setaffinity(0, sizeof none, &none), EINVAL);
	OK("sched_setaffinity", sched_setaffinity(0, sizeof mine, &mine));
	pid = fork();
	if (pid == 0) {
		cpu_set_t got;
		if (sched_getaffinity(0, sizeof got, &got) != 0) _exit(2);
		_exit(CPU_EQUAL(&got, &mine) ? 0 : 1);
	}
	st = -1;
	waitpid(pid, &st, 0);
	EXPECT("fork inherits the affinity mask", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cpu_set_t back;
	sched_getaffinity(0, sizeof back, &back);
	EXPECT("sched_getaffinity returns the mask set", CPU_EQUAL(&back, &mine));
	sched_setaffinity(0, sizeof all, &all);

	errno = 0;
	long r = syscall(SYS_clone, SIGCHLD | CLONE_SETTLS, 0, NULL, NULL, 1ul << 63);
	if (r == 0) _exit(0);
	int e = errno;
	if (r > 0) waitpid(r, NULL, 0);
	EXPECT("clone with a non-canonical TLS is EPERM", r == -1 && e == EPERM);
}

int main(void)
{
	/* uname: only what every Linux reports alike */
	struct utsname u;
	OK("uname", uname(&u));
	SHOW("sysname", "%s", u.sysname);
	SHOW("machine", "%s", u.machine);
	EXPECT("release is not empty", u.release[0] != 0);
	EXPECT("nodename is not empty", u.nodename[0] != 0);

	/* uids and gids: the same numbers natively as root and in the sandbox as its root */
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	OK("getresuid", getresuid(&ru, &eu, &su));
	OK("getresgid", getresgid(&rg, &eg, &sg));
	SHOW("getuid geteuid", "%d %d", (int)getuid(), (int)geteuid());
	SHOW("getgid getegid", "%d %d", (int)getgid(), (int)getegid());
	EXPECT("getresuid agrees", ru == getuid() && eu == geteuid() && su == eu);
	EXPECT("getresgid agrees", rg == getgid() && eg == getegid() && sg == eg);
	/* (the supplementary groups themselves differ: the caller's natively, the spec's in a sandbox) */
	EXPECT("getgroups count", getgroups(0, NULL) >= 0);
	FAILS("getgroups negative size", syscall(SYS_getgroups, -1, NULL), EINVAL);

	/* getrandom */
	unsigned char r1[16], r2[16];
	memset(r1, 0, sizeof r1);
	memset(r2, 0, sizeof r2);
	SHOW("getrandom", "%ld", (long)getrandom(r1, sizeof r1, 0));
	SHOW("getrandom GRND_NONBLOCK", "%ld", (long)getrandom(r2, sizeof r2, GRND_NONBLOCK));
	int nonzero = 0;
	for (int i = 0; i < 16; i++) if (r1[i]) nonzero = 1;
	EXPECT("getrandom 16 bytes not all zero", nonzero);
	EXPECT("two draws differ", memcmp(r1, r2, 16) != 0);
	FAILS("getrandom bad flags", getrandom(r1, 16, 0x1000), EINVAL);
	int ur = open("/dev/urandom", O_RDONLY);
	SHOW("read /dev/urandom", "%ld", (long)read(ur, r1, 16));
	close(ur);

	/* rlimits */
	struct rlimit rl, rl2;
	OK("getrlimit RLIMIT_NOFILE", getrlimit(RLIMIT_NOFILE, &rl));
	EXPECT("soft <= hard", rl.rlim_cur <= rl.rlim_max);
	struct rlimit lower = { 256, rl.rlim_max };
	OK("prlimit64 set NOFILE soft 256", prlimit(0, RLIMIT_NOFILE, &lower, &rl2));
	EXPECT("prlimit64 returned the old limit", rl2.rlim_cur == rl.rlim_cur && rl2.rlim_max == rl.rlim_max);
	getrlimit(RLIMIT_NOFILE, &rl2);
	SHOW("NOFILE soft now", "%lu", (unsigned long)rl2.rlim_cur);
	FAILS("F_DUPFD above the soft limit", fcntl(0, F_DUPFD, 300), EINVAL);
	struct rlimit inverted = { 10, 5 };
	FAILS("setrlimit soft > hard", setrlimit(RLIMIT_NOFILE, &inverted), EINVAL);
	OK("setrlimit restore", setrlimit(RLIMIT_NOFILE, &rl));
	OK("getrlimit RLIMIT_STACK", getrlimit(RLIMIT_STACK, &rl2));
	EXPECT("stack limit positive", rl2.rlim_cur > 0);
	FAILS("getrlimit bad resource", syscall(SYS_getrlimit, 999, &rl2), EINVAL);
	FAILS("prlimit64 of no such process", prlimit(99999999, RLIMIT_NOFILE, NULL, &rl2), ESRCH);

	/* sysinfo */
	struct sysinfo si;
	OK("sysinfo", sysinfo(&si));
	EXPECT("sysinfo totalram > 0", si.totalram > 0);
	EXPECT("sysinfo freeram <= totalram", si.freeram <= si.totalram);
	EXPECT("sysinfo mem_unit >= 1", si.mem_unit >= 1);
	EXPECT("sysinfo uptime >= 0 (a sandbox may count from its own boot)", si.uptime >= 0);
	EXPECT("sysinfo procs >= 1", si.procs >= 1);
	EXPECT("get_nprocs >= 1", get_nprocs() >= 1);

	/* prctl names, seen in /proc/self/comm */
	char name[32] = "";
	OK("PR_SET_NAME", prctl(PR_SET_NAME, "moat-misc", 0, 0, 0));
	OK("PR_GET_NAME", prctl(PR_GET_NAME, name, 0, 0, 0));
	SHOW("name", "%s", name);
	char comm[64];
	read_comm(comm, sizeof comm);
	SHOW("/proc/self/comm", "%s", comm);
	prctl(PR_SET_NAME, "a-name-longer-than-fifteen", 0, 0, 0);
	prctl(PR_GET_NAME, name, 0, 0, 0);
	SHOW("long name truncated", "%s", name);
	OK("PR_SET_PDEATHSIG", prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0));
	int ds = -1;
	prctl(PR_GET_PDEATHSIG, &ds, 0, 0, 0);
	SHOW("PR_GET_PDEATHSIG", "%d", ds);
	SHOW("PR_GET_DUMPABLE", "%d", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) >= 0);
	FAILS("prctl unknown option", prctl(0x7fff1234, 0, 0, 0, 0), EINVAL);

	/* arch_prctl: FS base is the thread pointer glibc set up */
	unsigned long fsbase = 0;
	OK("arch_prctl ARCH_GET_FS", syscall(SYS_arch_prctl, ARCH_GET_FS, &fsbase));
	EXPECT("FS base is pthread_self()", fsbase == (unsigned long)pthread_self());
	unsigned long self_ptr = 0;
	__asm__ volatile("mov %%fs:0, %0" : "=r"(self_ptr));
	EXPECT("%fs:0 points at itself", self_ptr == fsbase);
	FAILS("arch_prctl bad code", syscall(SYS_arch_prctl, 0x9999, &fsbase), EINVAL);

	/* set_tid_address, gettid */
	static int clear_me;
	EXPECT("set_tid_address returns the tid", syscall(SYS_set_tid_address, &clear_me) == getpid());
	EXPECT("gettid is getpid", syscall(SYS_gettid) == getpid());

	/* scheduling */
	OK("sched_yield", sched_yield());
	cpu_set_t cs;
	CPU_ZERO(&cs);
	OK("sched_getaffinity", sched_getaffinity(0, sizeof cs, &cs));
	EXPECT("at least one CPU", CPU_COUNT(&cs) >= 1);
	unsigned cpu = 99999, node = 99999;
	OK("getcpu", syscall(SYS_getcpu, &cpu, &node, NULL));
	EXPECT("getcpu in the affinity set", cpu < CPU_SETSIZE && CPU_ISSET(cpu, &cs));
	SHOW("sched_getscheduler", "%d", sched_getscheduler(0));

	/* umask round trip */
	mode_t old = umask(077);
	SHOW("umask round trip", "%03o", (unsigned)umask(old));

	/* ioctl on a file that is no terminal */
	int nul = open("/dev/null", O_RDWR);
	struct termios tio;
	FAILS("TCGETS on /dev/null", ioctl(nul, TCGETS, &tio), ENOTTY);
	struct winsize ws;
	FAILS("TIOCGWINSZ on /dev/null", ioctl(nul, TIOCGWINSZ, &ws), ENOTTY);
	FAILS("isatty on /dev/null", isatty(nul) ? 0 : -1, ENOTTY);
	close(nul);
	proc_files();
	sched_and_tls();
	return finish();
}
