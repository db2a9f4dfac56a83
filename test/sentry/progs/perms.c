/* Credentials and permission checks: the program starts as root, puts itself in a known state
 * (no_new_privs; Docker's default capabilities as bounding, permitted and effective set, so the
 * native run, `moat do` and the sentry start alike), builds a small tree in a fresh directory
 * under /tmp, then forks children that drop to uid/gid 1000 or drop capabilities and check
 * that each rule gives EACCES/EPERM where Linux does and succeeds where it should. */
#include "common.h"
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>

#define U 1000
#define BIT(c) (1ULL << (c))
/* Docker's default set (src/spec/default.ts). */
static const unsigned long long DOCKER = BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) |
	BIT(CAP_MKNOD) | BIT(CAP_NET_RAW) | BIT(CAP_SETGID) | BIT(CAP_SETUID) | BIT(CAP_SETFCAP) | BIT(CAP_SETPCAP) |
	BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_SYS_CHROOT) | BIT(CAP_KILL) | BIT(CAP_AUDIT_WRITE);

static char dir[64];
static char path_buf[8][256];
static int path_i;

/* dir/name (a few live at once). */
static const char *P(const char *name)
{
	char *b = path_buf[path_i++ % 8];
	snprintf(b, 256, "%s/%s", dir, name);
	return b;
}

struct caps { unsigned long long eff, prm, inh; };

static struct caps getcaps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	syscall(SYS_capget, &h, d);
	struct caps c = {
		d[0].effective | (unsigned long long)d[1].effective << 32,
		d[0].permitted | (unsigned long long)d[1].permitted << 32,
		d[0].inheritable | (unsigned long long)d[1].inheritable << 32,
	};
	return c;
}

static long setcaps(unsigned long long eff, unsigned long long prm, unsigned long long inh)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {
		{ (unsigned)eff, (unsigned)prm, (unsigned)inh },
		{ (unsigned)(eff >> 32), (unsigned)(prm >> 32), (unsigned)(inh >> 32) },
	};
	return syscall(SYS_capset, &h, d);
}

/* Become uid/gid 1000 with no supplementary groups, as a service would. */
static void become_user(void)
{
	gid_t none[1] = { 0 };
	if (setgroups(0, none) || setresgid(U, U, U) || setresuid(U, U, U)) {
		out("become_user failed %s\n", en(errno));
		_exit(99);
	}
}

/* Run fn in a child; print its exit status (its own failures). */
static void child(const char *name, int (*fn)(void))
{
	out("== %s\n", name);
	pid_t p = fork();
	if (p == 0) {
		failures = 0;
		_exit(fn());
	}
	int st = 0;
	waitpid(p, &st, 0);
	int f = WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
	out("%s failures %d\n", name, f);
	failures += f;
}

static int writefile(const char *p, int mode, uid_t uid, gid_t gid)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0) return -1;
	if (write(fd, "data\n", 5) != 5) return -1;
	close(fd);
	return chmod(p, mode) || chown(p, uid, gid) ? -1 : 0;
}

static int mkdirp(const char *p, int mode, uid_t uid, gid_t gid)
{
	return mkdir(p, mode) || chmod(p, mode) || chown(p, uid, gid) ? -1 : 0;
}

/* This program's image at dst with mode (exec tests run it from the tree). */
static int copy_self(const char *dst, int mode)
{
	int in = open("/proc/self/exe", O_RDONLY);
	int outfd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0700);
	if (in < 0 || outfd < 0) return -1;
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(outfd, buf, n) != n) return -1;
	close(in);
	close(outfd);
	return chmod(dst, mode);
}

static void setup(void)
{
	OK("setup no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (!(DOCKER & BIT(c)) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1) prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	OK("setup capset docker", setcaps(DOCKER, DOCKER, 0));
	strcpy(dir, "/tmp/moat-perms-XXXXXX");
	if (!mkdtemp(dir)) { out("mkdtemp %s\n", en(errno)); _exit(99); }
	OK("setup tree", chmod(dir, 0755) | mkdirp(P("nosearch"), 0600, 0, 0) | writefile(P("nosearch/f"), 0644, 0, 0) |
		mkdirp(P("rodir"), 0555, 0, 0) | writefile(P("rodir/f"), 0644, 0, 0) | writefile(P("rofile"), 0444, 0, 0) |
		writefile(P("secret"), 0600, 0, 0) | writefile(P("shared"), 0666, 0, 0) | mkdirp(P("sticky"), 01777, 0, 0) |
		writefile(P("sticky/roots"), 0666, 0, 0) | mkdirp(P("home"), 0755, U, U) | writefile(P("home/mine"), 0644, U, U) |
		writefile(P("home/rootgroup"), 0644, U, 0) | mkdirp(P("private"), 0700, U, U) |
		writefile(P("private/f"), 0600, U, U) | writefile(P("userfile"), 0600, U, U) |
		copy_self(P("prog"), 0755) | copy_self(P("suid"), 04755) | copy_self(P("xonly"), 0711) | writefile(P("noexec"), 0644, 0, 0) |
		writefile(P("suidw"), 0777, 0, 0) | chmod(P("suidw"), 06777));
}

/* ---- an unprivileged user ---- */

static int user_files(void)
{
	become_user();
	FAILS("chdir into a directory without search permission", chdir(P("nosearch")), EACCES);
	struct stat st;
	FAILS("stat through it", stat(P("nosearch/f"), &st), EACCES);
	FAILS("mkdir in a read-only directory", mkdir(P("rodir/x"), 0755), EACCES);
	FAILS("creat in it", open(P("rodir/new"), O_CREAT | O_WRONLY, 0644), EACCES);
	FAILS("unlink in it", unlink(P("rodir/f")), EACCES);
	FAILS("rename within it", rename(P("rodir/f"), P("rodir/g")), EACCES);
	FAILS("rename out of it", rename(P("rodir/f"), P("home/g")), EACCES);
	FAILS("link into it", link(P("home/mine"), P("rodir/l")), EACCES);
	FAILS("symlink into it", symlink("x", P("rodir/s")), EACCES);
	FAILS("mknod a fifo in it", mknod(P("rodir/p"), S_IFIFO | 0644, 0), EACCES);
	FAILS("open a read-only file for writing", open(P("rofile"), O_WRONLY), EACCES);
	FAILS("open it O_RDONLY|O_TRUNC", open(P("rofile"), O_RDONLY | O_TRUNC), EACCES);
	FAILS("truncate it", truncate(P("rofile"), 0), EACCES);
	FAILS("open a 0600 root file", open(P("secret"), O_RDONLY), EACCES);
	int fd = OK("open a 0444 file for reading", open(P("rofile"), O_RDONLY));
	FAILS("ftruncate a read-only fd", ftruncate(fd, 0), EINVAL);
	close(fd);
	FAILS("access(R_OK) on the 0600 root file", access(P("secret"), R_OK), EACCES);
	FAILS("access(W_OK) on the 0444 file", access(P("rofile"), W_OK), EACCES);
	OK("access(R_OK) on the 0444 file", access(P("rofile"), R_OK));
	FAILS("execve a file without x", execl(P("noexec"), "noexec", (char *)0), EACCES);
	return finish();
}

static int user_owner(void)
{
	become_user();
	FAILS("chmod another's file", chmod(P("rofile"), 0666), EPERM);
	OK("chmod one's own file", chmod(P("home/mine"), 0640));
	OK("chmod 02644 outside the file's group", chmod(P("home/rootgroup"), 02644));
	struct stat st;
	stat(P("home/rootgroup"), &st);
	EXPECT("setgid bit silently dropped", (st.st_mode & 07777) == 0644);
	FAILS("chown one's file to root", chown(P("home/mine"), 0, -1), EPERM);
	FAILS("chgrp one's file to a group one is not in", chown(P("home/mine"), -1, 0), EPERM);
	OK("chgrp one's file to one's own group", chown(P("home/mine"), -1, U));
	FAILS("chown another's file to its own owner", chown(P("rofile"), 0, -1), EPERM);
	FAILS("utimes(NULL) on a file one may not write", utimes(P("rofile"), NULL), EACCES);
	OK("utimes(NULL) on another's writable file", utimes(P("shared"), NULL));
	struct timeval tv[2] = { { 1, 0 }, { 2, 0 } };
	FAILS("explicit times on another's writable file", utimes(P("shared"), tv), EPERM);
	OK("explicit times on one's own file", utimes(P("home/mine"), tv));
	FAILS("unlink another's file in a sticky directory", unlink(P("sticky/roots")), EPERM);
	FAILS("rename it away", rename(P("sticky/roots"), P("sticky/x")), EPERM);
	OK("create one's own file there", writefile(P("sticky/mine"), 0644, U, U));
	OK("rename it", rename(P("sticky/mine"), P("sticky/mine2")));
	OK("unlink it", unlink(P("sticky/mine2")));
	OK("mknod a fifo in one's own directory", mknod(P("home/fifo"), S_IFIFO | 0600, 0));
	FAILS("mknod a character device", mknod(P("home/null"), S_IFCHR | 0600, makedev(1, 3)), EPERM);
	int w = OK("open a world-writable set-user-ID root file", open(P("suidw"), O_WRONLY));
	OK("write to it", write(w, "x", 1));
	close(w);
	stat(P("suidw"), &st);
	EXPECT("the write cleared set-user-ID and set-group-ID", (st.st_mode & 07777) == 0777);
	OK("mkdir in one's own directory", mkdir(P("home/d"), 0755));
	OK("rmdir it", rmdir(P("home/d")));
	return finish();
}

static int user_ids(void)
{
	become_user();
	uid_t r, e, s;
	getresuid(&r, &e, &s);
	EXPECT("uids all 1000", r == U && e == U && s == U);
	struct caps c = getcaps();
	EXPECT("no effective or permitted capabilities left", c.eff == 0 && c.prm == 0);
	EXPECT("bounding set unchanged", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0) == 1);
	FAILS("setuid(0)", setuid(0), EPERM);
	FAILS("setresuid(-1, 0, -1)", setresuid(-1, 0, -1), EPERM);
	FAILS("setreuid(0, -1)", setreuid(0, -1), EPERM);
	FAILS("setgid(0)", setgid(0), EPERM);
	FAILS("setresgid(0, 0, 0)", setresgid(0, 0, 0), EPERM);
	gid_t g[1] = { 0 };
	FAILS("setgroups", setgroups(1, g), EPERM);
	EXPECT("setfsuid(0) refused: fsuid stays 1000", setfsuid(0) == U && setfsuid(-1) == U);
	OK("setuid(1000) to oneself", setuid(U));
	FAILS("capset raising permitted", setcaps(BIT(CAP_CHOWN), BIT(CAP_CHOWN), 0), EPERM);
	FAILS("PR_CAPBSET_DROP without CAP_SETPCAP", prctl(PR_CAPBSET_DROP, CAP_CHOWN, 0, 0, 0), EPERM);
	FAILS("PR_CAP_AMBIENT_RAISE of a capability not held", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0), EPERM);
	FAILS("PR_SET_SECUREBITS", prctl(PR_SET_SECUREBITS, 1, 0, 0, 0), EPERM);
	EXPECT("no_new_privs inherited", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
	const char *h = "x";
	FAILS("sethostname", sethostname(h, 1), EPERM);
	FAILS("setdomainname", setdomainname(h, 1), EPERM);
	FAILS("chroot", chroot(dir), EPERM);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	struct rlimit up = { rl.rlim_cur, rl.rlim_max + 1 };
	FAILS("raise the hard NOFILE limit", setrlimit(RLIMIT_NOFILE, &up), EPERM);
	struct rlimit down = { 64, 128 };
	OK("lower it", setrlimit(RLIMIT_NOFILE, &down));
	struct rlimit back = { 64, 256 };
	FAILS("raise it again", setrlimit(RLIMIT_NOFILE, &back), EPERM);
	FAILS("prlimit on the root parent", prlimit(getppid(), RLIMIT_NOFILE, NULL, &rl), EPERM);
	FAILS("kill(root parent, 0)", kill(getppid(), 0), EPERM);
	FAILS("kill(root parent, SIGTERM)", kill(getppid(), SIGTERM), EPERM);
	OK("kill(root parent, SIGCONT) within the session", kill(getppid(), SIGCONT));
	OK("kill(self, 0)", kill(getpid(), 0));
	/* Relative to the nice value the program was started with (a test runner may run niced). */
	int n0 = getpriority(PRIO_PROCESS, 0);
	int nup = n0 < 19 ? n0 + 1 : 19;
	FAILS("setpriority lowering nice", setpriority(PRIO_PROCESS, 0, n0 - 1), EACCES);
	OK("setpriority raising nice", setpriority(PRIO_PROCESS, 0, nup));
	EXPECT("getpriority shows it", getpriority(PRIO_PROCESS, 0) == nup);
	if (nup != n0) FAILS("setpriority lowering it back", setpriority(PRIO_PROCESS, 0, n0), EACCES);
	else out("setpriority lowering it back -1 EACCES\n");
	FAILS("setpriority on the root parent", setpriority(PRIO_PROCESS, getppid(), 5), EPERM);
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/%d/environ", getppid());
	FAILS("read the root parent's /proc environ", open(proc, O_RDONLY), EACCES);
	EXPECT("not dumpable since the uid change", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
	FAILS("read one's own /proc/self/environ: root's while not dumpable", open("/proc/self/environ", O_RDONLY), EACCES);
	OK("PR_SET_DUMPABLE 1", prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
	OK("then it is one's own", open("/proc/self/environ", O_RDONLY));
	/* /proc/pid/mem: ptrace-attach permission (another uid's process: no; one's own: yes) */
	snprintf(proc, sizeof proc, "/proc/%d/mem", getppid());
	FAILS("open the root parent's /proc mem", open(proc, O_RDONLY), EACCES);
	/* maps, smaps and io need ptrace-read permission too (their mode is 0444 or 0400) */
	snprintf(proc, sizeof proc, "/proc/%d/maps", getppid());
	FAILS("open the root parent's /proc maps", open(proc, O_RDONLY), EACCES);
	snprintf(proc, sizeof proc, "/proc/%d/smaps", getppid());
	FAILS("open the root parent's /proc smaps", open(proc, O_RDONLY), EACCES);
	snprintf(proc, sizeof proc, "/proc/%d/io", getppid());
	FAILS("open the root parent's /proc io", open(proc, O_RDONLY), EACCES);
	OK("open one's own /proc/self/maps", open("/proc/self/maps", O_RDONLY));
	OK("open one's own /proc/self/mem", open("/proc/self/mem", O_RDWR));
	return finish();
}

/* ---- root without some capabilities ---- */

static int root_dropped(void)
{
	unsigned long long keep = DOCKER & ~(BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FOWNER) | BIT(CAP_CHOWN) | BIT(CAP_SYS_CHROOT) |
		BIT(CAP_KILL) | BIT(CAP_SETPCAP) | BIT(CAP_MKNOD));
	OK("capset dropping the DAC, owner, chown, chroot, kill and mknod capabilities", setcaps(keep, keep, 0));
	EXPECT("still uid 0", getuid() == 0 && geteuid() == 0);
	FAILS("open a 0600 file of uid 1000", open(P("userfile"), O_RDONLY), EACCES);
	FAILS("chdir into a 0700 directory of uid 1000", chdir(P("private")), EACCES);
	FAILS("creat in it", open(P("private/new"), O_CREAT | O_WRONLY, 0600), EACCES);
	FAILS("chmod a file of uid 1000", chmod(P("userfile"), 0644), EPERM);
	FAILS("chown a file", chown(P("rofile"), U, -1), EPERM);
	OK("chown one's own file to itself (no change)", chown(P("rofile"), 0, -1));
	struct timeval tv[2] = { { 1, 0 }, { 2, 0 } };
	FAILS("explicit times on a file of uid 1000", utimes(P("userfile"), tv), EPERM);
	FAILS("chroot", chroot(dir), EPERM);
	FAILS("mknod a device", mknod(P("null"), S_IFCHR | 0600, makedev(1, 3)), EPERM);
	FAILS("PR_CAPBSET_DROP", prctl(PR_CAPBSET_DROP, CAP_CHOWN, 0, 0, 0), EPERM);
	FAILS("capset raising a dropped capability again", setcaps(keep | BIT(CAP_FOWNER), keep | BIT(CAP_FOWNER), 0), EPERM);
	int hold[2], ready[2];
	char b;
	if (pipe(hold) || pipe(ready)) return 99;
	pid_t p = fork();
	if (p == 0) {
		close(hold[1]);
		become_user();
		close(ready[1]);
		_exit(read(hold[0], &b, 1) == 0 ? 0 : 1);
	}
	close(hold[0]);
	close(ready[1]);
	if (read(ready[0], &b, 1) != 0) return 99;
	FAILS("kill a uid 1000 process without CAP_KILL", kill(p, SIGKILL), EPERM);
	FAILS("kill(pid, 0) too", kill(p, 0), EPERM);
	OK("SIGCONT to it within the session", kill(p, SIGCONT));
	close(hold[1]);
	int st = 0;
	waitpid(p, &st, 0);
	EXPECT("it ran on and exited by itself", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return finish();
}

static int root_fs_dac_override(void)
{
	OK("capset: only CAP_DAC_OVERRIDE and CAP_SETUID/CAP_SETGID", setcaps(BIT(CAP_DAC_OVERRIDE) | BIT(CAP_SETUID) | BIT(CAP_SETGID),
		BIT(CAP_DAC_OVERRIDE) | BIT(CAP_SETUID) | BIT(CAP_SETGID), 0));
	OK("open a 0600 file of uid 1000", open(P("userfile"), O_RDWR));
	OK("chdir into a 0700 directory of uid 1000", chdir(P("private")));
	OK("chdir back", chdir("/"));
	FAILS("execve a file without any x bit", execl(P("noexec"), "noexec", (char *)0), EACCES);
	FAILS("chmod it (no CAP_FOWNER)", chmod(P("userfile"), 0644), EPERM);
	/* setfsuid: the fs capabilities go with fsuid 0. */
	EXPECT("setfsuid(1000) returns the old fsuid 0", setfsuid(U) == 0);
	FAILS("open the 0600 root file as fsuid 1000", open(P("secret"), O_RDONLY), EACCES);
	OK("open uid 1000's 0600 file as its owner", open(P("userfile"), O_RDONLY));
	EXPECT("the effective set lost CAP_DAC_OVERRIDE", !(getcaps().eff & BIT(CAP_DAC_OVERRIDE)));
	EXPECT("setfsuid(0) returns 1000", setfsuid(0) == U);
	EXPECT("and raises it again", (getcaps().eff & BIT(CAP_DAC_OVERRIDE)) != 0);
	OK("open the root file again", open(P("secret"), O_RDONLY));
	/* access() checks with the real ids. */
	OK("setresuid(1000, 0, 0)", setresuid(U, 0, 0));
	EXPECT("euid 0 keeps the effective set", (getcaps().eff & BIT(CAP_DAC_OVERRIDE)) != 0);
	FAILS("access(R_OK) as the real uid 1000", access(P("secret"), R_OK), EACCES);
	OK("faccessat(AT_EACCESS) as the effective uid", faccessat(AT_FDCWD, P("secret"), R_OK, AT_EACCESS));
	OK("open it", open(P("secret"), O_RDONLY));
	OK("setresuid(-1, 1000, -1)", setresuid(-1, U, -1));
	EXPECT("euid 0 → 1000 empties the effective set", getcaps().eff == 0);
	EXPECT("permitted kept: the saved uid is 0", (getcaps().prm & BIT(CAP_DAC_OVERRIDE)) != 0);
	OK("setresuid(-1, 0, -1) back", setresuid(-1, 0, -1));
	EXPECT("euid 1000 → 0 restores the effective set from permitted", (getcaps().eff & BIT(CAP_DAC_OVERRIDE)) != 0);
	OK("setresuid(1000, 1000, 1000)", setresuid(U, U, U));
	EXPECT("leaving uid 0 entirely clears permitted", getcaps().prm == 0 && getcaps().eff == 0);
	FAILS("setresuid(0, 0, 0) back", setresuid(0, 0, 0), EPERM);
	return finish();
}

static int keepcaps(void)
{
	EXPECT("PR_GET_KEEPCAPS 0", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == 0);
	OK("PR_SET_KEEPCAPS 1", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	FAILS("PR_SET_KEEPCAPS 2", prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0), EINVAL);
	OK("setresuid(1000, 1000, 1000)", setresuid(U, U, U));
	struct caps c = getcaps();
	EXPECT("permitted kept", c.prm == DOCKER);
	EXPECT("effective cleared", c.eff == 0);
	OK("capset raising CAP_DAC_OVERRIDE into effective", setcaps(BIT(CAP_DAC_OVERRIDE), DOCKER, 0));
	OK("open the 0600 root file with it", open(P("secret"), O_RDONLY));
	OK("mkdir in a read-only root directory with it", mkdir(P("rodir/x"), 0755));
	OK("rmdir it", rmdir(P("rodir/x")));
	FAILS("chmod another's file (no CAP_FOWNER in effective)", chmod(P("rofile"), 0444), EPERM);
	FAILS("PR_SET_SECUREBITS without CAP_SETPCAP in effective", prctl(PR_SET_SECUREBITS, 0x10, 0, 0, 0), EPERM);
	OK("PR_SET_KEEPCAPS 0", prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
	return finish();
}

static int ambient(void)
{
	FAILS("raise ambient CAP_NET_BIND_SERVICE: not inheritable", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0), EPERM);
	OK("capset: make it inheritable", setcaps(DOCKER, DOCKER, BIT(CAP_NET_BIND_SERVICE)));
	FAILS("capset: inheritable outside the bounding set", setcaps(DOCKER, DOCKER, BIT(CAP_SYS_ADMIN)), EPERM);
	OK("raise ambient", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0));
	EXPECT("IS_SET 1", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0) == 1);
	FAILS("IS_SET of an invalid capability", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 99, 0, 0), EINVAL);
	OK("PR_SET_KEEPCAPS 1", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	OK("setresuid to 1000", setresuid(U, U, U));
	EXPECT("leaving uid 0 clears ambient even with keepcaps", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0) == 0);
	OK("raise it again (permitted and inheritable kept)", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0));
	OK("capset dropping it from inheritable", setcaps(0, DOCKER, 0));
	EXPECT("drops it from ambient", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0) == 0);
	OK("PR_CAP_AMBIENT_CLEAR_ALL", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
	return finish();
}

/* ---- exec ---- */

static int run(const char *prog, const char *mode, int (*before)(void))
{
	pid_t p = fork();
	if (p == 0) {
		if (before && before()) _exit(98);
		execl(prog, "perms", mode, (char *)0);
		_exit(97);
	}
	int st = 0;
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

static int to_user(void)
{
	gid_t none[1] = { 0 };
	return setgroups(0, none) || setresgid(U, U, U) || setresuid(U, U, U);
}

static int with_ambient(void)
{
	return setcaps(DOCKER, DOCKER, BIT(CAP_NET_BIND_SERVICE)) || prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || to_user() ||
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0);
}

static int exec_side(const char *mode)
{
	struct caps c = getcaps();
	out("[%s] uid %d euid %d\n", mode, (int)getuid(), (int)geteuid());
	out("[%s] effective == permitted %s\n", mode, c.eff == c.prm ? "true" : "false");
	out("[%s] permitted is the bounding set %s\n", mode, c.prm == DOCKER ? "true" : "false");
	out("[%s] permitted empty %s\n", mode, c.prm == 0 ? "true" : "false");
	out("[%s] permitted is NET_BIND_SERVICE %s\n", mode, c.prm == BIT(CAP_NET_BIND_SERVICE) ? "true" : "false");
	out("[%s] AT_SECURE %lu\n", mode, getauxval(AT_SECURE));
	out("[%s] keepcaps %d\n", mode, prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
	out("[%s] no_new_privs %d\n", mode, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	out("[%s] dumpable %d\n", mode, prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	return 0;
}

static int keep_on(void) { return prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0); }

static int execs(void)
{
	EXPECT("root exec", run(P("prog"), "root", keep_on) == 0);
	EXPECT("user exec", run(P("prog"), "user", to_user) == 0);
	EXPECT("user exec of a set-user-ID root file (no_new_privs: ignored)", run(P("suid"), "suid", to_user) == 0);
	EXPECT("user exec with an ambient capability", run(P("prog"), "ambient", with_ambient) == 0);
	EXPECT("user exec of an execute-only file (not dumpable)", run(P("xonly"), "xonly", to_user) == 0);
	return finish();
}

/* ---- setuid in a threaded process: glibc makes every thread change ---- */

static int go[2];
static void *thread_main(void *arg)
{
	char b;
	(void)arg;
	if (read(go[0], &b, 1) != 1) return (void *)1;
	return (void *)(long)syscall(SYS_geteuid);
}

static int threads(void)
{
	pthread_t th;
	if (pipe(go) || pthread_create(&th, NULL, thread_main, NULL)) return 99;
	OK("setresuid(1000, 1000, 1000) in the main thread", setresuid(U, U, U));
	if (write(go[1], "x", 1) != 1) return 99;
	void *r;
	pthread_join(th, &r);
	EXPECT("the other thread's euid changed too", (long)r == U);
	return finish();
}

int main(int argc, char **argv)
{
	if (argc > 1) return exec_side(argv[1]);
	setup();
	child("user files", user_files);
	child("user owner rules", user_owner);
	child("user ids and privileged calls", user_ids);
	child("root without capabilities", root_dropped);
	child("root with only CAP_DAC_OVERRIDE", root_fs_dac_override);
	child("keepcaps", keepcaps);
	child("ambient", ambient);
	child("exec", execs);
	child("threads", threads);
	const char *rm[] = { "home/fifo", "home/mine", "home/rootgroup", "private/f", "nosearch/f", "rodir/f", "sticky/roots",
		"rofile", "secret", "shared", "userfile", "prog", "suid", "noexec", "suidw", "xonly", NULL };
	for (int i = 0; rm[i]; i++) unlink(P(rm[i]));
	const char *rd[] = { "home", "private", "nosearch", "rodir", "sticky", NULL };
	for (int i = 0; rd[i]; i++) rmdir(P(rd[i]));
	OK("cleanup", rmdir(dir));
	return finish();
}
