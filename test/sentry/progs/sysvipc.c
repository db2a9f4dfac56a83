/* System V IPC as PostgreSQL and pods sharing an IPC namespace use it: shared memory segments
 * (keys, IPC_PRIVATE, IPC_CREAT/IPC_EXCL, attach counts, two processes sharing a segment after
 * fork, SHM_RDONLY, SHM_RND, a segment removed while attached), semaphore sets (values, atomic
 * operation lists, IPC_NOWAIT, timeouts, a wait in one process woken by another, wait-for-zero,
 * EINTR, SEM_UNDO at exit, removal under a waiter) and message queues (selection by type,
 * MSG_EXCEPT, MSG_NOERROR, a receiver woken by a sender, a full queue), with the limits that
 * IPC_INFO reports matching /proc/sys/kernel and each object listed in /proc/sysvipc. */
#include "common.h"
#include <grp.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

#define KEY_SHM 0x6d6f6101
#define KEY_SEM 0x6d6f6102
#define KEY_MSG 0x6d6f6103

static long proc_value(const char *path, int field)
{
	char buf[256] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0) return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return -1;
	char *p = buf;
	for (int i = 0; i < field; i++) {
		while (*p && *p != ' ' && *p != '\t') p++;
		while (*p == ' ' || *p == '\t') p++;
	}
	return strtol(p, NULL, 10);
}

/* /proc/sysvipc/<kind> has a line whose second column is id. */
static int listed(const char *kind, int id)
{
	char path[64], buf[65536];
	snprintf(path, sizeof path, "/proc/sysvipc/%s", kind);
	int fd = open(path, O_RDONLY);
	if (fd < 0) return 0;
	size_t len = 0;
	ssize_t n;
	while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0) len += n;
	close(fd);
	buf[len] = 0;
	for (char *line = strchr(buf, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
		int key, lid;
		if (sscanf(line + 1, "%d %d", &key, &lid) == 2 && lid == id) return 1;
	}
	return 0;
}

static int child_status(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid) return -1;
	if (WIFSIGNALED(st)) return 1000 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static void drop_to_nobody(void)
{
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534)) _exit(99);
}

static void shm_checks(void)
{
	int old = shmget(KEY_SHM, 0, 0);
	if (old >= 0) shmctl(old, IPC_RMID, NULL);

	FAILS("shmget size 0", shmget(IPC_PRIVATE, 0, 0600), EINVAL);
	FAILS("shmget absent key", shmget(KEY_SHM, 4096, 0600), ENOENT);
	int id = OK("shmget key create", shmget(KEY_SHM, 10000, IPC_CREAT | IPC_EXCL | 0600));
	FAILS("shmget key excl again", shmget(KEY_SHM, 4096, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
	EXPECT("shmget key finds it", shmget(KEY_SHM, 4096, 0600) == id);
	EXPECT("shmget key with IPC_CREAT finds it", shmget(KEY_SHM, 0, IPC_CREAT | 0600) == id);
	FAILS("shmget key bigger size", shmget(KEY_SHM, 20000, 0600), EINVAL);
	int priv = OK("shmget private", shmget(IPC_PRIVATE, 4096, 0600));
	int priv2 = shmget(IPC_PRIVATE, 4096, 0600);
	EXPECT("private ids differ", priv != id && priv2 >= 0 && priv2 != priv);
	if (priv2 >= 0) shmctl(priv2, IPC_RMID, NULL); /* run natively, it is the host's: leave nothing */

	struct shmid_ds ds;
	OK("shm IPC_STAT", shmctl(id, IPC_STAT, &ds));
	EXPECT("shm_segsz", ds.shm_segsz == 10000);
	EXPECT("shm mode", (ds.shm_perm.mode & 0777) == 0600);
	EXPECT("shm key", ds.shm_perm.__key == KEY_SHM);
	EXPECT("shm cpid", ds.shm_cpid == getpid());
	EXPECT("shm nattch 0", ds.shm_nattch == 0);
	EXPECT("shm uid", ds.shm_perm.uid == geteuid() && ds.shm_perm.cuid == geteuid());

	char *p = shmat(id, NULL, 0);
	EXPECT("shmat", p != (void *)-1);
	EXPECT("shmat page aligned", ((unsigned long)p & 4095) == 0);
	EXPECT("segment zeroed", p[0] == 0 && p[9999] == 0);
	strcpy(p, "parent");
	shmctl(id, IPC_STAT, &ds);
	EXPECT("shm nattch 1", ds.shm_nattch == 1);
	EXPECT("shm lpid", ds.shm_lpid == getpid());
	EXPECT("listed in /proc/sysvipc/shm", listed("shm", id));

	/* A second attach of the same segment: the same pages. */
	char *q = shmat(id, NULL, SHM_RDONLY);
	EXPECT("second attach", q != (void *)-1 && q != p);
	p[5000] = 42;
	EXPECT("second attach sees stores", q[5000] == 42 && strcmp(q, "parent") == 0);
	shmctl(id, IPC_STAT, &ds);
	EXPECT("shm nattch 2", ds.shm_nattch == 2);

	/* fork: the child has both attachments; its stores are the parent's. */
	pid_t c = fork();
	if (c == 0) {
		struct shmid_ds cds;
		shmctl(id, IPC_STAT, &cds);
		int ok = cds.shm_nattch == 4 && strcmp(p, "parent") == 0;
		strcpy(p + 100, "child");
		_exit(ok ? 0 : 1);
	}
	EXPECT("child saw the segment (nattch 4)", child_status(c) == 0);
	EXPECT("parent sees child's store", strcmp(p + 100, "child") == 0);
	shmctl(id, IPC_STAT, &ds);
	EXPECT("child's exit detached", ds.shm_nattch == 2);

	/* Another process attaching by key (not by inheritance). */
	c = fork();
	if (c == 0) {
		shmdt(p);
		shmdt(q);
		int cid = shmget(KEY_SHM, 0, 0);
		char *cp = shmat(cid, NULL, 0);
		if (cp == (void *)-1) _exit(2);
		int ok = cp[5000] == 42;
		cp[5001] = 43;
		_exit(ok ? 0 : 1);
	}
	EXPECT("other process attached by key", child_status(c) == 0);
	EXPECT("its store seen", p[5001] == 43);

	/* A read-only attachment faults on a store. */
	c = fork();
	if (c == 0) {
		q[0] = 1;
		_exit(0);
	}
	EXPECT("store to SHM_RDONLY attach: SIGSEGV", child_status(c) == 1000 + SIGSEGV);

	FAILS("shmdt not an attach", shmdt(p + 4096), EINVAL);
	FAILS("shmdt unaligned", shmdt(p + 1), EINVAL);
	OK("shmdt second", shmdt(q));
	FAILS("shmdt again", shmdt(q), EINVAL);
	shmctl(id, IPC_STAT, &ds);
	EXPECT("shm nattch after shmdt", ds.shm_nattch == 1);

	/* shmaddr: unaligned without SHM_RND fails, with it rounds down; a mapped range fails. */
	char *want = (char *)0x200000000000UL;
	FAILS("shmat unaligned addr", shmat(priv, want + 10, 0), EINVAL);
	char *r = shmat(priv, want + 10, SHM_RND);
	EXPECT("shmat SHM_RND rounds down", r == want);
	FAILS("shmat over a mapping", shmat(priv, want, 0), EINVAL);
	FAILS("SHM_REMAP without addr", shmat(priv, NULL, SHM_REMAP), EINVAL);
	char *r2 = shmat(priv, want, SHM_REMAP);
	EXPECT("shmat SHM_REMAP replaces", r2 == want);
	shmctl(priv, IPC_STAT, &ds);
	EXPECT("remap replaced the attach", ds.shm_nattch == 1);
	OK("shmdt private", shmdt(r2));
	FAILS("shmat bad id", shmat(0x7ffffff0, NULL, 0), EINVAL);
	FAILS("shmat negative id", shmat(-1, NULL, 0), EINVAL);

	/* IPC_SET, SHM_LOCK. */
	ds.shm_perm.mode = 0640;
	OK("shm IPC_SET", shmctl(id, IPC_SET, &ds));
	shmctl(id, IPC_STAT, &ds);
	EXPECT("shm IPC_SET mode", (ds.shm_perm.mode & 0777) == 0640);
	OK("SHM_LOCK", shmctl(id, SHM_LOCK, NULL));
	shmctl(id, IPC_STAT, &ds);
	EXPECT("SHM_LOCKED in mode", (ds.shm_perm.mode & SHM_LOCKED) != 0);
	OK("SHM_UNLOCK", shmctl(id, SHM_UNLOCK, NULL));
	FAILS("shmctl bad cmd", shmctl(id, 99, &ds), EINVAL);

	/* Limits: what /proc/sys/kernel says. */
	struct shminfo si;
	int maxidx = shmctl(0, IPC_INFO, (struct shmid_ds *)&si);
	EXPECT("IPC_INFO returns an index", maxidx >= 0);
	EXPECT("shmmni as /proc/sys/kernel/shmmni", (long)si.shmmni == proc_value("/proc/sys/kernel/shmmni", 0));
	struct shm_info sinfo;
	EXPECT("SHM_INFO", shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo) >= 0 && sinfo.used_ids >= 2);
	int idx = id % 32768;
	EXPECT("SHM_STAT by index", shmctl(idx, SHM_STAT, &ds) == id);

	/* Not the owner, no capabilities: no access, no control. */
	c = fork();
	if (c == 0) {
		drop_to_nobody();
		if (shmat(id, NULL, 0) != (void *)-1 || errno != EACCES) _exit(1);
		if (shmctl(id, IPC_RMID, NULL) != -1 || errno != EPERM) _exit(2);
		if (shmctl(id, IPC_STAT, &ds) != -1 || errno != EACCES) _exit(3);
		_exit(0);
	}
	EXPECT("other user: EACCES, EPERM", child_status(c) == 0);

	/* Removed while attached: the key is gone, the pages stay until the last detach. */
	OK("shm IPC_RMID attached", shmctl(id, IPC_RMID, NULL));
	FAILS("key gone after IPC_RMID", shmget(KEY_SHM, 0, 0), ENOENT);
	OK("IPC_STAT after IPC_RMID", shmctl(id, IPC_STAT, &ds));
	EXPECT("SHM_DEST", (ds.shm_perm.mode & SHM_DEST) != 0 && ds.shm_perm.__key == IPC_PRIVATE);
	EXPECT("pages still there", strcmp(p + 100, "child") == 0);
	OK("last shmdt", shmdt(p));
	FAILS("segment gone after last detach", shmctl(id, IPC_STAT, &ds), EINVAL);
	OK("private IPC_RMID", shmctl(priv, IPC_RMID, NULL));
	FAILS("private gone", shmctl(priv, IPC_STAT, &ds), EINVAL);
}

static int sem_op1(int id, int num, int op, int flg)
{
	struct sembuf sb = { .sem_num = num, .sem_op = op, .sem_flg = flg };
	return semop(id, &sb, 1);
}

static void on_usr1(int s)
{
	(void)s;
}

static void wait_count(int id, int num, int cmd, int n)
{
	for (int i = 0; i < 5000 && semctl(id, num, cmd) != n; i++) usleep(1000);
}

static void sem_checks(void)
{
	int old = semget(KEY_SEM, 0, 0);
	if (old >= 0) semctl(old, 0, IPC_RMID);

	FAILS("semget nsems 0", semget(IPC_PRIVATE, 0, 0600), EINVAL);
	FAILS("semget nsems too many", semget(IPC_PRIVATE, proc_value("/proc/sys/kernel/sem", 0) + 1, 0600), EINVAL);
	int id = OK("semget key create", semget(KEY_SEM, 3, IPC_CREAT | IPC_EXCL | 0600));
	EXPECT("semget key finds it", semget(KEY_SEM, 2, 0) == id);
	FAILS("semget more sems than the set", semget(KEY_SEM, 4, 0), EINVAL);
	FAILS("semget excl", semget(KEY_SEM, 3, IPC_CREAT | IPC_EXCL | 0600), EEXIST);

	EXPECT("new set zeroed", semctl(id, 0, GETVAL) == 0 && semctl(id, 2, GETVAL) == 0);
	OK("SETVAL", semctl(id, 1, SETVAL, (union semun){ .val = 5 }));
	EXPECT("GETVAL", semctl(id, 1, GETVAL) == 5);
	EXPECT("GETPID", semctl(id, 1, GETPID) == getpid());
	FAILS("SETVAL too big", semctl(id, 1, SETVAL, (union semun){ .val = 32768 }), ERANGE);
	FAILS("GETVAL bad semnum", semctl(id, 3, GETVAL), EINVAL);
	unsigned short vals[3] = { 1, 2, 3 }, got[3] = { 0 };
	OK("SETALL", semctl(id, 0, SETALL, (union semun){ .array = vals }));
	OK("GETALL", semctl(id, 0, GETALL, (union semun){ .array = got }));
	EXPECT("GETALL values", got[0] == 1 && got[1] == 2 && got[2] == 3);

	struct semid_ds ds;
	OK("sem IPC_STAT", semctl(id, 0, IPC_STAT, (union semun){ .buf = &ds }));
	EXPECT("sem_nsems", ds.sem_nsems == 3 && (ds.sem_perm.mode & 0777) == 0600);
	ds.sem_perm.mode = 0660;
	OK("sem IPC_SET", semctl(id, 0, IPC_SET, (union semun){ .buf = &ds }));
	semctl(id, 0, IPC_STAT, (union semun){ .buf = &ds });
	EXPECT("sem IPC_SET mode", (ds.sem_perm.mode & 0777) == 0660);
	EXPECT("listed in /proc/sysvipc/sem", listed("sem", id));
	struct seminfo si;
	EXPECT("IPC_INFO semmsl as /proc/sys/kernel/sem", semctl(0, 0, IPC_INFO, (union semun){ .__buf = &si }) >= 0 &&
		si.semmsl == proc_value("/proc/sys/kernel/sem", 0) && si.semopm == proc_value("/proc/sys/kernel/sem", 2));
	EXPECT("SEM_INFO", semctl(0, 0, SEM_INFO, (union semun){ .__buf = &si }) >= 0 && si.semusz >= 1);

	/* Operation lists: all or nothing. */
	struct sembuf two[2] = { { 0, -1, IPC_NOWAIT }, { 1, -3, IPC_NOWAIT } };
	FAILS("semop would block, IPC_NOWAIT", semop(id, two, 2), EAGAIN);
	EXPECT("nothing applied", semctl(id, 0, GETVAL) == 1 && semctl(id, 1, GETVAL) == 2);
	two[1].sem_op = -2;
	OK("semop two at once", semop(id, two, 2));
	EXPECT("both applied", semctl(id, 0, GETVAL) == 0 && semctl(id, 1, GETVAL) == 0);
	FAILS("semop nsops 0", semop(id, two, 0), EINVAL);
	FAILS("semop nsops too many", semop(id, two, proc_value("/proc/sys/kernel/sem", 2) + 1), E2BIG);
	FAILS("semop semnum out of range", sem_op1(id, 3, 1, 0), EFBIG);
	FAILS("semop bad id", sem_op1(0x7ffffff0, 0, 1, 0), EINVAL);
	FAILS("semop past SEMVMX", sem_op1(id, 2, 32767, 0), ERANGE);
	FAILS("semop bad sops address", semop(id, (struct sembuf *)8, 1), EFAULT);
	struct timespec to = { 0, 50 * 1000 * 1000 };
	struct sembuf dec = { 0, -1, 0 };
	FAILS("semtimedop times out", semtimedop(id, &dec, 1, &to), EAGAIN);
	struct timespec bad = { 0, 1000 * 1000 * 1000 };
	FAILS("semtimedop bad timeout", semtimedop(id, &dec, 1, &bad), EINVAL);

	/* A wait in one process, woken by another's semop. */
	pid_t c = fork();
	if (c == 0) _exit(sem_op1(id, 0, -1, 0) == 0 && semctl(id, 0, GETVAL) == 0 ? 0 : 1);
	wait_count(id, 0, GETNCNT, 1);
	EXPECT("GETNCNT 1 while the child waits", semctl(id, 0, GETNCNT) == 1);
	OK("post", sem_op1(id, 0, 1, 0));
	EXPECT("waiter woken with the value", child_status(c) == 0);
	EXPECT("GETNCNT 0 after", semctl(id, 0, GETNCNT) == 0);

	/* Wait for zero. */
	semctl(id, 0, SETVAL, (union semun){ .val = 2 });
	c = fork();
	if (c == 0) _exit(sem_op1(id, 0, 0, 0) == 0 ? 0 : 1);
	wait_count(id, 0, GETZCNT, 1);
	EXPECT("GETZCNT 1", semctl(id, 0, GETZCNT) == 1);
	OK("down to 1", sem_op1(id, 0, -1, 0));
	usleep(20000);
	EXPECT("zero waiter still waits", semctl(id, 0, GETZCNT) == 1);
	OK("down to 0", sem_op1(id, 0, -1, 0));
	EXPECT("zero waiter woken", child_status(c) == 0);

	/* A signal ends the wait with EINTR (the handler has no SA_RESTART; semop is not restarted anyway). */
	c = fork();
	if (c == 0) {
		struct sigaction sa = { .sa_handler = on_usr1 };
		sigaction(SIGUSR1, &sa, NULL);
		int r = sem_op1(id, 0, -1, 0);
		_exit(r == -1 && errno == EINTR ? 0 : 1);
	}
	wait_count(id, 0, GETNCNT, 1);
	kill(c, SIGUSR1);
	EXPECT("signal: EINTR", child_status(c) == 0);
	EXPECT("interrupted waiter left", semctl(id, 0, GETNCNT) == 0);

	/* SEM_UNDO: a process's adjustments are undone when it exits. */
	semctl(id, 2, SETVAL, (union semun){ .val = 3 });
	c = fork();
	if (c == 0) {
		sem_op1(id, 2, 4, SEM_UNDO);
		sem_op1(id, 2, -1, SEM_UNDO);
		_exit(semctl(id, 2, GETVAL) == 6 ? 0 : 1);
	}
	EXPECT("SEM_UNDO child saw 6", child_status(c) == 0);
	EXPECT("SEM_UNDO undone at exit", semctl(id, 2, GETVAL) == 3);
	c = fork();
	if (c == 0) {
		sem_op1(id, 2, -3, SEM_UNDO);
		_exit(0);
	}
	child_status(c);
	EXPECT("SEM_UNDO gives back what was taken", semctl(id, 2, GETVAL) == 3);

	/* Not the owner. */
	c = fork();
	if (c == 0) {
		drop_to_nobody();
		if (sem_op1(id, 0, 1, 0) != -1 || errno != EACCES) _exit(1);
		if (semctl(id, 0, IPC_RMID) != -1 || errno != EPERM) _exit(2);
		_exit(0);
	}
	EXPECT("other user: EACCES, EPERM", child_status(c) == 0);

	/* Removed under a waiter: EIDRM. */
	c = fork();
	if (c == 0) _exit(sem_op1(id, 0, -1, 0) == -1 && errno == EIDRM ? 0 : 1);
	wait_count(id, 0, GETNCNT, 1);
	OK("sem IPC_RMID", semctl(id, 0, IPC_RMID));
	EXPECT("waiter gets EIDRM", child_status(c) == 0);
	FAILS("set gone", semctl(id, 0, GETVAL), EINVAL);
	FAILS("key gone", semget(KEY_SEM, 0, 0), ENOENT);
}

struct msgbuf_ {
	long mtype;
	char mtext[64];
};

static int snd(int id, long type, const char *text, int flg)
{
	struct msgbuf_ m = { .mtype = type };
	strcpy(m.mtext, text);
	return msgsnd(id, &m, strlen(text) + 1, flg);
}

/* Receives into m; returns "type:text" or the errno name. */
static const char *rcv(int id, long type, size_t size, int flg)
{
	static char res[96];
	struct msgbuf_ m = { 0 };
	ssize_t n = msgrcv(id, &m, size, type, flg);
	if (n < 0) return en(errno);
	snprintf(res, sizeof res, "%ld:%.*s:%zd", m.mtype, (int)n, m.mtext, n);
	return res;
}

static void msg_checks(void)
{
	int old = msgget(KEY_MSG, 0);
	if (old >= 0) msgctl(old, IPC_RMID, NULL);

	FAILS("msgget absent key", msgget(KEY_MSG, 0600), ENOENT);
	int id = OK("msgget key create", msgget(KEY_MSG, IPC_CREAT | IPC_EXCL | 0600));
	EXPECT("msgget key finds it", msgget(KEY_MSG, 0) == id);
	EXPECT("listed in /proc/sysvipc/msg", listed("msg", id));

	snd(id, 3, "three", 0);
	snd(id, 1, "one-a", 0);
	snd(id, 2, "two", 0);
	snd(id, 1, "one-b", 0);
	snd(id, 5, "five", 0);
	struct msqid_ds ds;
	OK("msg IPC_STAT", msgctl(id, IPC_STAT, &ds));
	EXPECT("msg_qnum 5", ds.msg_qnum == 5);
	EXPECT("msg_cbytes", ds.__msg_cbytes == 6 + 6 + 4 + 6 + 5);
	EXPECT("msg_lspid", ds.msg_lspid == getpid());
	EXPECT("msg_qbytes as msgmnb", (long)ds.msg_qbytes == proc_value("/proc/sys/kernel/msgmnb", 0));
	out("type 1 first: %s\n", rcv(id, 1, 64, 0));
	out("except 3: %s\n", rcv(id, 3, 64, MSG_EXCEPT));
	out("lowest up to 4: %s\n", rcv(id, -4, 64, 0));
	out("too small: %s\n", rcv(id, 0, 2, 0));
	out("MSG_NOERROR truncates: %s\n", rcv(id, 0, 2, MSG_NOERROR));
	out("first: %s\n", rcv(id, 0, 64, 0));
	out("empty, IPC_NOWAIT: %s\n", rcv(id, 0, 64, IPC_NOWAIT));
	out("no such type: %s\n", rcv(id, 9, 64, IPC_NOWAIT));
	FAILS("msgsnd type 0", snd(id, 0, "x", 0), EINVAL);
	struct msgbuf_ m = { .mtype = 1 };
	FAILS("msgsnd bigger than msgmax", msgsnd(id, &m, proc_value("/proc/sys/kernel/msgmax", 0) + 1, 0), EINVAL);
	FAILS("msgsnd bad address", msgsnd(id, (void *)8, 4, 0), EFAULT);
	FAILS("msgrcv bad id", msgrcv(0x7ffffff0, &m, 8, 0, 0), EINVAL);

	/* A receiver waiting in another process, woken by a send. */
	pid_t c = fork();
	if (c == 0) _exit(strcmp(rcv(id, 7, 64, 0), "7:wake:5") == 0 ? 0 : 1);
	usleep(50000);
	snd(id, 6, "other", 0);
	snd(id, 7, "wake", 0);
	EXPECT("receiver woken by its type", child_status(c) == 0);
	out("other type stays: %s\n", rcv(id, 0, 64, IPC_NOWAIT));

	/* A full queue: senders wait (or EAGAIN). */
	msgctl(id, IPC_STAT, &ds);
	ds.msg_qbytes = 16;
	OK("msg IPC_SET qbytes", msgctl(id, IPC_SET, &ds));
	OK("fill", snd(id, 1, "0123456789", 0));
	FAILS("full, IPC_NOWAIT", snd(id, 1, "abcdefghij", IPC_NOWAIT), EAGAIN);
	c = fork();
	if (c == 0) _exit(snd(id, 2, "abcdefghij", 0) == 0 ? 0 : 1);
	usleep(50000);
	out("made room: %s\n", rcv(id, 1, 64, 0));
	EXPECT("blocked sender sent", child_status(c) == 0);
	out("its message: %s\n", rcv(id, 0, 64, IPC_NOWAIT));

	c = fork();
	if (c == 0) {
		drop_to_nobody();
		if (snd(id, 1, "x", 0) != -1 || errno != EACCES) _exit(1);
		if (msgctl(id, IPC_RMID, NULL) != -1 || errno != EPERM) _exit(2);
		_exit(0);
	}
	EXPECT("other user: EACCES, EPERM", child_status(c) == 0);

	/* Removed under a receiver: EIDRM. */
	c = fork();
	if (c == 0) _exit(msgrcv(id, &m, 8, 0, 0) == -1 && errno == EIDRM ? 0 : 1);
	usleep(50000);
	OK("msg IPC_RMID", msgctl(id, IPC_RMID, NULL));
	EXPECT("receiver gets EIDRM", child_status(c) == 0);
	FAILS("queue gone", msgctl(id, IPC_STAT, &ds), EINVAL);
}

int main(void)
{
	shm_checks();
	sem_checks();
	msg_checks();
	out("failures %d\n", failures);
	return failures > 100 ? 100 : failures;
}
