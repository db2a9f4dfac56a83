/* Files: open/openat, read/write/readv/writev, lseek, pread/pwrite, fstat, newfstatat, statx,
 * getdents64, readlinkat, fcntl, dup/dup2/dup3, faccessat, getcwd/chdir/fchdir, mkdirat, unlinkat,
 * renameat2, symlinkat, linkat, fchmodat, utimensat, umask — in a fresh directory under /tmp that
 * it creates and removes. */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <signal.h>
#include <time.h>

struct linux_dirent64 {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The directory's entries (getdents64 directly), sorted, as "name:type" joined by spaces. */
static void listdir(const char *label, int dfd)
{
	char buf[4096];
	char *names[64];
	int n = 0;
	lseek(dfd, 0, SEEK_SET);
	for (;;) {
		long nread = syscall(SYS_getdents64, dfd, buf, sizeof buf);
		if (nread < 0) { out("%s getdents64 -1 %s\n", label, en(errno)); failures++; return; }
		if (nread == 0) break;
		for (long off = 0; off < nread;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
			char t = d->d_type == DT_DIR ? 'd' : d->d_type == DT_REG ? 'f' : d->d_type == DT_LNK ? 'l' : '?';
			if (n < 64) {
				names[n] = malloc(strlen(d->d_name) + 3);
				sprintf(names[n], "%s:%c", d->d_name, t);
				n++;
			}
			off += d->d_reclen;
		}
	}
	qsort(names, n, sizeof names[0], cmpstr);
	char line[1024] = "";
	for (int i = 0; i < n; i++) {
		strcat(line, i ? " " : "");
		strcat(line, names[i]);
		free(names[i]);
	}
	SHOW(label, "%s", line);
}

/* Edges gVisor's tests found: where lseek may go on /proc, getdents into a buffer that faults
 * part way or with a count past INT_MAX, RLIMIT_FSIZE, an empty iovec outside the user range,
 * the access mode 3, O_PATH|O_DIRECTORY on a file, "file/." and an empty name to unlink. */
static void edges(void)
{
	char dir[64], path[96];
	snprintf(dir, sizeof dir, "/tmp/moat-sentry-edges-%d", (int)getpid());
	mkdir(dir, 0755);

	int p = open("/proc/self", O_RDONLY | O_DIRECTORY);
	SHOW("lseek SEEK_END /proc/self", "%ld", (long)lseek(p, 0, SEEK_END));
	close(p);
	p = open("/proc/meminfo", O_RDONLY);
	FAILS("lseek SEEK_END /proc/meminfo", lseek(p, 0, SEEK_END), EINVAL);
	SHOW("lseek SEEK_CUR +1000 /proc/meminfo", "%ld", (long)lseek(p, 1000, SEEK_CUR));
	close(p);

	/* 30 names; a buffer of one page whose second half is PROT_NONE, claimed to be two pages */
	for (int i = 0; i < 30; i++) {
		snprintf(path, sizeof path, "%s/entry-%02d", dir, i);
		close(open(path, O_CREAT | O_WRONLY, 0644));
	}
	int d = open(dir, O_RDONLY | O_DIRECTORY);
	FAILS("getdents64 count past INT_MAX", syscall(SYS_getdents64, d, path, 0x80000000u), EINVAL);
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mprotect(m + 4096, 4096, PROT_NONE);
	char *buf = m + 4096 - 200;
	int total = 0, calls = 0;
	long n;
	while ((n = syscall(SYS_getdents64, d, buf, 8192)) > 0) {
		for (long off = 0; off < n; off += ((struct linux_dirent64 *)(buf + off))->d_reclen) total++;
		calls++;
	}
	SHOW("getdents64 into 200 good bytes", "last %ld entries %d", n, total);
	EXPECT("getdents64 took several calls", calls > 1);
	close(d);
	munmap(m, 8192);

	/* RLIMIT_FSIZE: cut at the limit, then EFBIG with SIGXFSZ (blocked here, then taken) */
	snprintf(path, sizeof path, "%s/big", dir);
	int f = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	struct rlimit old, lim = { 1 << 20, RLIM_INFINITY };
	getrlimit(RLIMIT_FSIZE, &old);
	sigset_t xfsz;
	sigemptyset(&xfsz);
	sigaddset(&xfsz, SIGXFSZ);
	sigprocmask(SIG_BLOCK, &xfsz, NULL);
	setrlimit(RLIMIT_FSIZE, &lim);
	char block[150];
	memset(block, 'f', sizeof block);
	/* (the limit is far above what stdout gets, a file when run by hand) */
	SHOW("pwrite across RLIMIT_FSIZE", "%ld", (long)pwrite(f, block, 150, (1 << 20) - 100));
	FAILS("pwrite at RLIMIT_FSIZE", pwrite(f, block, 1, 1 << 20), EFBIG);
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	int sig = sigtimedwait(&xfsz, &si, &zero);
	SHOW("SIGXFSZ", "%d code %d from me %d", sig, si.si_code, si.si_pid == getpid());
	setrlimit(RLIMIT_FSIZE, &old);
	sigprocmask(SIG_UNBLOCK, &xfsz, NULL);
	close(f);

	/* an empty iovec at an address no process can have fails the whole readv */
	truncate(path, 10);
	f = open(path, O_RDONLY);
	char one[4];
	struct iovec iov[2] = { { (void *)~0UL, 0 }, { one, sizeof one } };
	FAILS("readv with an empty iovec past the user range", readv(f, iov, 2), EFAULT);
	close(f);

	/* O_WRONLY|O_RDWR needs both permissions and gives neither */
	f = open(path, O_WRONLY | O_RDWR);
	FAILS("write with access mode 3", write(f, "x", 1), EBADF);
	FAILS("read with access mode 3", read(f, one, 1), EBADF);
	close(f);
	FAILS("O_PATH|O_DIRECTORY of a file", open(path, O_PATH | O_DIRECTORY), ENOTDIR);

	FAILS("O_CREAT of a directory", open(dir, O_RDONLY | O_CREAT, 0644), EISDIR);
	/* O_TRUNC and ftruncate of an empty file still change mtime */
	truncate(path, 0);
	struct stat before, after;
	stat(path, &before);
	struct timespec pause = { 0, 20000000 };
	nanosleep(&pause, NULL);
	f = open(path, O_WRONLY | O_TRUNC);
	fstat(f, &after);
	EXPECT("O_TRUNC of an empty file changes mtime", after.st_mtim.tv_sec * 1000000000L + after.st_mtim.tv_nsec > before.st_mtim.tv_sec * 1000000000L + before.st_mtim.tv_nsec);
	before = after;
	nanosleep(&pause, NULL);
	ftruncate(f, 0);
	fstat(f, &after);
	EXPECT("ftruncate to the same size changes mtime", after.st_mtim.tv_sec * 1000000000L + after.st_mtim.tv_nsec > before.st_mtim.tv_sec * 1000000000L + before.st_mtim.tv_nsec);
	close(f);

	char dot[128];
	snprintf(dot, sizeof dot, "%s/.", path);
	FAILS("unlink file/.", unlink(dot), ENOTDIR);
	f = open(path, O_RDONLY);
	FAILS("unlinkat(file fd, \"\")", unlinkat(f, "", 0), ENOENT);
	FAILS("unlinkat(bad fd, \"\")", unlinkat(9999, "", 0), ENOENT);
	close(f);

	unlink(path);
	for (int i = 0; i < 30; i++) {
		snprintf(path, sizeof path, "%s/entry-%02d", dir, i);
		unlink(path);
	}
	rmdir(dir);
}

/* Following or reading a symlink is an access of the link (touch_atime, relatime): its atime,
 * set a year back with its mtime (so not after its ctime), moves to now. */
static void symlink_atime(void)
{
	char file[64], link[64];
	snprintf(file, sizeof file, "/tmp/moat-sentry-atime-%d", (int)getpid());
	snprintf(link, sizeof link, "/tmp/moat-sentry-atime-%d.l", (int)getpid());
	int fd = OK("create atime file", open(file, O_CREAT | O_RDWR, 0644));
	close(fd);
	OK("symlink for atime", symlink(file, link));
	time_t old = time(NULL) - 365 * 24 * 3600;
	struct timespec ts[2] = { { old, 0 }, { old, 0 } };
	OK("utimensat the link itself", utimensat(AT_FDCWD, link, ts, AT_SYMLINK_NOFOLLOW));
	struct stat st;
	OK("lstat link", lstat(link, &st));
	EXPECT("link atime set back", st.st_atime == old);
	fd = OK("open through the link", open(link, O_RDWR));
	close(fd);
	OK("lstat link after follow", lstat(link, &st));
	EXPECT("following the link moved its atime", st.st_atime > old);
	OK("utimensat the link again", utimensat(AT_FDCWD, link, ts, AT_SYMLINK_NOFOLLOW));
	char buf[80];
	OK("readlink", readlink(link, buf, sizeof buf));
	OK("lstat link after readlink", lstat(link, &st));
	EXPECT("readlink moved its atime", st.st_atime > old);
	unlink(link);
	unlink(file);
}

int main(void)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/tmp/moat-sentry-files-%d", (int)getpid());

	/* umask returns the previous mask. */
	umask(022);
	SHOW("umask previous", "%03o", (unsigned)umask(027));

	OK("mkdirat", mkdirat(AT_FDCWD, dir, 0755));
	FAILS("mkdirat existing", mkdirat(AT_FDCWD, dir, 0755), EEXIST);
	int dfd = OK("open dir O_DIRECTORY", open(dir, O_RDONLY | O_DIRECTORY));
	OK("chdir", chdir(dir));
	char cwd[256];
	EXPECT("getcwd is the new dir", getcwd(cwd, sizeof cwd) && strcmp(cwd, dir) == 0);
	FAILS("getcwd small buffer", getcwd(cwd, 4) ? 0 : -1, ERANGE);

	/* open, write, lseek, read, pwrite, pread */
	int fd = OK("openat O_CREAT", openat(dfd, "a.txt", O_CREAT | O_RDWR | O_TRUNC, 0666));
	SHOW("write", "%ld", (long)write(fd, "hello, world\n", 13));
	SHOW("lseek SEEK_CUR", "%ld", (long)lseek(fd, 0, SEEK_CUR));
	SHOW("lseek SEEK_SET", "%ld", (long)lseek(fd, 0, SEEK_SET));
	char buf[128] = "";
	ssize_t n = read(fd, buf, sizeof buf - 1);
	SHOW("read", "%ld %.*s", (long)n, n > 0 ? (int)n - 1 : 0, buf);
	SHOW("read at EOF", "%ld", (long)read(fd, buf, sizeof buf));
	SHOW("pwrite", "%ld", (long)pwrite(fd, "WORLD", 5, 7));
	SHOW("offset after pwrite", "%ld", (long)lseek(fd, 0, SEEK_CUR));
	memset(buf, 0, sizeof buf);
	n = pread(fd, buf, 5, 7);
	SHOW("pread", "%ld %s", (long)n, buf);
	SHOW("lseek SEEK_END", "%ld", (long)lseek(fd, 0, SEEK_END));
	FAILS("lseek negative", lseek(fd, -100, SEEK_SET), EINVAL);
	SHOW("lseek past end", "%ld", (long)lseek(fd, 20, SEEK_SET));
	SHOW("write past end", "%ld", (long)write(fd, "!", 1));
	memset(buf, 'x', sizeof buf);
	n = pread(fd, buf, 8, 13);
	EXPECT("hole reads as zeros", n == 8 && buf[0] == 0 && buf[6] == 0 && buf[7] == '!');
	OK("ftruncate", ftruncate(fd, 13));

	/* readv / writev */
	struct iovec wv[3] = { { "ab", 2 }, { "", 0 }, { "cde\n", 4 } };
	lseek(fd, 0, SEEK_END);
	SHOW("writev", "%ld", (long)writev(fd, wv, 3));
	char r1[3] = "", r2[32] = "";
	struct iovec rv[2] = { { r1, 2 }, { r2, sizeof r2 - 1 } };
	n = preadv(fd, rv, 2, 11);
	SHOW("preadv", "%ld", (long)n);
	EXPECT("preadv scattered", n == 8 && memcmp(r1, "D\n", 2) == 0 && memcmp(r2, "abcde\n", 6) == 0);

	/* legacy open(2), the x86_64 syscall itself */
	int lfd = OK("SYS_open", syscall(SYS_open, "a.txt", O_RDONLY));
	memset(buf, 0, sizeof buf);
	SHOW("read via SYS_open fd", "%ld %.5s", (long)read(lfd, buf, 5), buf);
	close(lfd);
	FAILS("open missing", open("missing", O_RDONLY), ENOENT);
	FAILS("open O_EXCL existing", open("a.txt", O_CREAT | O_EXCL | O_WRONLY, 0600), EEXIST);
	FAILS("open dir for writing", open(".", O_WRONLY), EISDIR);
	FAILS("open file as directory", open("a.txt", O_RDONLY | O_DIRECTORY), ENOTDIR);
	FAILS("read bad fd", read(999, buf, 1), EBADF);

	/* fstat (the syscall itself), newfstatat, statx */
	struct stat st;
	OK("SYS_fstat", syscall(SYS_fstat, fd, &st));
	SHOW("fstat size", "%ld", (long)st.st_size);
	SHOW("fstat mode", "%o", (unsigned)st.st_mode);
	SHOW("fstat nlink", "%ld", (long)st.st_nlink);
	EXPECT("fstat uid is euid", st.st_uid == geteuid());
	struct stat st2;
	OK("SYS_newfstatat", syscall(SYS_newfstatat, dfd, "a.txt", &st2, 0));
	EXPECT("newfstatat same inode as fstat", st.st_ino == st2.st_ino && st.st_dev == st2.st_dev);
	OK("newfstatat AT_EMPTY_PATH", syscall(SYS_newfstatat, fd, "", &st2, AT_EMPTY_PATH));
	SHOW("newfstatat AT_EMPTY_PATH size", "%ld", (long)st2.st_size);
	FAILS("newfstatat missing", syscall(SYS_newfstatat, dfd, "missing", &st2, 0), ENOENT);
	struct statx stx;
	memset(&stx, 0, sizeof stx);
	OK("statx", statx(dfd, "a.txt", 0, STATX_BASIC_STATS, &stx));
	EXPECT("statx mask has size and mode", (stx.stx_mask & (STATX_SIZE | STATX_MODE)) == (STATX_SIZE | STATX_MODE));
	SHOW("statx size mode", "%llu %o", (unsigned long long)stx.stx_size, (unsigned)stx.stx_mode);
	EXPECT("statx inode matches", stx.stx_ino == st.st_ino);
	OK("stat dir", stat(".", &st2));
	SHOW("dir is a directory", "%s", S_ISDIR(st2.st_mode) ? "true" : "false");

	/* fcntl */
	SHOW("F_GETFD", "%d", fcntl(fd, F_GETFD));
	OK("F_SETFD FD_CLOEXEC", fcntl(fd, F_SETFD, FD_CLOEXEC));
	SHOW("F_GETFD after", "%d", fcntl(fd, F_GETFD));
	SHOW("F_GETFL accmode is O_RDWR", "%s", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR ? "true" : "false");
	OK("F_SETFL O_APPEND", fcntl(fd, F_SETFL, O_APPEND));
	lseek(fd, 0, SEEK_SET);
	write(fd, "Z", 1);
	SHOW("O_APPEND writes at the end", "%ld", (long)lseek(fd, 0, SEEK_CUR));
	fcntl(fd, F_SETFL, 0);
	int hi = fcntl(fd, F_DUPFD, 100);
	EXPECT("F_DUPFD >= 100", hi >= 100);
	EXPECT("F_DUPFD_CLOEXEC sets cloexec", fcntl(fcntl(fd, F_DUPFD_CLOEXEC, 0), F_GETFD) == FD_CLOEXEC);
	FAILS("fcntl bad fd", fcntl(999, F_GETFD), EBADF);

	/* dup, dup2, dup3: shared offsets, exact numbers, flags */
	int d1 = dup(fd);
	EXPECT("dup returns a new fd", d1 >= 0 && d1 != fd);
	EXPECT("dup drops cloexec", fcntl(d1, F_GETFD) == 0);
	lseek(fd, 3, SEEK_SET);
	SHOW("dup shares the offset", "%ld", (long)lseek(d1, 0, SEEK_CUR));
	SHOW("dup2", "%d", dup2(fd, 50));
	SHOW("dup2 same fd", "%d", dup2(50, 50));
	SHOW("SYS_dup2", "%ld", syscall(SYS_dup2, fd, 52));
	SHOW("dup3 O_CLOEXEC", "%d", dup3(fd, 51, O_CLOEXEC));
	SHOW("dup3 fd flags", "%d", fcntl(51, F_GETFD));
	FAILS("dup3 same fd", dup3(51, 51, 0), EINVAL);
	FAILS("dup2 bad fd", dup2(999, 53), EBADF);
	close(50); close(51); close(52); close(d1); close(hi);
	FAILS("closed fd", fcntl(50, F_GETFD), EBADF);

	/* faccessat */
	OK("faccessat F_OK", faccessat(dfd, "a.txt", F_OK, 0));
	OK("faccessat R_OK|W_OK", faccessat(dfd, "a.txt", R_OK | W_OK, 0));
	FAILS("faccessat missing", faccessat(dfd, "missing", F_OK, 0), ENOENT);

	/* directories, symlinks, hard links, renames */
	OK("mkdirat sub", mkdirat(dfd, "sub", 0700));
	int sfd = OK("creat in sub", openat(dfd, "sub/inner", O_CREAT | O_WRONLY, 0600));
	close(sfd);
	OK("symlinkat", symlinkat("a.txt", dfd, "link"));
	char lbuf[64];
	n = readlinkat(dfd, "link", lbuf, sizeof lbuf);
	SHOW("readlinkat", "%ld %.*s", (long)n, n > 0 ? (int)n : 0, lbuf);
	FAILS("readlinkat not a link", readlinkat(dfd, "a.txt", lbuf, sizeof lbuf), EINVAL);
	OK("stat through symlink", fstatat(dfd, "link", &st2, 0));
	EXPECT("symlink resolves to a.txt", st2.st_ino == st.st_ino);
	OK("lstat symlink", fstatat(dfd, "link", &st2, AT_SYMLINK_NOFOLLOW));
	SHOW("lstat is a link", "%s", S_ISLNK(st2.st_mode) ? "true" : "false");
	OK("linkat", linkat(dfd, "a.txt", dfd, "hard", 0));
	syscall(SYS_fstat, fd, &st2);
	SHOW("nlink after linkat", "%ld", (long)st2.st_nlink);
	OK("renameat2", syscall(SYS_renameat2, dfd, "hard", dfd, "hard2", 0));
	FAILS("renameat2 RENAME_NOREPLACE", syscall(SYS_renameat2, dfd, "hard2", dfd, "a.txt", RENAME_NOREPLACE), EEXIST);
	OK("rename over", rename("hard2", "link"));
	OK("lstat renamed", fstatat(dfd, "link", &st2, AT_SYMLINK_NOFOLLOW));
	SHOW("rename replaced the link with a file", "%s", S_ISREG(st2.st_mode) ? "true" : "false");
	listdir("getdents64", dfd);

	/* fchdir */
	int subfd = open("sub", O_RDONLY | O_DIRECTORY);
	OK("fchdir", fchdir(subfd));
	EXPECT("getcwd after fchdir", getcwd(cwd, sizeof cwd) && strlen(cwd) > 4 && strcmp(cwd + strlen(cwd) - 4, "/sub") == 0);
	OK("relative open after fchdir", faccessat(AT_FDCWD, "inner", F_OK, 0));
	OK("chdir ..", chdir(".."));
	close(subfd);

	/* fchmodat, utimensat */
	OK("fchmodat", fchmodat(dfd, "a.txt", 0604, 0));
	stat("a.txt", &st2);
	SHOW("mode after fchmodat", "%o", (unsigned)(st2.st_mode & 07777));
	struct timespec ts[2] = { { 1000000000, 500 }, { 1234567890, 250000000 } };
	OK("utimensat", utimensat(dfd, "a.txt", ts, 0));
	stat("a.txt", &st2);
	SHOW("times after utimensat", "%ld.%09ld %ld.%09ld", (long)st2.st_atim.tv_sec, st2.st_atim.tv_nsec, (long)st2.st_mtim.tv_sec, st2.st_mtim.tv_nsec);
	struct timespec omit[2] = { { 0, UTIME_OMIT }, { 42, 0 } };
	OK("utimensat UTIME_OMIT", utimensat(dfd, "a.txt", omit, 0));
	stat("a.txt", &st2);
	SHOW("times after UTIME_OMIT", "%ld %ld", (long)st2.st_atim.tv_sec, (long)st2.st_mtim.tv_sec);
	/* umask 027 applied to a new file and directory */
	int ufd = openat(dfd, "masked", O_CREAT | O_WRONLY, 0777);
	mkdirat(dfd, "maskdir", 0777);
	fstatat(dfd, "masked", &st2, 0);
	SHOW("umask on creat", "%o", (unsigned)(st2.st_mode & 0777));
	fstatat(dfd, "maskdir", &st2, 0);
	SHOW("umask on mkdir", "%o", (unsigned)(st2.st_mode & 0777));
	close(ufd);

	/* unlinkat and the directory's removal */
	FAILS("unlinkat non-empty dir", unlinkat(dfd, "sub", AT_REMOVEDIR), ENOTEMPTY);
	FAILS("unlinkat dir without AT_REMOVEDIR", unlinkat(dfd, "sub", 0), EISDIR);
	OK("unlinkat inner", unlinkat(dfd, "sub/inner", 0));
	OK("unlinkat sub", unlinkat(dfd, "sub", AT_REMOVEDIR));
	OK("unlinkat maskdir", unlinkat(dfd, "maskdir", AT_REMOVEDIR));
	OK("unlinkat masked", unlinkat(dfd, "masked", 0));
	OK("unlinkat link", unlinkat(dfd, "link", 0));
	OK("unlinkat a.txt", unlinkat(dfd, "a.txt", 0));
	/* the open fd still reads the unlinked file */
	memset(buf, 0, sizeof buf);
	n = pread(fd, buf, 5, 0);
	SHOW("read unlinked open file", "%ld %s", (long)n, buf);
	syscall(SYS_fstat, fd, &st2);
	SHOW("nlink of unlinked file", "%ld", (long)st2.st_nlink);
	close(fd);
	listdir("getdents64 empty", dfd);
	OK("chdir /", chdir("/"));
	close(dfd);
	OK("rmdir", unlinkat(AT_FDCWD, dir, AT_REMOVEDIR));
	FAILS("faccessat removed dir", faccessat(AT_FDCWD, dir, F_OK, 0), ENOENT);

	/* devices every rootfs has */
	int z = open("/dev/zero", O_RDONLY);
	memset(buf, 1, 8);
	n = read(z, buf, 8);
	SHOW("read /dev/zero", "%ld %d", (long)n, buf[0] + buf[7]);
	close(z);
	int nul = open("/dev/null", O_RDWR);
	SHOW("write /dev/null", "%ld", (long)write(nul, "x", 1));
	SHOW("read /dev/null", "%ld", (long)read(nul, buf, 8));
	close(nul);
	edges();
	symlink_atime();
	return finish();
}
