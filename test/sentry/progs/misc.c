/* The rest: uname, the getuid family, getrandom, getrlimit/setrlimit/prlimit64, sysinfo,
 * prctl (PR_SET_NAME/PR_GET_NAME, with /proc/self/comm), arch_prctl, set_tid_address,
 * sched_yield, sched_getaffinity, getcpu, umask, ioctl on a non-terminal. */
#include "common.h"
#include <asm/prctl.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
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
	return finish();
}
