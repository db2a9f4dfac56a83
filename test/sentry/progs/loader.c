/* The ELF loader and #! scripts, on hand-made binaries: a data+bss segment is a file page and an
 * anonymous page (as /proc/<pid>/maps shows), an anonymous-only read-only segment is read-write, a
 * segment Linux cannot map kills the process with SIGSEGV after a successful execve (the point of
 * no return), a bad PT_INTERP fails execve (ENOEXEC, EACCES, ELIBBAD), and five levels of #!
 * scripts run while a sixth is ELOOP; execveat from a dirfd, of an fd (AT_EMPTY_PATH, O_PATH),
 * AT_SYMLINK_NOFOLLOW, and a script through a close-on-exec fd (ENOENT: its path is gone). */
#include "common.h"
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char dir[64];

/* exit_group(42) */
static const unsigned char EXIT42[] = { 0xb8, 0xe7, 0, 0, 0, 0xbf, 42, 0, 0, 0, 0x0f, 0x05 };
/* for (;;) pause(); */
static const unsigned char PAUSE[] = { 0xb8, 0x22, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7 };

struct seg { unsigned type, flags; unsigned long off, vaddr, filesz, memsz; };

/* Write an ELF at path: header, the segments' headers, then code at file offset 0x1000 (padded
 * to two pages); the first PT_LOAD maps offset 0 at 0x400000 and the entry is its code. */
static void elf(const char *path, unsigned short machine, const struct seg *segs, int n, const void *code, size_t len)
{
	unsigned char buf[0x2000];
	memset(buf, 0, sizeof buf);
	Elf64_Ehdr *h = (Elf64_Ehdr *)buf;
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = ELFCLASS64;
	h->e_ident[EI_DATA] = ELFDATA2LSB;
	h->e_ident[EI_VERSION] = EV_CURRENT;
	h->e_type = ET_EXEC;
	h->e_machine = machine;
	h->e_version = EV_CURRENT;
	h->e_entry = 0x401000;
	h->e_phoff = sizeof *h;
	h->e_phentsize = sizeof(Elf64_Phdr);
	h->e_phnum = n;
	for (int i = 0; i < n; i++) {
		Elf64_Phdr *p = (Elf64_Phdr *)(buf + sizeof *h) + i;
		p->p_type = segs[i].type;
		p->p_flags = segs[i].flags;
		p->p_offset = segs[i].off;
		p->p_vaddr = p->p_paddr = segs[i].vaddr;
		p->p_filesz = segs[i].filesz;
		p->p_memsz = segs[i].memsz;
		p->p_align = 0x1000;
	}
	memcpy(buf + 0x1000, code, len);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) out("cannot write %s\n", path);
	close(fd);
}

/* PT_INTERP's bytes go at 0x1800 of the file. */
static void elf_interp(const char *path, const char *interp, size_t ilen)
{
	struct seg s[] = {
		{ PT_INTERP, PF_R, 0x1800, 0x401800, ilen, ilen },
		{ PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x2000, 0x2000 },
	};
	elf(path, EM_X86_64, s, 2, EXIT42, sizeof EXIT42);
	int fd = open(path, O_WRONLY);
	pwrite(fd, interp, ilen, 0x1800);
	close(fd);
}

/* fork + execveat(dirfd, path, flags) (execve for dirfd AT_FDCWD and no flags): the child's
 * wait status, and the call's errno in *err (0 if it succeeded). */
static int run_at(int dirfd, const char *path, int flags, int *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) return -1;
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = { (char *)path, NULL };
		syscall(SYS_execveat, dirfd, path, argv, (char *[]){ NULL }, flags);
		int e = errno;
		write(p[1], &e, sizeof e);
		_exit(127);
	}
	close(p[1]);
	*err = 0;
	if (read(p[0], err, sizeof *err) <= 0) *err = 0;
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

static int run(const char *path, int *err) { return run_at(AT_FDCWD, path, 0, err); }

static const char *status(int st)
{
	static char b[32];
	if (WIFEXITED(st)) snprintf(b, sizeof b, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st)) snprintf(b, sizeof b, "signal %s", sigabbrev_np(WTERMSIG(st)));
	else snprintf(b, sizeof b, "?");
	return b;
}

/* The lines of pid's maps within [lo, hi), as "start-end perms name?" with the name shown as "file" or "anon". */
static void show_maps(const char *label, pid_t pid, unsigned long lo, unsigned long hi)
{
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f)) {
		unsigned long s, e;
		char perms[8];
		int name = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &s, &e, perms, &name) < 3 || s < lo || s >= hi) continue;
		int has = name > 0 && line[name] == '/';
		out("%s %lx-%lx %s %s\n", label, s, e, perms, has ? "file" : "anon");
	}
	if (f) fclose(f);
}

static void layout_checks(void)
{
	char path[96];
	snprintf(path, sizeof path, "%s/layout", dir);
	struct seg s[] = {
		{ PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x1000 + sizeof PAUSE, 0x1000 + sizeof PAUSE },
		/* data + bss: half a page of file, then a page and a half more */
		{ PT_LOAD, PF_R | PF_W, 0x1000, 0x402000, 0x800, 0x1800 },
		/* anonymous only, read-only: Linux maps it read-write (as brk) */
		{ PT_LOAD, PF_R, 0, 0x405000, 0, 0x1000 },
	};
	elf(path, EM_X86_64, s, 3, PAUSE, sizeof PAUSE);
	pid_t pid = fork();
	if (pid == 0) {
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	/* Its maps once it runs the new program (the text mapping of the file is there). */
	for (int i = 0; i < 500; i++) {
		char p[64], exe[128];
		snprintf(p, sizeof p, "/proc/%d/exe", pid);
		ssize_t n = readlink(p, exe, sizeof exe - 1);
		if (n > 0 && (exe[n] = 0, strstr(exe, "/layout"))) break;
		usleep(10000);
	}
	show_maps("layout", pid, 0x400000, 0x500000);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
}

static void fatal_checks(void)
{
	char path[96];
	int err;
	snprintf(path, sizeof path, "%s/unaligned", dir);
	struct seg u[] = {
		{ PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x2000, 0x2000 },
		{ PT_LOAD, PF_R | PF_W, 0x1001, 0x403000, 0x10, 0x10 }, /* offset and address disagree mod the page */
	};
	elf(path, EM_X86_64, u, 2, EXIT42, sizeof EXIT42);
	int st = run(path, &err);
	SHOW("unaligned segment offset: execve then", "%s %s", en(err), status(st));
	snprintf(path, sizeof path, "%s/toobig", dir);
	struct seg b[] = {
		{ PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x2000, 0x2000 },
		{ PT_LOAD, PF_R | PF_W, 0x1000, 0x403000, 0x20, 0x10 }, /* filesz > memsz */
	};
	elf(path, EM_X86_64, b, 2, EXIT42, sizeof EXIT42);
	st = run(path, &err);
	SHOW("filesz above memsz: execve then", "%s %s", en(err), status(st));
	snprintf(path, sizeof path, "%s/good", dir);
	struct seg g[] = { { PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x2000, 0x2000 } };
	elf(path, EM_X86_64, g, 1, EXIT42, sizeof EXIT42);
	st = run(path, &err);
	SHOW("a good binary: execve then", "%s %s", en(err), status(st));
}

static void interp_checks(void)
{
	char path[96], wrong[96];
	int err;
	snprintf(path, sizeof path, "%s/interp", dir);
	elf_interp(path, "/no/such/ld.so", 15);
	run(path, &err);
	SHOW("PT_INTERP missing file", "%s", en(err));
	elf_interp(path, "/f/b", 4);
	run(path, &err);
	SHOW("PT_INTERP without its NUL", "%s", en(err));
	elf_interp(path, "\0\0", 2);
	run(path, &err);
	SHOW("PT_INTERP empty path", "%s", en(err));
	snprintf(wrong, sizeof wrong, "%s/ppc", dir);
	struct seg s[] = { { PT_LOAD, PF_R | PF_X, 0, 0x400000, 0x2000, 0x2000 } };
	elf(wrong, EM_PPC64, s, 1, EXIT42, sizeof EXIT42);
	elf_interp(path, wrong, strlen(wrong) + 1);
	run(path, &err);
	SHOW("PT_INTERP for another machine", "%s", en(err));
	run(wrong, &err);
	SHOW("execve of another machine's binary", "%s", en(err));
}

static void script_checks(void)
{
	char prev[96], cur[96], line[128];
	int err;
	snprintf(prev, sizeof prev, "%s/good", dir);
	for (int level = 1; level <= 6; level++) {
		snprintf(cur, sizeof cur, "%s/s%d", dir, level);
		int fd = open(cur, O_WRONLY | O_CREAT | O_TRUNC, 0755);
		int n = snprintf(line, sizeof line, "#!%s\n", prev);
		write(fd, line, n);
		close(fd);
		int st = run(cur, &err);
		out("%d levels of #! scripts: %s %s\n", level, en(err), err ? "-" : status(st));
		strcpy(prev, cur);
	}
}

static void execveat_checks(void)
{
	char path[96], link[96];
	int err, st;
	int d = open(dir, O_DIRECTORY | O_RDONLY);
	st = run_at(d, "good", 0, &err);
	SHOW("execveat dirfd + name", "%s %s", en(err), status(st));
	st = run_at(d, "good", AT_SYMLINK_NOFOLLOW, &err);
	SHOW("execveat AT_SYMLINK_NOFOLLOW of a file", "%s %s", en(err), status(st));
	snprintf(link, sizeof link, "%s/link", dir);
	snprintf(path, sizeof path, "%s/good", dir);
	symlink(path, link);
	run_at(d, "link", AT_SYMLINK_NOFOLLOW, &err);
	SHOW("execveat AT_SYMLINK_NOFOLLOW of a symlink", "%s", en(err));
	st = run_at(AT_FDCWD, link, 0, &err);
	SHOW("execveat following the symlink", "%s %s", en(err), status(st));
	int o = open(path, O_PATH);
	st = run_at(o, "", AT_EMPTY_PATH, &err);
	SHOW("execveat AT_EMPTY_PATH of an O_PATH fd", "%s %s", en(err), status(st));
	run_at(o, "", 0, &err);
	SHOW("execveat empty path without AT_EMPTY_PATH", "%s", en(err));
	run_at(o, "good", 0, &err);
	SHOW("execveat dirfd not a directory", "%s", en(err));
	run_at(d, "", AT_EMPTY_PATH, &err);
	SHOW("execveat AT_EMPTY_PATH of a directory", "%s", en(err));
	run_at(d, "good", 0x8000, &err);
	SHOW("execveat unknown flag", "%s", en(err));
	snprintf(path, sizeof path, "%s/s1", dir);
	int sc = open(path, O_RDONLY | O_CLOEXEC);
	run_at(sc, "", AT_EMPTY_PATH, &err);
	SHOW("execveat of a script through a close-on-exec fd", "%s", en(err));
	int sd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	run_at(sd, "s1", 0, &err);
	SHOW("execveat of a script from a close-on-exec dirfd", "%s", en(err));
	st = run_at(sd, "good", 0, &err);
	SHOW("execveat of a binary from a close-on-exec dirfd", "%s %s", en(err), status(st));
	close(o);
	close(sc);
	close(sd);
	close(d);
}

int main(void)
{
	strcpy(dir, "/tmp/moat-loader-XXXXXX");
	if (!mkdtemp(dir)) return 100;
	layout_checks();
	fatal_checks();
	interp_checks();
	script_checks();
	execveat_checks();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)!system(cmd);
	return finish();
}
